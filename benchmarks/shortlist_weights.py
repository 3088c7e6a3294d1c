"""How much should the shortlist lean on popularity against item text, for new users on ML-100K?

Grid over the popularity share (popularity_weight / (bm25_weight + popularity_weight)) and the
history's recency decay, measured on validation users held out from the training users (never on
test users); the weighting with the best mean recall@20 is then measured once on the test users of
the standard cold-start split, beside the current default. No LLM: seconds on a CPU.

Writes benchmarks/results/shortlist_weights.{json,md,png}.

    python benchmarks/shortlist_weights.py [--users 200] [--history-len 1,3,5,10]
    python benchmarks/shortlist_weights.py --toy    # a few users; what CI runs
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
from zsrec.evaluation.protocol import EvalConfig, make_cases, popularity_counts, split_users
from zsrec.evaluation.tuning import ShortlistTrial, measure_shortlist, tune_shortlist
from zsrec.loaders import load_dataset


def _row(label: str, t: ShortlistTrial) -> str:
    cells = " | ".join(f"{t.recall[n]:.3f} / {t.ndcg10[n]:.3f}" for n in t.recall)
    return f"| {label} | {t.popularity_share:.2f} | {t.recency_decay:.1f} | {cells} | {t.mean_recall:.3f} |"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=200, help="test users; as many validation users")
    ap.add_argument("--history-len", default="1,3,5,10")
    ap.add_argument("--toy", action="store_true", help="20 users, a 3 x 2 grid")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    users = 20 if args.toy else args.users
    shares = (0.4, 0.8, 1.0) if args.toy else (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    decays = (0.8, 1.0) if args.toy else (0.5, 0.8, 1.0)
    lens = tuple(int(x) for x in args.history_len.split(","))
    config = EvalConfig(history_lens=lens, n_test_users=users)
    data = load_dataset("ml-100k")
    t0 = time.perf_counter()
    result = tune_shortlist(data, config, shares, decays, n_validation=users)
    seconds = time.perf_counter() - t0
    current = CandidateConfig()
    # The weights zsrec shipped before this benchmark existed, for the record (text-heavy).
    train, test = split_users(data, config)
    previous = measure_shortlist(data, make_cases(data, test, config), popularity_counts(data, train),
                                 CandidateConfig(bm25_weight=0.6, popularity_weight=0.4))
    m = machine()
    cmd = "python benchmarks/shortlist_weights.py " + " ".join(sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"command": cmd.strip(), "machine": m, "seconds": seconds, "history_lens": list(lens),
               "n_candidates": config.n_candidates, "fit_users": result.n_fit_users,
               "validation_users": result.n_validation_users, "test_users": result.n_test_users,
               "current": {"bm25_weight": current.bm25_weight, "popularity_weight": current.popularity_weight,
                           "recency_decay": current.recency_decay},
               "validation": [asdict(t) for t in result.validation], "best": asdict(result.best),
               "test_best": asdict(result.test_best), "test_current": asdict(result.test_current),
               "test_previous_default": asdict(previous)}
    (args.out / "shortlist_weights.json").write_text(json.dumps(payload, indent=1))

    head = " | ".join(f"n={n} R@{config.n_candidates} / NDCG@10" for n in lens)
    rule = "|---|---:|---:|" + "---|" * len(lens) + "---:|"
    lines = ["# Shortlist weights: text against popularity, for new users", "",
             f"Command: `{cmd.strip()}` ({seconds:.0f} s)  ",
             f"Machine: {machine_line(m)}  ",
             f"ML-100K, the cold-start split of `zsrec eval` (seed {config.seed}): {result.n_validation_users} validation "
             f"users drawn from the training users, popularity counted on the other {result.n_fit_users}; "
             f"then {result.n_test_users} test users, popularity from all training users. The shortlist has "
             f"{config.n_candidates} items; recall = the next item is in it.", "",
             "## On the test users", "",
             f"| weighting | popularity share | recency decay | {head} | mean recall |", rule,
             _row("previous default", previous), _row("current default", result.test_current),
             _row("chosen on validation", result.test_best), "",
             "## Every weighting, on the validation users", "",
             f"| | popularity share | recency decay | {head} | mean recall |", rule]
    lines += [_row("best" if t == result.best else "", t) for t in result.validation]
    (args.out / "shortlist_weights.md").write_text("\n".join(lines) + "\n")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install 'zsrec[bench]')")
    else:
        fig, ax = plt.subplots(figsize=(6, 4))
        for d in decays:
            pts = sorted((t.popularity_share, t.mean_recall) for t in result.validation if t.recency_decay == d)
            ax.plot([p for p, _ in pts], [r for _, r in pts], marker="o", label=f"recency decay {d}")
        ax.set_xlabel("popularity share of the shortlist score")
        ax.set_ylabel(f"recall@{config.n_candidates}, mean over n = {args.history_len}")
        ax.set_title("ML-100K validation users")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.out / "shortlist_weights.png", dpi=120)
    print("\n".join(lines[:12]))


if __name__ == "__main__":
    main()
