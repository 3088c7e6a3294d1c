"""What `zsrec index FILE` gives a deploy: the shortlist's indexes, title search and user lookup built
ahead of time (an image build step, no model and no user), so that a service started with `--index FILE`
reads them rather than builds them.

For ML-100K and the 1M-item catalog that load_catalog.py writes (its long CSV, 1,000 picks as events),
each a process of its own: `zsrec index FILE` with no file (it builds and writes), and again (the file
is current: read, nothing written), each timed to its exit with its peak memory (VmHWM); then `zsrec
serve` timed to /readyz 200, started with `--index FILE` (read) and without a file (built at every
start), taking turns, `--fusion-weight 0 --reasons evidence` so that no model load is timed. Last,
`zsrec index --check FILE` on the current file and with flags under which its counted parts no longer
fit (nothing built or written), then `zsrec index` with those flags, which makes the parts the check
named again (the script stops where the two lists differ).
Writes benchmarks/results/NAME.{json,md} (NAME: index_command).

    python benchmarks/index_command.py                # ML-100K and 1M items (about 5 minutes on 2 cores)
    python benchmarks/index_command.py --toy          # ML-100K, one round; what CI runs
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import RESULTS, machine, machine_line

# `zsrec index` in a process that reports its own peak memory (VmHWM, MB) on its last line
INDEX = """
import json, sys
from pathlib import Path
from zsrec.cli import app
try:
    app(sys.argv[1:], prog_name="zsrec")
except SystemExit as e:
    code = e.code or 0
peak = next(int(l.split()[1]) for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM"))
print(json.dumps({"exit": code, "peak_mb": round(peak / 1024)}))
"""
NO_MODEL = ["--fusion-weight", "0", "--reasons", "evidence"]
STALE = ["--cooccurrence-window", "3"]  # flags under which the file's counted parts no longer fit


def index(args: list[str], cwd: str, exit: int = 0) -> dict:
    """One `zsrec index` process: its answer, time to exit and peak memory (``exit``: the code expected)."""
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-c", INDEX, "index", *args, "--format", "json"], capture_output=True,
                          text=True, cwd=cwd)
    seconds = time.monotonic() - t0
    lines = done.stdout.strip().splitlines()
    tail = json.loads(lines[-1]) if lines else {}
    if done.returncode or tail.get("exit") != exit:
        raise SystemExit(f"zsrec index exited {tail.get('exit')}, not {exit}: {done.stderr[-2000:]}")
    said = json.loads("\n".join(lines[:-1]))
    if "--check" in args:
        return {"seconds": round(seconds, 2), "peak_mb": tail["peak_mb"], "exit": tail["exit"],
                "current": said["current"], "stale": said["stale"], "data_s": said["data_seconds"],
                "check_s": said["check_seconds"]}
    return {"seconds": round(seconds, 2), "peak_mb": tail["peak_mb"], "current": said["current"], "rebuilt": said["rebuilt"],
            "written": said["written"], "data_s": said["data_seconds"], "index_s": said["index_seconds"],
            "file_mb": round(said["bytes"] / 1e6, 1), "items": said["items"], "picks": said["picks"]}


def serve(args: list[str], log: Path) -> float:
    from zsrec.serving.launch import ServeProcess

    t0 = time.monotonic()
    server = ServeProcess([*args, *NO_MODEL], log).start(wait_ready=600)
    ready = time.monotonic() - t0
    server.stop()
    return round(ready, 2)


def run(sizes: list[str], rounds: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        catalogs: dict[str, list[str]] = {"ml-100k": []}
        if "1000000" in sizes:
            from load_catalog import write_folder

            folder = Path(tmp) / "data"
            write_folder(folder, 1_000_000)
            catalogs["1000000"] = ["--items", str(folder / "items-long.csv"), "--interactions", str(folder / "events.csv")]
        for size, data in catalogs.items():
            path = Path(tmp) / f"{size}.npz"
            row: dict = {"catalog": size, "build": index([str(path), *data], tmp), "again": index([str(path), *data], tmp)}
            starts: dict[str, list[float]] = {"with the file": [], "without": []}
            for round_ in range(rounds):
                ways = ["with the file", "without"]
                for way in (ways if round_ % 2 == 0 else ways[::-1]):
                    args = [*data, *(["--index", str(path)] if way == "with the file" else [])]
                    starts[way].append(serve(args, Path(tmp) / "serve.log"))
            row["serve_ready_s"] = starts
            # --check on the current file, and on flags that make parts again, then the build it foretold
            row["check"] = index([str(path), *data, "--check"], tmp)
            row["check_stale"] = index([str(path), *data, "--check", *STALE], tmp, exit=1)
            row["stale"] = index([str(path), *data, *STALE], tmp)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| catalog | `zsrec index FILE` (no file): s, peak | file | again (current): s, peak | "
             "`zsrec serve --index FILE` ready after | `zsrec serve`, no file, ready after |",
             "|---|---|---:|---|---|---|"]
    for r in rows:
        b, a = r["build"], r["again"]
        name = "ML-100K" if r["catalog"] == "ml-100k" else f"{int(r['catalog']):,} items"
        starts = r["serve_ready_s"]
        lines.append(f"| {name} | {b['seconds']:.1f} s (data {b['data_s']:.1f}, indexes {b['index_s']:.1f}), "
                     f"{b['peak_mb']:,} MB | {b['file_mb']} MB | {a['seconds']:.1f} s (data {a['data_s']:.1f}, "
                     f"read {a['index_s']:.1f}), {a['peak_mb']:,} MB | "
                     f"{', '.join(f'{s:.1f}' for s in starts['with the file'])} s | "
                     f"{', '.join(f'{s:.1f}' for s in starts['without'])} s |")
    return "\n".join(lines)


def check_table(rows: list[dict]) -> str:
    lines = ["| catalog | `zsrec index --check FILE`, current (exit 0): s, peak | `--check` with "
             f"`{' '.join(STALE)}` (exit 1): s, peak | `zsrec index` with `{' '.join(STALE)}` "
             "(writes): s, peak | parts made again (as the check said) |", "|---|---|---|---|---|"]
    for r in rows:
        name = "ML-100K" if r["catalog"] == "ml-100k" else f"{int(r['catalog']):,} items"
        c, cs, st = r["check"], r["check_stale"], r["stale"]
        lines.append(f"| {name} | {c['seconds']:.1f} s (data {c['data_s']:.1f}, check {c['check_s']:.1f}), "
                     f"{c['peak_mb']:,} MB | {cs['seconds']:.1f} s (data {cs['data_s']:.1f}, check "
                     f"{cs['check_s']:.1f}), {cs['peak_mb']:,} MB | {st['seconds']:.1f} s (data {st['data_s']:.1f}, "
                     f"indexes {st['index_s']:.1f}), {st['peak_mb']:,} MB | {len(st['rebuilt'])} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="ml-100k,1000000")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--toy", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--name", default="index_command")
    args = ap.parse_args()
    if args.toy:
        args.sizes, args.rounds = "ml-100k", 1
        if args.name == "index_command":
            args.name = "index_command-toy"
    rows = run(args.sizes.split(","), args.rounds)
    cmd = " ".join(["python benchmarks/index_command.py", *(["--toy"] if args.toy else []),
                    *([f"--sizes {args.sizes}"] if not args.toy and args.sizes != "ml-100k,1000000" else [])])
    m = machine()
    for row in rows:
        if not row["again"]["current"] or row["again"]["written"] or not row["build"]["written"]:
            raise SystemExit(f"the second zsrec index did not find the file current: {row}")
        if not row["check"]["current"] or row["check_stale"]["stale"] != row["stale"]["rebuilt"]:
            raise SystemExit(f"zsrec index --check did not foretell what zsrec index made again: {row}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps({"command": cmd, "machine": m, "rows": rows}, indent=1))
    text = ["# `zsrec index FILE`: the indexes built ahead of a deploy\n", f"Command: `{cmd}`  ",
            f"Machine: {machine_line(m)}  ",
            "Each command a process of its own. `zsrec index` timed to its exit (data: reading the catalog and "
            "picks; indexes: building or reading the file), with its peak memory (VmHWM). `zsrec serve` with "
            "`--fusion-weight 0 --reasons evidence` (no model to load) timed to `/readyz` 200, with `--index FILE` "
            "(the file `zsrec index` wrote) and without a file, taking turns. The 1M-item catalog is "
            "load_catalog.py's long CSV with 1,000 picks.\n", table(rows), "",
            "`zsrec index --check FILE` (nothing built or written; the file's settings and digests compared with "
            "the data's) on the current file, and with flags under which its counted parts no longer fit; then "
            "`zsrec index` with those flags, which makes them again and writes the file. The check's list of "
            "parts equals the build's (the script stops otherwise).\n", check_table(rows), ""]
    (args.out / f"{args.name}.md").write_text("\n".join(text))
    print("\n".join(text), flush=True)


if __name__ == "__main__":
    main()
