"""How long one user takes, as a user runs it: each ranking mode with each kind of reasons.

Two views, on the same machine in one run:
- the Python API with the model already loaded (what a service pays per request): every mode x
  reasons combination on the same users, one user at a time;
- the CLI as a subprocess, model load included: with an empty cache (the GGUF file is de-quantised
  and a safetensors copy written) and then warm, for the default command and the README's first
  example.
Writes benchmarks/results/latency.{json,md}.

    python benchmarks/latency.py [--users 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from _common import RESULTS, machine, machine_line

from zsrec.backends import load_backend
from zsrec.loaders import load_dataset
from zsrec.recommender import Recommender

HISTORY = ["-H", "Toy Story (1995)", "-H", "Fargo (1996)", "-H", "Star Wars (1977)"]
COMMANDS = {
    "default (generate, reasons llm)": ["rank", "--dataset", "ml-100k", *HISTORY, "--format", "json"],
    "first example (score, reasons evidence)": ["rank", "--dataset", "ml-100k", *HISTORY, "--mode", "score",
                                                "--reasons", "evidence", "--format", "json"],
}
COMBINATIONS = [(mode, reasons) for mode in ("score", "generate") for reasons in ("evidence", "none", "llm")]


def api_rows(users: list[str]) -> list[dict]:
    data = load_dataset("ml-100k")
    backend = load_backend("transformers", model=None, device="cpu")
    rows = []
    for mode, reasons in COMBINATIONS:
        rec = Recommender(data, backend=backend, mode=mode, reasons=reasons)
        rec.recommend_for_user(users[0], n_history=5)  # warm: the evidence index, first-call costs
        seconds, llm_reasons, fallbacks = [], 0, 0
        for user in users:
            t0 = time.perf_counter()
            r = rec.recommend_for_user(user, n_history=5)
            seconds.append(time.perf_counter() - t0)
            llm_reasons += sum(it.reason_source == "llm" for it in r.items)
            fallbacks += r.info.fallback
        rows.append({"mode": mode, "reasons": reasons, "users": len(users),
                     "p50_s": round(statistics.median(seconds), 3),
                     "max_s": round(max(seconds), 3), "fallbacks": fallbacks,
                     "items_with_llm_reason": llm_reasons, "items": 10 * len(users)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def _cli(args: list[str], cache: str) -> dict:
    env = {**os.environ, "ZSREC_CACHE_DIR": cache}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "zsrec", *args], capture_output=True, text=True, env=env, check=True)
    wall = time.perf_counter() - t0
    info = json.loads(proc.stdout)["info"]
    return {"wall_s": round(wall, 2), "model_load_s": info["timings"].get("model_load", 0.0),
            "rank_s": info["timings"]["total"], "fallback": info["fallback"]}


def cli_rows(runs: int) -> list[dict]:
    rows = []
    for name, args in COMMANDS.items():
        cold, warm = [], []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as cache:
                cold.append(_cli(args, cache))
                warm.append(_cli(args, cache))
        for label, got in (("empty cache", cold), ("warm cache", warm)):
            rows.append({"command": name, "cache": label, "runs": runs,
                         "wall_s": statistics.median(r["wall_s"] for r in got),
                         "model_load_s": statistics.median(r["model_load_s"] for r in got),
                         "rank_s": statistics.median(r["rank_s"] for r in got),
                         "fallbacks": sum(r["fallback"] for r in got)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    data = load_dataset("ml-100k")
    users = sorted(data.interactions.user_ids, key=int)[: args.users]
    api = api_rows(users)
    cli = cli_rows(args.runs)
    cmd = f"python benchmarks/latency.py --users {args.users} --runs {args.runs}"
    out = {"benchmark_command": cmd, "machine": machine(), "commands": {k: "zsrec " + " ".join(v)
                                                                        for k, v in COMMANDS.items()},
           "api": api, "cli": cli}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latency.json").write_text(json.dumps(out, indent=2) + "\n")
    md = ["# Latency for one user: each mode with each kind of reasons", "",
          f"Made by: `{cmd}`  ", f"Machine: {machine_line(out['machine'])}", "",
          f"## Python API, model loaded ({args.users} ML-100K users, 5 most recent picks, k=10, one at a time)", "",
          "| mode | reasons | p50 (s) | max (s) | fallbacks | items whose LLM reason passed the checks |",
          "|---|---|---:|---:|---:|---:|"]
    for r in api:
        md.append(f"| {r['mode']} | {r['reasons']} | {r['p50_s']:.2f} | {r['max_s']:.2f} | {r['fallbacks']} | "
                  f"{r['items_with_llm_reason']} of {r['items']} |")
    md += ["", f"## CLI, model load included (median of {args.runs} runs)", ""]
    md += [f"- {name}: `{cmdline}`" for name, cmdline in out["commands"].items()]
    md += ["", "| command | cache | wall (s) | model load (s) | ranking (s) | fallbacks |", "|---|---|---:|---:|---:|---:|"]
    for r in cli:
        md.append(f"| {r['command']} | {r['cache']} | {r['wall_s']:.1f} | {r['model_load_s']:.1f} | "
                  f"{r['rank_s']:.2f} | {r['fallbacks']} |")
    (RESULTS / "latency.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
