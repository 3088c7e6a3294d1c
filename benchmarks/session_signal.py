"""Choose the session signal's settings on validation users; measure the choice once on test users.

The session signal (``CandidateConfig(session_share=...)``, ``--session-share``) blends into the
shortlist's co-occurrence part what users picked within ``session_seconds`` of each other, for
histories of two or more picks (benchmarks/cooccurrence_variants.py found it, as the first signal to
move n = 5 beyond noise). ``zsrec.evaluation.session_tuning.tune_session`` measures the whole default
shortlist with it on validation folds (4-fold cross-validation over the training users; counts from
the other folds) for a grid of shares, sitting lengths and recency decays and picks the best mean
recall@20 + NDCG@10 over the history lengths it touches; that setting is then measured once on the
200 test users, beside the shortlist without it (the shipped default has it on, at the setting chosen
here), each with a one-sided paired Wilcoxon test over the
users, and its cost at ML-100K is timed.

Writes benchmarks/results/session_signal.{json,md}.

    python benchmarks/session_signal.py [--folds 4] [--shares 0.1,0.2,0.35,0.5] [--seconds 10,60,300,3600]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from _common import RESULTS, machine, machine_line

from zsrec.candidates import CandidateConfig, CandidateGenerator
from zsrec.evaluation.protocol import EvalConfig, make_cases, split_users
from zsrec.evaluation.session_tuning import DECAYS, SECONDS, SESSION_P, SHARES, measure_with_session, shared_indexes, tune_session
from zsrec.evaluation.tuning import improvement_p
from zsrec.loaders import load_dataset


def _summary(measured, base=None) -> dict:
    """Recall@20 and NDCG@10 per length, and (against ``base``) the one-sided paired Wilcoxon p that
    the shortlist beats it; ``measured``: what ``measure_with_session`` returns."""
    trial, per_case = measured
    out = {"recall20": trial.recall, "ndcg10": trial.ndcg10}
    if base is not None:
        out["p_vs_default"] = {n: improvement_p(per_case[n], base[1][n]) for n in per_case}
    return out


# The shortlist the signal is measured against: the shipped weights with the signal off (the shipped
# default has it on, at the setting this benchmark chose).
# Similar sittings, found after it and chosen on top of it (benchmarks/similar_sittings.py), stay off here.
WITHOUT = replace(CandidateConfig(), session_share=0.0, sittings_share=0.0)


def cost_of(dataset, configs: dict[str, CandidateConfig], size: Callable[[CandidateGenerator], tuple[str, int]],
         repeats: int = 3, users: int = 300) -> dict:
    """What a signal costs at ML-100K: the generator's build (best of ``repeats``) and a 5-pick user's
    shortlist (p50) under each of ``configs`` (by name), with ``size``'s (name, count) of its index."""
    inter = dataset.interactions
    histories = [[int(i) for i in inter.user_history(u)[:5]] for u in sorted(inter.user_ids, key=int)[:users]]
    out = {}
    for name, cfg in configs.items():
        builds = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            gen = CandidateGenerator(dataset.catalog, inter, cfg)
            builds.append(time.perf_counter() - t0)
        times = []
        for h in histories:
            t0 = time.perf_counter()
            gen.generate(h, h)
            times.append(time.perf_counter() - t0)
        key, count = size(gen)
        out[name] = {"build_s": min(builds), "shortlist_p50_ms": 1000 * float(np.percentile(times, 50)), key: count}
    return out


def _pairs_kept(gen: CandidateGenerator) -> tuple[str, int]:
    return "session_pairs_kept", int(gen.session.counts.nnz) if gen.session is not None else 0


def record(cmd: str, m: dict, seconds: float, folds: int, tuning, chosen: dict, test_users: int, test: dict,
           cost: dict) -> dict:
    """The JSON record of a sitting signal's tuning (this one's and benchmarks/similar_sittings.py's)."""
    return {"command": cmd.strip(), "machine": m, "seconds": round(seconds, 1), "folds": folds,
            "validation_cases_per_n": tuning.validation_cases, "criterion_lengths": list(tuning.lengths),
            "validation_off": asdict(tuning.off), "validation": [asdict(t) for t in tuning.trials],
            "chosen": {**chosen, "p_pooled": tuning.best.p_pooled, "kept": tuning.kept},
            "test_users": test_users, "test": test, "cost_ml100k": cost}


def cells(s: dict, lens: list[int]) -> str:
    """Recall@20 / NDCG@10 (and p against the row without the signal) per history length."""
    return " | ".join(f"{s['recall20'][n]:.3f} / {s['ndcg10'][n]:.3f}"
                      + (f" ({s['p_vs_default'][n]:.2g})" if "p_vs_default" in s else "") for n in lens)


def trial_cells(t, lens: list[int]) -> str:
    """The same for a validation trial."""
    return " | ".join(f"{t.recall[n]:.3f} / {t.ndcg10[n]:.3f}"
                      + (f" ({t.p_vs_off[n]:.2g})" if t.p_vs_off is not None else "") for n in lens)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--shares", default=",".join(map(str, SHARES)), help="session_share values tried")
    ap.add_argument("--seconds", default=",".join(f"{x:g}" for x in SECONDS), help="session_seconds values tried")
    ap.add_argument("--decays", default=",".join(map(str, DECAYS)), help="session_decay values tried")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    started = time.perf_counter()
    dataset = load_dataset("ml-100k")
    config = EvalConfig()

    def floats(text: str) -> list[float]:
        return [float(x) for x in text.split(",") if x.strip()]

    tuning = tune_session(dataset, config, shares=floats(args.shares), seconds=floats(args.seconds),
                          decays=floats(args.decays), folds=args.folds)
    best = tuning.best
    chosen = replace(WITHOUT, session_share=best.session_share, session_seconds=best.session_seconds,
                     session_decay=best.session_decay)
    train, test_users = split_users(dataset, config)
    # once on the test users: the shortlist without the signal and the best setting, counted on every training user
    test_cases = make_cases(dataset, test_users, config)
    shared = shared_indexes(dataset, train, WITHOUT)
    test_default = measure_with_session(dataset, test_cases, WITHOUT, shared)
    test_chosen = measure_with_session(dataset, test_cases, chosen, shared)
    test = {"default": _summary(test_default, None), "chosen": _summary(test_chosen, test_default)}
    cost = cost_of(dataset, {"off": WITHOUT, "on": chosen}, _pairs_kept)
    seconds = time.perf_counter() - started
    cmd = "python benchmarks/session_signal.py " + " ".join(sys.argv[1:])
    m = machine()
    lens = sorted(tuning.off.recall)
    out = record(cmd, m, seconds, args.folds, tuning, {"session_share": best.session_share,
                 "session_seconds": best.session_seconds, "session_decay": best.session_decay}, len(test_users),
                 test, cost)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "session_signal.json").write_text(json.dumps(out, indent=1) + "\n")

    head = "| " + " | ".join(f"n={n} R@20 / NDCG@10 (p)" for n in lens) + " |"
    verdict = ("kept" if tuning.kept else "not kept") + f" (pooled p = {best.p_pooled:.2g}, needs < {SESSION_P:g})"
    lines = ["# The session signal: chosen on validation users, measured once on test users", "",
             f"Command: `{cmd.strip()}` ({seconds:.0f} s)  ",
             f"Machine: {machine_line(m)}  ",
             f"ML-100K. `zsrec.evaluation.session_tuning.tune_session`: the whole default shortlist with "
             f"`session_share` / `session_seconds` / `session_decay` set, on {args.folds}-fold cross-validation "
             f"over the {len(train)} training users ({tuning.validation_cases[lens[0]]} validation cases per "
             f"history length; counts from the other folds). Chosen: the best mean recall@20 + NDCG@10 over "
             f"n = {', '.join(map(str, tuning.lengths))} (one-pick histories are left alone), kept only if it beats "
             f"the shortlist without it in a one-sided paired Wilcoxon test over those cases: {verdict}. "
             "p in the tables: the same test per length.", "",
             "## Test users (once)", "",
             f"| shortlist {head}", "|---|" + "---:|" * len(lens),
             f"| without the session signal | {cells(test['default'], lens)} |",
             f"| session share {chosen.session_share:g}, {chosen.session_seconds:g} s, decay "
             f"{chosen.session_decay:g} | {cells(test['chosen'], lens)} |", "",
             f"Cost at ML-100K (all {len(dataset.interactions):,} interactions, this machine): the generator builds in "
             f"{cost['on']['build_s']:.2f} s with the signal against {cost['off']['build_s']:.2f} s without (its index "
             f"keeps {cost['on']['session_pairs_kept']:,} pairs); a 5-pick user's shortlist takes "
             f"{cost['on']['shortlist_p50_ms']:.2f} ms against {cost['off']['shortlist_p50_ms']:.2f} ms (p50).", "",
             "## Validation folds, best 12 by the criterion", "",
             f"| share | seconds | decay {head} criterion | pooled p |", "|---:|---:|---:|" + "---:|" * (len(lens) + 2),
             f"| 0 (off) | | | {trial_cells(tuning.off, lens)} | {tuning.off.criterion:.4f} | |"]
    for t in sorted(tuning.trials, key=lambda t: -t.criterion)[:12]:
        lines.append(f"| {t.session_share:g} | {t.session_seconds:g} | {t.session_decay:g} | {trial_cells(t, lens)} | "
                     f"{t.criterion:.4f} | {t.p_pooled:.2g} |")
    lines += ["", f"All {len(tuning.trials)} settings are in session_signal.json."]
    (args.out / "session_signal.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
