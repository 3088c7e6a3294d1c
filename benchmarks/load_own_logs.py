"""Your own log, from a CSV or JSON Lines file or a pandas DataFrame, with ids as numbers or in text and
times as epoch seconds or dates: how long it takes to load, read in bulk against a row at a time.

Logs people export name users and items by number or in text (Amazon's "A3R5OBKS7OM2IR" rates
"B00004TUBL"; a shop's SKUs; hashed ids). ``load_table`` (``zsrec rank --items ... --interactions
...``) reads a CSV/TSV of plain numbers and ids in blocks (zsrec/bulk_ratings.py; ids in text numbered
by zsrec/text_ids.py, ISO 8601 times read by zsrec/iso_times.py) and a JSON Lines file a block of
lines at a time (zsrec/bulk_json.py), and ``load_records`` reads an events DataFrame of plain columns a column at a
time (zsrec/bulk_frames.py); anything else goes a row at a time, as every such file and frame went
before. Here the same catalog and picks are written four times at each size: ids as numbers, ids in
text, ids in text with each time a date as databases and pandas write it (``2009-01-01
08:00:00``), and ids in text as JSON Lines (``{"user_id": ..., "item_id": ..., "rating": 4,
"timestamp": 1230796800}``); each is loaded in a process of its own:
- file: ``load_table``, in bulk, and (ids in text, dates, JSON Lines) row by row, the bulk read off;
- frame: the CSVs read into frames with pandas (the time a ``datetime64`` column, or for the dates
  the text ``pd.read_csv`` leaves), then ``load_records``, a column at a time and a row at a time
  (the column read off).
Every load must give the same columns: users (each numbered one in the text log's terms), items,
times and ratings; the script stops otherwise.

Writes benchmarks/results/NAME.{json,md} (NAME: load_own_logs).

    python benchmarks/load_own_logs.py          # 100k, 1M and 10M ratings (about 10 minutes on 2 cores)
    python benchmarks/load_own_logs.py --toy    # seconds; what CI runs to keep this script working
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import in_child, load_arguments, machine, machine_line, memory_mb

RATINGS_PER_USER = 30  # a shop's log: fewer picks a user than a film site's
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# (source, ids, way): each load measured
LOADS = [("file", "numbers", "bulk"), ("file", "text", "bulk"), ("file", "text", "rows"),
         ("file", "dates", "bulk"), ("file", "dates", "rows"), ("file", "json", "bulk"), ("file", "json", "rows"),
         ("frame", "numbers", "bulk"), ("frame", "numbers", "rows"), ("frame", "text", "bulk"), ("frame", "text", "rows"),
         ("frame", "dates", "bulk"), ("frame", "dates", "rows")]


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
    """The same catalog and picks four times: items-numbers.csv and events-numbers.csv with ids as
    numbers, items-text.csv and events-text.csv with ids in text (items: item_id, title, genres;
    events: user_id, item_id, rating, timestamp), events-dates.csv as events-text.csv with each
    time a date (UTC, to the second), and events-json.jsonl as events-text.csv in JSON Lines."""
    rng = np.random.default_rng(seed)
    n_items = max(200, int(30 * n_ratings ** 0.5))
    n_users = -(-n_ratings // RATINGS_PER_USER)
    item_text = text_ids(n_items, "B0", 8)
    folder.mkdir(parents=True, exist_ok=True)
    for kind, name in (("numbers", lambda m: m + 1), ("text", item_text.__getitem__)):
        with open(folder / f"items-{kind}.csv", "w", encoding="utf-8") as f:
            f.write("item_id,title,genres\n")
            f.writelines(f"{name(m)},Product {m + 1},Kind {m % 17}\n" for m in range(n_items))
    user_text = text_ids(n_users, "A", 13)
    p = 1.0 / np.arange(1, n_items + 1) ** 0.9
    p /= p.sum()
    chunk = 1_000_000
    with open(folder / "events-numbers.csv", "w", encoding="utf-8") as numbers, \
            open(folder / "events-text.csv", "w", encoding="utf-8") as text, \
            open(folder / "events-dates.csv", "w", encoding="utf-8") as dates, \
            open(folder / "events-json.jsonl", "w", encoding="utf-8") as lines:
        for f in (numbers, text, dates):
            f.write("user_id,item_id,rating,timestamp\n")
        for start in range(0, n_ratings, chunk):
            n = min(chunk, n_ratings - start)
            rows = np.arange(start, start + n)
            picks = list(zip((rows // RATINGS_PER_USER).tolist(), rng.choice(n_items, n, p=p).tolist(),
                             rng.integers(1, 6, n).tolist(),
                             (1.2e9 + rows // RATINGS_PER_USER * 1e4 + rows % RATINGS_PER_USER * 3600).astype(np.int64).tolist()))
            numbers.write("".join(f"{u + 1},{m + 1},{s},{t}\n" for u, m, s, t in picks))
            text.write("".join(f"{user_text[u]},{item_text[m]},{s},{t}\n" for u, m, s, t in picks))
            when = np.char.replace(np.datetime_as_string(np.array([t for *_, t in picks], dtype="datetime64[s]")), "T", " ")
            dates.write("".join(f"{user_text[u]},{item_text[m]},{s},{w}\n" for (u, m, s, _), w in zip(picks, when.tolist())))
            lines.write("".join(f'{{"user_id": "{user_text[u]}", "item_id": "{item_text[m]}", "rating": {s}, "timestamp": {t}}}\n'
                                for u, m, s, t in picks))
    return {"items": n_items, "users": n_users,
            **{f"{kind}_mb": (folder / f"events-{kind}.{'jsonl' if kind == 'json' else 'csv'}").stat().st_size / 2**20
               for kind in ("numbers", "text", "dates", "json")}}


def load_once(folder: Path, source: str, ids: str, way: str) -> dict:
    """One load in this process; ``way`` "rows" turns the bulk read (file) or column read (frame) off."""
    from zsrec import bulk_json, bulk_ratings, records
    from zsrec.loaders import load_records, load_table

    used: list[bool] = []
    module, name = ((bulk_json, "read_json_events") if ids == "json" else (bulk_ratings, "read_ratings")
                    if source == "file" else (records, "read_frame_events"))
    real = getattr(module, name)

    def counted(*args, **kwargs):
        got = real(*args, **kwargs) if way == "bulk" else None
        used.append(got is not None)
        return got

    setattr(module, name, counted)
    items = folder / f"items-{'numbers' if ids == 'numbers' else 'text'}.csv"
    events = folder / f"events-{ids}.{'jsonl' if ids == 'json' else 'csv'}"
    if source == "frame":
        import pandas as pd

        items = pd.read_csv(items, dtype={"item_id": str})
        events = pd.read_csv(events)  # the dates left as text, as read_csv leaves them unless told to parse them
        if ids != "dates":
            events["timestamp"] = pd.to_datetime(events["timestamp"], unit="s")
    before = memory_mb()["VmHWM"]
    t0 = time.perf_counter()
    ds = (load_table if source == "file" else load_records)(items, events)
    load_s = time.perf_counter() - t0
    peak = memory_mb()["VmHWM"]  # before the digests below, which hold more
    it = ds.interactions
    users = it.users.tolist()
    if ids == "numbers":  # each user in the text log's terms, so that every load compares
        user_text = text_ids(max(map(int, users)), "A", 13)
        users = [user_text[int(u) - 1] for u in users]
    digest = hashlib.sha256("\x1f".join(users).encode() + it.items.tobytes() + it.timestamps.tobytes()
                            + it.ratings.tobytes() + bytes([it.timed])).hexdigest()[:16]
    return {"load_s": load_s, "before_mb": before, "peak_mb": peak, "in_bulk": any(used), "ratings": len(it),
            "digest": digest}


def key(source: str, ids: str, way: str) -> str:
    return f"{source}_{ids}_{way}"


def main() -> None:
    args = load_arguments("load_own_logs", "100000,1000000,10000000", "ratings per synthetic log")
    if args.load:
        print(json.dumps(load_once(Path(args.load[0]), *args.load[1:])))
        return
    sizes = [3000, 30000] if args.toy else [int(s) for s in args.sizes.split(",")]
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as d:
            folder = Path(d) / f"log-{n}"
            row = {"size": n, **write_folder(folder, n)}
            for load in LOADS:  # each in its own process: its own peak memory
                row[key(*load)] = in_child(__file__, "--load", str(folder), *load)
        got = [row[key(*load)] for load in LOADS]
        if len({g["digest"] for g in got}) != 1 or [g["in_bulk"] for g in got] != [way == "bulk" for *_, way in LOADS]:
            sys.exit(f"the loads disagree: {json.dumps(row)}")
        rows.append(row)
        print(json.dumps(row), flush=True)
    m = machine()
    cmd = ("python benchmarks/load_own_logs.py " + " ".join(sys.argv[1:])).strip()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps({"command": cmd, "machine": m, "rows": rows}, indent=1))

    def s(r: dict, *load: str) -> float:
        return r[key(*load)]["load_s"]

    def mb(r: dict, *load: str) -> str:
        return f"{r[key(*load)]['peak_mb']:.0f}"

    lines = ["# Your own log, from a file or a DataFrame, ids as numbers or in text", "", f"Command: `{cmd}`  ",
             f"Machine: {machine_line(m)}  ",
             f"Synthetic logs (~{RATINGS_PER_USER} picks a user, power-law popularity) of the same catalog and picks "
             "written four times: ids as numbers (1, 2, ...), ids in text shaped like Amazon's (users A + 13 "
             "characters, items B0 + 8), ids in text with times as dates (`2009-01-01 08:00:00`, UTC) in "
             "place of epoch seconds, and ids in text as JSON Lines (one object a line). Each load in a "
             "process of its own; all thirteen gave the same columns "
             "(users, each numbered one in the text log's terms; items, times, ratings) at every size. Peak: "
             "the process's peak resident set (VmHWM) when the load returned, imports (and for frames the "
             "frames, read with pandas first) included.", "",
             "## Files: `load_table` (CSV, JSON Lines), in bulk against row by row", "",
             "| ratings | items | users | file MB (numbers, text, dates, JSON) | numbers s | text s | text row by row s | "
             "row by row / text | dates s | dates row by row s | row by row / dates | JSON s | JSON row by row s | "
             "row by row / JSON | peak MB (numbers, text, text row by row, dates, dates row by row, JSON, JSON row by row) |",
             "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['size']:,} | {r['items']:,} | {r['users']:,} | "
                     f"{r['numbers_mb']:.1f}, {r['text_mb']:.1f}, {r['dates_mb']:.1f}, {r['json_mb']:.1f} | "
                     f"{s(r, 'file', 'numbers', 'bulk'):.2f} | {s(r, 'file', 'text', 'bulk'):.2f} | "
                     f"{s(r, 'file', 'text', 'rows'):.2f} | "
                     f"{s(r, 'file', 'text', 'rows') / s(r, 'file', 'text', 'bulk'):.1f}x | "
                     f"{s(r, 'file', 'dates', 'bulk'):.2f} | {s(r, 'file', 'dates', 'rows'):.2f} | "
                     f"{s(r, 'file', 'dates', 'rows') / s(r, 'file', 'dates', 'bulk'):.1f}x | "
                     f"{s(r, 'file', 'json', 'bulk'):.2f} | {s(r, 'file', 'json', 'rows'):.2f} | "
                     f"{s(r, 'file', 'json', 'rows') / s(r, 'file', 'json', 'bulk'):.1f}x | "
                     + ", ".join(mb(r, *load) for load in LOADS if load[0] == "file") + " |")
    lines += ["", "## DataFrames: `load_records`, a column at a time against a row at a time", "",
              "| ratings | ids (times) | by column s | by rows s | rows / column | peak MB by column, by rows (before the load) |",
              "|---:|---|---:|---:|---:|---|"]
    for r in rows:
        for ids in ("numbers", "text", "dates"):
            label = "text, times as text (dates)" if ids == "dates" else ids
            lines.append(f"| {r['size']:,} | {label} | {s(r, 'frame', ids, 'bulk'):.2f} | {s(r, 'frame', ids, 'rows'):.2f} | "
                         f"{s(r, 'frame', ids, 'rows') / s(r, 'frame', ids, 'bulk'):.1f}x | "
                         f"{mb(r, 'frame', ids, 'bulk')}, {mb(r, 'frame', ids, 'rows')} "
                         f"({r[key('frame', ids, 'bulk')]['before_mb']:.0f}) |")
    (args.out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
