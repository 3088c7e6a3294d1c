"""Choose similar sittings on validation users; measure the choice once on test users.

Similar sittings (``CandidateConfig(sittings_share=..., sittings_neighbours=...)``, ``--sittings-share``)
blend into the shortlist's co-occurrence part what the catalog's sittings most like the history's latest
picks also held (session kNN over runs of picks at most ``session_seconds`` apart; zsrec.sittings), for
histories of two or more picks. Pairs picked in one sitting (the session signal) keep only which two
items went together; a whole sitting keeps the page or mood they came from. ``tune_sittings`` measures
the whole default shortlist (its session signal on) with each share and number of neighbour sittings on
4-fold cross-validation over the training users (counts from the other folds) and picks the best mean
recall@20 + NDCG@10 over the lengths it touches, kept only if it beats the shortlist without it beyond
noise; the choice is then measured once on the 200 test users, and its cost at ML-100K is timed.

Writes benchmarks/results/similar_sittings.{json,md}.

    python benchmarks/similar_sittings.py [--folds 4] [--shares 0.2,0.35,0.5,0.65] [--neighbours 100,200,400]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from _common import RESULTS, machine, machine_line
from session_signal import _summary, cells, cost_of, record, trial_cells

from zsrec.candidates import CandidateConfig, CandidateGenerator
from zsrec.evaluation.protocol import EvalConfig, make_cases, split_users
from zsrec.evaluation.session_tuning import (SESSION_P, SITTINGS_NEIGHBOURS, SITTINGS_SHARES, measure_with_session,
                                             shared_indexes, tune_sittings)
from zsrec.loaders import load_dataset

WITHOUT = replace(CandidateConfig(), sittings_share=0.0)  # the shipped shortlist before similar sittings


def _sittings(gen: CandidateGenerator) -> tuple[str, int]:
    return "sittings", gen.sittings.n_sittings if gen.sittings is not None else 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--shares", default=",".join(map(str, SITTINGS_SHARES)), help="sittings_share values tried")
    ap.add_argument("--neighbours", default=",".join(map(str, SITTINGS_NEIGHBOURS)),
                    help="sittings_neighbours values tried")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    started = time.perf_counter()
    dataset = load_dataset("ml-100k")
    config = EvalConfig()
    tuning = tune_sittings(dataset, config, base=WITHOUT, folds=args.folds,
                           shares=[float(x) for x in args.shares.split(",")],
                           neighbours=[int(x) for x in args.neighbours.split(",")])
    best = tuning.best
    train, test_users = split_users(dataset, config)
    test_cases = make_cases(dataset, test_users, config)
    shared = shared_indexes(dataset, train, WITHOUT)
    test_without = measure_with_session(dataset, test_cases, WITHOUT, shared)
    test_chosen = measure_with_session(dataset, test_cases, replace(WITHOUT, sittings_share=best.sittings_share,
                                                                    sittings_neighbours=best.sittings_neighbours), shared)
    test = {"without": _summary(test_without, None), "chosen": _summary(test_chosen, test_without)}
    tried = replace(WITHOUT, sittings_share=best.sittings_share, sittings_neighbours=best.sittings_neighbours)
    cost = cost_of(dataset, {"off": WITHOUT, "on": tried}, _sittings)
    seconds = time.perf_counter() - started
    cmd = "python benchmarks/similar_sittings.py " + " ".join(sys.argv[1:])
    m = machine()
    lens = sorted(tuning.off.recall)
    out = record(cmd, m, seconds, args.folds, tuning, {"sittings_share": best.sittings_share,
                 "sittings_neighbours": best.sittings_neighbours, "session_seconds": best.session_seconds,
                 "session_decay": best.session_decay}, len(test_users), test, cost)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "similar_sittings.json").write_text(json.dumps(out, indent=1) + "\n")

    head = " | ".join(f"n={n} R@20 / NDCG@10 (p)" for n in lens)
    verdict = ("kept" if tuning.kept else "not kept") + f" (pooled p = {best.p_pooled:.2g}, needs < {SESSION_P:g})"
    lines = ["# Similar sittings: chosen on validation users, measured once on test users", "",
             f"Command: `{cmd.strip()}` ({seconds:.0f} s)  ",
             f"Machine: {machine_line(m)}  ",
             f"ML-100K. `zsrec.evaluation.session_tuning.tune_sittings`: the whole default shortlist (session signal "
             f"on: share {WITHOUT.session_share:g}, {WITHOUT.session_seconds:g} s, decay {WITHOUT.session_decay:g}) "
             f"with `sittings_share` / `sittings_neighbours` set (sittings cut at gaps over {WITHOUT.session_seconds:g} s, "
             f"history weighted {WITHOUT.session_decay:g} per older pick), on {args.folds}-fold cross-validation over "
             f"the {len(train)} training users ({tuning.validation_cases[lens[0]]} validation cases per history length; "
             f"counts from the other folds). Chosen: the best mean recall@20 + NDCG@10 over "
             f"n = {', '.join(map(str, tuning.lengths))} (one-pick histories are left alone), kept only if it beats "
             f"the shortlist without it in a one-sided paired Wilcoxon test over those cases: {verdict}. "
             "p in the tables: the same test per length.", "",
             "## Test users (once)", "",
             f"| shortlist | {head} |", "|---|" + "---:|" * len(lens),
             f"| without similar sittings | {cells(test['without'], lens)} |",
             f"| similar sittings, share {best.sittings_share:g}, {best.sittings_neighbours} neighbours | "
             f"{cells(test['chosen'], lens)} |", "",
             f"Cost at ML-100K (all {len(dataset.interactions):,} interactions, this machine): the generator builds in "
             f"{cost['on']['build_s']:.2f} s with similar sittings against {cost['off']['build_s']:.2f} s without "
             f"({cost['on']['sittings']:,} sittings); a 5-pick user's shortlist takes "
             f"{cost['on']['shortlist_p50_ms']:.2f} ms against {cost['off']['shortlist_p50_ms']:.2f} ms (p50).", "",
             "## Validation folds, every setting by the criterion", "",
             f"| share | neighbours | {head} | criterion | pooled p |", "|---:|---:|" + "---:|" * (len(lens) + 2),
             f"| 0 (off) | | {trial_cells(tuning.off, lens)} | {tuning.off.criterion:.4f} | |"]
    for t in sorted(tuning.trials, key=lambda t: -t.criterion):
        lines.append(f"| {t.sittings_share:g} | {t.sittings_neighbours} | {trial_cells(t, lens)} | {t.criterion:.4f} | "
                     f"{t.p_pooled:.2g} |")
    (args.out / "similar_sittings.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
