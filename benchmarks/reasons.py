"""How many of the LLM's reasons survive the checks, why the others fail, and how many items get their
reason from the data instead, with the default model on ML-100K users.

Each user's 5 most recent picks are the history (everything they saw is excluded), k=10. Both
ranking modes are run with ``reasons="llm"``: in generate mode the reasons come with the ranking, in
score mode one extra generation writes them for the top 10, with each item's facts in the prompt.
Writes benchmarks/results/reasons.{json,md}.

    python benchmarks/reasons.py [--users 200] [--modes generate,score] [--batch 8]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

from _common import RESULTS, machine, machine_line

from zsrec.backends import GenerationConfig, load_backend
from zsrec.loaders import load_dataset
from zsrec.recommender import Recommender


def run_mode(data, backend, mode: str, users: list[str], batch: int, max_new_tokens: int | None = None) -> dict:
    extra = {} if max_new_tokens is None else {"generation": GenerationConfig(max_new_tokens=max_new_tokens)}
    rec = Recommender(data, backend=backend, mode=mode, reasons="llm", **extra)
    t0 = time.perf_counter()
    results = [o.result for o in rec.recommend_many(users, n_history=5, k=10, batch_size=batch)]
    wall = time.perf_counter() - t0
    items = [it for r in results if r is not None for it in r.items]
    sources = Counter(it.reason_source for it in items)
    flags = Counter(f for it in items for f in it.reason_flags)
    said = [it for it in items if it.llm_reason or it.reason_source == "llm"]
    kept = [it for it in items if it.reason_source == "llm"]
    rng = random.Random(0)
    examples = {
        "kept": [(it.title, it.reason) for it in rng.sample(kept, min(5, len(kept)))],
        "replaced": [(it.title, it.llm_reason, it.reason_flags, it.reason)
                     for it in rng.sample([it for it in items if it.llm_reason], min(5, sum(1 for it in items if it.llm_reason)))],
    }
    records = [{"user": r.user_id, "item": it.item_id, "title": it.title, "llm_reason": it.llm_reason or
                (it.reason if it.reason_source == "llm" else ""), "flags": it.reason_flags,
                "source": it.reason_source, "reason": it.reason}
               for r in results if r is not None for it in r.items]
    return {"mode": mode, "users": len(results), "items": len(items), "wall_s": round(wall, 1), "records": records,
            "s_per_user": round(wall / max(1, len(results)), 2),
            "fallbacks": sum(r.info.fallback for r in results if r is not None),
            "llm_wrote_a_reason": len(said), "kept_llm": sources.get("llm", 0),
            "from_evidence": sources.get("evidence", 0), "without_reason": sum(1 for it in items if not it.reason),
            "flags": dict(flags.most_common()), "examples": examples}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--modes", default="generate,score")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-new-tokens", type=int, default=None,
                    help="generation budget per answer (default: the library's); the toy test cuts it")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    data = load_dataset("ml-100k")
    users = sorted(data.interactions.user_ids, key=int)
    users = random.Random(args.seed).sample(users, min(args.users, len(users)))
    backend = load_backend("transformers", model=None, device="cpu", batch_size=args.batch)
    rows = [run_mode(data, backend, m, users, args.batch, args.max_new_tokens) for m in args.modes.split(",")]
    cmd = "python benchmarks/reasons.py " + " ".join(sys.argv[1:])
    out = {"benchmark_command": cmd.strip(), "machine": machine(), "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    # every item's reason, flags and source apart from the summary (gzipped JSON lines), so that a
    # change to the checks can be looked at against what the model actually wrote
    with gzip.open(args.out / "reasons-items.jsonl.gz", "wt", encoding="utf-8") as f:
        for r in rows:
            for rec in r.pop("records"):
                f.write(json.dumps({"mode": r["mode"], **rec}) + "\n")
    (args.out / "reasons.json").write_text(json.dumps(out, indent=2) + "\n")
    md = ["# Reasons: what survives the checks (default SmolLM2-135M, ML-100K)", "",
          f"Made by: `{cmd.strip()}`  ", f"Machine: {machine_line(out['machine'])}  ",
          f"{args.users} users sampled with seed {args.seed}; history: each user's 5 most recent picks, k=10, "
          "`reasons=\"llm\"`.", "",
          "| mode | items | LLM wrote a reason | kept (passed every check) | written from the data | without a reason "
          "| s/user |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        n = max(1, r["items"])
        md.append(f"| {r['mode']} | {r['items']} | {r['llm_wrote_a_reason']} ({r['llm_wrote_a_reason'] / n:.1%}) | "
                  f"{r['kept_llm']} ({r['kept_llm'] / n:.1%}) | {r['from_evidence']} ({r['from_evidence'] / n:.1%}) | "
                  f"{r['without_reason']} | {r['s_per_user']:.2f} |")
    md += ["", "Why LLM reasons were replaced (an item can have several flags; `empty`: the model gave none):", "",
           "| mode | " + " | ".join(sorted({f for r in rows for f in r["flags"]})) + " |",
           "|---|" + "---:|" * len({f for r in rows for f in r["flags"]})]
    for r in rows:
        md.append(f"| {r['mode']} | " + " | ".join(str(r["flags"].get(f, 0))
                                                   for f in sorted({f for r in rows for f in r["flags"]})) + " |")
    for r in rows:
        md += ["", f"Examples, {r['mode']} mode. Kept:", ""]
        md += [f"- {title}: \"{reason}\"" for title, reason in r["examples"]["kept"]] or ["- (none)"]
        md += ["", "Replaced (the model's words, the flags, the reason shown instead):", ""]
        md += [f"- {title}: \"{said}\" ({', '.join(flags)}) -> \"{reason}\""
               for title, said, flags, reason in r["examples"]["replaced"]] or ["- (none)"]
    (args.out / "reasons.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
