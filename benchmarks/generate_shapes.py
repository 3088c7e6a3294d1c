"""Is batched generation slow the first time a batch shape is seen? The service's open question.

On an H100 `zsrec serve` ranked a batch of 11 in about 10.6 s against 2.9 s for one request
(benchmarks/results/serve-gpu.md). Profiling there suggested that a generate call is several times
slower per token the first time its batch size and prompt length are run than when they repeat, and
a service rarely repeats them. This measures exactly that: for each batch size, the same prompts
(ML-100K users' first 5 picks, the service's prompt: generate mode, LLM reasons) generated twice in
a row, ms per token step each time, with the backend's repeated-line stop and without it. Run it on
the device the service would use.

Writes benchmarks/results/NAME.{json,md} (NAME: generate-shapes).

    python benchmarks/generate_shapes.py --device cuda [--batches 1,4,11,16,32] [--max-new-tokens 120]
    python benchmarks/generate_shapes.py --device cpu --batches 1 --max-new-tokens 4   # seconds; CI
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch
from _common import RESULTS, machine, machine_line

from zsrec.backends import BackendSpec
from zsrec.backends.base import GenerationConfig
from zsrec.recommender import Recommender


def _timed(backend, prompts: list[str], max_new_tokens: int, device: str) -> dict:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    gens = backend.generate(prompts, GenerationConfig(max_new_tokens=max_new_tokens))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    steps = max(g.completion_tokens for g in gens)
    return {"seconds": round(seconds, 3), "steps": steps, "ms_per_step": round(1000 * seconds / max(steps, 1), 1),
            "longest_prompt_tokens": max(g.prompt_tokens for g in gens)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batches", default="1,4,11,16,32")
    ap.add_argument("--max-new-tokens", type=int, default=120, help="the service's generation budget")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--name", default="generate-shapes")
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    rec = Recommender.from_dataset("ml-100k", backend=BackendSpec("transformers", options={
        "device": args.device, "batch_size": max(batches)}), mode="generate", reasons="llm",
        generation=GenerationConfig(max_new_tokens=args.max_new_tokens))
    interactions = rec.dataset.interactions
    users = sorted(interactions.user_ids, key=int)
    backend = rec.ranker.handle.get()
    shipped_stop = backend.stop_repeated_lines
    rows = []
    offset = 0
    for stop in (True, False):
        backend.stop_repeated_lines = shipped_stop if stop else 0
        for size in batches:
            # Different users for each batch, so each first run is a first sight of its shapes.
            chosen = users[offset:offset + size]
            offset += size
            prompts = [rec.ranker.prepare([int(i) for i in interactions.user_history(u)[:5]], (), 10).prompt.text
                       for u in chosen]
            first = _timed(backend, prompts, args.max_new_tokens, args.device)
            again = _timed(backend, prompts, args.max_new_tokens, args.device)
            row = {"repeated_line_stop": stop, "batch": size, "first": first, "repeat": again,
                   "first_over_repeat": round(first["ms_per_step"] / again["ms_per_step"], 2)}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    backend.stop_repeated_lines = shipped_stop
    cmd = "python benchmarks/generate_shapes.py " + shlex.join(sys.argv[1:])
    m = machine()
    out = {"command": cmd.strip(), "machine": m, "device": args.device, "dtype": str(backend.model.dtype),
           "max_new_tokens": args.max_new_tokens, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(out, indent=1) + "\n")
    lines = [f"# Batched generation: first sight of a batch shape against a repeat ({args.device})", "",
             f"Command: `{cmd.strip()}`  ", f"Machine: {machine_line(m)}  ",
             f"Default model in {backend.model.dtype}, the service's prompts (generate mode, LLM reasons), "
             f"up to {args.max_new_tokens} new tokens; each batch generated twice in a row on the same prompts.", "",
             "| repeated-line stop | batch | first: s | steps | ms/step | repeat: s | ms/step | first / repeat |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        f, a = r["first"], r["repeat"]
        lines.append(f"| {'on' if r['repeated_line_stop'] else 'off'} | {r['batch']} | {f['seconds']} | {f['steps']} "
                     f"| {f['ms_per_step']} | {a['seconds']} | {a['ms_per_step']} | {r['first_over_repeat']} |")
    (args.out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
