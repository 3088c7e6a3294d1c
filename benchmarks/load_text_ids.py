"""Your own log with ids in text, read in bulk: how long against ids as numbers and against row by row.

Logs people export name users and items in text as often as by number: Amazon's reviews
("A3R5OBKS7OM2IR" rates "B00004TUBL"), a shop's SKUs, hashed user ids. ``load_table`` (``zsrec rank
--items ... --interactions ...``) read such a file row by row, about 2-3 us a rating; a file of numbers
went in blocks (zsrec/bulk_ratings.py). Here the same catalog and picks are written twice, once
with ids as numbers and once in text, at each size, and loaded in processes of their own: ids as
numbers in bulk, ids in text in bulk, and ids in text row by row (the bulk read off, as every such
file was read before). Both reads of the text file must give the same columns (users, items, times,
ratings), and the numbers' file the same items, times and ratings with each user in text its
number's.

Writes benchmarks/results/NAME.{json,md} (NAME: load_text_ids).

    python benchmarks/load_text_ids.py          # 100k, 1M and 10M ratings (about 4 minutes on 2 cores)
    python benchmarks/load_text_ids.py --toy    # seconds; what CI runs to keep this script working
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, machine, machine_line

RATINGS_PER_USER = 30  # a shop's log: fewer picks a user than a film site's
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def text_ids(count: int, first: str, width: int) -> list[str]:
    """Ids shaped like Amazon's (a letter, then digits and capitals), one per number, all distinct:
    each number spread by a multiplier prime to 36 (one to one below 36**width), in base 36."""
    modulus = 36 ** width
    ids = []
    for k in range(count):
        value, digits = (k * 1_000_000_007 + 12_345) % modulus, []
        for _ in range(width):
            value, digit = divmod(value, 36)
            digits.append(ALPHABET[digit])
        ids.append(first + "".join(reversed(digits)))
    return ids


def write_folder(folder: Path, n_ratings: int, seed: int = 0) -> dict:
    """The same catalog and picks twice: items-numbers.csv and events-numbers.csv with ids as numbers,
    items-text.csv and events-text.csv with ids in text (items: item_id, title, genres; events:
    user_id, item_id, rating, timestamp)."""
    rng = np.random.default_rng(seed)
    n_items = max(200, int(30 * n_ratings ** 0.5))
    n_users = -(-n_ratings // RATINGS_PER_USER)
    item_text = text_ids(n_items, "B0", 8)
    assert len(set(item_text)) == n_items
    folder.mkdir(parents=True, exist_ok=True)
    for kind, name in (("numbers", lambda m: m + 1), ("text", item_text.__getitem__)):
        with open(folder / f"items-{kind}.csv", "w", encoding="utf-8") as f:
            f.write("item_id,title,genres\n")
            f.writelines(f"{name(m)},Product {m + 1},Kind {m % 17}\n" for m in range(n_items))
    user_text = text_ids(n_users, "A", 13)
    assert len(set(user_text)) == n_users
    p = 1.0 / np.arange(1, n_items + 1) ** 0.9
    p /= p.sum()
    chunk = 1_000_000
    with open(folder / "events-numbers.csv", "w", encoding="utf-8") as numbers, \
            open(folder / "events-text.csv", "w", encoding="utf-8") as text:
        numbers.write("user_id,item_id,rating,timestamp\n")
        text.write("user_id,item_id,rating,timestamp\n")
        for start in range(0, n_ratings, chunk):
            n = min(chunk, n_ratings - start)
            rows = np.arange(start, start + n)
            users = rows // RATINGS_PER_USER
            items = rng.choice(n_items, n, p=p)
            stars = rng.integers(1, 6, n)
            times = (1.2e9 + users * 1e4 + (rows % RATINGS_PER_USER) * 3600).astype(np.int64)
            numbers.write("".join(f"{u + 1},{m + 1},{s},{t}\n" for u, m, s, t in
                                  zip(users.tolist(), items.tolist(), stars.tolist(), times.tolist())))
            text.write("".join(f"{user_text[u]},{item_text[m]},{s},{t}\n" for u, m, s, t in
                               zip(users.tolist(), items.tolist(), stars.tolist(), times.tolist())))
    return {"items": n_items, "users": n_users,
            "numbers_mb": (folder / "events-numbers.csv").stat().st_size / 2**20,
            "text_mb": (folder / "events-text.csv").stat().st_size / 2**20}


def load_once(folder: Path, kind: str) -> dict:
    """One load in this process: ``numbers`` or ``text`` in bulk, or ``rows`` (text, the bulk read off)."""
    from zsrec import bulk_ratings
    from zsrec.loaders import load_table

    used: list[bool] = []
    real = bulk_ratings.read_ratings

    def counted(*args, **kwargs):
        got = None if kind == "rows" else real(*args, **kwargs)
        used.append(got is not None)
        return got

    bulk_ratings.read_ratings = counted
    ids = "numbers" if kind == "numbers" else "text"
    t0 = time.perf_counter()
    ds = load_table(folder / f"items-{ids}.csv", folder / f"events-{ids}.csv")
    load_s = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the digests below, which hold more
    it = ds.interactions
    users = it.users.tolist()
    if kind == "numbers":  # each user in the text file's terms, so that the three loads compare
        user_text = text_ids(max(map(int, users)), "A", 13)
        users = [user_text[int(u) - 1] for u in users]
    who = hashlib.sha256("\x1f".join(users).encode()).hexdigest()[:16]
    rest = hashlib.sha256(it.items.tobytes() + it.timestamps.tobytes() + it.ratings.tobytes()).hexdigest()[:16]
    return {"load_s": load_s, "peak_mb": peak,
            "in_bulk": any(used), "ratings": len(it), "users_digest": who, "columns_digest": rest}


KINDS = ("numbers", "text", "rows")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000,10000000", help="ratings per synthetic log")
    ap.add_argument("--toy", action="store_true")
    ap.add_argument("--load", nargs=2, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--name", default="load_text_ids")
    args = ap.parse_args()
    if args.load:
        print(json.dumps(load_once(Path(args.load[0]), args.load[1])))
        return
    sizes = [3000, 30000] if args.toy else [int(s) for s in args.sizes.split(",")]
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as d:
            folder = Path(d) / f"log-{n}"
            row = {"size": n, **write_folder(folder, n)}
            for kind in KINDS:  # each in its own process: its own peak memory
                out = subprocess.run([sys.executable, __file__, "--load", str(folder), kind], capture_output=True,
                                     text=True, cwd=Path(__file__).parent)
                if out.returncode:
                    sys.exit(out.stderr[-3000:])
                row[kind] = json.loads(out.stdout.strip().splitlines()[-1])
        got = [row[kind] for kind in KINDS]
        row["same"] = all(g["users_digest"] == got[0]["users_digest"] and g["columns_digest"] == got[0]["columns_digest"]
                          for g in got)
        row["read_as_said"] = [g["in_bulk"] for g in got] == [True, True, False]
        if not (row["same"] and row["read_as_said"]):
            sys.exit(f"the three loads disagree: {json.dumps(row)}")
        rows.append(row)
        print(json.dumps(row), flush=True)
    m = machine()
    cmd = ("python benchmarks/load_text_ids.py " + " ".join(sys.argv[1:])).strip()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps({"command": cmd, "machine": m, "rows": rows}, indent=1))
    lines = ["# Your own log with ids in text, read in bulk", "", f"Command: `{cmd}`  ", f"Machine: {machine_line(m)}  ",
             f"Synthetic logs (~{RATINGS_PER_USER} picks a user, power-law popularity) of the same picks written "
             "twice, with their catalogs: ids as numbers (1, 2, ...) and ids in text shaped like Amazon's "
             "(users A + 13 characters, items B0 + 8). Each load is `load_table` in a process of its own: ids as "
             "numbers in bulk, ids in text in bulk, and ids in text row by row (the bulk read off: how such a "
             "file was read before). All three gave the same columns (users, each numbered one in the text "
             "file's terms; items, times, ratings) at every size. Peak: the process's peak RSS when the load returned, imports included.",
             "", "| ratings | items | users | file MB (numbers, text) | numbers s | text s | text row by row s | "
             "row by row / text | text / numbers | peak MB (numbers, text, row by row) |",
             "|---:|---:|---:|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        s = [r[kind]["load_s"] for kind in KINDS]
        lines.append(f"| {r['size']:,} | {r['items']:,} | {r['users']:,} | {r['numbers_mb']:.1f}, {r['text_mb']:.1f} | "
                     f"{s[0]:.2f} | {s[1]:.2f} | {s[2]:.2f} | {s[2] / s[1]:.1f}x | {s[1] / s[0]:.1f}x | "
                     + ", ".join(f"{r[kind]['peak_mb']:.0f}" for kind in KINDS) + " |")
    (args.out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
