"""The fusion weight through the product's own pipeline (``Ranker``, what ``zsrec rank
--fusion-weight`` runs), on the evaluation's test users: what each weight gives, what it costs, and
whether it is exactly what the evaluation measured.

For each test user and history length of the evaluation's split (seed 0, 200 users, n = 1, 3, 5, 10;
the shortlist counted from the training users, as the evaluation counts it), the embedded model ranks
the shortlist of 20 by label log-probability (``--mode score``, no reasons) at each weight. Reported
per weight and n: NDCG@10 and HR@10 (a target outside the shortlist is a miss), a paired Wilcoxon test
against weight 0 (the shortlist's own order), seconds per user (shortlist and ranking; the model is
loaded once, before), and how many orders equal the evaluation's stored rankings
(``quality-cooc-rankings.jsonl.gz``): weight 1 against ``llm-score``, 0 against ``generator``, any
other weight against the evaluation's ``fuse`` of those two.

    python benchmarks/fusion_weight.py [--users 200] [--weights 1,0.5,0.1,0] [--batch 8]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, machine, machine_line

from zsrec.backends import BackendSpec
from zsrec.evaluation.metrics import ndcg, paired_p_value
from zsrec.evaluation.protocol import EvalConfig
from zsrec.evaluation.runner import Evaluation
from zsrec.loaders import load_dataset
from zsrec.prompts import PromptTemplate
from zsrec.ranker import Ranker
from zsrec.ranking import BackendHandle, RankerConfig
from zsrec.ranking.fusion import fuse

STORED = RESULTS / "quality-cooc-rankings.jsonl.gz"


def stored_rankings(path: Path) -> dict[tuple[str, int, str], list[str]]:
    """(method, n, user) -> the evaluation's ranking (item ids) on the generator's shortlist."""
    out = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["setting"] == "generator" and r["method"] in ("llm-score", "generator"):
                out[(r["method"], r["n"], r["user"])] = r["ranking_ids"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--history-len", default="1,3,5,10")
    ap.add_argument("--weights", default="1,0.5,0.1,0")
    ap.add_argument("--batch", type=int, default=8, help="users per ranking call (and forward pass)")
    ap.add_argument("--stored", type=Path, default=STORED, help="the evaluation's rankings to compare with")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--name", default="fusion_weight")
    args = ap.parse_args()
    lens = tuple(int(x) for x in args.history_len.split(","))
    weights = [float(w) for w in args.weights.split(",")]
    data = load_dataset("ml-100k")
    with tempfile.TemporaryDirectory() as tmp:  # the evaluation's split, shortlist and cases; nothing is run
        run = Evaluation(data, EvalConfig(history_lens=lens, n_test_users=args.users), [], tmp)
    cases, ids = run.cases, data.catalog.ids
    stored = stored_rankings(args.stored) if args.stored.is_file() else {}
    handle = BackendHandle(BackendSpec("transformers", None, {"device": "cpu", "batch_size": args.batch}))
    t0 = time.perf_counter()
    handle.get()
    load_seconds = time.perf_counter() - t0
    print(f"model loaded in {load_seconds:.1f}s; {len(cases)} users x {len(weights)} weights", flush=True)

    rows, per_user = [], {}
    for w in weights:
        ranker = Ranker(data.catalog, run.generator, handle, PromptTemplate("listwise"),
                        RankerConfig(k=20, n_candidates=20, item_noun="movie", mode="score", reasons="none",
                                     fusion_weight=w))
        orders, seconds = [], 0.0
        for start in range(0, len(cases), args.batch):
            chunk = cases[start:start + args.batch]
            t0 = time.perf_counter()
            results = ranker.rank_prepared([ranker.prepare(list(c.history), (), 20) for c in chunk])
            seconds += time.perf_counter() - t0
            orders += [[it.item_id for it in r.items] for r in results]
        same = checked = 0
        for case, order in zip(cases, orders):
            llm = stored.get(("llm-score", case.n, case.user))
            gen = stored.get(("generator", case.n, case.user))
            if llm is None or gen is None:
                continue
            expected = gen if w == 0 else llm if w == 1 else fuse(llm, gen, w)
            checked += 1
            same += order == expected
        for n in lens:
            picked = [(c, o) for c, o in zip(cases, orders) if c.n == n]
            scores = np.array([ndcg(o, {ids[c.target]}, 10) for c, o in picked])
            per_user[(w, n)] = scores
            rows.append({"weight": w, "n": n, "users": len(picked), "ndcg@10": float(scores.mean()),
                         "hr@10": float(np.mean([ids[c.target] in o[:10] for c, o in picked]))})
        rows.append({"weight": w, "n": "all", "users": len(cases), "seconds_per_user": seconds / len(cases),
                     "same_as_evaluation": same, "compared": checked})
        print(f"weight {w:g}: {seconds / len(cases) * 1000:.1f} ms a user; {same} of {checked} orders as the "
              f"evaluation stored them", flush=True)
    for r in rows:
        if r["n"] != "all" and r["weight"] != 0.0 and (0.0, r["n"]) in per_user:
            r["p_vs_weight_0"] = paired_p_value(per_user[(r["weight"], r["n"])], per_user[(0.0, r["n"])])

    cmd = "python benchmarks/fusion_weight.py " + " ".join(sys.argv[1:])
    m = machine()
    result = {"command": cmd.strip(), "machine": m, "model_load_seconds": load_seconds, "rows": rows,
              "stored": _shown(args.stored) if stored else None}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / f"{args.name}.md").write_text(report(result, lens, weights))
    print((args.out / f"{args.name}.md").read_text())


def _shown(path: Path) -> str:
    """The path as the repository names it, where it lies inside it."""
    try:
        return str(path.resolve().relative_to(RESULTS.parent.parent))
    except ValueError:
        return str(path)


def report(result: dict, lens: tuple[int, ...], weights: list[float]) -> str:
    rows = result["rows"]
    by = {(r["weight"], r["n"]): r for r in rows}
    lines = [
        "# The fusion weight through the product's pipeline",
        "",
        f"`{result['command']}` on {machine_line(result['machine'])}.",
        "",
        "The evaluation's test users (seed 0, first n picks as history, the next pick as target); the shortlist of "
        "20 counted from the training users; the embedded SmolLM2-135M ranks it by label log-probability "
        "(`--mode score`, no reasons) through `Ranker`, as `zsrec rank --fusion-weight W` does, and its order is "
        "fused with the shortlist's at W (1: the model's order; 0: the shortlist's, the model not asked). "
        f"Model load {result['model_load_seconds']:.1f} s, once, not in the times.",
        "",
        "NDCG@10 (a target outside the shortlist is a miss); p: paired Wilcoxon against weight 0 on the same users:",
        "",
        "| weight | " + " | ".join(f"n={n}" for n in lens) + " | ms a user | orders as the evaluation stored them |",
        "|---:|" + "---:|" * len(lens) + "---:|---:|",
    ]
    zero = by.get((0.0, "all"))
    for w in weights:
        cells = []
        for n in lens:
            r = by[(w, n)]
            p = f" (p {r['p_vs_weight_0']:.2g})" if "p_vs_weight_0" in r else ""
            cells.append(f"{r['ndcg@10']:.3f}{p}")
        total = by[(w, "all")]
        ms = total["seconds_per_user"] * 1000
        ratio = f" ({ms / (zero['seconds_per_user'] * 1000):.0f}x weight 0)" if zero and w != 0.0 and zero["seconds_per_user"] else ""
        same = f"{total['same_as_evaluation']} of {total['compared']}" if total["compared"] else "-"
        lines.append(f"| {w:g} | " + " | ".join(cells) + f" | {ms:.1f}{ratio} | {same} |")
    lines += ["", "Which the orders are compared with: weight 1 with the evaluation's `llm-score` rankings, 0 with "
              "its `generator` rankings, any other weight with the evaluation's own fusion (`zsrec.ranking.fusion.fuse`) "
              f"of those two (`{result['stored']}`).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
