"""Choose the shortlist's signals and weights on validation users, never on test users.

The generator decides recall: the LLM can only rank what it is shown. How much weight item text,
popularity and co-occurrence get depends on the catalog and on how much history users bring, so they
are numbers to measure on your data, not to guess. Validation users are drawn from the training users;
popularity and co-occurrence are counted on the remaining training users, so the validation targets are
as unseen as the test targets; with ``folds`` > 1 every training user validates once (cross-validation),
which steadies choices between close settings. Three stages: each co-occurrence variant (normalisation,
window, order) is measured alone; the weights are searched with the best one (mean recall over the
history lengths); then, for each history length from the shortest, other weights and a co-occurrence
damping for histories up to that length, kept where they beat the shared weights there (recall +
NDCG@10 at that length: the generator's order is what a user sees when the LLM is off, falls back or
is fused with it). An entry counted from users' first picks needs a second index (its build time and
memory), so it is kept only where it beats the best entry on the shared index by more than noise: a
one-sided paired Wilcoxon test over the validation users at that length, p below ``FIRST_PICKS_P``.
The chosen shortlist is reported once on the test users, beside the one it would replace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from scipy.stats import wilcoxon

from ..candidates import CandidateConfig, CandidateGenerator
from ..cooccurrence import CoOccurrenceConfig, CoOccurrenceIndex
from ..data import Dataset
from ..errors import OptionError
from ..length_weights import LengthWeights, by_length_text, check_weights
from ..sittings import SittingIndex
from .metrics import hit, ndcg
from .protocol import (Case, EvalConfig, make_cases, popularity_counts, split_users, validation_folds,
                       validation_split)

CO_ONLY = (0.0, 1e-6, 1.0)  # co-occurrence alone, popularity only to break its ties
DAMPINGS = (None, 0.0, 0.1, 0.2, 0.3, 0.4)  # stage 3's choices; None: the index's own normalisation
FIRST_PICKS_P = 0.05  # how sure stage 3 must be that a first-picks index beats the shared one


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
    by_length: tuple[LengthWeights, ...] = ()  # short histories' own weights

    @property
    def by_length_label(self) -> str:
        return by_length_text(self.by_length)

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
        first = f", first {co['first_picks']} picks" if co.get("first_picks") else ""
        return f"{norm}, {window}{', ordered' if co['ordered'] else ''}{first}"

    def config(self, n_candidates: int) -> CandidateConfig:
        """The shortlist measured: trials are made without the session signal and similar sittings
        (tune_session and tune_sittings add them)."""
        co = CoOccurrenceConfig(**self.cooccurrence) if self.cooccurrence else CoOccurrenceConfig()
        return CandidateConfig(n_candidates=n_candidates, bm25_weight=self.bm25_weight,
                               popularity_weight=self.popularity_weight, cooccurrence_weight=self.cooccurrence_weight,
                               recency_decay=self.recency_decay, cooccurrence=co,
                               by_length=self.by_length, session_share=0.0, sittings_share=0.0)


@dataclass(frozen=True)
class ShortlistTuning:
    signals: list[ShortlistTrial]  # stage 1: each co-occurrence variant alone, on the validation users
    validation: list[ShortlistTrial]  # stage 2: every weighting with the best variant
    best: ShortlistTrial  # stage 2's weights (the highest mean recall) with stage 3's entries, on validation users
    test_best: ShortlistTrial  # the chosen shortlist on the test users
    test_current: ShortlistTrial  # the shortlist it would replace, on the test users
    validation_users: tuple[str, ...]  # drawn from the training users; disjoint from the test users
    n_fit_users: int  # the other training users, whose interactions give the validation counts (per fold: the fewest)
    n_test_users: int
    by_length: list[ShortlistTrial] = field(default_factory=list)  # stage 3: the best few tried at each length
    weights_only: ShortlistTrial | None = None  # stage 2's choice without stage 3, on the validation users
    test_weights_only: ShortlistTrial | None = None  # the same on the test users
    folds: int = 1
    # stage 3, at each length where a first-picks entry scored best: that entry, and the p of its gain
    # over the best on the shared index (kept only below FIRST_PICKS_P)
    first_picks_p: dict[int, tuple[LengthWeights, float]] = field(default_factory=dict)

    @property
    def n_validation_users(self) -> int:
        return len(self.validation_users)


def measure_shortlist(dataset: Dataset, cases: Sequence[Case], popularity: np.ndarray, config: CandidateConfig,
                      generator: CandidateGenerator | None = None,
                      cooccurrence: CoOccurrenceIndex | None = None,
                      sequences: Sequence[Sequence[int]] | None = None,
                      first_picks: Mapping[int, CoOccurrenceIndex] | None = None,
                      session: CoOccurrenceIndex | None = None,
                      sequence_times: Sequence[Sequence[float]] | None = None,
                      sittings: SittingIndex | None = None) -> ShortlistTrial:
    """Recall and NDCG@10 of the shortlist for each history length. ``generator`` lends its text index
    and ``cooccurrence`` a built co-occurrence index (``first_picks`` those counted from users' first
    picks, by K), so a grid rebuilds none; ``sequences`` (the picks counted) are needed only when short
    histories count co-occurrence from users' first picks and that index is not lent. When ``config``
    has the session signal on, ``session`` lends its index or ``sequence_times`` (the picks' timestamps)
    let it be counted; without either it is measured with the signal off, as the generator warns
    (``sittings`` lends the sittings for similar sittings, in the same way)."""
    return _measured(dataset, cases, popularity, config, generator, cooccurrence, sequences, first_picks,
                     session=session, sequence_times=sequence_times, sittings=sittings)[0]


def _measured(dataset: Dataset, cases: Sequence[Case], popularity: np.ndarray, config: CandidateConfig,
              generator: CandidateGenerator | None, cooccurrence: CoOccurrenceIndex | None,
              sequences: Sequence[Sequence[int]] | None,
              first_picks: Mapping[int, CoOccurrenceIndex] | None,
              session: CoOccurrenceIndex | None = None,
              sequence_times: Sequence[Sequence[float]] | None = None,
              sittings: SittingIndex | None = None) -> tuple[ShortlistTrial, np.ndarray]:
    """``measure_shortlist`` and each case's recall + NDCG@10, in the order of ``cases`` (for paired tests).
    ``session`` lends the session signal's index, or ``sequence_times`` lets it be counted."""
    gen = CandidateGenerator(dataset.catalog, config=config, popularity=popularity,
                             index=generator.index if generator is not None else None, cooccurrence=cooccurrence,
                             sequences=sequences, first_picks=first_picks, session=session,
                             sequence_times=sequence_times, sittings=sittings)
    lists = gen.generate_many([list(c.history) for c in cases], None, config.n_candidates)
    recall: dict[int, list[float]] = {}
    ndcgs: dict[int, list[float]] = {}
    per_case = np.zeros(len(cases))
    for i, (case, cands) in enumerate(zip(cases, lists)):
        order = cands.indices.tolist()
        recall.setdefault(case.n, []).append(hit(order, {case.target}, config.n_candidates))
        ndcgs.setdefault(case.n, []).append(ndcg(order, {case.target}, 10))
        per_case[i] = recall[case.n][-1] + ndcgs[case.n][-1]
    counted = gen.cooccurrence is not None  # lent, or counted here from ``sequences``
    return ShortlistTrial(config.bm25_weight, config.popularity_weight,
                          config.cooccurrence_weight if counted else 0.0, config.recency_decay,
                          asdict(config.cooccurrence) if counted else {},
                          {n: float(np.mean(v)) for n, v in sorted(recall.items())},
                          {n: float(np.mean(v)) for n, v in sorted(ndcgs.items())},
                          config.by_length), per_case


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


def _pooled(trials: Sequence[ShortlistTrial], sizes: Sequence[int]) -> ShortlistTrial:
    """One trial from the same configuration measured on several folds, weighted by their users."""
    w = np.asarray(sizes, dtype=np.float64) / sum(sizes)

    def mean(key: str) -> dict[int, float]:
        return {n: float(sum(wi * getattr(t, key)[n] for wi, t in zip(w, trials))) for n in trials[0].recall}

    return replace(trials[0], recall=mean("recall"), ndcg10=mean("ndcg10"))


def _score_at(t: ShortlistTrial, n: int) -> float:
    """Stage 3's criterion at one length: holding the next item, and near the top."""
    return t.recall[n] + t.ndcg10[n]


def improvement_p(a: np.ndarray, b: np.ndarray) -> float:
    """How likely per-case scores ``a`` beat ``b`` on the same cases by chance alone: one-sided paired
    Wilcoxon test, ties dropped; 1.0 where they never differ."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if not np.any(diff):
        return 1.0
    return float(wilcoxon(diff, alternative="greater").pvalue)


def tune_shortlist(dataset: Dataset, config: EvalConfig, variants: Sequence[CoOccurrenceConfig] = (CoOccurrenceConfig(),),
                   weights: Sequence[tuple[float, float, float]] | None = None, decays: Sequence[float] = (0.8, 1.0),
                   n_validation: int | None = None, current: CandidateConfig | None = None, folds: int = 1,
                   dampings: Sequence[float | None] = DAMPINGS, keep_tried: int = 5,
                   first_picks: Sequence[int] = ()) -> ShortlistTuning:
    """Measure each co-occurrence variant alone, then every (weights, recency decay) with the best
    variant, then weights and damping per history length, on validation users (``folds`` > 1: every
    training user, fold by fold); report the chosen and the current shortlist on ``config``'s test
    users. ``keep_tried``: how many of stage 3's best options per length the result lists;
    ``first_picks``: stage 3 also tries, for each K, co-occurrence counted from users' first K picks."""
    weights = list(weights) if weights is not None else weight_grid()
    if not weights or not decays or not variants:
        raise OptionError("give at least one weighting, one recency decay and one co-occurrence variant")
    for w in weights:
        check_weights(*w)
    if any(b is not None and not 0 <= b <= 1 for b in dampings):
        raise OptionError("a co-occurrence damping must lie in [0, 1]")
    if any(k < 2 for k in first_picks):
        raise OptionError("co-occurrence from users' first picks needs at least 2 of them")
    train, test = split_users(dataset, config)
    splits = ([validation_split(dataset, config, train, n_validation)] if folds <= 1
              else validation_folds(dataset, config, train, folds))
    n_items = len(dataset.catalog)
    # Weights are chosen without the session signal; tune_session (zsrec.evaluation.session_tuning) adds
    # it to the weights chosen here, as the shipped defaults were made.
    base = CandidateConfig(n_candidates=config.n_candidates, by_length=(), session_share=0.0, sittings_share=0.0)
    index_source = CandidateGenerator(dataset.catalog, config=replace(base, cooccurrence_weight=0.0))
    parts = [(make_cases(dataset, val, config), popularity_counts(dataset, fit),
              [dataset.interactions.user_history(u) for u in fit]) for fit, val in splits]
    sizes = [len(val) for _, val in splits]
    built: dict[CoOccurrenceConfig, list[CoOccurrenceIndex]] = {}

    def indexes(variant: CoOccurrenceConfig) -> list[CoOccurrenceIndex]:
        if variant not in built:
            built[variant] = [CoOccurrenceIndex.build(seqs, n_items, variant) for _, _, seqs in parts]
        return built[variant]

    def scored(w: tuple[float, float, float], decay: float, variant: CoOccurrenceConfig,
               by_length: tuple[LengthWeights, ...] = (), only: int | None = None) -> tuple[ShortlistTrial, np.ndarray]:
        """The trial over every fold, and each validation case's recall + NDCG@10 (folds in turn)."""
        cfg = replace(base, bm25_weight=w[0], popularity_weight=w[1], cooccurrence_weight=w[2], recency_decay=decay,
                      cooccurrence=variant, by_length=by_length)
        early = [{k: indexes(cfg.first_picks_config(k))[f] for k in cfg.first_picks_counts} for f in range(len(parts))]
        measured = [_measured(dataset, [c for c in cases if only is None or c.n == only], pop, cfg,
                              index_source, index if cfg.uses_cooccurrence else None, None, firsts)
                    for (cases, pop, _), index, firsts in zip(parts, indexes(variant), early)]
        return _pooled([t for t, _ in measured], sizes), np.concatenate([c for _, c in measured])

    def trial(w: tuple[float, float, float], decay: float, variant: CoOccurrenceConfig,
              by_length: tuple[LengthWeights, ...] = ()) -> ShortlistTrial:
        return scored(w, decay, variant, by_length)[0]

    def ranked(t: ShortlistTrial) -> tuple[float, float]:
        return t.mean_recall, float(np.mean(list(t.ndcg10.values())))

    signals = [trial(CO_ONLY, d, v) for v in variants for d in decays]
    variant = CoOccurrenceConfig(**max(signals, key=ranked).cooccurrence)
    trials = [trial(w, d, variant) for w in weights for d in decays]
    weights_only = max(trials, key=ranked)
    shared = (weights_only.bm25_weight, weights_only.popularity_weight, weights_only.cooccurrence_weight)
    decay = weights_only.recency_decay
    # Stage 3: from the shortest history up, an entry for histories up to n where one beats the shared weights.
    entries: tuple[LengthWeights, ...] = ()
    tried: list[ShortlistTrial] = []
    first_picks_p: dict[int, tuple[LengthWeights, float]] = {}
    for n in sorted(config.history_lens):
        without = scored(shared, decay, variant, entries, only=n)
        options = [scored(shared, decay, variant, entries + (LengthWeights(n, *w, damping=b, first_picks=k),), only=n)
                   for w in weights for b in (dampings if w[2] > 0 else (None,))
                   for k in ((None, *first_picks) if w[2] > 0 else (None,))]
        options.sort(key=lambda o: -_score_at(o[0], n))
        tried += [without[0]] + [t for t, _ in options[:keep_tried]]
        shared_index = [o for o in options if o[0].by_length[-1].first_picks is None]
        choice = max([without] + shared_index[:1], key=lambda o: _score_at(o[0], n))
        own_index = [o for o in options if o[0].by_length[-1].first_picks is not None]
        if own_index and _score_at(own_index[0][0], n) > _score_at(choice[0], n):
            first_picks_p[n] = (own_index[0][0].by_length[-1], improvement_p(own_index[0][1], choice[1]))
            if first_picks_p[n][1] < FIRST_PICKS_P:
                choice = own_index[0]
        if choice is not without:
            entries = choice[0].by_length
    best = trial(shared, decay, variant, entries)  # every length, with stage 3's entries
    test_cases = make_cases(dataset, test, config)
    test_pop = popularity_counts(dataset, train)  # as in the evaluation: every training user counts
    train_sequences = [dataset.interactions.user_history(u) for u in train]
    train_index = CoOccurrenceIndex.build(train_sequences, n_items, variant)
    current = replace(current or base, n_candidates=config.n_candidates)
    current_index = (train_index if current.cooccurrence == variant else
                     CoOccurrenceIndex.build(train_sequences, n_items, current.cooccurrence)
                     ) if current.uses_cooccurrence else None

    def on_test(t: ShortlistTrial) -> ShortlistTrial:
        cfg = t.config(config.n_candidates)
        return measure_shortlist(dataset, test_cases, test_pop, cfg, index_source,
                                 train_index if cfg.uses_cooccurrence else None, train_sequences)

    return ShortlistTuning(
        signals=signals, validation=trials, best=best, test_best=on_test(best), weights_only=weights_only,
        test_current=measure_shortlist(dataset, test_cases, test_pop, current, index_source, current_index,
                                       train_sequences, sequence_times=dataset.interactions.times_for(train)),
        validation_users=tuple(u for _, val in splits for u in val),
        n_fit_users=min(len(fit) for fit, _ in splits), n_test_users=len(test), by_length=tried,
        test_weights_only=on_test(weights_only), folds=max(folds, 1), first_picks_p=first_picks_p)
