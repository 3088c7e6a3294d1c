"""Choose the session signal's settings on validation users, never on test users.

The session signal (``CandidateConfig(session_share=...)``) blends into the shortlist's co-occurrence
part what users picked within ``session_seconds`` of each other. Whether it helps depends on how the
catalog's users pick (in sittings, as MovieLens raters did, or one item now and then) and on what
the timestamps mean, so it is a number to measure on your data. Every training user validates once
(cross-validation: counts from the other folds), the whole shortlist is measured with each setting,
and the best by mean recall + NDCG@10 over the history lengths it touches (two picks or more) is
kept only if it beats the shortlist without it beyond noise: it costs a second index to build, keep
and update, as a first-picks index does (the same rule, ``SESSION_P``).

Similar sittings (``sittings_share``, ``sittings_neighbours``: the sittings most like the history vote
for their items, zsrec.sittings) are chosen the same way by ``tune_sittings``, on top of the session
signal as ``base`` has it: they reuse its sitting length and recency decay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..candidates import CandidateConfig, CandidateGenerator
from ..cooccurrence import CoOccurrenceIndex
from ..data import Dataset
from ..errors import OptionError
from ..sittings import SittingIndex
from .protocol import Case, EvalConfig, make_cases, popularity_counts, split_users, validation_folds
from .tuning import FIRST_PICKS_P, ShortlistTrial, _measured, _pooled, improvement_p

SHARES = (0.1, 0.2, 0.35, 0.5)
SECONDS = (10.0, 60.0, 300.0, 3600.0)
DECAYS = (0.5, 0.8)
SITTINGS_SHARES = (0.2, 0.35, 0.5, 0.65)
SITTINGS_NEIGHBOURS = (100, 200, 400)
SESSION_P = FIRST_PICKS_P  # a second index to keep: the bar a first-picks index must clear too


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
    sittings_share: float = 0.0  # similar sittings (0: off)
    sittings_neighbours: int = CandidateConfig.sittings_neighbours


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
        """``base`` with the chosen setting, or with the tuned signal off (``off``'s setting) when it was
        not kept."""
        t = self.best if self.kept else self.off
        return replace(base, session_share=t.session_share, session_seconds=t.session_seconds,
                       session_decay=t.session_decay, sittings_share=t.sittings_share,
                       sittings_neighbours=t.sittings_neighbours)


def shared_indexes(dataset: Dataset, users: Sequence[str], base: CandidateConfig) -> dict:
    """What every setting of the signal shares on these users (popularity, the text, co-occurrence and
    first-picks indexes, the picks and their times), so a grid builds them once; each sitting length's
    session index joins it the first time it is needed."""
    inter = dataset.interactions
    sequences = [inter.user_history(u) for u in users]
    off = CandidateGenerator(dataset.catalog, config=replace(base, session_share=0.0, sittings_share=0.0),
                             popularity=popularity_counts(dataset, users), sequences=sequences)
    return {"popularity": off.popularity_counts, "text": off, "cooccurrence": off.cooccurrence,
            "first_picks": off.first_picks, "sequences": sequences,
            "times": inter.times_for(users), "sessions": {}, "sittings": {}}


def measure_with_session(dataset: Dataset, cases: Sequence[Case], config: CandidateConfig,
                         shared: dict) -> tuple[ShortlistTrial, dict[int, np.ndarray]]:
    """The shortlist ``config`` counted on the users ``shared`` was built from (``measure_shortlist``)
    and each case's recall + NDCG@10, by history length, for paired tests."""
    session = None
    if config.uses_session:
        key = config.session_config
        if key not in shared["sessions"]:
            shared["sessions"][key] = CoOccurrenceIndex.build(shared["sequences"], len(dataset.catalog), key,
                                                              shared["times"])
        session = shared["sessions"][key]
    sittings = None
    if config.uses_sittings and shared["times"] is not None:
        if config.session_seconds not in shared["sittings"]:
            shared["sittings"][config.session_seconds] = SittingIndex.build(
                shared["sequences"], shared["times"], len(dataset.catalog), config.session_seconds)
        sittings = shared["sittings"][config.session_seconds]
    trial, per_case = _measured(dataset, cases, shared["popularity"], config, shared["text"], shared["cooccurrence"],
                                shared["sequences"], shared["first_picks"], session=session, sittings=sittings)
    lengths = np.asarray([c.n for c in cases])
    return trial, {int(n): per_case[lengths == n] for n in np.unique(lengths)}


def tune_session(dataset: Dataset, config: EvalConfig | None = None, base: CandidateConfig | None = None,
                 shares: Sequence[float] = SHARES, seconds: Sequence[float] = SECONDS,
                 decays: Sequence[float] = DECAYS, folds: int = 4) -> SessionTuning:
    """Every (share, seconds, decay) added to ``base`` (default: ``config``'s shortlist, without
    similar sittings), on ``folds``-fold cross-validation over ``config``'s training users; its test
    users are never touched."""
    config = config or EvalConfig()
    base = replace(base or config.shortlist(), n_candidates=config.n_candidates, session_share=0.0,
                   sittings_share=0.0)
    if not shares or not seconds or not decays:
        raise OptionError("give at least one share, one sitting length and one decay")
    settings = [replace(base, session_share=sh, session_seconds=sec, session_decay=dec)
                for sh in shares for sec in seconds for dec in decays]  # CandidateConfig checks each value
    if any(s.session_share == 0 for s in settings):
        raise OptionError("the shares tried must be above 0 (0 is the shortlist without the signal, always measured)")
    return _tune(dataset, config, base, settings, folds)


def tune_sittings(dataset: Dataset, config: EvalConfig | None = None, base: CandidateConfig | None = None,
                  shares: Sequence[float] = SITTINGS_SHARES, neighbours: Sequence[int] = SITTINGS_NEIGHBOURS,
                  folds: int = 4) -> SessionTuning:
    """Every (share, neighbours) of similar sittings added to ``base`` (default: ``config``'s
    shortlist, its session signal as it is), cross-validated as ``tune_session`` does."""
    config = config or EvalConfig()
    base = replace(base or config.shortlist(), n_candidates=config.n_candidates, sittings_share=0.0)
    if not shares or not neighbours:
        raise OptionError("give at least one share and one number of neighbour sittings")
    settings = [replace(base, sittings_share=sh, sittings_neighbours=k) for sh in shares for k in neighbours]
    if any(s.sittings_share == 0 for s in settings):
        raise OptionError("the shares tried must be above 0 (0 is the shortlist without the signal, always measured)")
    return _tune(dataset, config, base, settings, folds)


def _tune(dataset: Dataset, config: EvalConfig, base: CandidateConfig, settings: Sequence[CandidateConfig],
          folds: int) -> SessionTuning:
    """``base`` and each of ``settings`` measured on the validation folds; the best kept if it beats
    ``base`` beyond noise."""
    lengths = tuple(n for n in sorted(config.history_lens) if n >= 2)  # one-pick histories are left alone
    if not lengths:
        raise OptionError("the session signal touches histories of two or more picks: give such history lengths")
    if not dataset.interactions.timed:
        raise OptionError("the session signal counts pairs picked within some seconds of each other: these "
                          "interactions have no timestamps, so there is nothing to tune")
    train, _ = split_users(dataset, config)
    trials_by_fold: list[list[ShortlistTrial]] = [[] for _ in range(len(settings) + 1)]
    pooled: list[dict[int, list[np.ndarray]]] = [{} for _ in range(len(settings) + 1)]
    sizes = []
    for fit, validate in validation_folds(dataset, config, train, folds):
        cases = make_cases(dataset, validate, config)
        shared = shared_indexes(dataset, fit, base)
        for i, cfg in enumerate([base, *settings]):
            trial, per_case = measure_with_session(dataset, cases, cfg, shared)
            trials_by_fold[i].append(trial)
            for n, v in per_case.items():
                pooled[i].setdefault(n, []).append(v)
        sizes.append(len(validate))
    measured = [_pooled(t, sizes) for t in trials_by_fold]
    per = [{n: np.concatenate(v) for n, v in p.items()} for p in pooled]

    def trial(cfg: CandidateConfig, pooled_trial: ShortlistTrial, scores: dict[int, np.ndarray],
              off: dict[int, np.ndarray] | None) -> SessionTrial:
        p_vs_off = p_pooled = None
        if off is not None:
            p_vs_off = {n: improvement_p(scores[n], off[n]) for n in scores}
            p_pooled = improvement_p(np.concatenate([scores[n] for n in lengths]),
                                     np.concatenate([off[n] for n in lengths]))
        return SessionTrial(cfg.session_share, cfg.session_seconds, cfg.session_decay, pooled_trial.recall,
                            pooled_trial.ndcg10, float(np.mean([scores[n].mean() for n in lengths])), p_vs_off,
                            p_pooled, cfg.sittings_share, cfg.sittings_neighbours)

    off = trial(base, measured[0], per[0], None)
    trials = [trial(cfg, m, scores, per[0]) for cfg, m, scores in zip(settings, measured[1:], per[1:])]
    best = max(trials, key=lambda t: t.criterion)
    assert best.p_pooled is not None
    return SessionTuning(off=off, trials=trials, best=best,
                         kept=best.criterion > off.criterion and best.p_pooled < SESSION_P,
                         lengths=lengths, folds=folds, validation_cases={n: len(v) for n, v in per[0].items()})
