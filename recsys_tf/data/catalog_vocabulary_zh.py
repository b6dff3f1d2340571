"""Chinese text of the synthetic world (`data synth --language zh`): the same category tree, nouns,
feature synonym groups, colours and description templates as `catalog_vocabulary`, in the same
shapes, so a seed draws the same world and the same events in either language; only the text
differs. Brands stay Latin, as they often do in Chinese e-commerce titles ("Acme 降噪入耳式耳机").

Synonyms are real paraphrases a Chinese shopper would type ("无线耳机" / "蓝牙耳机" / "入耳式耳机"),
so, as in English, title, description and query rarely share every character.
"""
from __future__ import annotations

# English leaf path -> (Chinese leaf path, noun synonyms, feature synonym groups): the shapes of
# `catalog_vocabulary.LEAVES` (a test checks them)
LEAVES_ZH: dict[str, tuple[str, list[str], list[list[str]]]] = {
    "Electronics > Audio > Earbuds": (
        "数码 > 音频 > 入耳式耳机", ["入耳式耳机", "无线耳机", "蓝牙耳机"],
        [["降噪", "主动降噪", "消噪"], ["蓝牙", "无线"], ["防水", "防汗"]]),
    "Electronics > Audio > Headphones": (
        "数码 > 音频 > 头戴式耳机", ["头戴式耳机", "耳罩式耳机", "录音室耳机"],
        [["降噪", "主动降噪"], ["可折叠", "折叠式"], ["有线", "带线"]]),
    "Electronics > Audio > Headphone stands": (
        "数码 > 音频 > 耳机支架", ["耳机支架", "耳机挂架"], [["铝合金", "金属"], ["木质", "胡桃木"]]),
    "Electronics > Audio > Speakers": (
        "数码 > 音频 > 音箱", ["蓝牙音箱", "便携音箱", "无线音响"],
        [["防水", "防泼溅"], ["重低音", "低音增强"], ["小巧", "迷你"]]),
    "Electronics > Phones > Smartphones": (
        "数码 > 手机 > 智能手机", ["智能手机", "手机", "移动电话"],
        [["5g", "5g网络"], ["双卡", "双卡双待"], ["128gb", "128g存储"]]),
    "Electronics > Phones > Phone cases": (
        "数码 > 手机 > 手机壳", ["手机壳", "保护套", "手机套"],
        [["防摔", "抗摔"], ["超薄", "轻薄"], ["皮革", "仿皮"]]),
    "Electronics > Phones > Screen protectors": (
        "数码 > 手机 > 贴膜", ["钢化膜", "屏幕保护膜"], [["防眩光", "磨砂"], ["防窥", "隐私"]]),
    "Electronics > Phones > Chargers": (
        "数码 > 手机 > 充电器", ["充电器", "充电头", "电源适配器"],
        [["快充", "快速充电"], ["65w", "65瓦"], ["氮化镓", "小巧氮化镓"]]),
    "Computers > Laptops": (
        "电脑 > 笔记本电脑", ["笔记本电脑", "笔记本", "轻薄本"],
        [["16gb内存", "16g运行内存"], ["固态硬盘", "ssd"], ["游戏", "电竞"]]),
    "Computers > Laptop bags": (
        "电脑 > 电脑包", ["电脑包", "笔记本内胆包", "电脑双肩包"], [["加厚", "防震"], ["防泼水", "防雨"]]),
    "Computers > Keyboards": (
        "电脑 > 键盘", ["键盘", "机械键盘", "小键盘"],
        [["rgb背光", "rgb灯效"], ["无线", "蓝牙"], ["人体工学", "分体式"]]),
    "Computers > Mice": (
        "电脑 > 鼠标", ["鼠标", "电脑鼠标", "无线鼠标"], [["人体工学", "垂直"], ["静音", "无声"]]),
    "Computers > Mouse pads": (
        "电脑 > 鼠标垫", ["鼠标垫", "桌垫"], [["加大", "超大"], ["防滑", "橡胶底"]]),
    "Computers > Monitors": (
        "电脑 > 显示器", ["显示器", "电脑屏幕", "显示屏"], [["4k", "超高清"], ["144hz", "高刷新率"], ["曲面", "带鱼屏"]]),
    "Computers > Monitor arms": (
        "电脑 > 显示器支架", ["显示器支架", "显示器机械臂", "屏幕支架"], [["气弹簧", "可调节"], ["双屏", "双臂"]]),
    "Home > Kitchen > Coffee makers": (
        "家居 > 厨房 > 咖啡机", ["咖啡机", "意式咖啡机", "咖啡壶"],
        [["可预约", "带定时"], ["不锈钢", "全钢"], ["单杯", "一人份"]]),
    "Home > Kitchen > Coffee beans": (
        "家居 > 厨房 > 咖啡豆", ["咖啡豆", "原豆咖啡", "意式咖啡豆"], [["深度烘焙", "浓烈"], ["有机", "天然"]]),
    "Home > Kitchen > Blenders": (
        "家居 > 厨房 > 料理机", ["料理机", "榨汁机", "搅拌机"], [["高速", "大功率"], ["便携", "随行"]]),
    "Home > Kitchen > Cookware": (
        "家居 > 厨房 > 锅具", ["煎锅", "平底锅", "炒锅"], [["不粘", "不粘涂层"], ["铸铁", "生铁"], ["电磁炉", "电磁炉适用"]]),
    "Home > Kitchen > Kitchen knives": (
        "家居 > 厨房 > 刀具", ["厨师刀", "菜刀", "料理刀"], [["大马士革", "夹层钢"], ["日式", "三德刀"]]),
    "Home > Bedding > Pillows": (
        "家居 > 床品 > 枕头", ["枕头", "床枕", "靠垫"], [["记忆棉", "海绵"], ["凉感", "透气"]]),
    "Home > Bedding > Bed sheets": (
        "家居 > 床品 > 床单", ["床单", "床单套装", "四件套"], [["纯棉", "全棉"], ["特大号", "加大"]]),
    "Sports > Running > Running shoes": (
        "运动 > 跑步 > 跑鞋", ["跑鞋", "运动鞋", "慢跑鞋"], [["轻量", "轻便"], ["缓震", "软底"], ["越野", "山地"]]),
    "Sports > Running > Running socks": (
        "运动 > 跑步 > 跑步袜", ["跑步袜", "运动袜", "专业运动袜"], [["防磨脚", "防水泡"], ["压缩", "紧身"]]),
    "Sports > Fitness > Yoga mats": (
        "运动 > 健身 > 瑜伽垫", ["瑜伽垫", "健身垫", "运动垫"], [["防滑", "抓地"], ["加厚", "厚款"]]),
    "Sports > Fitness > Water bottles": (
        "运动 > 健身 > 水杯", ["水杯", "饮水瓶", "运动水壶"], [["保温", "保温杯"], ["无双酚a", "不含双酚a"]]),
    "Sports > Fitness > Fitness trackers": (
        "运动 > 健身 > 运动手环", ["运动手环", "智能手环", "健身手环"], [["心率", "心率监测"], ["gps", "带gps"]]),
    "Fashion > Tops > T-shirts": (
        "服饰 > 上装 > t恤", ["t恤", "短袖", "圆领衫"], [["纯棉", "有机棉"], ["修身", "合身"]]),
    "Fashion > Outerwear > Jackets": (
        "服饰 > 外套 > 夹克", ["夹克", "外套", "风衣"], [["防水", "防雨"], ["羽绒", "羽绒服"], ["连帽", "带帽"]]),
    "Fashion > Bottoms > Jeans": (
        "服饰 > 下装 > 牛仔裤", ["牛仔裤", "牛仔长裤", "丹宁裤"], [["修身", "紧身"], ["弹力", "有弹性"]]),
    "Fashion > Accessories > Belts": (
        "服饰 > 配饰 > 腰带", ["腰带", "皮带", "裤腰带"], [["真皮", "头层牛皮"], ["双面", "两面用"]]),
    "Fashion > Accessories > Backpacks": (
        "服饰 > 配饰 > 双肩包", ["双肩包", "背包", "旅行背包"], [["防泼水", "防水"], ["防盗", "带锁"]]),
    "Beauty > Hair > Shampoo": (
        "美妆 > 护发 > 洗发水", ["洗发水", "洗发露", "洗头膏"], [["无硅油", "不含硫酸盐"], ["去屑", "控屑"]]),
    "Beauty > Hair > Conditioner": (
        "美妆 > 护发 > 护发素", ["护发素", "润发乳", "顺发露"], [["滋润", "保湿"], ["摩洛哥油", "含阿甘油"]]),
    "Beauty > Skin > Face cream": (
        "美妆 > 护肤 > 面霜", ["面霜", "保湿霜", "乳液"], [["spf30", "防晒"], ["抗衰老", "抗皱"]]),
    "Toys > Building > Building blocks": (
        "玩具 > 拼搭 > 积木", ["积木", "拼装积木", "益智拼搭玩具"], [["1000块", "1000颗粒"], ["城市", "城镇"]]),
    "Toys > Puzzles > Jigsaw puzzles": (
        "玩具 > 拼图 > 拼图", ["拼图", "益智拼图", "图画拼图"], [["1000片", "1000块"], ["风景", "山水"]]),
    "Books > Fiction > Novels": (
        "图书 > 小说 > 长篇小说", ["小说", "长篇小说", "平装小说"], [["悬疑", "推理"], ["奇幻", "玄幻"], ["爱情", "言情"]]),
    "Books > Food > Cookbooks": (
        "图书 > 美食 > 菜谱", ["菜谱", "食谱", "烹饪书"], [["素食", "植物基"], ["烘焙", "面包"]]),
    "Pets > Dogs > Dog food": (
        "宠物 > 狗狗 > 狗粮", ["狗粮", "干狗粮", "犬粮"], [["无谷", "不含谷物"], ["幼犬", "幼犬专用"]]),
    "Pets > Dogs > Dog toys": (
        "宠物 > 狗狗 > 狗玩具", ["狗玩具", "磨牙玩具", "发声玩具"], [["耐咬", "咬不烂"], ["绳结", "拔河绳"]]),
    "Garden > Planters > Plant pots": (
        "园艺 > 花盆 > 花盆", ["花盆", "种植盆", "盆栽盆"], [["陶瓷", "釉面"], ["自动吸水", "懒人"]]),
}

COLOURS_ZH = [["黑色", "曜石黑"], ["白色", "雪白"], ["蓝色", "藏青"], ["红色", "深红"],
              ["灰色", "银灰"], ["绿色", "橄榄绿"], ["粉色", "玫瑰粉"], ["银色", "金属银"]]

DESCRIPTION_TEMPLATES_ZH = [
    "{brand}这款{noun}{feature}，适合日常使用。颜色：{colour}。",
    "{brand} {noun}——{feature}，{feature2}，舒适耐用。",
    "一款深受好评的{feature}{noun}，{colour}可选，{brand}出品。",
    "想买{noun}？{brand}这款{feature2}，{feature}，价格实惠。",
]

WELL_MADE_ZH = "做工精良"
