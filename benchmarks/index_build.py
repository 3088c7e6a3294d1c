"""An index's build, as a generator makes it: seconds, the memory it takes at its peak and keeps after
it, this code against another checkout's (``--before``), each build a process of its own, taking turns
(which goes first alternates by round). A digest of the built index shows that the two built the same.

``--index text`` (the default): the text index (BM25 over every item's words) of load_catalog.py's long
CSV (a title, brand, price, colour and a 14-word description a product); the data is read first and
its memory left out. Report NAME text_index_build.
``--index cooccurrence``: the co-occurrence index with the default settings, counted from
cooccurrence_scale.py's synthetic picks (10 a item, power-law popularity); the picks are made first
and their memory left out. Report NAME cooccurrence_build.
``--index sitting``: the default shortlist's sitting co-occurrence (pairs picked within its session
seconds, over each user's last picks), from the same picks and their synthetic times. Report NAME
sitting_build.
The peak is started again once the data is made (Linux), so it is the build's own.
Writes benchmarks/results/NAME.{json,md}.

    git worktree add /tmp/before 7355c1c
    python benchmarks/index_build.py --before /tmp/before                     # 100k and 1M items (about 3 minutes on 2 cores)
    git worktree add /tmp/before 5a4784e
    python benchmarks/index_build.py --index cooccurrence --before /tmp/before   # 100k and 1M items (about 6 minutes)
    python benchmarks/index_build.py --index sitting --before /tmp/before        # 100k and 1M items (about 2 minutes)
    python benchmarks/index_build.py --toy [--index cooccurrence|sitting]     # 2,000 items, this code alone; what CI runs
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

from _common import RESULTS, commit_of, in_child, machine, machine_line, memory_mb, reset_peak


def build(index: str, size: int, folder: str) -> dict:
    """One build in this process (its checkout's zsrec): time, memory above the data's, and a digest."""
    import numpy as np

    from zsrec.candidates import CandidateConfig, CandidateGenerator

    if index == "text":
        from zsrec.loaders import load_table

        data = load_table(str(Path(folder) / "items-long.csv"), str(Path(folder) / "events.csv"))
        make = lambda: CandidateGenerator(data.catalog, None, CandidateConfig(cooccurrence_weight=0.0, by_length=()))  # noqa: E731
    else:
        from cooccurrence_scale import synthetic_log, synthetic_times

        from zsrec.cooccurrence import CoOccurrenceIndex

        picks = synthetic_log(size, size * 10)
        if index == "sitting":
            times = synthetic_times(picks)
            make = lambda: CoOccurrenceIndex.build(picks, size, CandidateConfig().session_config, times)  # noqa: E731
        else:
            make = lambda: CoOccurrenceIndex.build(picks, size, CandidateConfig().cooccurrence)  # noqa: E731
    before = memory_mb()["VmRSS"]
    if not reset_peak():
        sys.exit("this benchmark needs /proc/self/clear_refs (Linux) to measure a build's own peak")
    t0 = time.perf_counter()
    made = make()
    seconds = time.perf_counter() - t0
    after = memory_mb()
    m = made.index.term_docs if index == "text" else made.counts
    digest = hashlib.sha256()
    # the co-occurrence counts as numbers: held as float64 before stop 71, as float32 (whole numbers) since
    data = m.data if index == "text" else m.data.astype(np.float64)
    for part in (data, m.indices, m.indptr, np.array(m.shape), *(() if index == "text" else (made.scores.data,))):
        digest.update(str(part.dtype).encode())
        digest.update(np.ascontiguousarray(part).tobytes())
    if index == "text":
        digest.update("\x1f".join(sorted(made.index.vocabulary, key=made.index.vocabulary.__getitem__)).encode())
    return {"seconds": round(seconds, 2), "peak_above_data_mb": round(after["VmHWM"] - before),
            "kept_above_data_mb": round(after["VmRSS"] - before), "postings": int(m.nnz),
            "words": len(made.index.vocabulary) if index == "text" else None, "digest": digest.hexdigest()[:16]}


def run(index: str, sizes: list[int], rounds: int, before: Path | None) -> list[dict]:
    from load_catalog import write_folder

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            folder = Path(tmp) / str(size)
            if index == "text":
                write_folder(folder, size)
            codes = {"this code": None, **({"before": before} if before is not None else {})}
            runs: dict[str, list[dict]] = {name: [] for name in codes}
            for round_ in range(rounds):
                order = list(codes) if round_ % 2 == 0 else list(codes)[::-1]
                for name in order:
                    runs[name].append(in_child(__file__, "--build", index, str(size), str(folder),
                                               python_path=codes[name]))
            digests = {r["digest"] for rs in runs.values() for r in rs}
            row = {"items": size, "runs": runs, "same_index": len(digests) == 1}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def table(rows: list[dict], before: str | None) -> str:
    lines = ["| items | postings (text: and words) | code | build s | peak above the data MB | kept after MB | same index |",
             "|---:|---|---|---|---|---|---|"]
    for r in rows:
        for name, runs in r["runs"].items():
            label = name if name == "this code" else f"before ({before})"
            first = runs[0]

            def each(key: str, form: str) -> str:
                return ", ".join(format(x[key], form) for x in runs)

            size = f"{first['postings']:,}" + (f", {first['words']:,}" if first["words"] is not None else "")
            lines.append(f"| {r['items']:,} | {size} | {label} | "
                         f"{each('seconds', '.1f')} | {each('peak_above_data_mb', ',')} | "
                         f"{each('kept_above_data_mb', ',')} | {'yes' if r['same_index'] else 'NO'} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", choices=("text", "cooccurrence", "sitting"), default="text")
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--before", type=Path, help="another checkout, built beside this code (e.g. a git worktree)")
    ap.add_argument("--toy", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--name", default=None, help="default: text_index_build, cooccurrence_build or sitting_build")
    ap.add_argument("--build", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.build:
        index, size, folder = args.build
        print(json.dumps(build(index, int(size), folder)))
        return
    name = args.name or {"text": "text_index_build", "cooccurrence": "cooccurrence_build", "sitting": "sitting_build"}[args.index]
    if args.toy:
        args.sizes, args.rounds = "2000", 1
        name = name if args.name else f"{name}-toy"
    rows = run(args.index, [int(s) for s in args.sizes.split(",")], args.rounds, args.before)
    if not all(r["same_index"] for r in rows):
        sys.exit("the two codes built different indexes")
    before = commit_of(args.before) if args.before is not None else None
    cmd = " ".join(["python benchmarks/index_build.py", *([f"--index {args.index}"] if args.index != "text" else []),
                    *(["--toy"] if args.toy else []), *([f"--before {args.before}"] if args.before is not None else []),
                    *([f"--sizes {args.sizes}"] if not args.toy and args.sizes != "100000,1000000" else [])])
    m = machine()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps({"command": cmd, "machine": m, "before": before,
                                                       "rows": rows}, indent=1))
    what = ("a generator with the text index alone (`CandidateGenerator(catalog, None, CandidateConfig("
            "cooccurrence_weight=0, by_length=()))`) over load_catalog.py's long CSV (the data read first)"
            if args.index == "text" else
            "`CoOccurrenceIndex.build(picks, n_items, CandidateConfig().cooccurrence)` over cooccurrence_scale.py's "
            "synthetic picks, 10 an item (made first)" if args.index == "cooccurrence" else
            "`CoOccurrenceIndex.build(picks, n_items, CandidateConfig().session_config, times)` (pairs picked within "
            "the default session seconds) over cooccurrence_scale.py's synthetic picks, 10 an item, and their "
            "synthetic times (made first)")
    title = {"text": "The text index's build", "cooccurrence": "The co-occurrence index's build",
             "sitting": "The sitting co-occurrence index's build"}[args.index]
    text = [f"# {title}: time and memory\n", f"Command: `{cmd}`  ", f"Machine: {machine_line(m)}  ",
            f"Each build a process of its own, taking turns, which code goes first alternating by round: {what}. "
            "Peak: VmHWM less the resident set before the build, the peak started again there (so the data's "
            "own peak is left out); kept: the resident set after it, less the same. "
            "Same index: one digest of the index's arrays (the text index's vocabulary, the co-occurrence "
            "scores; the co-occurrence counts as float64 numbers, which stop 71 came to hold as float32), dtypes "
            "included, for "
            "every build.\n", table(rows, before), ""]
    (args.out / f"{name}.md").write_text("\n".join(text))
    print("\n".join(text), flush=True)


if __name__ == "__main__":
    main()
