"""Users per second through each LLM path, side by side in one run on the same users.

Starts llama.cpp's OpenAI-compatible server (zsrec.llama_server, from the xllamacpp wheel) with the default model as 1
and then 2 replicas on 127.0.0.1 (one thread each), and ranks the same users through
``--backend openai``; then the in-process transformers backend, in generation and log-prob scoring
mode. Writes benchmarks/results/serving.{json,md}.

    python benchmarks/serving.py [--users 16] [--max-new-tokens 120]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _common import RESULTS, machine, machine_line

from zsrec import llama_server
from zsrec.backends import load_backend
from zsrec.backends.base import GenerationConfig
from zsrec.loaders import load_dataset
from zsrec.recommender import Recommender


def _run(rec: Recommender, users: list[str], batch_size: int) -> dict:
    rec.ranker.handle.get()  # load outside the timed part
    t0 = time.perf_counter()
    outcomes = list(rec.recommend_many(users, n_history=5, batch_size=batch_size))
    wall = time.perf_counter() - t0
    results = [o.result for o in outcomes if o.result is not None]
    return {"users": len(results), "wall_s": round(wall, 2), "users_per_s": round(len(results) / wall, 3),
            "fallbacks": sum(r.info.fallback for r in results),
            "mean_placed_by_llm": round(sum(r.info.parsed for r in results) / len(results), 2),
            "prompt_tokens": sum(r.info.prompt_tokens for r in results),
            "completion_tokens": sum(r.info.completion_tokens for r in results)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=120)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    data = load_dataset("ml-100k")
    users = sorted(data.interactions.user_ids, key=int)[: args.users]
    gen = GenerationConfig(max_new_tokens=args.max_new_tokens)
    rows = []
    with tempfile.TemporaryDirectory() as logdir:
        for replicas in (1, 2):
            servers = []
            try:
                for i in range(replicas):
                    servers.append(llama_server.start(Path(logdir) / f"server-{i}.log"))
                backend = load_backend("openai", base_url=[s.url for s in servers], concurrency=2 * replicas)
                rec = Recommender(data, backend=backend, generation=gen)
                rows.append({"path": f"openai backend, {replicas} llama.cpp replica(s) x 1 thread",
                             **_run(rec, users, batch_size=len(users))})
                backend.close()
            finally:
                for server in servers:
                    server.stop()
    local = load_backend("transformers", model=None, device="cpu")
    rows.append({"path": "transformers backend, generate, batch 8",
                 **_run(Recommender(data, backend=local, generation=gen), users, batch_size=8)})
    rows.append({"path": "transformers backend, score (log-probs), no reasons, batch 8",
                 **_run(Recommender(data, backend=local, generation=gen, mode="score", reasons=False), users, 8)})
    base = rows[0]["users_per_s"]
    for r in rows:
        r["vs_one_replica"] = round(r["users_per_s"] / base, 2)
    cmd = f"python benchmarks/serving.py --users {args.users} --max-new-tokens {args.max_new_tokens}"
    out = {"benchmark_command": cmd, "machine": machine(), "users": users, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serving.json").write_text(json.dumps(out, indent=2) + "\n")
    md = ["# Users per second through each LLM path (same users, same run)", "",
          f"Made by: `{cmd}`  ", f"Machine: {machine_line(out['machine'])}  ",
          f"{args.users} ML-100K users, 5-item histories, 20 candidates, k=10, up to {args.max_new_tokens} new tokens.",
          "", "| path | users/s | x one replica | wall (s) | fallbacks | placed by LLM (mean of 20) |",
          "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        md.append(f"| {r['path']} | {r['users_per_s']:.2f} | {r['vs_one_replica']:.2f} | {r['wall_s']:.1f} | "
                  f"{r['fallbacks']} | {r['mean_placed_by_llm']:.1f} |")
    (args.out / "serving.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
