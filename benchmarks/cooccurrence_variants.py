"""How far can a training-free item-item signal alone lift recall@20 at each history length?

The shortlist's recall@20 at n = 5 stayed below 0.5 (benchmarks/results/shortlist_weights.md). Before
building another signal into the product, this measures the item-item scorings it could use, each
alone (no text, no popularity), on the tuner's validation folds (4-fold cross-validation over the
training users of the standard cold-start split; never the test users):

- cosine co-occurrence (the shipped signal) keeping 50 / 100 / 200 / every neighbour per item;
- co-occurrence with each user's pairs weighted down by their history length (1/|u|, 1/sqrt|u|,
  1/log2(1+|u|)): heavy raters co-pick almost everything;
- RP3beta (Paudel et al. 2017: a two-step random walk item -> user -> item, transition
  probabilities raised to alpha, the end item's popularity divided out to the power beta);
- per-row normalised neighbour scores, and cosine plus a share of its two-hop neighbours;
- the shipped rows combined over the history otherwise than by their weighted sum: maximum, summed
  squares or square roots, summed reciprocal ranks.

Then other kinds of signal, each fused with the shortlist as it was before this study (the shipped
weights without the session signal, which this study found and the shipped default now has) by the evaluation's reciprocal-rank
fusion at three shares and paired-tested against it: user kNN ("session kNN"); popularity over the 30
days before the user's last pick (what is in vogue when they arrive); popularity at the same position
in others' histories (new users are shown and pick alike); what users who started alike picked near
that position; what users picked within a minute of each other (ML-100K stamps ratings to the second
and people rate in bursts), with a steeper recency decay; and, for reference, a trained EASE.

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

from zsrec.baselines import EASE, user_item_matrix
from zsrec.candidates import CandidateConfig, CandidateGenerator
from zsrec.cooccurrence import CoOccurrenceConfig, CoOccurrenceIndex, _pruned
from zsrec.ranking.fusion import RRF_K, fuse
from zsrec.evaluation.metrics import hit, ndcg
from zsrec.evaluation.protocol import Case, EvalConfig, make_cases, popularity_counts, split_users, validation_folds
from zsrec.evaluation.tuning import CO_ONLY, _measured, _pooled, improvement_p, measure_shortlist
from zsrec.loaders import load_dataset

DECAY = 0.8
MAX_ITEMS = 20_000
SHIPPED = "cosine, 100 neighbours (shipped)"
SHIPPED_LIST = "the shortlist without the session signal"  # this study found that signal
USER_KNN = ((None, 50), (None, 100), (50, 50), (50, 100))  # (first picks counted or None: last 200, neighbours)
FUSION = (0.2, 0.35, 0.5)  # the other signal's share when fused with the shipped shortlist
FUSED_KNN = "user kNN, 50 neighbours, first 50 picks"
DAY = 86_400.0
TREND_DAYS = 30
POSITION_SPREAD = 5  # picks n - 5 .. n + 5 of others' histories
SESSION_SECONDS = 60.0  # two picks of one user at most this far apart count as picked together
SESSION_DECAY = 0.5  # the session signal's recency weight per pick of the history
SESSION_BONUS = f"pairs picked within {SESSION_SECONDS:g} s counted twice"
EASE_L2 = 3000.0  # the best of 500 / 3000 / 10000 fused on these folds (10000: what zsrec eval chose alone)


def _reciprocal_ranks(rows: np.ndarray) -> np.ndarray:
    """1 / (10 + rank) for the items each row scores, ranks from 0: only the order within a row counts."""
    rank = np.argsort(np.argsort(-rows, axis=1, kind="stable"), axis=1)
    return np.where(rows > 0, 1.0 / (10 + rank), 0.0)


# How a history's recency-weighted rows (w x rows) add up into item scores: the product's weighted sum,
# and other ways measured beside it (squares: a strong neighbour of one item counts more than weak ones
# of many; square roots: the reverse).
Combine = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _summed(w: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return (w * rows).sum(0)


COMBINE: dict[str, Combine] = {
    "their maximum": lambda w, rows: (w * rows).max(0),
    "summed squares": lambda w, rows: (w * rows ** 2).sum(0),
    "summed square roots": lambda w, rows: (w * np.sqrt(rows)).sum(0),
    "summed reciprocal ranks": lambda w, rows: (w * _reciprocal_ranks(rows)).sum(0),
}


def _picks(dataset, users, first: int | None = None) -> sparse.csr_matrix:
    """Users x items over the picks the shortlist's index counts: each user's last 200, or first ``first``."""
    counted = CoOccurrenceConfig(first_picks=first).counted
    return user_item_matrix([counted(dataset.interactions.user_history(u)) for u in users], len(dataset.catalog))


def _session_pairs(dataset, users, seconds: float) -> np.ndarray:
    """Item x item: how many times users picked both items at most ``seconds`` apart (over the same
    last 200 picks the shipped index counts), both ways round: the product's session index with every
    pair kept, as raw counts."""
    inter = dataset.interactions
    n = len(dataset.catalog)
    index = CoOccurrenceIndex.build([inter.user_history(u) for u in users], n,
                                    CoOccurrenceConfig(normalisation="raw", neighbours=n, seconds=seconds),
                                    [inter.user_times(u) for u in users])
    return index.counts.toarray()


def _keep_top(s: np.ndarray, k: int) -> np.ndarray:
    s = np.array(s, dtype=np.float64)
    np.fill_diagonal(s, 0.0)
    if k < s.shape[1] - 1:
        drop = np.argpartition(-s, k, axis=1)[:, k:]
        np.put_along_axis(s, drop, 0.0, axis=1)
    return s


def _variants(x: sparse.csr_matrix, session: np.ndarray) -> dict[str, np.ndarray]:
    n = np.asarray(x.sum(0)).ravel() + 1e-9  # users per item
    length = np.maximum(np.asarray(x.sum(1)).ravel(), 1.0)  # picks per user
    counts = (x.T @ x).toarray()
    cosine = counts / np.sqrt(np.outer(n, n))
    both = f"cosine, pairs within {SESSION_SECONDS:g} s counted twice"
    out = {f"cosine, {k} neighbours": _keep_top(cosine, k) for k in (50, 200)}
    out[SHIPPED] = _keep_top(cosine, 100)
    out["cosine, every neighbour"] = _keep_top(cosine, x.shape[1])
    out[both] = _keep_top((counts + session) / np.sqrt(np.outer(n, n)), 100)
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


def _index_from_counts(counts: np.ndarray, item_counts: np.ndarray) -> CoOccurrenceIndex:
    """A product index (cosine, 100 neighbours) over the given pair counts, pruned as the product
    prunes: how a change to what is counted would reach the shipped shortlist, before building it in."""
    counts = np.array(counts, dtype=np.float64)
    np.fill_diagonal(counts, 0.0)
    config = CoOccurrenceConfig()
    return CoOccurrenceIndex(_pruned(sparse.csr_matrix(counts), item_counts, config), item_counts, config)


def _item_item(s: np.ndarray, decay: float = DECAY, combine: Combine = _summed) -> Callable[[list[int]], np.ndarray]:
    """Items scored by the history's rows of ``s``, newest weighted most, added up by ``combine``."""
    def score(history: list[int]) -> np.ndarray:
        return combine((decay ** np.arange(len(history))[::-1])[:, None], s[history])
    return score


def _user_knn(x: np.ndarray, neighbours: int) -> Callable[[list[int]], np.ndarray]:
    """Training users most like the history (cosine over picked sets); items scored by the summed
    likeness of the neighbours who picked them ("session kNN")."""
    length = x.sum(1) + 1e-9

    def score(history: list[int]) -> np.ndarray:
        like = x[:, history].sum(1) / np.sqrt(length * len(history))
        top = np.argpartition(-like, neighbours)[:neighbours] if neighbours < len(like) else np.arange(len(like))
        return like[top] @ x[top]
    return score


def _positions(dataset, users, lo: int, hi: int) -> sparse.csr_matrix:
    """Users x items over each user's picks at positions lo .. hi - 1 (from 0)."""
    return user_item_matrix([dataset.interactions.user_history(u)[max(lo, 0):hi] for u in users], len(dataset.catalog))


def _other_signals(dataset, fit: list[str], popularity: np.ndarray, knn: Callable[[list[int]], np.ndarray],
                   session: np.ndarray) -> dict[str, Callable[[Case], np.ndarray]]:
    """Scorers of a validation case from kinds of signal other than item-item neighbours, each
    counted on the fit users only."""
    inter = dataset.interactions
    n_items = len(dataset.catalog)
    items = np.concatenate([inter.user_history(u) for u in fit])
    times = np.concatenate([inter.user_times(u) for u in fit])
    by_time = np.argsort(times, kind="stable")
    items, times = items[by_time], times[by_time]
    cache: dict[tuple, object] = {}

    def trend(case: Case) -> np.ndarray:
        now = inter.user_times(case.user)[case.n - 1]
        lo, hi = np.searchsorted(times, now - TREND_DAYS * DAY), np.searchsorted(times, now, side="right")
        return np.bincount(items[lo:hi], minlength=n_items).astype(np.float64)

    def at_position(case: Case) -> np.ndarray:
        key = ("position", case.n)
        if key not in cache:
            cache[key] = np.asarray(_positions(dataset, fit, case.n - POSITION_SPREAD,
                                               case.n + POSITION_SPREAD + 1).sum(0)).ravel()
        return cache[key]

    def started_alike(case: Case) -> np.ndarray:
        key = ("alike", case.n)
        if key not in cache:
            later = _positions(dataset, fit, case.n - 20, case.n + 21)
            cache[key] = (_positions(dataset, fit, 0, 3 * case.n + 10).tocsc(), later,
                          np.sqrt(np.asarray(later.sum(0)).ravel() + 1.0))
        first, later, norm = cache[key]
        overlap = np.asarray(first[:, list(case.history)].sum(1)).ravel()
        return np.asarray(later.T @ overlap).ravel() / norm

    users_per_item = np.asarray(_picks(dataset, fit).sum(0)).ravel() + 1e-9
    together = _item_item(session / np.sqrt(np.outer(users_per_item, users_per_item)), SESSION_DECAY)
    ease = EASE(n_items, EASE_L2).fit([inter.user_history(u) for u in fit])
    return {FUSED_KNN: lambda case: knn(list(case.history)),
            "popularity, all picks": lambda case: popularity,
            f"popularity over the {TREND_DAYS} days before the last pick": trend,
            f"popularity at picks n-{POSITION_SPREAD}..n+{POSITION_SPREAD} of others": at_position,
            "users whose first 3n+10 picks overlap: their picks n-20..n+20, / sqrt(count)": started_alike,
            f"picks within {SESSION_SECONDS:g} s of each other (cosine), recency decay {SESSION_DECAY:g}":
                lambda case: together(list(case.history)),
            f"EASE l2 {EASE_L2:g} (trained)": lambda case: ease.scores([list(case.history)])[0]}


def _ranked(score: np.ndarray, history: list[int], popularity: np.ndarray, k: int) -> list[int]:
    score = score + 1e-9 * popularity  # popularity breaks ties
    score[history] = -np.inf
    return np.argsort(-score, kind="stable")[:k].tolist()


def _measure(score_of: Callable[[list[int]], np.ndarray], cases, popularity: np.ndarray,
             k: int) -> dict[int, list[tuple[float, float]]]:
    out: dict[int, list[tuple[float, float]]] = {}
    for case in cases:
        order = _ranked(score_of(list(case.history)), list(case.history), popularity, k)
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
    co_only = replace(CandidateConfig(n_candidates=config.n_candidates, by_length=(), sittings_share=0.0),
                      bm25_weight=CO_ONLY[0], popularity_weight=CO_ONLY[1], cooccurrence_weight=CO_ONLY[2],
                      recency_decay=DECAY)
    product, fold_sizes = [], []  # the product's own index, per fold
    fusion: dict[tuple[str, float], dict[int, list[tuple[float, float]]]] = {}  # (signal, its share): per n
    through: dict[str, list] = {}  # the default shortlist on the shipped index and on the session one, per fold
    through_cases: dict[str, dict[int, list[float]]] = {}
    for fit, validate in validation_folds(dataset, config, train, args.folds):
        cases = make_cases(dataset, validate, config)
        popularity = popularity_counts(dataset, fit)
        session = _session_pairs(dataset, fit, SESSION_SECONDS)
        variants = _variants(_picks(dataset, fit), session)
        scorers = {name: _item_item(s) for name, s in variants.items()}
        for how, combine in COMBINE.items():
            scorers[f"cosine, 100 neighbours, history rows combined by {how}"] = _item_item(
                variants[SHIPPED], combine=combine)
        for first, neighbours in USER_KNN:
            counted = f"first {first} picks" if first else "last 200 picks"
            scorers[f"user kNN, {neighbours} neighbours, {counted}"] = _user_knn(
                _picks(dataset, fit, first=first).toarray(), neighbours)
        for name, score_of in scorers.items():
            for n, values in _measure(score_of, cases, popularity, config.n_candidates).items():
                pooled.setdefault(name, {}).setdefault(n, []).extend(values)
        sequences = [dataset.interactions.user_history(u) for u in fit]
        shipped = CandidateGenerator(dataset.catalog, config=CandidateConfig(n_candidates=3 * config.n_candidates, session_share=0.0, sittings_share=0.0),
                                     popularity=popularity, sequences=sequences)
        lists = shipped.generate_many([list(c.history) for c in cases], None, 3 * config.n_candidates)
        others = _other_signals(dataset, fit, popularity, scorers[FUSED_KNN], session)
        k = config.n_candidates
        for case, shortlist in zip(cases, lists):
            base = shortlist.indices.tolist()
            orders = {(SHIPPED_LIST, 0.0): base[:k]}
            for name, score_of in others.items():
                other = _ranked(score_of(case), list(case.history), popularity, 3 * k)
                orders[(name, 1.0)] = other[:k]
                orders.update({(name, w): fuse(other, base, w)[:k] for w in FUSION})
            for key, order in orders.items():
                fusion.setdefault(key, {}).setdefault(case.n, []).append(
                    (hit(order, {case.target}, k), ndcg(order, {case.target}, 10)))
        index = CoOccurrenceIndex.build(sequences, len(dataset.catalog), CoOccurrenceConfig())
        # The whole default shortlist (text, popularity, per-length weights, first-picks index for one
        # pick) on the shipped index and on one that counts pairs picked within a minute twice.
        x = _picks(dataset, fit)
        default = CandidateConfig(n_candidates=config.n_candidates, session_share=0.0, sittings_share=0.0)
        text_default = CandidateGenerator(dataset.catalog, config=default)
        for name, lent in ((SHIPPED_LIST, index),
                           (SESSION_BONUS, _index_from_counts((x.T @ x).toarray() + session, index.item_counts))):
            trial, values = _measured(dataset, cases, popularity, default, text_default, lent, sequences, None)
            through.setdefault(name, []).append(trial)
            for case, value in zip(cases, values):  # recall@20 + NDCG@10 per case, for the paired test
                through_cases.setdefault(name, {}).setdefault(case.n, []).append(value)
        text = CandidateGenerator(dataset.catalog, config=replace(co_only, cooccurrence_weight=0.0, bm25_weight=1.0))
        product.append(measure_shortlist(dataset, cases, popularity, co_only, generator=text, cooccurrence=index))
        fold_sizes.append(len(validate))
    lens = sorted(config.history_lens)
    n_cases = {n: len(pooled[SHIPPED][n]) for n in lens}
    rows = [{"variant": name, "recall20": {n: float(np.mean([h for h, _ in byn[n]])) for n in lens},
             "ndcg10": {n: float(np.mean([d for _, d in byn[n]])) for n in lens}} for name, byn in pooled.items()]
    for row in rows:
        row["mean_recall20"] = float(np.mean(list(row["recall20"].values())))
    product_recall = _pooled(product, fold_sizes).recall
    shortlists = []
    for name, trials in through.items():
        both = _pooled(trials, fold_sizes)
        shortlists.append({"index": name, "recall20": both.recall, "ndcg10": both.ndcg10, "p_vs_shipped": {
            n: improvement_p(np.array(through_cases[name][n]), np.array(through_cases[SHIPPED_LIST][n]))
            if name != SHIPPED_LIST else None for n in lens}})

    def per_case(key: tuple[str, float], n: int) -> np.ndarray:
        return np.array([h + d for h, d in fusion[key][n]])

    shipped_key = (SHIPPED_LIST, 0.0)
    fused = [{"signal": name, "share": w, "recall20": {n: float(np.mean([h for h, _ in byn[n]])) for n in lens},
              "ndcg10": {n: float(np.mean([d for _, d in byn[n]])) for n in lens},
              # one-sided paired Wilcoxon over the cases: better than the shipped shortlist?
              "p_vs_shipped": {n: improvement_p(per_case((name, w), n), per_case(shipped_key, n))
                               if (name, w) != shipped_key else None for n in lens}}
             for (name, w), byn in fusion.items()]
    cmd = "python benchmarks/cooccurrence_variants.py " + " ".join(sys.argv[1:])
    m = machine()
    seconds = time.perf_counter() - started
    out = {"command": cmd.strip(), "machine": m, "seconds": round(seconds, 1), "folds": args.folds,
           "validation_cases_per_n": n_cases, "decay": DECAY, "rows": rows,
           "product_index_recall20": product_recall, "rrf_k": RRF_K,
           "shortlist_fused": fused, "default_shortlist_by_index": shortlists}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cooccurrence_variants.json").write_text(json.dumps(out, indent=1) + "\n")
    best5 = max(rows, key=lambda r: r["recall20"][5])
    lines = ["# Training-free neighbour signals alone, and fused with the shortlist: recall@20 / NDCG@10 on the "
             "validation folds", "",
             f"Command: `{cmd.strip()}` ({seconds:.0f} s)  ",
             f"Machine: {machine_line(m)}  ",
             f"{args.folds}-fold cross-validation over the training users (counts from the other folds; "
             f"{n_cases[lens[0]]} validation cases per history length); no text, no popularity (it only breaks "
             f"ties); recency decay {DECAY}; seen items excluded.", "",
             "| signal | " + " | ".join(f"n={n} R@20 / NDCG@10" for n in lens) + " | mean R@20 |",
             "|---|" + "---:|" * (len(lens) + 1)]
    for r in sorted(rows, key=lambda r: -r["recall20"][5]):
        lines.append(f"| {r['variant']} | " + " | ".join(f"{r['recall20'][n]:.3f} / {r['ndcg10'][n]:.3f}" for n in lens)
                     + f" | {r['mean_recall20']:.3f} |")
    lines += ["", "Sorted by recall@20 at n=5. Check: the product's own index (cosine, 100 neighbours) with "
              "co-occurrence alone gives recall@20 " + " / ".join(f"{product_recall[n]:.3f}" for n in lens)
              + f" at n = {' / '.join(map(str, lens))} (equal neighbour scores may break ties differently). RP3beta with alpha 0.5 and beta 0.5 is cosine with each "
              "user's pairs weighted 1/sqrt|u| (the same scores).", "",
              f"Best at n=5: {best5['variant']}, {best5['recall20'][5]:.3f} (shipped: "
              f"{next(r for r in rows if r['variant'] == SHIPPED)['recall20'][5]:.3f}).", "",
              "## Other kinds of signal, alone and fused with the shortlist without the session signal", "",
              f"Each signal's top {3 * config.n_candidates} fused with the shortlist's (the shipped weights, the session "
              "signal off: this study found it) by reciprocal rank: "
              f"(1 - w) / ({RRF_K} + rank) + w / ({RRF_K} + rank), ranks from 1, as in the evaluation's +fusion methods; "
              "w = 1: the signal alone, its own top 20. Counted on the fit users only; the popularity before the last "
              "pick counts only the fit users' picks up to that moment.", "",
              "| signal | share w | " + " | ".join(f"n={n} R@20 / NDCG@10 (p)" for n in lens) + " |",
              "|---|---:|" + "---:|" * len(lens)]
    for f in fused:
        lines.append(f"| {f['signal']} | {f['share']:g} | " + " | ".join(
            f"{f['recall20'][n]:.3f} / {f['ndcg10'][n]:.3f}"
            + (f" ({f['p_vs_shipped'][n]:.2g})" if f["p_vs_shipped"][n] is not None else "") for n in lens) + " |")
    best = max((f for f in fused if 0 < f["share"] < 1), key=lambda f: f["recall20"][5])
    lines += ["", "p: one-sided paired Wilcoxon test over the validation cases (recall@20 + NDCG@10 per case) that "
              "the row beats the shortlist without the session signal.", "",
              f"Best fused at n=5: {best['signal']}, w {best['share']:g}: {best['recall20'][5]:.3f} (without it: "
              f"{fused[0]['recall20'][5]:.3f}; p = {best['p_vs_shipped'][5]:.2g})."]
    lines += ["", "## The shortlist on an index that counts session pairs twice", "",
              "The whole shortlist without the session signal (text, popularity, per-length weights; one-pick histories on their "
              "first-picks index, unchanged) with the shipped index, and with an index (cosine, 100 neighbours) "
              f"over the same pair counts plus the pairs a user picked within {SESSION_SECONDS:g} s of each other.", "",
              "| index | " + " | ".join(f"n={n} R@20 / NDCG@10 (p)" for n in lens) + " |", "|---|" + "---:|" * len(lens)]
    for r in shortlists:
        lines.append(f"| {r['index']} | " + " | ".join(
            f"{r['recall20'][n]:.3f} / {r['ndcg10'][n]:.3f}"
            + (f" ({r['p_vs_shipped'][n]:.2g})" if r["p_vs_shipped"][n] is not None else "") for n in lens) + " |")
    (args.out / "cooccurrence_variants.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
