"""Choose the session signal's settings on validation users; measure the choice once on test users.

The session signal (``CandidateConfig(session_share=...)``, ``--session-share``) blends into the
shortlist's co-occurrence part what users picked within ``session_seconds`` of each other, for
histories of two or more picks (benchmarks/cooccurrence_variants.py found it, as the first signal to
move n = 5 beyond noise). Here the whole default shortlist is measured with it on the tuner's
validation folds (4-fold cross-validation over the training users; counts from the other folds) for
a grid of shares, sitting lengths and recency decays; the setting with the best mean recall@20 +
NDCG@10 over the history lengths it touches is then measured once on the 200 test users, beside the
default shortlist, each with a one-sided paired Wilcoxon test over the users.

Writes benchmarks/results/session_signal.{json,md}.

    python benchmarks/session_signal.py [--folds 4] [--shares 0.1,0.2,0.35,0.5] [--seconds 10,60,300,3600]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, machine, machine_line

from zsrec.candidates import CandidateConfig, CandidateGenerator
from zsrec.evaluation.metrics import hit, ndcg
from zsrec.evaluation.protocol import EvalConfig, make_cases, popularity_counts, split_users, validation_folds
from zsrec.evaluation.tuning import improvement_p
from zsrec.loaders import load_dataset

SHARES = (0.1, 0.2, 0.35, 0.5)
SECONDS = (10.0, 60.0, 300.0, 3600.0)
DECAYS = (0.5, 0.8)


def _per_case(dataset, users, cases, config: CandidateConfig, lent: dict) -> dict[int, np.ndarray]:
    """(recall@20, NDCG@10) of each case, by history length, for the shortlist ``config`` counted on
    ``users`` (indexes in ``lent`` reused between settings)."""
    inter = dataset.interactions
    gen = CandidateGenerator(dataset.catalog, config=config, popularity=lent["popularity"],
                             index=lent["text"].index, cooccurrence=lent["cooccurrence"],
                             first_picks=lent["first_picks"], session=lent.get(("session", config.session_seconds)),
                             sequences=lent["sequences"], sequence_times=[inter.user_times(u) for u in users])
    if config.uses_session:
        lent[("session", config.session_seconds)] = gen.session
    out: dict[int, list[tuple[float, float]]] = {}
    k = config.n_candidates
    for case, cands in zip(cases, gen.generate_many([list(c.history) for c in cases], None, k)):
        order = cands.indices.tolist()
        out.setdefault(case.n, []).append((hit(order, {case.target}, k), ndcg(order, {case.target}, 10)))
    return {n: np.asarray(v) for n, v in out.items()}


def _lent(dataset, users) -> dict:
    """What every setting shares on these users: popularity, text, co-occurrence and first-picks
    indexes (the session index is added per sitting length as it is built)."""
    inter = dataset.interactions
    sequences = [inter.user_history(u) for u in users]
    base = CandidateGenerator(dataset.catalog, config=CandidateConfig(), popularity=popularity_counts(dataset, users),
                              sequences=sequences)
    return {"popularity": base.popularity_counts, "text": base, "cooccurrence": base.cooccurrence,
            "first_picks": base.first_picks, "sequences": sequences}


def _summary(per: dict[int, np.ndarray], base: dict[int, np.ndarray] | None) -> dict:
    out = {"recall20": {n: float(v[:, 0].mean()) for n, v in per.items()},
           "ndcg10": {n: float(v[:, 1].mean()) for n, v in per.items()}}
    if base is not None:  # one-sided paired Wilcoxon: better than the default shortlist?
        out["p_vs_default"] = {n: improvement_p(per[n].sum(1), base[n].sum(1)) for n in per}
    return out


def _cost(dataset, chosen: CandidateConfig, repeats: int = 3, users: int = 300) -> dict:
    """What the signal costs at ML-100K: the generator's build (best of ``repeats``) and a 5-pick
    user's shortlist (p50), with and without it."""
    inter = dataset.interactions
    histories = [[int(i) for i in inter.user_history(u)[:5]] for u in sorted(inter.user_ids, key=int)[:users]]
    out = {}
    for name, cfg in (("off", CandidateConfig()), ("on", chosen)):
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
        out[name] = {"build_s": min(builds), "shortlist_p50_ms": 1000 * float(np.percentile(times, 50)),
                     "session_pairs_kept": int(gen.session.counts.nnz) if gen.session is not None else 0}
    return out


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
    train, test = split_users(dataset, config)
    def floats(text: str) -> list[float]:
        return [float(x) for x in text.split(",") if x.strip()]

    settings = [CandidateConfig()] + [CandidateConfig(session_share=sh, session_seconds=sec, session_decay=dec)
                                      for sh in floats(args.shares) for sec in floats(args.seconds)
                                      for dec in floats(args.decays)]
    pooled: list[dict[int, list[np.ndarray]]] = [{} for _ in settings]
    for fit, validate in validation_folds(dataset, config, train, args.folds):
        cases = make_cases(dataset, validate, config)
        lent = _lent(dataset, fit)
        for i, cfg in enumerate(settings):
            for n, v in _per_case(dataset, fit, cases, cfg, lent).items():
                pooled[i].setdefault(n, []).append(v)
    per_setting = [{n: np.concatenate(v) for n, v in p.items()} for p in pooled]
    lens = sorted(per_setting[0])
    touched = [n for n in lens if n >= 2]  # the signal leaves one-pick histories alone

    def criterion(per: dict[int, np.ndarray]) -> float:
        return float(np.mean([per[n].sum(1).mean() for n in touched]))

    rows = []
    for cfg, per in zip(settings, per_setting):
        row = {"session_share": cfg.session_share, "session_seconds": cfg.session_seconds,
               "session_decay": cfg.session_decay, "criterion": criterion(per),
               **_summary(per, per_setting[0] if cfg.session_share else None)}
        rows.append(row)
    best_i = max(range(1, len(settings)), key=lambda i: rows[i]["criterion"])
    chosen = settings[best_i]
    # once on the test users: the default shortlist and the chosen setting, counted on every training user
    test_cases = make_cases(dataset, test, config)
    lent = _lent(dataset, train)
    test_default = _per_case(dataset, train, test_cases, CandidateConfig(), lent)
    test_chosen = _per_case(dataset, train, test_cases, chosen, lent)
    test = {"default": _summary(test_default, None), "chosen": _summary(test_chosen, test_default)}
    cost = _cost(dataset, chosen)
    seconds = time.perf_counter() - started
    cmd = "python benchmarks/session_signal.py " + " ".join(sys.argv[1:])
    m = machine()
    out = {"command": cmd.strip(), "machine": m, "seconds": round(seconds, 1), "folds": args.folds,
           "validation_cases_per_n": {n: len(per_setting[0][n]) for n in lens}, "criterion_lengths": touched,
           "validation": rows, "chosen": {"session_share": chosen.session_share,
                                          "session_seconds": chosen.session_seconds,
                                          "session_decay": chosen.session_decay},
           "test_users": len(set(c.user for c in test_cases)), "test": test, "cost_ml100k": cost}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "session_signal.json").write_text(json.dumps(out, indent=1) + "\n")

    def cells(s: dict) -> str:
        return " | ".join(f"{s['recall20'][n]:.3f} / {s['ndcg10'][n]:.3f}"
                          + (f" ({s['p_vs_default'][n]:.2g})" if "p_vs_default" in s else "") for n in lens)

    head = "| " + " | ".join(f"n={n} R@20 / NDCG@10 (p)" for n in lens) + " |"
    lines = ["# The session signal: chosen on validation users, measured once on test users", "",
             f"Command: `{cmd.strip()}` ({seconds:.0f} s)  ",
             f"Machine: {machine_line(m)}  ",
             f"ML-100K. The whole default shortlist, with `session_share` / `session_seconds` / `session_decay` "
             f"set, on {args.folds}-fold cross-validation over the {len(train)} training users "
             f"({len(per_setting[0][lens[0]])} validation cases per history length; counts from the other folds). "
             f"Chosen: the best mean recall@20 + NDCG@10 over n = {', '.join(map(str, touched))} (one-pick "
             "histories are left alone). p: one-sided paired Wilcoxon test over the cases (recall@20 + NDCG@10) "
             "that the row beats the default shortlist.", "",
             "## Test users (once)", "",
             f"| shortlist {head}", "|---|" + "---:|" * len(lens),
             f"| default (session signal off) | {cells(test['default'])} |",
             f"| session share {chosen.session_share:g}, {chosen.session_seconds:g} s, decay "
             f"{chosen.session_decay:g} | {cells(test['chosen'])} |", "",
             f"Cost at ML-100K (all {len(dataset.interactions):,} interactions, this machine): the generator builds in "
             f"{cost['on']['build_s']:.2f} s with the signal against {cost['off']['build_s']:.2f} s without (its index "
             f"keeps {cost['on']['session_pairs_kept']:,} pairs); a 5-pick user's shortlist takes "
             f"{cost['on']['shortlist_p50_ms']:.2f} ms against {cost['off']['shortlist_p50_ms']:.2f} ms (p50).", "",
             "## Validation folds, best 12 by the criterion", "",
             f"| share | seconds | decay {head} criterion |", "|---:|---:|---:|" + "---:|" * (len(lens) + 1),
             f"| 0 (default) | | | {cells(rows[0])} | {rows[0]['criterion']:.4f} |"]
    for r in sorted(rows[1:], key=lambda r: -r["criterion"])[:12]:
        s = " | ".join(f"{r['recall20'][n]:.3f} / {r['ndcg10'][n]:.3f} ({r['p_vs_default'][n]:.2g})" for n in lens)
        lines.append(f"| {r['session_share']:g} | {r['session_seconds']:g} | {r['session_decay']:g} | {s} | "
                     f"{r['criterion']:.4f} |")
    lines += ["", f"All {len(rows) - 1} settings are in session_signal.json."]
    (args.out / "session_signal.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
