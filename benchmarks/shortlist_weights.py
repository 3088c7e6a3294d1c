"""Which signals should the shortlist use, and with what weights, for new users on ML-100K?

Three stages on validation users held out from the training users (never on test users), with
popularity and co-occurrence counted on the remaining training users; with --folds K every training
user validates once, in K folds. First each co-occurrence variant alone (normalisation: raw, cosine,
damped; all pairs of a user's picks, or a window of 10, or ordered transitions within it), then every
weighting of BM25, popularity and the best variant on a simplex grid, with two recency decays (best
mean recall@20), then for each history length from the shortest, other weights and a co-occurrence
damping for histories up to that length, kept where they beat the shared weights there (recall@20 +
NDCG@10 at that length). The
result is measured once on the test users of the standard cold-start split, beside the shortlist
before co-occurrence and the weights without stage 3. No LLM: minutes on a CPU.

Writes benchmarks/results/shortlist_weights.{json,md,png} (--name: other file names).

    python benchmarks/shortlist_weights.py [--users 200] [--folds 4] [--history-len 1,3,5,10] [--first-picks 15]
    python benchmarks/shortlist_weights.py --toy    # a few users, a small grid; what CI runs
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from _common import RESULTS, machine, machine_line

from zsrec.candidates import CandidateConfig
from zsrec.cooccurrence import CoOccurrenceConfig
from zsrec.evaluation.protocol import EvalConfig, make_cases, popularity_counts, split_users
from zsrec.evaluation.tuning import FIRST_PICKS_P, ShortlistTrial, measure_shortlist, tune_shortlist, weight_grid
from zsrec.length_weights import by_length_text
from zsrec.loaders import load_dataset

VARIANTS = [CoOccurrenceConfig(normalisation="raw"), CoOccurrenceConfig(normalisation="cosine"),
            CoOccurrenceConfig(normalisation="damped", damping=0.75),
            CoOccurrenceConfig(normalisation="damped", damping=0.25),
            CoOccurrenceConfig(normalisation="cosine", window=10),
            CoOccurrenceConfig(normalisation="cosine", window=10, ordered=True),
            CoOccurrenceConfig(normalisation="cosine", window=3, ordered=True)]


def _row(label: str, t: ShortlistTrial, lens: tuple[int, ...]) -> str:
    cells = " | ".join(f"{t.recall[n]:.3f} / {t.ndcg10[n]:.3f}" if n in t.recall else "" for n in lens)
    return (f"| {label} | {t.bm25_weight:g} / {t.popularity_weight:g} / {t.cooccurrence_weight:g} | "
            f"{t.cooccurrence_label} | {t.by_length_label} | {t.recency_decay:.1f} | {cells} | {t.mean_recall:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=200, help="test users; as many validation users without --folds")
    ap.add_argument("--folds", type=int, default=4, help="cross-validation folds over the training users (1: one "
                    "split of --users validation users)")
    ap.add_argument("--history-len", default="1,3,5,10")
    ap.add_argument("--first-picks", default="", help="stage 3 also tries co-occurrence counted from users' first "
                    "K picks for short histories, for each K given (comma-separated; see early_picks.py)")
    ap.add_argument("--toy", action="store_true", help="20 users, a small grid")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--name", default="shortlist_weights", help="file names of the results")
    args = ap.parse_args()
    users = 20 if args.toy else args.users
    variants = VARIANTS[:2] if args.toy else VARIANTS
    weights = weight_grid(0.5) if args.toy else weight_grid(0.1)
    decays = (0.8,) if args.toy else (0.8, 1.0)
    lens = tuple(int(x) for x in args.history_len.split(","))
    config = EvalConfig(history_lens=lens, n_test_users=users)
    data = load_dataset("ml-100k")
    t0 = time.perf_counter()
    # "current": the shortlist without co-occurrence, as zsrec shipped it before this signal existed
    before = CandidateConfig(bm25_weight=0.2, popularity_weight=0.8, cooccurrence_weight=0.0)
    folds = 1 if args.toy else args.folds
    first_picks = tuple(int(k) for k in args.first_picks.split(",") if k.strip())
    result = tune_shortlist(data, config, variants, weights, decays, n_validation=users, current=before, folds=folds,
                            first_picks=first_picks)
    # The shipped default beside them: these weights (chosen by an earlier run of this tuner) with the
    # session signal and similar sittings on top (chosen by benchmarks/session_signal.py and
    # benchmarks/similar_sittings.py), counted on every training user.
    train, test = split_users(data, config)
    shipped = measure_shortlist(data, make_cases(data, test, config), popularity_counts(data, train),
                                CandidateConfig(n_candidates=config.n_candidates),
                                sequences=[data.interactions.user_history(u) for u in train],
                                sequence_times=data.interactions.times_for(train))
    seconds = time.perf_counter() - t0
    m = machine()
    cmd = "python benchmarks/shortlist_weights.py " + " ".join(sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"command": cmd.strip(), "machine": m, "seconds": seconds, "history_lens": list(lens),
               "n_candidates": config.n_candidates, "fit_users": result.n_fit_users, "folds": result.folds,
               "validation_users": result.n_validation_users, "test_users": result.n_test_users,
               "signals": [asdict(t) for t in result.signals], "validation": [asdict(t) for t in result.validation],
               "by_length": [asdict(t) for t in result.by_length],
               "best": asdict(result.best), "test_best": asdict(result.test_best),
               "test_weights_only": asdict(result.test_weights_only), "test_before": asdict(result.test_current),
               "test_shipped_default": asdict(shipped),
               "first_picks_p": {n: {"entry": by_length_text((e,)), "p": pv} for n, (e, pv) in result.first_picks_p.items()},
               "first_picks_p_threshold": FIRST_PICKS_P}
    (args.out / f"{args.name}.json").write_text(json.dumps(payload, indent=1, default=str))

    head = " | ".join(f"n={n} R@{config.n_candidates} / NDCG@10" for n in lens)
    rule = "|---|---|---|---|---:|" + "---|" * len(lens) + "---:|"
    cols = f"| | weights BM25 / pop / co | co-occurrence | short histories: up to:BM25/pop/co@damping | recency decay | {head} | mean recall |"
    how = (f"{result.folds}-fold cross-validation over the {len(result.validation_users)} training users "
           f"(each fold counted on the other {result.n_fit_users}+)" if result.folds > 1 else
           f"{result.n_validation_users} validation users drawn from the training users, popularity and "
           f"co-occurrence counted on the other {result.n_fit_users}")
    top = sorted(result.validation, key=lambda t: -t.mean_recall)[:15]
    lines = ["# Shortlist signals and weights, for new users", "",
             f"Command: `{cmd.strip()}` ({seconds:.0f} s)  ",
             f"Machine: {machine_line(m)}  ",
             f"ML-100K, the cold-start split of `zsrec eval` (seed {config.seed}): {how}; then "
             f"{result.n_test_users} test users, counts from all training users. The shortlist has "
             f"{config.n_candidates} items; recall = the next item is in it.", "",
             "## On the test users", "", cols, rule,
             _row("before: BM25 + popularity", result.test_current, lens),
             _row("stage 2's weights alone", result.test_weights_only, lens),
             _row("chosen on validation", result.test_best, lens),
             _row("the shipped default: its weights with the session signal and similar sittings", shipped, lens), "",
             "## Stage 1: each co-occurrence variant alone (popularity breaks ties), on the validation users", "",
             cols, rule]
    lines += [_row("best" if t == max(result.signals, key=lambda x: x.mean_recall) else "", t, lens) for t in result.signals]
    lines += ["", f"## Stage 2: the best 15 of {len(result.validation)} weightings with the best variant, "
              "on the validation users", "", cols, rule]
    lines += [_row("best" if t == result.weights_only else "", t, lens) for t in top]
    lines += ["", "## Stage 3: weights for short histories, shortest first, on the validation users", "",
              "At each history length n, every weighting with every damping (or the index's own normalisation) "
              "for histories up to n, measured at n; the best is kept if its recall + NDCG@10 at n beat the "
              "weights before it (the first row of each step). An entry counted from users' first picks (`+firstK`) "
              "needs a second index, so it is kept only where it beats the best on the shared index beyond noise "
              f"(one-sided paired Wilcoxon test over the validation cases at n, p < {FIRST_PICKS_P}). "
              f"The {len(result.by_length) // len(lens) - 1} best of each step are shown.", "",
              cols, rule]
    for n in lens:
        step = [t for t in result.by_length if set(t.recall) == {n}]
        for i, t in enumerate(step):
            kept = i > 0 and bool(t.by_length) and t.by_length[-1].up_to == n \
                and t.by_length == result.best.by_length[:len(t.by_length)]
            lines.append(_row(f"n={n}: without" if i == 0 else ("kept" if kept else ""), t, lens))
    if result.first_picks_p:
        lines += ["", "First-picks entries that scored best at their length, against the best on the shared index "
                  "(validation cases; one-sided paired Wilcoxon p):", ""]
        lines += [f"- n={n}: `{by_length_text((e,))}`: p = {pv:.3g} ({'kept' if pv < FIRST_PICKS_P else 'not kept'})"
                  for n, (e, pv) in sorted(result.first_picks_p.items())]
    (args.out / f"{args.name}.md").write_text("\n".join(lines) + "\n")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install 'zsrec[bench]')")
    else:
        fig, ax = plt.subplots(figsize=(6, 4))
        for d in decays:
            pts = {}
            for t in result.validation:
                if t.recency_decay == d:
                    pts[t.cooccurrence_weight] = max(pts.get(t.cooccurrence_weight, 0.0), t.mean_recall)
            xs = sorted(pts)
            ax.plot(xs, [pts[x] for x in xs], marker="o", label=f"recency decay {d}")
        ax.set_xlabel("co-occurrence weight (best BM25 / popularity split for each)")
        ax.set_ylabel(f"recall@{config.n_candidates}, mean over n = {args.history_len}")
        ax.set_title("ML-100K validation users")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.out / f"{args.name}.png", dpi=120)
    print("\n".join(lines[:12]))


if __name__ == "__main__":
    main()
