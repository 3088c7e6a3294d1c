"""Choose the session signal's settings on validation users, never on test users.

The session signal (``CandidateConfig(session_share=...)``) blends into the shortlist's co-occurrence
part what users picked within ``session_seconds`` of each other. Whether it helps depends on how the
catalog's users pick (in sittings, as MovieLens raters did, or one item now and then) and on what
the timestamps mean, so it is a number to measure on your data. Every training user validates once
(cross-validation: counts from the other folds), the whole shortlist is measured with each setting,
and the best by mean recall + NDCG@10 over the history lengths it touches (two picks or more) is
kept only if it beats the shortlist without it beyond noise: it costs a second index to build, keep
and update, as a first-picks index does (the same rule, ``SESSION_P``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..candidates import CandidateConfig, CandidateGenerator
from ..data import Dataset
from ..errors import OptionError
from .metrics import hit, ndcg
from .protocol import Case, EvalConfig, make_cases, popularity_counts, split_users, validation_folds
from .tuning import improvement_p

SHARES = (0.1, 0.2, 0.35, 0.5)
SECONDS = (10.0, 60.0, 300.0, 3600.0)
DECAYS = (0.5, 0.8)
SESSION_P = 0.05  # how sure the tuner must be that the signal beats the shortlist without it


@dataclass(frozen=True)
class SessionTrial:
    """One setting on the validation users: recall@n_candidates and NDCG@10 per history length."""

    session_share: float  # 0: the shortlist without the signal
    session_seconds: float
    session_decay: float
    recall: dict[int, float]
    ndcg10: dict[int, float]
    criterion: float  # mean recall + NDCG@10 over the lengths the signal touches
    p_vs_off: dict[int, float] | None = None  # per length: one-sided paired Wilcoxon against share 0
    p_pooled: float | None = None  # the same over the cases of every touched length


@dataclass(frozen=True)
class SessionTuning:
    off: SessionTrial
    trials: list[SessionTrial]  # every setting tried, in grid order
    best: SessionTrial  # the highest criterion
    kept: bool  # best.p_pooled < SESSION_P: worth its second index
    lengths: tuple[int, ...]  # the history lengths the criterion covers
    folds: int
    validation_cases: dict[int, int]

    def config(self, base: CandidateConfig) -> CandidateConfig:
        """``base`` with the chosen setting, or with the signal off when it was not kept."""
        if not self.kept:
            return replace(base, session_share=0.0)
        return replace(base, session_share=self.best.session_share, session_seconds=self.best.session_seconds,
                       session_decay=self.best.session_decay)


def shared_indexes(dataset: Dataset, users: Sequence[str], base: CandidateConfig) -> dict:
    """What every setting of the signal shares on these users (popularity, the text, co-occurrence and
    first-picks indexes), so a grid builds them once; session indexes join it as they are built."""
    inter = dataset.interactions
    sequences = [inter.user_history(u) for u in users]
    off = CandidateGenerator(dataset.catalog, config=replace(base, session_share=0.0),
                             popularity=popularity_counts(dataset, users), sequences=sequences)
    return {"popularity": off.popularity_counts, "text": off.index, "cooccurrence": off.cooccurrence,
            "first_picks": off.first_picks, "sequences": sequences,
            "times": [inter.user_times(u) for u in users]}


def per_case_scores(dataset: Dataset, cases: Sequence[Case], config: CandidateConfig,
                    shared: dict) -> dict[int, np.ndarray]:
    """(recall@n_candidates, NDCG@10) of each case, by history length, for the shortlist ``config``
    counted on the users ``shared`` was built from."""
    lent = shared.get(("session", config.session_seconds, config.session_config))
    gen = CandidateGenerator(dataset.catalog, config=config, popularity=shared["popularity"], index=shared["text"],
                             cooccurrence=shared["cooccurrence"], first_picks=shared["first_picks"], session=lent,
                             sequences=shared["sequences"], sequence_times=shared["times"])
    if gen.session is not None:
        shared[("session", config.session_seconds, config.session_config)] = gen.session
    out: dict[int, list[tuple[float, float]]] = {}
    k = config.n_candidates
    for case, cands in zip(cases, gen.generate_many([list(c.history) for c in cases], None, k)):
        order = cands.indices.tolist()
        out.setdefault(case.n, []).append((hit(order, {case.target}, k), ndcg(order, {case.target}, 10)))
    return {n: np.asarray(v) for n, v in out.items()}


def tune_session(dataset: Dataset, config: EvalConfig | None = None, base: CandidateConfig | None = None,
                 shares: Sequence[float] = SHARES, seconds: Sequence[float] = SECONDS,
                 decays: Sequence[float] = DECAYS, folds: int = 4) -> SessionTuning:
    """Every (share, seconds, decay) added to ``base`` (default: ``config``'s shortlist), on ``folds``-fold
    cross-validation over ``config``'s training users; its test users are never touched."""
    config = config or EvalConfig()
    base = replace(base or config.shortlist(), n_candidates=config.n_candidates, session_share=0.0)
    if not shares or not seconds or not decays:
        raise OptionError("give at least one share, one sitting length and one decay")
    settings = [replace(base, session_share=sh, session_seconds=sec, session_decay=dec)
                for sh in shares for sec in seconds for dec in decays]  # CandidateConfig checks each value
    if any(s.session_share == 0 for s in settings):
        raise OptionError("the shares tried must be above 0 (0 is the shortlist without the signal, always measured)")
    lengths = tuple(n for n in sorted(config.history_lens) if n >= 2)  # one-pick histories are left alone
    if not lengths:
        raise OptionError("the session signal touches histories of two or more picks: give such history lengths")
    train, _ = split_users(dataset, config)
    pooled: list[dict[int, list[np.ndarray]]] = [{} for _ in range(len(settings) + 1)]
    for fit, validate in validation_folds(dataset, config, train, folds):
        cases = make_cases(dataset, validate, config)
        shared = shared_indexes(dataset, fit, base)
        for i, cfg in enumerate([base, *settings]):
            for n, v in per_case_scores(dataset, cases, cfg, shared).items():
                pooled[i].setdefault(n, []).append(v)
    per = [{n: np.concatenate(v) for n, v in p.items()} for p in pooled]

    def trial(cfg: CandidateConfig, scores: dict[int, np.ndarray], off: dict[int, np.ndarray] | None) -> SessionTrial:
        p_vs_off = p_pooled = None
        if off is not None:
            p_vs_off = {n: improvement_p(scores[n].sum(1), off[n].sum(1)) for n in scores}
            p_pooled = improvement_p(np.concatenate([scores[n].sum(1) for n in lengths]),
                                     np.concatenate([off[n].sum(1) for n in lengths]))
        return SessionTrial(cfg.session_share, cfg.session_seconds, cfg.session_decay,
                            {n: float(v[:, 0].mean()) for n, v in scores.items()},
                            {n: float(v[:, 1].mean()) for n, v in scores.items()},
                            float(np.mean([scores[n].sum(1).mean() for n in lengths])), p_vs_off, p_pooled)

    off = trial(base, per[0], None)
    trials = [trial(cfg, scores, per[0]) for cfg, scores in zip(settings, per[1:])]
    best = max(trials, key=lambda t: t.criterion)
    assert best.p_pooled is not None
    return SessionTuning(off=off, trials=trials, best=best,
                         kept=best.criterion > off.criterion and best.p_pooled < SESSION_P,
                         lengths=lengths, folds=folds, validation_cases={n: len(v) for n, v in per[0].items()})
