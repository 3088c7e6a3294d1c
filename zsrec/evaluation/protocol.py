"""The cold-start protocol: which users are tested, what they are shown, and what counts as a hit.

Users are split once, seeded: test users are never seen by anything trained (SASRec, popularity).
For each test user and history length n, the history is their first n interactions in time order
and the target is the one that comes next (and, as a second target, any of the next five). Every
test user counts: a target missing from the candidates is a miss, never a skip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..candidates import CandidateConfig
from ..cooccurrence import CoOccurrenceConfig
from ..data import Dataset
from ..errors import OptionError
from ..length_weights import LengthWeights

REFERENCES = ("sasrec", "ease", "itemknn", "pop", "random")  # every method is paired-tested against these, on the same users


@dataclass(frozen=True)
class EvalConfig:
    history_lens: tuple[int, ...] = (1, 3, 5, 10)
    n_test_users: int = 200
    seed: int = 0
    n_candidates: int = 20  # shortlist / sampled list size
    settings: tuple[str, ...] = ("generator", "sampled-uniform", "sampled-pop", "full")
    ks: tuple[int, ...] = (1, 5, 10)
    next_n: int = 5  # the second target: any of the next n items
    # Weight of the LLM's rank in X+fusion (the rest: the generator's rank); None: chosen on validation users.
    fusion_weight: float | None = 0.5
    permutations: int = 1  # >1: rank each list in that many shuffled orders and Borda-average them
    # The generator's shortlist weights (the library defaults unless given), kept in every report.
    bm25_weight: float = CandidateConfig.bm25_weight
    popularity_weight: float = CandidateConfig.popularity_weight
    cooccurrence_weight: float = CandidateConfig.cooccurrence_weight
    cooccurrence: CoOccurrenceConfig = CoOccurrenceConfig()
    by_length: tuple[LengthWeights, ...] | None = None  # short histories' own weights (None: as CandidateConfig)
    session_share: float = CandidateConfig.session_share  # the session signal (0: off), as CandidateConfig
    session_seconds: float = CandidateConfig.session_seconds
    sittings_share: float = CandidateConfig.sittings_share  # similar sittings (0: off), as CandidateConfig
    sittings_neighbours: int = CandidateConfig.sittings_neighbours
    # Training users held out to choose hyper-parameters and fusion weights (at most half of them).
    n_validation_users: int = 200

    def __post_init__(self) -> None:
        if self.n_validation_users < 1:
            raise OptionError("at least one validation user is needed")
        if self.fusion_weight is not None and not 0 <= self.fusion_weight <= 1:
            raise OptionError("the fusion weight must lie in [0, 1] (or None: chosen on validation users)")
        if not self.history_lens or min(self.history_lens) < 1:
            raise OptionError("history lengths must be at least 1")
        known = ("generator", "sampled-uniform", "sampled-pop", "full")
        unknown = set(self.settings) - set(known)
        if unknown:
            raise OptionError(f"unknown candidate settings {sorted(unknown)}; use {', '.join(known)}")
        # The same checks as the pipeline's; "auto" entries resolved as the library resolves them.
        object.__setattr__(self, "by_length", self.shortlist().by_length)

    def shortlist(self) -> CandidateConfig:
        """The generator's configuration in this evaluation."""
        return CandidateConfig(n_candidates=self.n_candidates, bm25_weight=self.bm25_weight,
                               popularity_weight=self.popularity_weight, cooccurrence_weight=self.cooccurrence_weight,
                               cooccurrence=self.cooccurrence,
                               by_length=self.by_length, session_share=self.session_share,
                               session_seconds=self.session_seconds, sittings_share=self.sittings_share,
                               sittings_neighbours=self.sittings_neighbours)


@dataclass(frozen=True)
class Case:
    user: str
    n: int  # history length
    history: tuple[int, ...]  # catalog rows, oldest first
    target: int
    next_items: tuple[int, ...]  # the target and up to next_n - 1 after it
    seen_later: tuple[int, ...] = field(default=())  # everything else the user touched (kept out of negatives)


def split_users(dataset: Dataset, config: EvalConfig) -> tuple[list[str], list[str]]:
    """(train users, test users). Test users are drawn among those with enough history for the
    longest history length plus a target; everyone else trains the baselines."""
    inter = dataset.interactions
    users = sorted(inter.user_ids, key=lambda u: (len(u), u))
    need = max(config.history_lens) + 1
    eligible = [u for u in users if len(inter.user_history(u)) >= need]
    if not eligible:
        most = max((len(inter.user_history(u)) for u in users), default=0)
        raise OptionError(f"no user has the {need} interactions that a history of {max(config.history_lens)} and its "
                          f"target need (the most any user has: {most}); use shorter history lengths")
    rng = np.random.default_rng(config.seed)
    take = min(config.n_test_users, len(eligible))
    test = sorted(rng.choice(eligible, size=take, replace=False).tolist(), key=lambda u: (len(u), u))
    chosen = set(test)
    return [u for u in users if u not in chosen], test


def make_cases(dataset: Dataset, test_users: Sequence[str], config: EvalConfig) -> list[Case]:
    cases = []
    for n in config.history_lens:
        for user in test_users:
            rows = [int(i) for i in dataset.interactions.user_history(user)]
            cases.append(Case(user, n, tuple(rows[:n]), rows[n], tuple(rows[n:n + config.next_n]),
                              tuple(rows[n + 1:])))
    return cases


def popularity_counts(dataset: Dataset, users: Sequence[str]) -> np.ndarray:
    """Interactions per catalog row, counted over ``users`` only (never over the users being tested)."""
    inter = dataset.interactions
    rows = [np.asarray(inter.user_history(u)) for u in users]
    n = len(dataset.catalog)
    return np.bincount(np.concatenate(rows), minlength=n).astype(np.float64) if rows else np.zeros(n)


def _with_enough_history(dataset: Dataset, config: EvalConfig, users: Sequence[str]) -> list[str]:
    """The users who have the longest history length plus a target: the ones that can validate."""
    need = max(config.history_lens) + 1
    return [u for u in users if len(dataset.interactions.user_history(u)) >= need]


def validation_split(dataset: Dataset, config: EvalConfig, train: Sequence[str],
                     n_validation: int | None = None) -> tuple[list[str], list[str]]:
    """(fit users, validation users), both among the training users: hyper-parameters are chosen on
    the validation users with everything counted or trained on the fit users, never on test users."""
    eligible = _with_enough_history(dataset, config, train)
    if len(eligible) < 2:
        raise OptionError("too few training users with enough history to hold some out for validation")
    rng = np.random.default_rng([config.seed, 1])
    wanted = config.n_validation_users if n_validation is None else n_validation
    take = min(wanted, len(eligible) // 2)  # keep at least half of them for fitting
    chosen = set(rng.choice(eligible, size=take, replace=False).tolist())
    return [u for u in train if u not in chosen], [u for u in eligible if u in chosen]


def validation_folds(dataset: Dataset, config: EvalConfig, train: Sequence[str],
                     folds: int) -> list[tuple[list[str], list[str]]]:
    """``folds`` disjoint (fit users, validation users) splits of the training users: every training
    user with enough history validates once, with everything counted on the others. Choosing among
    close settings on one fold of 200 users picks noise; pooling every fold's users cuts it."""
    if folds < 2:
        raise OptionError("cross-validation needs at least 2 folds")
    eligible = _with_enough_history(dataset, config, train)
    if len(eligible) < folds:
        raise OptionError(f"too few training users with enough history for {folds} folds")
    rng = np.random.default_rng([config.seed, 2])
    fold_of = dict(zip(eligible, rng.permutation(len(eligible)) % folds))
    return [([u for u in train if fold_of.get(u) != f], [u for u in eligible if fold_of[u] == f])
            for f in range(folds)]
