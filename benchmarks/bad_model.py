"""How long a user waits to hear that the model they named cannot be used: a `--model` path with a
typo in it, on ML-100K and on the 1M-item catalog that load_catalog.py writes (its long CSV, 1,000
picks as events, started from its index file).

`zsrec rank` used to read the data, make the shortlist and only then load the model, and find the
path missing there; `zsrec serve` found it only once it listened, answered /readyz 200 all the
same, and failed every request with it (422). Now a run that will need the model asks the backend
what it can tell without a load (``check_model``) before it reads the data, and `zsrec serve`
exits with the error its load finds. The Python API found it at the first ranking, after the
Recommender had read the data and built (or read) the shortlist's indexes; now the Recommender, and
``from_dataset`` before the data, ask the same check. Each command is a process of its own, this code and
``--before``'s taking turns (which goes first alternates by round). Timed: `zsrec rank --user U`
to its exit; `zsrec serve` to its exit, or, where it does not exit, to /readyz 200, then one
request, whose answer is kept; the Python API (a Recommender made, then one user ranked) to its
``ModelLoadError``, and at which of the two steps it came. Writes benchmarks/results/NAME.{json,md} (NAME: bad_model).

    git worktree add /tmp/before 2979466
    python benchmarks/bad_model.py --before /tmp/before     # ML-100K and 1M items (about 4 minutes on 2 cores)
    python benchmarks/bad_model.py --before /tmp/before --commands python --name bad_model_api  # the Python API alone
    python benchmarks/bad_model.py --toy                    # ML-100K, this code alone, one round; what CI runs
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from _common import RESULTS, commit_of, machine, machine_line


TYPO = "/nonexistent/models/SmolLM2-135M-Instruct.Q4_1.gguf"


def _env(code: Path | None) -> dict[str, str]:
    """``--before``'s checkout for its runs; this one's (``_common`` put it in ``PYTHONPATH``) for ours."""
    return {**os.environ, "PYTHONPATH": str(code.resolve())} if code is not None else dict(os.environ)


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1][:160] if lines else ""


def rank(args: list[str], user: str, code: Path | None, cwd: str) -> dict:
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "zsrec", "rank", "--user", user, *args, "--model", TYPO],
                          capture_output=True, text=True, env=_env(code), cwd=cwd)
    return {"seconds": round(time.monotonic() - t0, 2), "exit": done.returncode, "said": _last_line(done.stderr)}


def serve(args: list[str], history: str, code: Path | None, cwd: str) -> dict:
    from zsrec.llama_server import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "zsrec", "serve", "--port", str(port), *args, "--model", TYPO],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env(code), cwd=cwd)
    ready = None
    while process.poll() is None and time.monotonic() - t0 < 300:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as r:
                if r.status == 200:
                    ready = time.monotonic() - t0
                    break
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    answer = None
    if ready is not None:
        request = urllib.request.Request(url + "/v1/recommend", data=json.dumps({"history": [history]}).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as r:
                answer = [r.status, r.read().decode()[:160]]
        except urllib.error.HTTPError as e:
            answer = [e.code, e.read().decode()[:160]]
        process.terminate()
    _, err = process.communicate(timeout=120)
    seconds = round(time.monotonic() - t0, 2)
    return {"exited_after_s": None if ready is not None else seconds, "ready_s": round(ready, 2) if ready else None,
            "exit": process.returncode, "request": answer, "said": _last_line(err)}


# The Python API as a user writes it: ML-100K by name (``from_dataset``); the 1M-item catalog read with
# ``load_table``, then the Recommender started from the index file. It prints where the error came: at the
# Recommender's making, or at its first ranking, and how long the data's reading took (1M items).
PYTHON = """
import json, sys, time
t0 = time.monotonic()
from zsrec import Recommender
from zsrec.backends import BackendSpec
from zsrec.errors import ModelLoadError
spec, (items, events, index, user) = BackendSpec("transformers", sys.argv[1]), (sys.argv[2:] + [None] * 4)[:4]
step, read_s = "making the Recommender", None
try:
    if items is None:
        rec = Recommender.from_dataset("ml-100k", backend=spec)
    else:
        from zsrec.table_files import load_table
        data = load_table(items, events)
        read_s = round(time.monotonic() - t0, 2)
        rec = Recommender(data, backend=spec, index=index)
    step = "its first ranking"
    rec.recommend_for_user(user or "7")
    step = "nowhere"
except ModelLoadError as e:
    print(json.dumps({"step": step, "said": str(e)[:160], "read_s": read_s, "raised_s": round(time.monotonic() - t0, 2)}))
"""


COMMANDS = ("rank", "serve", "python")


def python_api(args: list[str], user: str, code: Path | None, cwd: str) -> dict:
    paths = [args[args.index(flag) + 1] for flag in ("--items", "--interactions", "--index") if flag in args]
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-c", PYTHON, TYPO, *paths, *([user] if paths else [])],
                          capture_output=True, text=True, env=_env(code), cwd=cwd)
    seconds = round(time.monotonic() - t0, 2)
    if done.returncode or not done.stdout.strip():
        raise SystemExit(f"the Python API run failed: {done.stderr[-2000:]}")
    return {"seconds": seconds, "exit": done.returncode, **json.loads(done.stdout.strip().splitlines()[-1])}


def run(before: Path | None, rounds: int, sizes: list[str], commands: tuple[str, ...] = COMMANDS) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        catalogs = {"ml-100k": ([], "7", "Fargo (1996)")}
        if "1000000" in sizes:
            from load_catalog import write_folder

            folder = Path(tmp) / "data"
            write_folder(folder, 1_000_000)
            catalogs["1000000"] = (["--items", str(folder / "items-long.csv"), "--interactions", str(folder / "events.csv"),
                                    "--index", str(folder / "index.npz")], "U7", "Product 7 classic")
            # the index file written once, with no model to load, so that every timed start reads it
            subprocess.run([sys.executable, "-m", "zsrec", "rank", "--user", "U7", *catalogs["1000000"][0],
                            "--fusion-weight", "0", "--reasons", "evidence"], check=True, capture_output=True,
                           env=_env(None), cwd=tmp)
        ways = [("this", None)] + ([("before", before)] if before is not None else [])
        for size, (args, user, history) in catalogs.items():
            for round_ in range(rounds):
                for way, code in (ways if round_ % 2 == 0 else ways[::-1]):
                    timed = {"rank": lambda: rank(args, user, code, tmp), "serve": lambda: serve(args, history, code, tmp),
                             "python": lambda: python_api(args, user, code, tmp)}
                    for command in commands:
                        rows.append({"catalog": size, "command": command, "code": way, "round": round_,
                                     **timed[command]()})
                        print(json.dumps(rows[-1]), flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| catalog | command | code | what the user got | after s, by round | exit code |", "|---|---|---|---|---|---|"]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["catalog"], r["command"], r["code"]), []).append(r)
    for (size, command, code), got in groups.items():
        first = got[0]
        if command == "serve" and first["ready_s"] is not None:
            what = f"/readyz 200, then a request: {first['request'][0]} {first['request'][1]}"
            seconds = ", ".join(f"{r['ready_s']:.2f}" for r in got)
        elif command == "python":
            read = f" (the data read by `load_table` in {', '.join(str(r['read_s']) for r in got)} s)" \
                if first["read_s"] is not None else ""
            read += f", raised {', '.join(str(r['raised_s']) for r in got)} s into the script"
            what = f"at {first['step']}{read}: {first['said']}"
            seconds = ", ".join(f"{r['seconds']:.2f}" for r in got)
        else:
            what = first["said"]
            seconds = ", ".join(f"{(r['seconds'] if command == 'rank' else r['exited_after_s']):.2f}" for r in got)
        name = "ML-100K" if size == "ml-100k" else f"{int(size):,} items"
        shown = "Python API" if command == "python" else f"`zsrec {command}`"
        lines.append(f"| {name} | {shown} | {code} | {what.replace('|', '/')} | {seconds} | "
                     f"{', '.join(sorted({str(r['exit']) for r in got}))} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", type=Path, default=None, help="an earlier checkout, measured beside")
    ap.add_argument("--sizes", default="ml-100k,1000000")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--commands", default=",".join(COMMANDS), help="which of rank, serve, python to time")
    ap.add_argument("--toy", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--name", default="bad_model")
    args = ap.parse_args()
    if args.toy:
        args.sizes, args.rounds = "ml-100k", 1
        if args.name == "bad_model":
            args.name = "bad_model-toy"
    commands = tuple(c.strip() for c in args.commands.split(",") if c.strip())
    if not commands or set(commands) - set(COMMANDS):
        ap.error(f"--commands takes some of {', '.join(COMMANDS)}")
    rows = run(args.before, args.rounds, args.sizes.split(","), commands)
    shown = []
    for arg in sys.argv[1:]:  # the command as typed, less --out (where a test writes)
        if shown and shown[-1] == "--out":
            shown.pop()
        elif not arg.startswith("--out="):
            shown.append(arg)
    cmd = " ".join(["python benchmarks/bad_model.py", *shown])
    m = machine()
    commit = commit_of(args.before) if args.before else None
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps({"command": cmd, "machine": m, "before_commit": commit,
                                                            "model": TYPO, "rows": rows}, indent=1))
    text = ["# A model path with a typo: how long until the user hears it\n", f"Command: `{cmd}`  ",
            f"Machine: {machine_line(m)}  ",
            f"before: {'commit ' + commit if commit else 'not measured (no --before)'}. `--model {TYPO}`; "
            "`zsrec rank --user U` (a known user's latest picks) and `zsrec serve` with every other setting "
            "at its default; the Python API: `Recommender.from_dataset(\"ml-100k\", backend=...)` (1M items: "
            "`load_table`, then `Recommender(data, backend=..., index=...)`), then `recommend_for_user(U)`, "
            "timed to the `ModelLoadError` (its process's start and imports included), in the parent to the process's end "
            "(which frees the data) and in the script (`raised ... s into the script`, from before its imports); the 1M-item catalog is load_catalog.py's long CSV with 1,000 picks, started from "
            "its index file (written once before, not timed). Each command a process of its own, the two codes "
            "taking turns. A service that answers ready is stopped with SIGTERM after its request (its exit code "
            "is that stop's).\n", table(rows), ""]
    (args.out / f"{args.name}.md").write_text("\n".join(text))
    print("\n".join(text), flush=True)


if __name__ == "__main__":
    main()
