"""How long one `zsrec rank` takes for a new user, model load included, as a user runs it.

Runs the CLI as a subprocess: first with an empty cache (the GGUF file is de-quantised and a
safetensors copy written), then warm (the copy is read). Writes benchmarks/results/latency.{json,md}.

    python benchmarks/latency.py [--runs 3]
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

from _common import RESULTS, machine

COMMAND = [sys.executable, "-m", "zsrec", "rank", "--dataset", "ml-100k", "--user", "42", "--n-history", "5",
           "--k", "10", "--format", "json"]


def _run(cache: str) -> dict:
    env = {**os.environ, "ZSREC_CACHE_DIR": cache}
    t0 = time.perf_counter()
    proc = subprocess.run(COMMAND, capture_output=True, text=True, env=env, check=True)
    wall = time.perf_counter() - t0
    info = json.loads(proc.stdout)["info"]
    return {"wall_s": round(wall, 2), "timings": info["timings"], "completion_tokens": info["completion_tokens"],
            "prompt_tokens": info["prompt_tokens"], "parsed": info["parsed"], "fallback": info["fallback"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as cache:
            cold = _run(cache)
            warm = _run(cache)
        runs.append({"cold": cold, "warm": warm})
    summary = {
        kind: {"wall_s_median": statistics.median(r[kind]["wall_s"] for r in runs),
               "model_load_s_median": statistics.median(r[kind]["timings"]["model_load"] for r in runs),
               "llm_s_median": statistics.median(r[kind]["timings"]["llm"] for r in runs)}
        for kind in ("cold", "warm")
    }
    summary["warm_over_cold_wall"] = round(summary["warm"]["wall_s_median"] / summary["cold"]["wall_s_median"], 3)
    out = {"command": " ".join(["python", "-m", "zsrec"] + COMMAND[3:]),
           "benchmark_command": "python benchmarks/latency.py --runs %d" % args.runs,
           "machine": machine(), "summary": summary, "runs": runs}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latency.json").write_text(json.dumps(out, indent=2) + "\n")
    m = out["machine"]
    md = [
        "# `zsrec rank` latency for one user (model load included)",
        "",
        f"Command timed: `{out['command']}`  ",
        f"Made by: `{out['benchmark_command']}`  ",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, torch {m['torch']} ({m['torch_threads']} threads)",
        "",
        "| cache | wall (s, median) | model load (s) | LLM generation (s) |",
        "|---|---:|---:|---:|",
    ]
    for kind, label in (("cold", "empty (GGUF de-quantised, copy written)"), ("warm", "warm (safetensors copy)")):
        s = summary[kind]
        md.append(f"| {label} | {s['wall_s_median']:.1f} | {s['model_load_s_median']:.1f} | {s['llm_s_median']:.1f} |")
    md += ["", f"Warm / cold wall time: {summary['warm_over_cold_wall']:.2f} (same machine, same run).", ""]
    (RESULTS / "latency.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
