"""Load on `zsrec serve` over loopback: requests/s and latency percentiles at 1, 8, 32 and 64
concurrent clients, with batching on and off, side by side in one run against the real default model.

Each configuration is a real `zsrec serve` child process (the one model loaded once); each client is
a thread that sends one request, waits for the answer, and sends the next (a closed loop), for a fixed
time per level. Every request sent is counted as answered (any status) or lost. Histories are the
first picks of ML-100K users, different per request. Writes benchmarks/results/serve.{json,md,png}.

    python benchmarks/serve_load.py [--clients 1,8,32,64] [--seconds 30] [--mode generate] [--reasons evidence]
        [--serve-args "--device cuda"]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import threading
import time
import urllib.error
from pathlib import Path

import numpy as np
from _common import RESULTS, machine, machine_line

from zsrec.loaders import load_dataset
from zsrec.serving.launch import ServeProcess, post_json


def _histories(n: int, length: int) -> list[list[str]]:
    data = load_dataset("ml-100k")
    items = data.catalog.items
    users = sorted(data.interactions.user_ids, key=int)
    return [[items[int(i)].id for i in data.interactions.user_history(u)[:length]] for u in users[:n]]


def _level(url: str, clients: int, seconds: float, histories: list[list[str]], k: int) -> dict:
    """``clients`` closed-loop clients for ``seconds``; a request in flight at the end is waited for."""
    records: list[tuple[float, int, str]] = []  # latency, status, "llm" / "deadline" / "fallback" (LLM gave nothing usable)
    stages: list[dict[str, float]] = []  # the service's own seconds per stage, for answers the model made
    lost = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    counter = [0]

    def client(c: int) -> None:
        while time.monotonic() < stop_at:
            with lock:
                history = histories[counter[0] % len(histories)]
                counter[0] += 1
            t0 = time.monotonic()
            try:
                status, body, _ = post_json(url + "/v1/recommend", {"history": history, "k": k}, timeout=300)
            except (urllib.error.URLError, OSError, ValueError):
                with lock:
                    lost[0] += 1
                continue
            how = ""
            if status == 200:
                info = body["info"]
                how = ("deadline" if "deadline" in info["fallback_reason"] else "fallback") if info["fallback"] else "llm"
            with lock:
                records.append((time.monotonic() - t0, status, how))
                if how in ("llm", "fallback"):
                    stages.append(info.get("timings", {}))

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    latencies = np.array([r[0] for r in records]) if records else np.array([np.nan])
    ok = sum(1 for r in records if r[1] == 200)
    return {"clients": clients, "requests": len(records) + lost[0], "answered": len(records), "lost": lost[0],
            "ok": ok, "errors": len(records) - ok, "ranked_by_llm": sum(r[2] == "llm" for r in records),
            "past_deadline": sum(r[2] == "deadline" for r in records),
            "llm_fallbacks": sum(r[2] == "fallback" for r in records),
            "wall_s": round(wall, 2), "requests_per_s": round(ok / wall, 3),
            "llm_rankings_per_s": round(sum(r[2] != "deadline" for r in records) / wall, 3),
            "p50_s": round(float(np.percentile(latencies, 50)), 3), "p95_s": round(float(np.percentile(latencies, 95)), 3),
            "p99_s": round(float(np.percentile(latencies, 99)), 3), "max_s": round(float(np.max(latencies)), 3),
            # Where a request's time went inside the service ("llm" is its batch's time shared per request).
            "stage_mean_s": {key: round(float(np.mean([t.get(key, 0.0) for t in stages])), 4)
                             for key in sorted({k for t in stages for k in t} - {"model_load"})}}


def _metric_sum(url: str, series: str) -> tuple[float, float]:
    import urllib.request

    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line and not line.startswith("#")}
    return values.get(series + "_sum", 0.0), values.get(series + "_count", 0.0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", default="1,8,32,64")
    ap.add_argument("--seconds", type=float, default=30.0, help="time each level sends for")
    ap.add_argument("--mode", default="generate", help="ranking mode of the service")
    ap.add_argument("--reasons", default="llm")
    ap.add_argument("--max-new-tokens", type=int, default=120, help="the service's generation budget")
    ap.add_argument("--max-batch", type=int, default=32, help="the batching-on service's --max-batch")
    ap.add_argument("--deadline", type=float, default=30.0, help="the service's --deadline (its default)")
    ap.add_argument("--history", type=int, default=5, help="picks per request")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--serve-args", default="", help='more `zsrec serve` options for both services, e.g. "--device cuda"')
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--name", default="serve")
    args = ap.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    histories = _histories(400, args.history)
    common = ["--mode", args.mode, "--reasons", args.reasons, "--deadline", str(args.deadline), "--k", str(args.k),
              "--max-new-tokens", str(args.max_new_tokens), *shlex.split(args.serve_args)]
    configs = [("batching on", ["--max-batch", str(args.max_batch), "--batch-window-ms", "10"]),
               ("batching off", ["--max-batch", "1"])]
    rows = []
    with tempfile.TemporaryDirectory() as logs:
        for label, extra in configs:
            with ServeProcess(common + extra, Path(logs) / f"{label}.log") as server:
                post_json(server.url + "/v1/recommend", {"history": histories[0], "k": args.k})  # warm
                for clients in levels:
                    before = _metric_sum(server.url, "zsrec_batch_size")
                    row = {"config": label, **_level(server.url, clients, args.seconds, histories, args.k)}
                    after = _metric_sum(server.url, "zsrec_batch_size")
                    batches = after[1] - before[1]
                    row["mean_batch"] = round((after[0] - before[0]) / batches, 2) if batches else 0.0
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr)
    for row in rows:
        off = next(r for r in rows if r["config"] == "batching off" and r["clients"] == row["clients"])
        row["throughput_vs_off"] = (round(row["llm_rankings_per_s"] / off["llm_rankings_per_s"], 2)
                                    if off["llm_rankings_per_s"] else None)
    cmd = "python benchmarks/serve_load.py " + shlex.join(sys.argv[1:])
    m = machine()
    out = {"command": cmd.strip(), "machine": m, "mode": args.mode, "reasons": args.reasons,
           "max_new_tokens": args.max_new_tokens, "serve_args": args.serve_args,
           "deadline_s": args.deadline, "seconds_per_level": args.seconds, "max_batch": args.max_batch, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(out, indent=1) + "\n")
    lines = [f"# zsrec serve under load ({args.mode} mode, {args.reasons} reasons, {args.max_new_tokens} new tokens, "
             "default model)", "",
             f"`{cmd.strip()}` on {machine_line(m)}.", "",
             f"Closed-loop clients on loopback, {args.seconds:g} s per level; deadline {args.deadline:g} s "
             "(past it a request is answered in the shortlist's order, flagged: *past deadline*). "
             f"Batching on: up to {args.max_batch} requests per backend call, 10 ms window; off: one per call. "
             "*LLM rankings/s* counts the answers the model made (its own order, or its garbage caught and "
             "flagged), not those answered at the deadline; *vs off* is its ratio to batching off at the same "
             "load.", "",
             "| config | clients | requests | answered | lost | errors | ranked by LLM | LLM gave nothing | past deadline "
             "| answers/s | LLM rankings/s | vs off | mean batch | p50 s | p95 s | p99 s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['config']} | {r['clients']} | {r['requests']} | {r['answered']} | {r['lost']} | {r['errors']} "
                     f"| {r['ranked_by_llm']} | {r['llm_fallbacks']} | {r['past_deadline']} | {r['requests_per_s']} "
                     f"| {r['llm_rankings_per_s']} | {r['throughput_vs_off']} | {r['mean_batch']} "
                     f"| {r['p50_s']} | {r['p95_s']} | {r['p99_s']} |")
    (args.out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    _plot(rows, args.out / f"{args.name}.png")
    print("\n".join(lines))


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for config, style in (("batching on", "o-"), ("batching off", "s--")):
        mine = [r for r in rows if r["config"] == config]
        left.plot([r["clients"] for r in mine], [r["llm_rankings_per_s"] for r in mine], style, label=config)
        right.plot([r["clients"] for r in mine], [r["p99_s"] for r in mine], style, label=config)
    for ax, title in ((left, "LLM rankings/s"), (right, "p99 latency (s)")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent clients")
        ax.set_title(title)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
