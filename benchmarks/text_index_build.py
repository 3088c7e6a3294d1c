"""The text index's build, as a generator makes it (BM25 over every item's words): seconds, the memory it
takes at its peak and keeps after it, this code against another checkout's (``--before``), each build a
process of its own, taking turns (which goes first alternates by round). A digest of the built index
(its weights, rows and vocabulary) shows that the two built the same one.

The catalogs are load_catalog.py's long CSV (a title, brand, price, colour and a 14-word description a
product) at each size; the data is read first, and its memory is left out of both figures.
Writes benchmarks/results/NAME.{json,md} (NAME: text_index_build).

    git worktree add /tmp/before 7355c1c
    python benchmarks/text_index_build.py --before /tmp/before    # 100k and 1M items (about 3 minutes on 2 cores)
    python benchmarks/text_index_build.py --toy                   # 2,000 items, this code alone; what CI runs
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

from _common import RESULTS, commit_of, in_child, machine, machine_line, memory_mb


def build(items: str, events: str) -> dict:
    """One build in this process (its checkout's zsrec): time, memory above the data's, and a digest."""
    import numpy as np

    from zsrec.candidates import CandidateConfig, CandidateGenerator
    from zsrec.loaders import load_table

    data = load_table(items, events)
    before = memory_mb()["VmRSS"]
    t0 = time.perf_counter()
    gen = CandidateGenerator(data.catalog, None, CandidateConfig(cooccurrence_weight=0.0, by_length=()))
    seconds = time.perf_counter() - t0
    after = memory_mb()
    m = gen.index.term_docs
    digest = hashlib.sha256()
    for part in (m.data, m.indices, m.indptr, np.array(m.shape)):
        digest.update(np.ascontiguousarray(part).tobytes())
    digest.update("\x1f".join(sorted(gen.index.vocabulary, key=gen.index.vocabulary.__getitem__)).encode())
    return {"seconds": round(seconds, 2), "peak_above_data_mb": round(after["VmHWM"] - before),
            "kept_above_data_mb": round(after["VmRSS"] - before), "postings": int(m.nnz),
            "words": len(gen.index.vocabulary), "digest": digest.hexdigest()[:16]}


def run(sizes: list[int], rounds: int, before: Path | None) -> list[dict]:
    from load_catalog import write_folder

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            folder = Path(tmp) / str(size)
            write_folder(folder, size)
            files = (str(folder / "items-long.csv"), str(folder / "events.csv"))
            codes = {"this code": None, **({"before": before} if before is not None else {})}
            runs: dict[str, list[dict]] = {name: [] for name in codes}
            for round_ in range(rounds):
                order = list(codes) if round_ % 2 == 0 else list(codes)[::-1]
                for name in order:
                    runs[name].append(in_child(__file__, "--build", *files, python_path=codes[name]))
            digests = {r["digest"] for rs in runs.values() for r in rs}
            row = {"items": size, "runs": runs, "same_index": len(digests) == 1}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def table(rows: list[dict], before: str | None) -> str:
    lines = ["| items | postings, words | code | build s | peak above the data MB | kept after MB | same index |",
             "|---:|---|---|---|---|---|---|"]
    for r in rows:
        for name, runs in r["runs"].items():
            label = name if name == "this code" else f"before ({before})"
            first = runs[0]

            def each(key: str, form: str) -> str:
                return ", ".join(format(x[key], form) for x in runs)

            lines.append(f"| {r['items']:,} | {first['postings']:,}, {first['words']:,} | {label} | "
                         f"{each('seconds', '.1f')} | {each('peak_above_data_mb', ',')} | "
                         f"{each('kept_above_data_mb', ',')} | {'yes' if r['same_index'] else 'NO'} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--before", type=Path, help="another checkout, built beside this code (e.g. a git worktree)")
    ap.add_argument("--toy", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--name", default="text_index_build")
    ap.add_argument("--build", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.build:
        print(json.dumps(build(*args.build)))
        return
    if args.toy:
        args.sizes, args.rounds = "2000", 1
        if args.name == "text_index_build":
            args.name = "text_index_build-toy"
    rows = run([int(s) for s in args.sizes.split(",")], args.rounds, args.before)
    if not all(r["same_index"] for r in rows):
        sys.exit("the two codes built different indexes")
    before = commit_of(args.before) if args.before is not None else None
    cmd = " ".join(["python benchmarks/text_index_build.py", *(["--toy"] if args.toy else []),
                    *([f"--before {args.before}"] if args.before is not None else []),
                    *([f"--sizes {args.sizes}"] if not args.toy and args.sizes != "100000,1000000" else [])])
    m = machine()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps({"command": cmd, "machine": m, "before": before,
                                                            "rows": rows}, indent=1))
    text = ["# The text index's build: time and memory\n", f"Command: `{cmd}`  ", f"Machine: {machine_line(m)}  ",
            "Each build a process of its own (the data read first; its memory left out), taking turns, which code "
            "goes first alternating by round: a generator with the text index alone (`CandidateGenerator(catalog, "
            "None, CandidateConfig(cooccurrence_weight=0, by_length=()))`) over load_catalog.py's long CSV. Peak: "
            "VmHWM less the resident set before the build; kept: the resident set after it, less the same. Same "
            "index: one digest of the weights, rows and vocabulary for every build.\n", table(rows, before), ""]
    (args.out / f"{args.name}.md").write_text("\n".join(text))
    print("\n".join(text), flush=True)


if __name__ == "__main__":
    main()
