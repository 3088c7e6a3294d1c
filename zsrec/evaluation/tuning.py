"""Choose the shortlist's signals and weights on validation users, never on test users.

The generator decides recall: the LLM can only rank what it is shown. How much weight item text,
popularity and co-occurrence get depends on the catalog and on how much history users bring, so they
are numbers to measure on your data, not to guess. Validation users are drawn from the training users;
popularity and co-occurrence are counted on the remaining training users, so the validation targets are
as unseen as the test targets. Two stages: each co-occurrence variant (normalisation, window, order) is
measured alone, then the weights are searched with the best one. The chosen shortlist is reported once
on the test users, beside the one it would replace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..candidates import CandidateConfig, CandidateGenerator
from ..cooccurrence import CoOccurrenceConfig, CoOccurrenceIndex
from ..data import Dataset
from ..errors import OptionError
from .metrics import hit, ndcg
from .protocol import Case, EvalConfig, make_cases, popularity_counts, split_users, validation_split

CO_ONLY = (0.0, 1e-6, 1.0)  # co-occurrence alone, popularity only to break its ties


@dataclass(frozen=True)
class ShortlistTrial:
    """One shortlist configuration, measured on one set of users: recall@n_candidates and NDCG@10
    per history length."""

    bm25_weight: float
    popularity_weight: float
    cooccurrence_weight: float
    recency_decay: float
    cooccurrence: dict = field(default_factory=dict)  # the CoOccurrenceConfig, as a dict
    recall: dict[int, float] = field(default_factory=dict)
    ndcg10: dict[int, float] = field(default_factory=dict)

    @property
    def mean_recall(self) -> float:
        return float(np.mean(list(self.recall.values())))

    @property
    def popularity_share(self) -> float:
        total = self.bm25_weight + self.popularity_weight + self.cooccurrence_weight
        return self.popularity_weight / total

    @property
    def cooccurrence_label(self) -> str:
        co = self.cooccurrence
        if not co:
            return "off"
        norm = co["normalisation"] + (f" {co['damping']:g}" if co["normalisation"] == "damped" else "")
        window = "all pairs" if co["window"] is None else f"window {co['window']}"
        return f"{norm}, {window}{', ordered' if co['ordered'] else ''}"

    def config(self, n_candidates: int) -> CandidateConfig:
        co = CoOccurrenceConfig(**self.cooccurrence) if self.cooccurrence else CoOccurrenceConfig()
        return CandidateConfig(n_candidates=n_candidates, bm25_weight=self.bm25_weight,
                               popularity_weight=self.popularity_weight, cooccurrence_weight=self.cooccurrence_weight,
                               recency_decay=self.recency_decay, cooccurrence=co)


@dataclass(frozen=True)
class ShortlistTuning:
    signals: list[ShortlistTrial]  # stage 1: each co-occurrence variant alone, on the validation users
    validation: list[ShortlistTrial]  # stage 2: every weighting with the best variant
    best: ShortlistTrial  # the highest mean recall on validation users
    test_best: ShortlistTrial  # the chosen shortlist on the test users
    test_current: ShortlistTrial  # the shortlist it would replace, on the test users
    validation_users: tuple[str, ...]  # drawn from the training users; disjoint from the test users
    n_fit_users: int  # the other training users, whose interactions give the validation counts
    n_test_users: int

    @property
    def n_validation_users(self) -> int:
        return len(self.validation_users)


def measure_shortlist(dataset: Dataset, cases: Sequence[Case], popularity: np.ndarray, config: CandidateConfig,
                      generator: CandidateGenerator | None = None,
                      cooccurrence: CoOccurrenceIndex | None = None) -> ShortlistTrial:
    """Recall and NDCG@10 of the shortlist for each history length. ``generator`` lends its text index
    and ``cooccurrence`` a built co-occurrence index, so a grid rebuilds neither."""
    gen = CandidateGenerator(dataset.catalog, config=config, popularity=popularity,
                             index=generator.index if generator is not None else None, cooccurrence=cooccurrence)
    lists = gen.generate_many([list(c.history) for c in cases], None, config.n_candidates)
    recall: dict[int, list[float]] = {}
    ndcgs: dict[int, list[float]] = {}
    for case, cands in zip(cases, lists):
        order = cands.indices.tolist()
        recall.setdefault(case.n, []).append(hit(order, {case.target}, config.n_candidates))
        ndcgs.setdefault(case.n, []).append(ndcg(order, {case.target}, 10))
    return ShortlistTrial(config.bm25_weight, config.popularity_weight,
                          config.cooccurrence_weight if cooccurrence is not None else 0.0, config.recency_decay,
                          asdict(config.cooccurrence) if cooccurrence is not None else {},
                          {n: float(np.mean(v)) for n, v in sorted(recall.items())},
                          {n: float(np.mean(v)) for n, v in sorted(ndcgs.items())})


def weight_grid(step: float = 0.1, cooccurrence: bool = True) -> list[tuple[float, float, float]]:
    """(BM25, popularity, co-occurrence) weights on a simplex, BM25 and popularity not both zero."""
    k = round(1 / step)
    out = []
    for b in range(k + 1):
        for p in range(k + 1 - b):
            c = k - b - p
            if (b or p) and (cooccurrence or c == 0):
                out.append((round(b * step, 6), round(p * step, 6), round(c * step, 6)))
    return out


def tune_shortlist(dataset: Dataset, config: EvalConfig, variants: Sequence[CoOccurrenceConfig] = (CoOccurrenceConfig(),),
                   weights: Sequence[tuple[float, float, float]] | None = None, decays: Sequence[float] = (0.8, 1.0),
                   n_validation: int | None = None, current: CandidateConfig | None = None) -> ShortlistTuning:
    """Measure each co-occurrence variant alone, then every (weights, recency decay) with the best
    variant, on validation users; report the best and the current shortlist on ``config``'s test users."""
    weights = list(weights) if weights is not None else weight_grid()
    if not weights or not decays or not variants:
        raise OptionError("give at least one weighting, one recency decay and one co-occurrence variant")
    if any(min(w) < 0 or w[0] + w[1] == 0 for w in weights):
        raise OptionError("weights must be non-negative, and BM25 and popularity not both zero")
    train, test = split_users(dataset, config)
    fit, validation = validation_split(dataset, config, train, n_validation)
    val_cases = make_cases(dataset, validation, config)
    n_items = len(dataset.catalog)
    base = CandidateConfig(n_candidates=config.n_candidates)
    index_source = CandidateGenerator(dataset.catalog, config=replace(base, cooccurrence_weight=0.0))
    val_pop = popularity_counts(dataset, fit)
    fit_sequences = [dataset.interactions.user_history(u) for u in fit]

    def trial(w: tuple[float, float, float], decay: float, variant: CoOccurrenceConfig,
              index: CoOccurrenceIndex | None, cases: Sequence[Case], pop: np.ndarray) -> ShortlistTrial:
        cfg = replace(base, bm25_weight=w[0], popularity_weight=w[1], cooccurrence_weight=w[2], recency_decay=decay,
                      cooccurrence=variant)
        return measure_shortlist(dataset, cases, pop, cfg, index_source, index if w[2] > 0 else None)

    built = {v: CoOccurrenceIndex.build(fit_sequences, n_items, v) for v in variants}
    signals = [trial(CO_ONLY, d, v, built[v], val_cases, val_pop) for v in variants for d in decays]
    best_signal = max(signals, key=lambda t: (t.mean_recall, np.mean(list(t.ndcg10.values()))))
    variant = CoOccurrenceConfig(**best_signal.cooccurrence)
    trials = [trial(w, d, variant, built[variant], val_cases, val_pop) for w in weights for d in decays]
    best = max(trials, key=lambda t: (t.mean_recall, np.mean(list(t.ndcg10.values()))))
    test_cases = make_cases(dataset, test, config)
    test_pop = popularity_counts(dataset, train)  # as in the evaluation: every training user counts
    train_index = CoOccurrenceIndex.build([dataset.interactions.user_history(u) for u in train], n_items, variant)
    current = replace(current or base, n_candidates=config.n_candidates)
    current_index = (train_index if current.cooccurrence == variant else
                     CoOccurrenceIndex.build([dataset.interactions.user_history(u) for u in train], n_items,
                                             current.cooccurrence)) if current.cooccurrence_weight > 0 else None
    return ShortlistTuning(
        signals=signals, validation=trials, best=best,
        test_best=measure_shortlist(dataset, test_cases, test_pop, best.config(config.n_candidates), index_source,
                                    train_index if best.cooccurrence_weight > 0 else None),
        test_current=measure_shortlist(dataset, test_cases, test_pop, current, index_source, current_index),
        validation_users=tuple(validation), n_fit_users=len(fit), n_test_users=len(test))
