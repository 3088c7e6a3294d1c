"""How far can a training-free item-item signal alone lift recall@20 at each history length?

The shortlist's recall@20 at n = 5 stays below 0.5 (benchmarks/results/shortlist_weights.md). Before
building another signal into the product, this measures the item-item scorings it could use, each
alone (no text, no popularity), on the tuner's validation folds (4-fold cross-validation over the
training users of the standard cold-start split; never the test users):

- cosine co-occurrence (the shipped signal) keeping 50 / 100 / 200 / every neighbour per item;
- co-occurrence with each user's pairs weighted down by their history length (1/|u|, 1/sqrt|u|,
  1/log2(1+|u|)): heavy raters co-pick almost everything;
- RP3beta (Paudel et al. 2017: a two-step random walk item -> user -> item, transition
  probabilities raised to alpha, the end item's popularity divided out to the power beta);
- per-row normalised neighbour scores, and cosine plus a share of its two-hop neighbours.

A history scores items by the recency-weighted (0.8 per pick) sum of its items' rows, as the
product does. Dense item x item matrices: for catalogs up to 20,000 items (ML-100K here). The
product's own index with co-occurrence alone is measured beside them as a check on this code.

Writes benchmarks/results/cooccurrence_variants.{json,md}.

    python benchmarks/cooccurrence_variants.py [--folds 4]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from _common import RESULTS, machine, machine_line
from scipy import sparse

from zsrec.candidates import CandidateConfig, CandidateGenerator
from zsrec.cooccurrence import CoOccurrenceConfig, CoOccurrenceIndex
from zsrec.evaluation.metrics import hit, ndcg
from zsrec.evaluation.protocol import EvalConfig, make_cases, popularity_counts, split_users, validation_folds
from zsrec.evaluation.tuning import CO_ONLY, measure_shortlist
from zsrec.loaders import load_dataset

DECAY = 0.8
MAX_ITEMS = 20_000
SHIPPED = "cosine, 100 neighbours (shipped)"


def _picks(dataset, users, max_history: int = 200) -> sparse.csr_matrix:
    """Users x items, 1 where the user picked the item among their last ``max_history`` picks."""
    n_items = len(dataset.catalog)
    rows, cols = [], []
    for k, user in enumerate(users):
        history = [int(i) for i in dataset.interactions.user_history(user)][-max_history:]
        rows += [k] * len(history)
        cols += history
    x = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(users), n_items))
    x.data[:] = 1.0  # a re-pick counts once
    return x


def _keep_top(s: np.ndarray, k: int) -> np.ndarray:
    s = np.array(s, dtype=np.float64)
    np.fill_diagonal(s, 0.0)
    if k < s.shape[1] - 1:
        drop = np.argpartition(-s, k, axis=1)[:, k:]
        np.put_along_axis(s, drop, 0.0, axis=1)
    return s


def _variants(x: sparse.csr_matrix) -> dict[str, np.ndarray]:
    n = np.asarray(x.sum(0)).ravel() + 1e-9  # users per item
    length = np.maximum(np.asarray(x.sum(1)).ravel(), 1.0)  # picks per user
    counts = (x.T @ x).toarray()
    cosine = counts / np.sqrt(np.outer(n, n))
    out = {f"cosine, {k} neighbours": _keep_top(cosine, k) for k in (50, 200)}
    out[SHIPPED] = _keep_top(cosine, 100)
    out["cosine, every neighbour"] = _keep_top(cosine, x.shape[1])
    weights: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "1/|u|": lambda u: 1 / u, "1/sqrt|u|": lambda u: 1 / np.sqrt(u), "1/log2(1+|u|)": lambda u: 1 / np.log2(1 + u)}
    for name, w in weights.items():
        weighted = (x.T @ (sparse.diags(w(length)) @ x)).toarray()
        out[f"cosine, pairs weighted {name}"] = _keep_top(weighted / np.sqrt(np.outer(n, n)), 100)
    user_step = sparse.diags(1 / length) @ x  # P(item | user)
    item_step = (sparse.diags(1 / n) @ x.T).tocsr()  # P(user | item)
    for alpha in (0.5, 1.0):
        walk = (item_step.power(alpha) @ user_step.power(alpha)).toarray()
        for beta in (0.3, 0.5, 0.7):
            out[f"RP3beta alpha {alpha} beta {beta}"] = _keep_top(walk / n[None, :] ** beta, 100)
    shipped = out[SHIPPED]
    out["cosine, rows scaled to max 1"] = shipped / (shipped.max(1, keepdims=True) + 1e-12)
    two_hop = _keep_top(shipped @ shipped, 100)
    out["cosine + 0.3 x two-hop"] = shipped + 0.3 * two_hop * (shipped.max() / (two_hop.max() + 1e-12))
    return out


def _measure(s: np.ndarray, cases, popularity: np.ndarray, k: int) -> dict[int, list[tuple[float, float]]]:
    out: dict[int, list[tuple[float, float]]] = {}
    for case in cases:
        history = list(case.history)
        w = DECAY ** np.arange(len(history))[::-1]
        score = (w[:, None] * s[history]).sum(0) + 1e-9 * popularity  # popularity breaks ties
        score[history] = -np.inf
        order = np.argsort(-score, kind="stable")[:k].tolist()
        out.setdefault(case.n, []).append((hit(order, {case.target}, k), ndcg(order, {case.target}, 10)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    started = time.perf_counter()
    dataset = load_dataset("ml-100k")
    if len(dataset.catalog) > MAX_ITEMS:
        sys.exit(f"dense item x item matrices: at most {MAX_ITEMS} items")
    config = EvalConfig()
    train, _ = split_users(dataset, config)
    pooled: dict[str, dict[int, list[tuple[float, float]]]] = {}
    co_only = replace(CandidateConfig(n_candidates=config.n_candidates, by_length=()),
                      bm25_weight=CO_ONLY[0], popularity_weight=CO_ONLY[1], cooccurrence_weight=CO_ONLY[2],
                      recency_decay=DECAY)
    product: dict[int, list[float]] = {}
    for fit, validate in validation_folds(dataset, config, train, args.folds):
        cases = make_cases(dataset, validate, config)
        popularity = popularity_counts(dataset, fit)
        for name, s in _variants(_picks(dataset, fit)).items():
            for n, values in _measure(s, cases, popularity, config.n_candidates).items():
                pooled.setdefault(name, {}).setdefault(n, []).extend(values)
        sequences = [dataset.interactions.user_history(u) for u in fit]
        index = CoOccurrenceIndex.build(sequences, len(dataset.catalog), CoOccurrenceConfig())
        text = CandidateGenerator(dataset.catalog, config=replace(co_only, cooccurrence_weight=0.0, bm25_weight=1.0))
        trial = measure_shortlist(dataset, cases, popularity, co_only, generator=text, cooccurrence=index)
        for n, r in trial.recall.items():
            product.setdefault(n, []).append(r * sum(c.n == n for c in cases))
    lens = sorted(config.history_lens)
    n_cases = {n: len(pooled[SHIPPED][n]) for n in lens}
    rows = [{"variant": name, "recall20": {n: float(np.mean([h for h, _ in byn[n]])) for n in lens},
             "ndcg10": {n: float(np.mean([d for _, d in byn[n]])) for n in lens}} for name, byn in pooled.items()]
    for row in rows:
        row["mean_recall20"] = float(np.mean(list(row["recall20"].values())))
    product_recall = {n: float(sum(product[n]) / n_cases[n]) for n in lens}
    cmd = "python benchmarks/cooccurrence_variants.py " + " ".join(sys.argv[1:])
    m = machine()
    seconds = time.perf_counter() - started
    out = {"command": cmd.strip(), "machine": m, "seconds": round(seconds, 1), "folds": args.folds,
           "validation_cases_per_n": n_cases, "decay": DECAY, "rows": rows,
           "product_index_recall20": product_recall}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cooccurrence_variants.json").write_text(json.dumps(out, indent=1) + "\n")
    best5 = max(rows, key=lambda r: r["recall20"][5])
    lines = ["# Item-item signals alone: recall@20 / NDCG@10 on the validation folds", "",
             f"Command: `{cmd.strip()}` ({seconds:.0f} s)  ",
             f"Machine: {machine_line(m)}  ",
             f"{args.folds}-fold cross-validation over the training users (counts from the other folds; "
             f"{n_cases[lens[0]]} validation cases per history length); no text, no popularity (it only breaks "
             f"ties); recency decay {DECAY}; seen items excluded.", "",
             "| item-item signal | " + " | ".join(f"n={n} R@20 / NDCG@10" for n in lens) + " | mean R@20 |",
             "|---|" + "---:|" * (len(lens) + 1)]
    for r in sorted(rows, key=lambda r: -r["recall20"][5]):
        lines.append(f"| {r['variant']} | " + " | ".join(f"{r['recall20'][n]:.3f} / {r['ndcg10'][n]:.3f}" for n in lens)
                     + f" | {r['mean_recall20']:.3f} |")
    lines += ["", "Sorted by recall@20 at n=5. Check: the product's own index (cosine, 100 neighbours) with "
              "co-occurrence alone gives recall@20 " + " / ".join(f"{product_recall[n]:.3f}" for n in lens)
              + f" at n = {' / '.join(map(str, lens))} (equal neighbour scores may break ties differently). RP3beta with alpha 0.5 and beta 0.5 is cosine with each "
              "user's pairs weighted 1/sqrt|u| (the same scores).", "",
              f"Best at n=5: {best5['variant']}, {best5['recall20'][5]:.3f} (shipped: "
              f"{next(r for r in rows if r['variant'] == SHIPPED)['recall20'][5]:.3f})."]
    (args.out / "cooccurrence_variants.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
