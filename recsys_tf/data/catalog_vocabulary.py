"""Vocabulary of the synthetic e-commerce world: category tree, product nouns and features with
synonyms, brands, colours, price ranges and complementary categories (what is bought together).

Synonyms are what make text matter: a title says "earbuds", a query says "in-ear headphones".
"""
from __future__ import annotations

# leaf path -> (noun synonyms, feature synonym groups, (price low, price high), complement leaves)
LEAVES: dict[str, tuple[list[str], list[list[str]], tuple[float, float], list[str]]] = {
    "Electronics > Audio > Earbuds": (
        ["earbuds", "in-ear headphones", "wireless earphones"],
        [["noise cancelling", "anc", "noise canceling"], ["bluetooth", "wireless"], ["waterproof", "sweatproof"]],
        (20, 250), ["Electronics > Phones > Chargers"]),
    "Electronics > Audio > Headphones": (
        ["headphones", "over-ear headset", "studio headphones"],
        [["noise cancelling", "anc"], ["foldable", "collapsible"], ["wired", "with cable"]],
        (30, 400), ["Electronics > Audio > Headphone stands"]),
    "Electronics > Audio > Headphone stands": (
        ["headphone stand", "headset holder"], [["aluminium", "metal"], ["wooden", "walnut"]],
        (10, 60), []),
    "Electronics > Audio > Speakers": (
        ["bluetooth speaker", "portable speaker", "wireless speaker"],
        [["waterproof", "splashproof"], ["bass boost", "deep bass"], ["compact", "mini"]],
        (25, 300), []),
    "Electronics > Phones > Smartphones": (
        ["smartphone", "mobile phone", "cell phone"],
        [["5g", "5g ready"], ["dual sim", "two sim"], ["128gb", "128 gb storage"]],
        (150, 1200), ["Electronics > Phones > Phone cases", "Electronics > Phones > Screen protectors"]),
    "Electronics > Phones > Phone cases": (
        ["phone case", "protective cover", "phone cover"],
        [["shockproof", "drop proof"], ["slim", "thin"], ["leather", "faux leather"]],
        (8, 50), []),
    "Electronics > Phones > Screen protectors": (
        ["screen protector", "tempered glass film"], [["anti glare", "matte"], ["privacy", "anti spy"]],
        (5, 30), []),
    "Electronics > Phones > Chargers": (
        ["charger", "usb-c charger", "power adapter"],
        [["fast charging", "quick charge"], ["65w", "65 watt"], ["gan", "compact gan"]],
        (10, 70), []),
    "Computers > Laptops": (
        ["laptop", "notebook computer", "ultrabook"],
        [["16gb ram", "16 gb memory"], ["ssd", "solid state drive"], ["gaming", "for gamers"]],
        (400, 2500), ["Computers > Laptop bags", "Computers > Mice"]),
    "Computers > Laptop bags": (
        ["laptop bag", "notebook sleeve", "laptop backpack"], [["padded", "cushioned"], ["water resistant", "rainproof"]],
        (20, 120), []),
    "Computers > Keyboards": (
        ["keyboard", "mechanical keyboard", "keypad"],
        [["rgb backlit", "rgb lighting"], ["wireless", "bluetooth"], ["ergonomic", "split"]],
        (20, 200), ["Computers > Mice"]),
    "Computers > Mice": (
        ["mouse", "computer mouse", "wireless mouse"], [["ergonomic", "vertical"], ["silent click", "quiet"]],
        (10, 120), ["Computers > Mouse pads"]),
    "Computers > Mouse pads": (
        ["mouse pad", "desk mat"], [["extended", "xxl"], ["non slip", "rubber base"]], (5, 40), []),
    "Computers > Monitors": (
        ["monitor", "computer screen", "display"], [["4k", "uhd"], ["144hz", "high refresh"], ["curved", "ultrawide"]],
        (120, 900), ["Computers > Monitor arms"]),
    "Computers > Monitor arms": (
        ["monitor arm", "monitor mount", "screen stand"], [["gas spring", "adjustable"], ["dual", "twin"]],
        (25, 150), []),
    "Home > Kitchen > Coffee makers": (
        ["coffee maker", "espresso machine", "coffee machine"],
        [["programmable", "with timer"], ["stainless steel", "inox"], ["single serve", "one cup"]],
        (30, 700), ["Home > Kitchen > Coffee beans"]),
    "Home > Kitchen > Coffee beans": (
        ["coffee beans", "whole bean coffee", "espresso beans"], [["dark roast", "strong"], ["organic", "bio"]],
        (8, 40), []),
    "Home > Kitchen > Blenders": (
        ["blender", "smoothie maker", "mixer"], [["high speed", "powerful"], ["portable", "travel"]],
        (25, 400), []),
    "Home > Kitchen > Cookware": (
        ["frying pan", "skillet", "saute pan"], [["non stick", "nonstick"], ["cast iron", "iron"], ["induction", "induction ready"]],
        (15, 200), ["Home > Kitchen > Kitchen knives"]),
    "Home > Kitchen > Kitchen knives": (
        ["chef knife", "kitchen knife", "cooking knife"], [["damascus", "layered steel"], ["japanese", "santoku style"]],
        (15, 250), []),
    "Home > Bedding > Pillows": (
        ["pillow", "bed pillow", "cushion"], [["memory foam", "foam"], ["cooling", "breathable"]], (15, 120),
        ["Home > Bedding > Bed sheets"]),
    "Home > Bedding > Bed sheets": (
        ["bed sheets", "sheet set", "bedding set"], [["cotton", "100% cotton"], ["king size", "king"]], (20, 200), []),
    "Sports > Running > Running shoes": (
        ["running shoes", "trainers", "jogging sneakers"], [["lightweight", "light"], ["cushioned", "soft sole"], ["trail", "off road"]],
        (40, 220), ["Sports > Running > Running socks", "Sports > Fitness > Fitness trackers"]),
    "Sports > Running > Running socks": (
        ["running socks", "sport socks", "athletic socks"], [["anti blister", "blister free"], ["compression", "tight fit"]],
        (5, 30), []),
    "Sports > Fitness > Yoga mats": (
        ["yoga mat", "exercise mat", "fitness mat"], [["non slip", "grippy"], ["extra thick", "thick"]],
        (15, 120), ["Sports > Fitness > Water bottles"]),
    "Sports > Fitness > Water bottles": (
        ["water bottle", "drinking bottle", "sports bottle"], [["insulated", "thermos"], ["bpa free", "bpa-free"]],
        (8, 50), []),
    "Sports > Fitness > Fitness trackers": (
        ["fitness tracker", "activity band", "smart band"], [["heart rate", "pulse monitor"], ["gps", "with gps"]],
        (30, 300), []),
    "Fashion > Tops > T-shirts": (
        ["t-shirt", "tee", "crew neck shirt"], [["cotton", "organic cotton"], ["slim fit", "fitted"]], (8, 60), []),
    "Fashion > Outerwear > Jackets": (
        ["jacket", "coat", "windbreaker"], [["waterproof", "rain"], ["down", "puffer"], ["hooded", "with hood"]],
        (40, 400), []),
    "Fashion > Bottoms > Jeans": (
        ["jeans", "denim pants", "denim trousers"], [["slim fit", "skinny"], ["stretch", "flexible"]], (25, 150),
        ["Fashion > Accessories > Belts"]),
    "Fashion > Accessories > Belts": (
        ["belt", "leather belt", "waist belt"], [["genuine leather", "real leather"], ["reversible", "two sided"]],
        (10, 90), []),
    "Fashion > Accessories > Backpacks": (
        ["backpack", "rucksack", "daypack"], [["water resistant", "waterproof"], ["anti theft", "lockable"]],
        (20, 160), []),
    "Beauty > Hair > Shampoo": (
        ["shampoo", "hair wash", "hair cleanser"], [["sulfate free", "no sulfates"], ["anti dandruff", "dandruff control"]],
        (4, 35), ["Beauty > Hair > Conditioner"]),
    "Beauty > Hair > Conditioner": (
        ["conditioner", "hair conditioner", "detangler"], [["moisturizing", "hydrating"], ["argan oil", "with argan"]],
        (4, 35), []),
    "Beauty > Skin > Face cream": (
        ["face cream", "moisturizer", "facial lotion"], [["spf 30", "sun protection"], ["anti aging", "anti wrinkle"]],
        (8, 120), []),
    "Toys > Building > Building blocks": (
        ["building blocks", "brick set", "construction toy"], [["1000 pieces", "1000 pcs"], ["city", "town"]],
        (15, 200), []),
    "Toys > Puzzles > Jigsaw puzzles": (
        ["jigsaw puzzle", "puzzle", "picture puzzle"], [["1000 piece", "1000 pcs"], ["landscape", "scenery"]],
        (8, 40), []),
    "Books > Fiction > Novels": (
        ["novel", "fiction book", "paperback novel"], [["mystery", "crime"], ["fantasy", "epic fantasy"], ["romance", "love story"]],
        (6, 30), []),
    "Books > Food > Cookbooks": (
        ["cookbook", "recipe book", "cooking book"], [["vegan", "plant based"], ["baking", "bread"]], (10, 45),
        ["Home > Kitchen > Cookware"]),
    "Pets > Dogs > Dog food": (
        ["dog food", "dry dog food", "kibble"], [["grain free", "no grain"], ["puppy", "for puppies"]], (10, 90),
        ["Pets > Dogs > Dog toys"]),
    "Pets > Dogs > Dog toys": (
        ["dog toy", "chew toy", "squeaky toy"], [["durable", "indestructible"], ["rope", "tug rope"]], (5, 30), []),
    "Garden > Planters > Plant pots": (
        ["plant pot", "planter", "flower pot"], [["ceramic", "glazed"], ["self watering", "self-watering"]], (6, 80), []),
}

DEPARTMENT_BRANDS: dict[str, list[str]] = {
    "Electronics": ["Acme", "Sonora", "Voltix", "Auralis", "Pixon", "Nordtek"],
    "Computers": ["Acme", "Keyforge", "Lumina", "Datacore", "Nordtek"],
    "Home": ["Casa Bella", "Kitchenly", "Brewmaster", "Hearth & Co", "Dormio"],
    "Sports": ["Stride", "Peakform", "Aquaflow", "Motiv"],
    "Fashion": ["Urban Thread", "Northwind", "Denimo", "Kestrel"],
    "Beauty": ["Purelle", "Glowa", "Herbalis"],
    "Toys": ["Blockly", "Puzzlemania", "Playwise"],
    "Books": ["Inkwell Press", "Pageturner", "Hearth Books"],
    "Pets": ["Happy Paws", "Woofwell"],
    "Garden": ["Greenleaf", "Terra Garden"],
}

COLOURS = [["black", "jet black"], ["white", "snow white"], ["blue", "navy"], ["red", "crimson"],
           ["grey", "gray"], ["green", "olive"], ["pink", "rose"], ["silver", "metallic"]]

DESCRIPTION_TEMPLATES = [
    "This {noun} from {brand} is {feature}. Great for everyday use. Colour: {colour}.",
    "{brand} {noun} - {feature} and {feature2}. Designed for comfort and durability.",
    "A {feature} {noun} that customers love. Comes in {colour}. Made by {brand}.",
    "Looking for a {noun}? The {brand} model is {feature2}, {feature} and fairly priced.",
]

DEVICES = ["mobile", "desktop", "tablet", "app"]
USER_SEGMENTS = ["student", "professional", "family", "retired"]
