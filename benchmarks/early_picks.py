"""Does co-occurrence counted from other users' *first* picks predict a new user's next pick better?

A cold-start user is judged on their first n picks and the one after. The shortlist's co-occurrence
index counts every pair in the training users' last 200 picks; new users, though, pick like other
users did when they were new (a sign-up page, the famous titles first). This measures the shipped
weights on one co-occurrence index at every length, counted from each training user's last 200 picks
or first K, for several K, per history length: on validation users (4-fold cross-validation over the
training users, counts from the other folds) and on the test users of the standard cold-start split
(counts from every training user). Then the shipped shortlist as it is: its short-history entries on
their own first-picks index where the tuner kept one (``+firstK`` in ``--shortlist-by-length``;
``benchmarks/shortlist_weights.py --first-picks``). Where the evaluation's rankings of the trained
baselines are at hand (benchmarks/results/quality-cooc-rankings.jsonl.gz), the test users' NDCG@10 is
compared with each baseline's on the same users (paired Wilcoxon). The option is
``CoOccurrenceConfig(first_picks=K)`` (``--cooccurrence-first-picks K``).

Writes benchmarks/results/early_picks.{json,md}.

    python benchmarks/early_picks.py [--first 10,15,20,30,60,120] [--folds 4]
    python benchmarks/early_picks.py --toy    # two values, 2 folds, 20 test users; what CI runs
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from _common import RESULTS, machine, machine_line
from scipy.stats import wilcoxon

from zsrec.candidates import CandidateConfig, CandidateGenerator
from zsrec.cooccurrence import CoOccurrenceConfig, CoOccurrenceIndex
from zsrec.length_weights import by_length_text
from zsrec.evaluation.metrics import hit, ndcg
from zsrec.evaluation.protocol import EvalConfig, make_cases, popularity_counts, split_users, validation_folds
from zsrec.loaders import load_dataset

BASELINES = ("sasrec", "ease", "itemknn")


def _per_user(dataset, cases, popularity, index, text_index, n_candidates: int, by_length=None,
              sequences=None, times=None) -> list[tuple[str, int, float, float]]:
    """(user, n, hit@n_candidates, NDCG@10) of the default shortlist with this co-occurrence index
    (and other short-history entries, whose indexes of users' first picks are counted from ``sequences``);
    with the picks' ``times`` the session signal too (the default), without them the shortlist without it."""
    config = CandidateConfig(n_candidates=n_candidates, by_length=by_length)
    gen = CandidateGenerator(dataset.catalog, config=config if times is not None else replace(config, session_share=0.0, sittings_share=0.0),
                             popularity=popularity, index=text_index, cooccurrence=index, sequences=sequences,
                             sequence_times=times)
    lists = gen.generate_many([list(c.history) for c in cases], None, n_candidates)
    return [(c.user, c.n, hit(x.indices.tolist(), {c.target}, n_candidates), ndcg(x.indices.tolist(), {c.target}, 10))
            for c, x in zip(cases, lists)]


def _means(rows, lens) -> dict[int, tuple[float, float]]:
    return {n: (float(np.mean([r[2] for r in rows if r[1] == n])), float(np.mean([r[3] for r in rows if r[1] == n])))
            for n in lens}


def _p_values(rows, baselines, lens) -> dict[str, float]:
    """Paired Wilcoxon p of NDCG@10 against each baseline, per history length, on the users both have."""
    p = {}
    for method in BASELINES:
        for n in lens:
            pairs = [(r[3], baselines.get((method, n, r[0]))) for r in rows if r[1] == n]
            pairs = [(a, b) for a, b in pairs if b is not None]
            if len(pairs) >= 10 and any(a != b for a, b in pairs):
                p[f"{method}@{n}"] = float(wilcoxon([a for a, _ in pairs], [b for _, b in pairs]).pvalue)
    return p


def _baseline_rows(path: Path, n_candidates: int) -> tuple[dict, dict]:
    """(method, n, user) -> NDCG@10 and -> whether the target is in the top ``n_candidates`` (the
    shortlist's recall, for a trained model's own top items), on the full catalog, from an
    evaluation's rankings file."""
    ndcgs, hits = {}, {}
    if not path.is_file():
        return ndcgs, hits
    with gzip.open(path, "rt") as f:
        for line in f:
            r = json.loads(line)
            if r["setting"] == "full" and r["method"] in BASELINES + ("generator",):
                ndcgs[(r["method"], r["n"], r["user"])] = r["ndcg@10"]
                hits[(r["method"], r["n"], r["user"])] = float(r["target_id"] in r["ranking_ids"][:n_candidates])
    return ndcgs, hits


def _agreement(rows, baselines) -> str:
    """How many test cases the evaluation's own generator rows score the same (same users, same NDCG@10)."""
    same = [abs(r[3] - baselines[("generator", r[1], r[0])]) < 1e-9 for r in rows
            if ("generator", r[1], r[0]) in baselines]
    return f"{sum(same)} of {len(same)} test cases"


def _label(r: dict) -> str:
    if "by_length" in r:
        return f"**shipped** (`{r['by_length']}`, session signal and similar sittings on)"
    return "last 200" if r["first_picks"] is None else f"first {r['first_picks']}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--first", default="10,15,20,30,60,120", help="values of K: count each training user's first K picks")
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--users", type=int, default=200, help="test users")
    ap.add_argument("--rankings", type=Path, default=RESULTS / "quality-cooc-rankings.jsonl.gz",
                    help="an evaluation's rankings, for the paired tests against its trained baselines")
    ap.add_argument("--toy", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--name", default="early_picks")
    args = ap.parse_args()
    firsts = [int(k) for k in ("10,30" if args.toy else args.first).split(",")]
    folds = 2 if args.toy else args.folds
    t_start = time.perf_counter()
    ds = load_dataset("ml-100k")
    cfg = EvalConfig(n_test_users=20 if args.toy else args.users)
    lens = cfg.history_lens
    train, test = split_users(ds, cfg)
    splits = validation_folds(ds, cfg, train, folds)
    n_items = len(ds.catalog)
    text_index = CandidateGenerator(ds.catalog, config=CandidateConfig(cooccurrence_weight=0.0, by_length=())).index
    parts = [(make_cases(ds, val, cfg), popularity_counts(ds, fit), [ds.interactions.user_history(u) for u in fit])
             for fit, val in splits]
    fit_times = [ds.interactions.times_for(fit) for fit, _ in splits]
    test_cases = make_cases(ds, test, cfg)
    test_pop = popularity_counts(ds, train)
    train_seqs = [ds.interactions.user_history(u) for u in train]
    baselines, baseline_hits = _baseline_rows(args.rankings, cfg.n_candidates)
    rows = []
    # the shipped weights on one index at every length: counted from the last 200 picks or the first K
    one_index = tuple(replace(e, first_picks=None) for e in CandidateConfig().by_length)
    for k in [None] + firsts:
        counted = CoOccurrenceConfig(first_picks=k)
        val = [r for cases, pop, seqs in parts
               for r in _per_user(ds, cases, pop, CoOccurrenceIndex.build(seqs, n_items, counted), text_index,
                                  cfg.n_candidates, one_index)]
        tst = _per_user(ds, test_cases, test_pop, CoOccurrenceIndex.build(train_seqs, n_items, counted), text_index,
                        cfg.n_candidates, one_index)
        rows.append({"first_picks": k, "validation": _means(val, lens), "test": _means(tst, lens),
                     "p_test": _p_values(tst, baselines, lens)})
        print(json.dumps(rows[-1]), flush=True)
    # The shipped shortlist itself: its short-history entries as tuned (benchmarks/shortlist_weights.py
    # --first-picks), each first-picks index counted from the same users' picks, and the session signal
    # (benchmarks/session_signal.py) counted from their timestamps.
    shipped = CandidateConfig()
    if shipped.first_picks_counts:
        val = [r for (cases, pop, seqs), times in zip(parts, fit_times)
               for r in _per_user(ds, cases, pop, CoOccurrenceIndex.build(seqs, n_items, shipped.cooccurrence),
                                  text_index, cfg.n_candidates, shipped.by_length, seqs, times)]
        tst = _per_user(ds, test_cases, test_pop, CoOccurrenceIndex.build(train_seqs, n_items, shipped.cooccurrence),
                        text_index, cfg.n_candidates, shipped.by_length, train_seqs, ds.interactions.times_for(train))
        rows.append({"first_picks": shipped.first_picks_counts, "by_length": by_length_text(shipped.by_length),
                     "validation": _means(val, lens), "test": _means(tst, lens),
                     "p_test": _p_values(tst, baselines, lens), "agrees_with_evaluation": _agreement(tst, baselines)})
        print(json.dumps(rows[-1]), flush=True)
    def mean_of(values: dict) -> dict[tuple[str, int], float]:
        return {(m, n): float(np.mean([v for (mm, nn, _), v in values.items() if mm == m and nn == n]))
                for m in BASELINES for n in lens if any(mm == m and nn == n for mm, nn, _ in values)}

    base, base_recall = mean_of(baselines), mean_of(baseline_hits)
    m = machine()
    cmd = ("python benchmarks/early_picks.py " + " ".join(sys.argv[1:])).strip()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(
        {"command": cmd, "machine": m, "seconds": time.perf_counter() - t_start, "folds": folds,
         "n_test_users": len(test), "rows": rows, "baselines_test_ndcg10": {f"{a}@{b}": v for (a, b), v in base.items()},
         "baselines_test_recall": {f"{a}@{b}": v for (a, b), v in base_recall.items()}},
        indent=1))
    head = " | ".join(f"n={n} R@20 / NDCG@10" for n in lens)
    lines = ["# Co-occurrence counted from users' first picks (`--cooccurrence-first-picks`, `+firstK` entries)",
             "", f"Command: `{cmd}` ({time.perf_counter() - t_start:.0f} s)  ", f"Machine: {machine_line(m)}  ",
             f"ML-100K, the cold-start split of `zsrec eval` (seed 0). The shipped weights with one co-occurrence "
             f"index at every length, counted from each training user's last 200 picks or first K, without the "
             f"session signal or similar sittings; then the shipped shortlist as it is (short histories on their own "
             f"first-picks index, the session signal and similar sittings on). "
             f"Validation: {folds}-fold cross-validation over the {len(train)} training users; test: {len(test)} users, "
             f"counts from every training user. The shipped row agrees with the evaluation's generator on "
             f"{rows[-1].get('agrees_with_evaluation', 'no')} (same users, same NDCG@10).", "",
             f"| counted picks | validation: {head} | test: {head} |",
             "|---|" + "---|" * (2 * len(lens))]
    for r in rows:
        label = _label(r)
        cells = [f"{r[s][n][0]:.3f} / {r[s][n][1]:.3f}" for s in ("validation", "test") for n in lens]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if base:
        lines += ["", "Test NDCG@10 against the trained baselines of `benchmarks/results/quality-cooc.md` on the same "
                      "users (full catalog; paired Wilcoxon p), and how often each baseline's own top "
                      f"{cfg.n_candidates} holds the target (the shortlist's recall, for comparison):", "",
                  "| counted picks | " + " | ".join(f"n={n}: p vs " + " / ".join(BASELINES) for n in lens) + " |",
                  "|---|" + "---|" * len(lens)]
        lines.append(f"| baselines' recall@{cfg.n_candidates} (target in their top {cfg.n_candidates}) | " + " | ".join(
            " / ".join(f"{base_recall.get((b, n), float('nan')):.3f}" for b in BASELINES) for n in lens) + " |")
        lines.append("| baselines' NDCG@10 | " + " | ".join(
            " / ".join(f"{base.get((b, n), float('nan')):.3f}" for b in BASELINES) for n in lens) + " |")
        for r in rows:
            label = _label(r)
            lines.append(f"| {label} | " + " | ".join(
                " / ".join(f"{r['p_test'].get(f'{b}@{n}', float('nan')):.3g}" for b in BASELINES) for n in lens) + " |")
    (args.out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
