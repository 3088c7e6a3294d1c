"""What a service's first requests wait for after a start from the index file, and what checking an
LLM's reasons costs at a million items.

A start from the index file leaves four indexes to be made on first need: the per-user lookup (made
when a second known user is asked about; since stop 66 from the file's arrays, not from every
pick), the evidence's counts (who picked what: the first requests with a history), a genre filter's
index (the first filtered request) and the reason checker (every title a reason may name: the
first request whose reasons the LLM writes). Each was made on the
thread that answers every request, and each variant of other settings made its own genre index and
checker. `zsrec serve` now makes them before it listens (`Recommender.warm_up`), the variants share
them, and the checker finds a reason's titles by looking up its runs of words, where it scanned the
reason for each of the catalog's 1.4M title forms.

Per catalog (ML-100K; 100k and 1M synthetic items, the ones `start_up.py` makes), one process writes
the index file; then four processes start from it and answer the same 14 requests through a
`RecommendService` (known users' 5 latest picks, typed titles, genre filters, and variants with
other settings): `--before`'s checkout (where given) as a library starts and warmed up, this code
as a library starts (indexes made on first need), and this code warmed up as `zsrec serve` starts.
The model is a stand-in that answers every candidate, in reverse, with a reason of a model's length
(naming a genre, another candidate's title, or the picks), so that only zsrec's own work is timed
while the reasons are checked as a model's are. Each request's milliseconds, the warm-up's parts,
and every item and reason (the same in all four) are recorded.

Then the real default model end to end at 1M items (`--cli`): `zsrec rank --items --interactions
--user --index` with its defaults (the LLM ranks and writes the reasons, checked), this code and
`--before`'s taking turns, each run a process of its own, after one run of each has written its index
file.

    python benchmarks/first_requests.py --before /tmp/before          # ML-100K, 100k and 1M (about 7 min)
    python benchmarks/first_requests.py --before /tmp/before --cli    # and zsrec rank with the model (5 min more)
    python benchmarks/first_requests.py --toy                         # ML-100K alone, seconds; what CI runs
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import RESULTS, commit_of, in_child, machine, machine_line  # (this checkout's zsrec, or --before's)
import zsrec

WAYS = ("before", "before_warm", "cold", "warm")  # before_warm: --before's code warmed up, its warm-up beside this one's
REASONS = ["a {genre} film that fans of your picks enjoyed, with a strong cast and a story that holds up",
           "like {other}, which people who picked the same films liked as well",
           "picked by many who picked your films, and a favourite of viewers who share your taste"]
LINE = re.compile(r"^\[(\w+)\] (.*?)(?: \(([^()]*)\))?$", re.MULTILINE)


def _answer(prompt: str) -> str:
    """A model's answer to the listwise prompt: every candidate, last first, each with a reason."""
    shown = LINE.findall(prompt.split("candidate", 1)[-1])
    lines = []
    for i, (label, title, genres) in enumerate(reversed(shown)):
        genre = (genres.split(",")[0].strip() or "drama").lower()
        other = shown[(i + 1) % len(shown)][1]
        lines.append(f"[{label}] {title} - " + REASONS[i % len(REASONS)].format(genre=genre, other=other))
    return "\n".join(lines)


class StandIn:
    """The stand-in model (no weights): ``_answer`` to every prompt, words counted as tokens."""

    name = "stand-in"
    model_name = "stand-in"
    context_length = 1 << 16
    abilities: frozenset = frozenset()

    def count_tokens(self, prompt: str) -> int:
        return len(prompt.split())

    def generate(self, prompts, config, formats=None):
        from zsrec.backends.base import Generation

        return [Generation(_answer(p), len(p.split()), 200, "stop") for p in prompts]


def _request_list(data) -> list[dict]:
    """The 14 requests, in order: what a service answers in its first seconds."""
    users = list(dict.fromkeys(str(u) for u in data.interactions.users[:: max(1, len(data.interactions) // 997)]))
    titles = [data.catalog.items[i].title for i in (5, 77, 1234 % len(data.catalog))]
    return [{"user": users[0]}, {"user": users[1]}, {"user": users[2]},
            {"history": titles}, {"history": titles[:2]},
            {"history": titles, "only_genres": ["Comedy"]}, {"history": titles[1:], "only_genres": ["Drama"]},
            {"user": users[3], "variant": "fused"}, {"history": titles[:1], "variant": "fused", "only_genres": ["Action"]},
            {"user": users[4], "variant": "evidence"}, {"history": titles, "variant": "evidence", "only_genres": ["Comedy"]},
            {"user": users[5]}, {"history": titles[2:]}, {"user": users[6]}]


def one(size: str, index: Path, way: str) -> dict:
    """One process: a start from ``index`` (written first where it is missing), then the requests."""
    from add_interactions import _data

    from zsrec.choices import RankingMode, ReasonsMode
    from zsrec.recommender import Recommender
    from zsrec.serving.service import RecommendService, Variant

    data = _data(size)
    t0 = time.perf_counter()
    rec = Recommender(data, backend=StandIn(), index=index)
    start = time.perf_counter() - t0
    if way == "write":
        return {"start_s": start, "file_mb": index.stat().st_size / 1e6}
    t0 = time.perf_counter()
    service = RecommendService(rec, settle=True, warm=True) if way.endswith("warm") else RecommendService(rec, settle=True)
    warm = time.perf_counter() - t0
    default = service.default
    variants = {None: default, "fused": Variant(RankingMode.GENERATE, default.reasons, 0.5),  # the LLM half the order
                "evidence": Variant(default.mode, ReasonsMode.EVIDENCE)}
    seconds, lists = [], []
    for req in _request_list(data):
        variant = variants[req.get("variant")]
        t0 = time.perf_counter()
        user = service.prepare(variant, req.get("history", []), None, [], False, False, req.get("user"), 5,
                               only_genres=req.get("only_genres", ()))
        result = service.rank_batch(variant, [user])[0]
        seconds.append(time.perf_counter() - t0)
        lists.append([(it.item_id, it.reason, it.reason_source, it.reason_flags) for it in result.items])
    return {"code": str(Path(zsrec.__file__).resolve().parents[1]), "start_s": start, "warm_s": warm,
            "warm_parts": getattr(service, "warmed", {}), "request_ms": [s * 1000 for s in seconds],
            "llm_reasons": sum(src == "llm" for items in lists for _, _, src, _ in items),
            "flagged": sum(bool(flags) for items in lists for *_, flags in items), "lists": lists}


def run(size: str, before: Path | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index.npz"
        rows = {"write": in_child(__file__, "--one", size, str(index), "write")}
        for way in WAYS:
            if not way.startswith("before") or before:
                rows[way] = in_child(__file__, "--one", size, str(index), way,
                                     python_path=before if way.startswith("before") else None)
    here = str(Path(__file__).resolve().parents[1])
    for way in WAYS:
        if way in rows:
            expected = str(before.resolve()) if way.startswith("before") else here
            if rows[way]["code"] != expected:
                sys.exit(f"the {way} run imported zsrec from {rows[way]['code']}, not {expected}")
    lists = {way: rows[way].pop("lists") for way in WAYS if way in rows}
    rows["same_lists"] = all(x == lists["cold"] for x in lists.values())
    for way, got in lists.items():  # each item told apart from the cold run's: id, reason, its source and flags
        pairs = [(a, b) for x, y in zip(got, lists["cold"]) for a, b in zip(x, y) if a != b]
        rows[way]["differing"] = {"items": len(pairs), "of": sum(map(len, lists["cold"])), "examples": pairs[:20]}
    return rows


def cli_runs(before: Path, rounds: int) -> dict:
    """``zsrec rank`` with its defaults and the real default model, on the 1M-item catalog that
    load_catalog.py writes (its long CSV, 1,000 picks as events), this code and ``before``'s taking turns."""
    from load_catalog import write_folder

    out: dict = {"runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "data"
        write_folder(folder, 1_000_000)
        for round_ in range(rounds + 1):
            for way, path in (("this", None), ("before", before)):
                env = {**os.environ, "PYTHONPATH": str(path.resolve())} if path else dict(os.environ)
                cmd = [sys.executable, "-m", "zsrec", "rank", "--items", str(folder / "items-long.csv"),
                       "--interactions", str(folder / "events.csv"), "--user", "U7",
                       "--index", str(folder / f"{way}.npz"), "--format", "json"]
                t0 = time.perf_counter()
                done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp)
                seconds = time.perf_counter() - t0
                if done.returncode:
                    sys.exit(done.stderr[-3000:])
                result = json.loads(done.stdout)
                out["runs"].append({"way": way, "round": round_, "seconds": seconds, "timings": result["info"]["timings"],
                                    "items": [(it["item_id"], it["reason_source"]) for it in result["items"]],
                                    "fallback": result["info"]["fallback"]})
    return out


def _table(results: dict) -> str:
    lines = ["| catalog | code | start from the file s | service made s (the warm-up's parts) | request ms, in order | slowest ms "
             "| sum ms | LLM reasons kept (flagged) | items differing from cold's |", "|---|---|---:|---|---|---:|---:|---|---|"]
    for size, rows in results.items():
        for way in WAYS:
            if way not in rows:
                continue
            r = rows[way]
            parts = ", ".join(f"{k} {v:.2f}" for k, v in r["warm_parts"].items())
            ms = r["request_ms"]
            lines.append(f"| {size} | {way} | {r['start_s']:.2f} | {r['warm_s']:.2f}{f' ({parts})' if parts else ''} | "
                         f"{' / '.join(f'{m:.0f}' for m in ms)} | {max(ms):.0f} | {sum(ms):.0f} | "
                         f"{r['llm_reasons']} ({r['flagged']}) | {r['differing']['items']} of {r['differing']['of']} |")
    files = ", ".join(f"{size}: {rows['write']['file_mb']:.0f} MB (written in {rows['write']['start_s']:.1f} s, "
                      "every index built)" for size, rows in results.items() if "file_mb" in rows.get("write", {}))
    return "\n".join(lines) + (f"\n\nThe index file (this code's, which every run starts from): {files}." if files else "")


def _cli_table(cli: dict) -> str:
    lines = ["| run | code | seconds | reasons s (in the result's timings) | LLM reasons kept | same items |",
             "|---|---|---:|---:|---:|---|"]
    first = {r["way"]: r["items"] for r in cli["runs"] if r["round"] == 0}
    for r in cli["runs"]:
        label = "first (writes the index)" if r["round"] == 0 else f"next {r['round']}"
        reasons = r["timings"].get("reasons")
        lines.append(f"| {label} | {r['way']} | {r['seconds']:.1f} | {f'{reasons:.2f}' if reasons is not None else '-'} | "
                     f"{sum(src == 'llm' for _, src in r['items'])} | "
                     f"{'yes' if r['items'] == first['this'] else 'NO'} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="ml-100k,100000,1000000")
    ap.add_argument("--before", type=Path, default=None, help="an earlier checkout, measured beside")
    ap.add_argument("--cli", action="store_true", help="and zsrec rank with the real model at 1M items (needs --before)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--toy", action="store_true")
    ap.add_argument("--one", nargs=3, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--name", default="first_requests")
    args = ap.parse_args()
    if args.one:
        size, index, way = args.one
        print(json.dumps(one(size, Path(index), way)))
        return
    sizes = ["ml-100k"] if args.toy else args.sizes.split(",")
    if args.toy and args.name == "first_requests":
        args.name = "first_requests-toy"
    results = {size: run(size, args.before) for size in sizes}
    write(args, results, None)  # kept should the model's runs fail
    if args.cli and args.before:
        write(args, results, cli_runs(args.before, args.rounds))


def write(args: argparse.Namespace, results: dict, cli: dict | None) -> None:
    m = machine()
    shown = []  # the command as typed, less --out (where a test writes)
    for arg in sys.argv[1:]:
        if shown and shown[-1] == "--out":
            shown.pop()
        elif not arg.startswith("--out="):
            shown.append(arg)
    cmd = " ".join(["python benchmarks/first_requests.py", *shown])
    commit = commit_of(args.before) if args.before else None
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps({"command": cmd, "machine": m, "before_commit": commit,
                                                            "results": results, "cli": cli}, indent=1))
    text = ["# A service's first requests after a start from the index file\n",
            f"Command: `{cmd}`  ", f"Machine: {machine_line(m)}  ",
            f"before: {'commit ' + commit if commit else 'not measured (no --before)'}; cold: this code, indexes made "
            "on first need (a library's start); before_warm: before's code after its `warm_up`; warm: this code after `warm_up` (what `zsrec serve` does before it "
            "listens). Service made: the `RecommendService`, its settling of the objects held (a full collection, "
            "about 1 s at 1M items) and any warm-up. The model: a stand-in that answers every candidate with a reason "
            "(zsrec's own work alone). "
            "Requests: known users' 5 latest picks, typed titles, genre filters, and variants of other settings "
            "(see the script).\n", _table(results), ""]
    if cli:
        text += ["`zsrec rank` with its defaults and the real default model, 1M-item catalog (long CSV, 1,000 picks), "
                 "this code and before's taking turns:\n", _cli_table(cli), ""]
    (args.out / f"{args.name}.md").write_text("\n".join(text))
    print("\n".join(text), flush=True)


if __name__ == "__main__":
    main()
