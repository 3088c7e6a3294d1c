"""Speed of both pipeline stages, side by side in one run.

Candidate stage: ML-100K (1,682 items) and synthetic catalogs of 100k and 1M items, built from
ML-100K's title words and genres (seeded, with Zipf popularity). rank-bm25 (the reference) against
the sparse-matrix index: build time, resident memory added, per-user latency p50/p99 one user at a
time and batched, and the time to save and load an index.

LLM stage: the default model on each device named (the CPU unless --devices says more), generation
against log-prob scoring at batch 1, 8 and 32: users/s and prompt tokens/s, with the hardware limit
beside them (2 x parameters FLOPs per token against the device's measured matmul FLOP/s in the
model's dtype), and each device's users/s as a ratio of the first device's on the same users.

Writes benchmarks/results/NAME.{json,md} (NAME: speed) and NAME.png.

    python benchmarks/speed.py                 # the full run (about 15 minutes on 2 cores)
    python benchmarks/speed.py --llm-only --devices cpu,cuda --name speed-gpu    # on a GPU machine
    python benchmarks/speed.py --candidates-only --name speed-candidates         # the candidate stage alone
    python benchmarks/speed.py --toy           # seconds; what CI runs to keep this script working
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, machine, machine_line

from zsrec.candidates import CandidateConfig, CandidateGenerator
from zsrec.data import Catalog, Item
from zsrec.loaders import load_dataset
from zsrec.text import tokenize


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def synthetic_catalog(base, n_items: int, seed: int = 0) -> tuple[Catalog, np.ndarray]:
    """Items whose words follow ML-100K's: titles of 1-4 title words, 1-3 genres, a 6-12 word blurb."""
    rng = np.random.default_rng(seed)
    words = sorted({w for it in base.catalog for w in tokenize(it.title) if not w.isdigit()})
    genres = sorted({g for it in base.catalog for g in it.fields.get("genres", "").split()})
    # Zipf-like word use, as in real text: a few words are common, most are rare.
    p = 1.0 / np.arange(1, len(words) + 1) ** 0.9
    p /= p.sum()
    title_len = rng.integers(1, 5, n_items)
    blurb_len = rng.integers(6, 13, n_items)
    flat = rng.choice(len(words), size=int(title_len.sum() + blurb_len.sum()), p=p)
    n_genres = rng.integers(1, 4, n_items)
    flat_genres = rng.integers(0, len(genres), int(n_genres.sum()))
    years = rng.integers(1920, 2000, n_items)
    items, w, g = [], 0, 0
    for i in range(n_items):
        t = " ".join(words[j].capitalize() for j in flat[w:w + title_len[i]])
        w += title_len[i]
        blurb = " ".join(words[j] for j in flat[w:w + blurb_len[i]])
        w += blurb_len[i]
        gs = " ".join(genres[j] for j in flat_genres[g:g + n_genres[i]])
        g += n_genres[i]
        items.append(Item(str(i), f"{t} ({years[i]})", {"genres": gs, "description": blurb, "year": str(years[i])}))
    popularity = np.floor(rng.zipf(1.3, n_items).clip(max=50_000)).astype(np.float64)
    return Catalog(items), popularity


def _latencies(gen: CandidateGenerator, jobs, batch: int) -> dict:
    single = []
    for h, e in jobs:
        t0 = time.perf_counter()
        gen.generate(h, e)
        single.append(time.perf_counter() - t0)
    out = {"users": len(jobs), "p50_ms": 1000 * float(np.percentile(single, 50)),
           "p99_ms": 1000 * float(np.percentile(single, 99)), "users_per_s": len(single) / sum(single)}
    if batch > 1 and gen.index is not None:
        t0 = time.perf_counter()
        for start in range(0, len(jobs), batch):
            chunk = jobs[start:start + batch]
            gen.generate_many([h for h, _ in chunk], [e for _, e in chunk])
        total = time.perf_counter() - t0
        out.update(batched_users_per_s=len(jobs) / total, batched_ms_per_user=1000 * total / len(jobs))
    return out


def candidate_stage(sizes: list[int], users: int, ref_users: dict[int, int], batch: int) -> list[dict]:
    base = load_dataset("ml-100k")
    rows = []
    for size in sizes:
        if size == len(base.catalog):
            catalog, pop, name = base.catalog, base.interactions.item_counts(len(base.catalog)), "ML-100K"
        else:
            catalog, pop, name = (*synthetic_catalog(base, size), f"synthetic {size:,}")
        rng = np.random.default_rng(1)
        jobs = []
        for _ in range(users):
            h = rng.choice(len(catalog), 5, replace=False).tolist()
            jobs.append((h, h))
        for retriever in ("sparse", "rank-bm25"):
            n_users = users if retriever == "sparse" else ref_users.get(size, 0)
            if n_users == 0:
                continue
            gc.collect()
            before = rss_mb()
            t0 = time.perf_counter()
            gen = CandidateGenerator(catalog, config=CandidateConfig(retriever=retriever), popularity=pop)
            build = time.perf_counter() - t0
            row = {"catalog": name, "items": size, "retriever": retriever, "build_s": build,
                   "memory_mb": rss_mb() - before, **_latencies(gen, jobs[:n_users], batch)}
            if retriever == "sparse":
                with tempfile.TemporaryDirectory() as d:
                    path = Path(d) / "index.npz"
                    t0 = time.perf_counter()
                    gen.save_index(path)
                    row["save_s"] = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    CandidateGenerator.with_saved_index(path, catalog, popularity=pop)
                    row["load_s"] = time.perf_counter() - t0
                    row["index_file_mb"] = path.stat().st_size / 2**20
            rows.append(row)
            print(json.dumps(row), flush=True)
            del gen
    by = {(r["items"], r["retriever"]): r for r in rows}
    for r in rows:
        ref = by.get((r["items"], "rank-bm25"))
        if r["retriever"] == "sparse" and ref:
            r["speedup_single"] = r["users_per_s"] / ref["users_per_s"]
            if "batched_users_per_s" in r:
                r["speedup_batched"] = r["batched_users_per_s"] / ref["users_per_s"]
    return rows


def matmul_flops(device: str = "cpu", dtype=None, seconds: float = 2.0) -> float:
    """The machine's own matmul rate in the model's dtype: the ceiling the LLM rows are read against."""
    import torch

    gpu = device != "cpu"
    size, per_sync = (8192, 10) if gpu else (1024, 1)  # a GPU needs big products, queued, to reach its peak
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if gpu else (lambda: None)
    torch.mm(a, b)
    sync()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(per_sync):
            torch.mm(a, b)
        n += per_sync
        sync()
    return 2 * size**3 * n / (time.perf_counter() - t0)


def llm_stage(batches: list[int], max_new_tokens: int, devices: list[str], toy: bool = False) -> dict:
    """Users/s of both LLM modes on each device, on the same users, so devices compare as ratios."""
    from zsrec.backends import load_backend
    from zsrec.backends.base import GenerationConfig
    from zsrec.recommender import Recommender

    data = load_dataset("ml-100k")
    users = sorted(data.interactions.user_ids, key=int)
    rows, peaks, n_params = [], {}, 0
    for device in devices:
        backend = load_backend("transformers", model=None, device=device)
        n_params = sum(p.numel() for p in backend.model.parameters())
        dtype = next(backend.model.parameters()).dtype
        for mode in ("generate", "score"):
            for b in batches:
                backend.batch_size = b
                rec = Recommender(data, backend=backend, mode=mode, reasons=False,
                                  generation=GenerationConfig(max_new_tokens=max_new_tokens))
                n_users = max(b, 4) if mode == "generate" else max(2 * b, 16)
                if toy:  # enough to keep the code path working, not to measure
                    n_users = b
                if device != "cpu":  # the first CUDA call pays for kernel loading; keep it out of the timing
                    list(rec.recommend_many(users[-b:], n_history=5, batch_size=b))
                t0 = time.perf_counter()
                results = [o.result for o in rec.recommend_many(users[:n_users], n_history=5, batch_size=b)]
                wall = time.perf_counter() - t0
                prompt = sum(r.info.prompt_tokens for r in results)
                completion = sum(r.info.completion_tokens for r in results)
                rows.append({"device": device, "dtype": str(dtype).removeprefix("torch."), "mode": mode, "batch": b,
                             "users": n_users, "wall_s": wall, "users_per_s": n_users / wall,
                             "prompt_tokens_per_s": prompt / wall, "completion_tokens_per_s": completion / wall,
                             "tokens_per_s": (prompt + completion) / wall,
                             "fallbacks": sum(bool(r.info.fallback) for r in results)})
                print(json.dumps(rows[-1]), flush=True)
        peaks[device] = matmul_flops(device, dtype)
        del backend
        gc.collect()
    first = {(r["mode"], r["batch"]): r for r in rows if r["device"] == devices[0]}
    for r in rows:
        r["achieved_gflops"] = 2 * n_params * r["tokens_per_s"] / 1e9
        r["of_matmul_peak"] = r["achieved_gflops"] * 1e9 / peaks[r["device"]]
        ref = first.get((r["mode"], r["batch"]))
        if ref is not None:
            r[f"x_{devices[0]}"] = r["users_per_s"] / ref["users_per_s"]
    return {"parameters": n_params, "devices": devices, "matmul_gflops": {d: p / 1e9 for d, p in peaks.items()},
            "rows": rows}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for label, key, retr in (("rank-bm25, one user at a time", "p50_ms", "rank-bm25"),
                             ("sparse, one user at a time", "p50_ms", "sparse"),
                             ("sparse, batched (per user)", "batched_ms_per_user", "sparse")):
        pts = sorted((r["items"], r[key]) for r in rows if r["retriever"] == retr and key in r)
        if pts:
            ax.plot(*zip(*pts), marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("catalog items")
    ax.set_ylabel("shortlist time per user (ms, median)")
    ax.axhline(10, color="grey", linestyle=":", linewidth=1)
    ax.text(ax.get_xlim()[0] * 1.1, 11, "10 ms", color="grey")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title("Candidate generation: time per user against catalog size")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def llm_table(llm: dict) -> list[str]:
    devices = llm["devices"]
    peaks = ", ".join(f"{d}: {g:,.0f} GFLOP/s" for d, g in llm["matmul_gflops"].items())
    ratio = f"x {devices[0]}" if len(devices) > 1 else ""
    md = [f"## LLM stage (default model, {llm['parameters'] / 1e6:.0f}M parameters, {', '.join(devices)})", "",
          f"Measured matmul peak in the model's dtype: {peaks}. "
          "Achieved = 2 x parameters x (prompt + completion) tokens/s (attention left out).", "",
          "| device | dtype | mode | batch | users | users/s | prompt tokens/s | completion tokens/s | "
          f"achieved GFLOP/s | of peak |{' ' + ratio + ' |' if ratio else ''}",
          "|---|---|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if ratio else "")]
    for r in llm["rows"]:
        line = (f"| {r['device']} | {r['dtype']} | {r['mode']} | {r['batch']} | {r['users']} | {r['users_per_s']:.2f} | "
                f"{r['prompt_tokens_per_s']:.0f} | {r['completion_tokens_per_s']:.1f} | "
                f"{r['achieved_gflops']:.1f} | {r['of_matmul_peak']:.2%} |")
        if ratio:
            line += f" {r.get('x_' + devices[0], float('nan')):.1f} |"
        md.append(line)
    return md


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--toy", action="store_true", help="tiny sizes, for CI")
    ap.add_argument("--devices", default="cpu", help="LLM stage on each of these devices, e.g. cpu,cuda")
    ap.add_argument("--batches", default="", help="LLM batch sizes (default 1,8,32; toy 2)")
    ap.add_argument("--llm-only", action="store_true", help="skip the candidate stage")
    ap.add_argument("--candidates-only", action="store_true", help="skip the LLM stage")
    ap.add_argument("--name", default="speed", help="results are written to OUT/NAME.{json,md,png}")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.toy:
        sizes, users, ref_users, batches, max_new = [1682, 5000], 20, {1682: 5, 5000: 5}, [2], 8
    else:
        sizes, users, ref_users, batches, max_new = ([1682, 100_000, 1_000_000], 300,
                                                      {1682: 300, 100_000: 20, 1_000_000: 3}, [1, 8, 32], 120)
    if args.batches:
        batches = [int(b) for b in args.batches.split(",")]
    cand = [] if args.llm_only else candidate_stage(sizes, users, ref_users, batch=32)
    llm = [] if args.candidates_only else llm_stage(batches, max_new, args.devices.split(","), toy=args.toy)
    cmd = "python benchmarks/speed.py " + " ".join(sys.argv[1:])
    out = {"benchmark_command": cmd.strip(), "machine": machine(), "candidates": cand, "llm": llm}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(out, indent=2) + "\n")
    stages = " and ".join(name for name, ran in (("candidate generation", cand), ("the LLM stage", llm)) if ran)
    md = [f"# Speed: {stages} (one run, one machine)", "",
          f"Made by: `{cmd.strip()}`  ", f"Machine: {machine_line(out['machine'])}", ""]
    if cand:
        plot(cand, args.out / f"{args.name}.png")
        md += ["## Candidate stage (history of 5, all seen items excluded, top 20)", "",
               "| catalog | retriever | build (s) | memory (MB) | p50 (ms) | p99 (ms) | users/s | batched users/s (32) "
               "| x rank-bm25 (single / batched) | index save / load (s) |",
               "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in cand:
            ratio = (f"{r['speedup_single']:.0f}x / {r['speedup_batched']:.0f}x" if "speedup_single" in r else "")
            saved = f"{r['save_s']:.2f} / {r['load_s']:.2f}" if "load_s" in r else ""
            batched = f"{r['batched_users_per_s']:.0f}" if "batched_users_per_s" in r else ""
            md.append(f"| {r['catalog']} | {r['retriever']} | {r['build_s']:.2f} | {r['memory_mb']:.0f} | "
                      f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['users_per_s']:.1f} | {batched} | {ratio} | {saved} |")
        md += ["", "rank-bm25 was timed on fewer users at the larger sizes (it takes seconds per user there); "
               f"see `users` in {args.name}.json.", ""]
    if llm:
        md += llm_table(llm)
    (args.out / f"{args.name}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
