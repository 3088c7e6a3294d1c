"""Choose the shortlist's text/popularity balance on validation users, never on test users.

The generator decides recall: the LLM can only rank what it is shown. How much weight item text
gets against popularity depends on the catalog (titles and genres only, or rich descriptions) and on
how much history users bring, so it is a number to measure on your data, not to guess. Validation
users are drawn from the training users; popularity is counted on the remaining training users, so
the validation targets are as unseen as the test targets. The chosen weights are then reported once
on the test users, next to the weights they replace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..candidates import CandidateConfig, CandidateGenerator
from ..data import Dataset
from ..errors import OptionError
from .metrics import hit, ndcg
from .protocol import Case, EvalConfig, make_cases, popularity_counts, split_users


@dataclass(frozen=True)
class ShortlistTrial:
    """One weighting, measured on one set of users: recall@n_candidates and NDCG@10 of the shortlist
    per history length."""

    popularity_share: float  # popularity_weight / (bm25_weight + popularity_weight)
    recency_decay: float
    recall: dict[int, float]
    ndcg10: dict[int, float]

    @property
    def mean_recall(self) -> float:
        return float(np.mean(list(self.recall.values())))

    def config(self, n_candidates: int) -> CandidateConfig:
        return CandidateConfig(n_candidates=n_candidates, bm25_weight=1.0 - self.popularity_share,
                               popularity_weight=self.popularity_share, recency_decay=self.recency_decay)


@dataclass(frozen=True)
class ShortlistTuning:
    validation: list[ShortlistTrial]  # every weighting tried, on the validation users
    best: ShortlistTrial  # the highest mean recall on validation users
    test_best: ShortlistTrial  # the chosen weighting on the test users
    test_current: ShortlistTrial  # the weighting it would replace, on the test users
    validation_users: tuple[str, ...]  # drawn from the training users; disjoint from the test users
    n_fit_users: int  # the other training users, whose interactions give the validation popularity
    n_test_users: int

    @property
    def n_validation_users(self) -> int:
        return len(self.validation_users)


def measure_shortlist(dataset: Dataset, cases: Sequence[Case], popularity: np.ndarray, config: CandidateConfig,
                      generator: CandidateGenerator | None = None) -> ShortlistTrial:
    """Recall and NDCG@10 of the shortlist for each history length. ``generator`` lends its text index
    (weights and popularity come from the arguments), so a grid does not rebuild it."""
    gen = CandidateGenerator(dataset.catalog, config=config, popularity=popularity,
                             index=generator.index if generator is not None else None)
    lists = gen.generate_many([list(c.history) for c in cases], None, config.n_candidates)
    recall: dict[int, list[float]] = {}
    ndcgs: dict[int, list[float]] = {}
    for case, cands in zip(cases, lists):
        order = cands.indices.tolist()
        recall.setdefault(case.n, []).append(hit(order, {case.target}, config.n_candidates))
        ndcgs.setdefault(case.n, []).append(ndcg(order, {case.target}, 10))
    total = config.bm25_weight + config.popularity_weight
    return ShortlistTrial(config.popularity_weight / total, config.recency_decay,
                          {n: float(np.mean(v)) for n, v in sorted(recall.items())},
                          {n: float(np.mean(v)) for n, v in sorted(ndcgs.items())})


def tune_shortlist(dataset: Dataset, config: EvalConfig, shares: Sequence[float] = (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
                   decays: Sequence[float] = (0.5, 0.8, 1.0), n_validation: int = 200,
                   current: CandidateConfig | None = None) -> ShortlistTuning:
    """Try every (popularity share, recency decay) on validation users; report the best and the
    current weighting on the test users of ``config``'s split."""
    if not shares or not decays:
        raise OptionError("give at least one popularity share and one recency decay")
    if any(not 0 <= s <= 1 for s in shares):
        raise OptionError("popularity shares must lie in [0, 1]")
    train, test = split_users(dataset, config)
    need = max(config.history_lens) + 1
    eligible = [u for u in train if len(dataset.interactions.user_history(u)) >= need]
    if len(eligible) < 2:
        raise OptionError("too few training users with enough history to hold some out for validation")
    rng = np.random.default_rng([config.seed, 1])
    take = min(n_validation, len(eligible) // 2)  # keep at least half of them for counting popularity
    chosen = set(rng.choice(eligible, size=take, replace=False).tolist())
    validation = [u for u in eligible if u in chosen]
    fit = [u for u in train if u not in chosen]
    val_cases = make_cases(dataset, validation, config)
    base = CandidateConfig(n_candidates=config.n_candidates)
    index_source = CandidateGenerator(dataset.catalog, config=base)
    val_pop = popularity_counts(dataset, fit)
    trials = [measure_shortlist(dataset, val_cases, val_pop,
                                replace(base, bm25_weight=1.0 - s, popularity_weight=s, recency_decay=d), index_source)
              for s in shares for d in decays]
    best = max(trials, key=lambda t: (t.mean_recall, np.mean(list(t.ndcg10.values()))))
    test_cases = make_cases(dataset, test, config)
    test_pop = popularity_counts(dataset, train)  # as in the evaluation: every training user counts
    current = current or base
    return ShortlistTuning(
        validation=trials, best=best,
        test_best=measure_shortlist(dataset, test_cases, test_pop, best.config(config.n_candidates), index_source),
        test_current=measure_shortlist(dataset, test_cases, test_pop, replace(current, n_candidates=config.n_candidates),
                                       index_source),
        validation_users=tuple(validation), n_fit_users=len(fit), n_test_users=len(test))
