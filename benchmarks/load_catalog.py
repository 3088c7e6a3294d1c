"""Your catalog, from a CSV/TSV file or a pandas DataFrame: how long a million items take to load.

A shop's catalog is a file of an id, a title and a few text columns. ``load_table`` (``zsrec rank
--items ...``) read it a row at a time (each line through ``csv``, a {column: text} dict, an
``Item``) with Python's garbage collector walking every object made so far every few thousand new
ones: 6.0-6.7 s for 1M items, more than 10M events of numbers take. Now a plain CSV/TSV or JSON Lines
file, DataFrame or list of dicts is read in blocks (zsrec/bulk_items.py) and the catalog is made
with the collector paused (``row_reading.collector_paused``). Each catalog here is loaded in a process of its own:
- bulk: as zsrec loads it;
- rows: the bulk read off (the rows zsrec reads anything else by, the collector still paused);
- before: the code of ``--before`` (a checkout of an earlier commit, e.g. stop 63's 9484fa3),
  where given.
Two catalogs at each size: ``short`` (id, title, genres, as the other benchmarks write) and
``long`` (id, title, genres, brand, price, a 100-character description holding a comma, so that
the CSV quotes it as pandas' ``to_csv`` and Python's ``csv`` do, a colour left empty in half the
rows), as CSV files and as DataFrames read from them with pandas (``load_records``); the
long one also as a JSON Lines file (``load_table``) and a list of dicts (``load_records``). Every
load of a catalog must give the same items (ids, titles, fields in order) and fingerprint; the
script stops otherwise. The events file is 1,000 picks, so that the load is the catalog's.

Writes benchmarks/results/NAME.{json,md} (NAME: load_catalog).

    git worktree add /tmp/before 9484fa3
    python benchmarks/load_catalog.py --before /tmp/before     # 100k and 1M items (minutes on 2 cores)
    python benchmarks/load_catalog.py --toy                    # seconds; what CI runs
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

from _common import commit_of, in_child, load_arguments, machine, machine_line, memory_mb

# (catalog, source, way): each load measured; "before" only where --before is given
LOADS = [("short", "csv", "bulk"), ("short", "csv", "rows"), ("short", "csv", "before"),
         ("short", "frame", "bulk"), ("short", "frame", "rows"), ("short", "frame", "before"),
         ("long", "csv", "bulk"), ("long", "csv", "rows"), ("long", "csv", "before"),
         ("long", "frame", "bulk"), ("long", "frame", "rows"), ("long", "frame", "before"),
         ("long", "jsonl", "bulk"), ("long", "jsonl", "rows"), ("long", "jsonl", "before"),
         ("long", "dicts", "bulk"), ("long", "dicts", "rows"), ("long", "dicts", "before")]
WORDS = "red blue green light heavy small large classic modern soft hard warm cool quick slow bright".split()


def write_folder(folder: Path, n_items: int) -> dict:
    """items-short.csv, items-long.csv, items-long.jsonl and events.csv (1,000 picks of the first items)."""
    folder.mkdir(parents=True)
    ids = [f"B0{(k * 7919 + 13) % 10**8:08d}" for k in range(n_items)]  # distinct below 10**8 (7919 is prime)
    with open(folder / "items-short.csv", "w", encoding="utf-8") as f:
        f.write("item_id,title,genres\n")
        f.writelines(f"{i},Product {k + 1},Kind {k % 17}\n" for k, i in enumerate(ids))
    long_rows = []
    for k, i in enumerate(ids):
        words = " ".join(WORDS[(k * p) % len(WORDS)] for p in (1, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43))
        long_rows.append({"item_id": i, "title": f"Product {k + 1} {WORDS[k % 16]}", "genres": f"Kind {k % 17}",
                          "brand": f"Brand {k % 997}", "price": f"{(k % 5000) / 100 + 0.99:.2f}",
                          "description": (words + ", " + words)[:100], "colour": WORDS[k % 16] if k % 2 else ""})
    with open(folder / "items-long.csv", "w", encoding="utf-8", newline="") as f:  # descriptions quoted (a comma)
        writer = csv.DictWriter(f, fieldnames=list(long_rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(long_rows)
    with open(folder / "items-long.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(row) + "\n" for row in long_rows)
    with open(folder / "events.csv", "w", encoding="utf-8") as f:
        f.write("user_id,item_id,timestamp\n")
        f.writelines(f"U{u % 100},{ids[(u * 31) % n_items]},{1_000_000_000 + u}\n" for u in range(1000))
    return {"items": n_items, **{f"{name}_mb": (folder / f"items-{name}").stat().st_size / 2**20
                                 for name in ("short.csv", "long.csv", "long.jsonl")}}


def load_once(folder: Path, catalog: str, source: str, way: str) -> dict:
    """One load in this process; ``way`` "rows" turns the bulk read off ("before" runs unchanged,
    the zsrec on the path being an earlier checkout's)."""
    import zsrec
    from zsrec.loaders import load_records, load_table

    used: list[bool] = []
    if way != "before":
        from zsrec import bulk_items, records

        for module, name in ((bulk_items, "read_items_table"), (bulk_items, "read_items_json"),
                             (records, "read_items_frame"), (records, "read_items_dicts")):
            real = getattr(module, name)

            def counted(*args, _real=real, **kwargs):
                got = _real(*args, **kwargs) if way == "bulk" else None
                used.append(got is not None)
                return got

            setattr(module, name, counted)
    items: object = folder / f"items-{catalog}.{'jsonl' if source == 'jsonl' else 'csv'}"
    events: object = folder / "events.csv"
    if source in ("frame", "dicts"):
        import pandas as pd

        items = pd.read_csv(items, dtype=str, keep_default_na=False)  # every cell the text the file holds
        if source == "dicts":
            items = items.to_dict("records")
        events = pd.read_csv(events, dtype={"item_id": str})
    before = memory_mb()["VmHWM"]
    t0 = time.perf_counter()
    ds = (load_table if source in ("csv", "jsonl") else load_records)(items, events)
    load_s = time.perf_counter() - t0
    peak = memory_mb()["VmHWM"]
    h = hashlib.sha256()
    for item in ds.catalog:
        h.update(json.dumps([item.id, item.title, list(item.fields.items())]).encode())
    return {"load_s": load_s, "before_mb": before, "peak_mb": peak, "in_bulk": any(used), "items": len(ds.catalog),
            "digest": h.hexdigest()[:16], "fingerprint": ds.catalog.fingerprint(),
            "code": str(Path(zsrec.__file__).resolve().parent.parent)}  # the checkout whose zsrec ran


def key(catalog: str, source: str, way: str) -> str:
    return f"{catalog}_{source}_{way}"


def main() -> None:
    args = load_arguments("load_catalog", "100000,1000000", "items per synthetic catalog",
                          (("--before",), {"type": Path, "default": None,
                                           "help": "a checkout of an earlier commit, measured beside"}))
    if args.load:
        print(json.dumps(load_once(Path(args.load[0]), *args.load[1:])))
        return
    sizes = [2000, 20000] if args.toy else [int(s) for s in args.sizes.split(",")]
    loads = [load for load in LOADS if load[2] != "before" or args.before]
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as d:
            folder = Path(d) / f"catalog-{n}"
            row = {"size": n, **write_folder(folder, n)}
            for load in loads:  # each in its own process: its own time and peak memory
                row[key(*load)] = in_child(__file__, "--load", str(folder), *load,
                                           python_path=args.before if load[2] == "before" else None)
        for catalog in ("short", "long"):
            got = [row[key(*load)] for load in loads if load[0] == catalog]
            if len({(g["digest"], g["fingerprint"], g["items"]) for g in got}) != 1 or got[0]["items"] != n:
                sys.exit(f"the loads disagree: {json.dumps(row)}")
        earlier = str(args.before.resolve()) if args.before else None
        if [row[key(*load)]["code"] == earlier for load in loads] != [way == "before" for *_, way in loads]:
            sys.exit(f"a load ran another checkout's zsrec than it should: {json.dumps(row)}")
        if [row[key(*load)]["in_bulk"] for load in loads] != [way == "bulk" for *_, way in loads]:
            sys.exit(f"a bulk read was not used where it should be, or was where it should not: {json.dumps(row)}")
        rows.append(row)
        print(json.dumps(row), flush=True)
    m = machine()
    cmd = ("python benchmarks/load_catalog.py " + " ".join(sys.argv[1:])).strip()
    before_commit = commit_of(args.before) if args.before else None
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps({"command": cmd, "machine": m, "before_commit": before_commit,
                                                             "rows": rows}, indent=1))
    (args.out / f"{args.name}.md").write_text(report(rows, cmd, m, before_commit))
    print((args.out / f"{args.name}.md").read_text())


def report(rows: list[dict], cmd: str, m: dict, before_commit: str | None) -> str:
    def s(r: dict, *load: str) -> str:
        got = r.get(key(*load))
        return f"{got['load_s']:.2f}" if got else "-"

    def ratio(r: dict, load: tuple, base: tuple) -> str:
        a, b = r.get(key(*load)), r.get(key(*base))
        return f"{a['load_s'] / b['load_s']:.1f}x" if a and b else "-"

    def mb(r: dict, *load: str) -> str:
        got = r.get(key(*load))
        return f"{got['peak_mb'] - got['before_mb']:.0f}" if got else "-"

    before = f"before: commit {before_commit}" if before_commit else "before: not measured (no --before)"
    lines = ["# Your catalog, from a CSV file or a DataFrame", "", f"Command: `{cmd}`  ",
             f"Machine: {machine_line(m)}  ",
             f"Synthetic catalogs: short (id, title, genres) and long (id, title, genres, brand, price, a "
             f"100-character description holding a comma, quoted in the CSV, a colour empty in half the rows), ids like Amazon's (`B0` + 8 digits); "
             f"1,000 picks as the events. Each load in a process of its own, all of a catalog to the same items "
             f"(ids, titles, fields in order) and fingerprint. bulk: as zsrec loads it; rows: the bulk read off; "
             f"{before}. Memory: what the load added to the process's peak resident set (VmHWM), MB.", "",
             "| items | catalog | source | bulk s | rows s | before s | before / bulk | rows / bulk | "
             "memory MB (bulk, rows, before) |", "|---:|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        for catalog, source in (("short", "csv"), ("short", "frame"), ("long", "csv"), ("long", "frame"),
                                ("long", "jsonl"), ("long", "dicts")):
            bulk, rows_, old = (catalog, source, "bulk"), (catalog, source, "rows"), (catalog, source, "before")
            label = {"csv": "CSV file", "frame": "DataFrame", "jsonl": "JSON Lines file", "dicts": "list of dicts"}[source]
            lines.append(f"| {r['size']:,} | {catalog} | {label} | {s(r, *bulk)} | {s(r, *rows_)} | {s(r, *old)} | "
                         f"{ratio(r, old, bulk)} | {ratio(r, rows_, bulk)} | "
                         f"{mb(r, *bulk)}, {mb(r, *rows_)}, {mb(r, *old)} |")
    sizes = ", ".join(f"{r['size']:,}: {r['short.csv_mb']:.1f} / {r['long.csv_mb']:.1f} / {r['long.jsonl_mb']:.1f}"
                      for r in rows)
    lines += ["", f"File sizes, MB (short CSV / long CSV / long JSON Lines): {sizes}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
