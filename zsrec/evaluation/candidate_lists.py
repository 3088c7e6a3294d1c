"""The list each method ranks for a case, per candidate setting, always the same for the same case.

generator: the shortlist users get, in its order; sampled-uniform / sampled-pop: the target plus
negatives drawn uniformly or by popularity, shuffled so the target's place says nothing; full: every
item the user has not picked.
"""

from __future__ import annotations

import numpy as np

from ..candidates import CandidateGenerator
from .protocol import Case, EvalConfig
from .seeding import rng_for

SETTINGS = ("generator", "sampled-uniform", "sampled-pop", "full")


class CandidateLists:
    def __init__(self, n_items: int, config: EvalConfig, popularity: np.ndarray, generator: CandidateGenerator):
        self.n_items = n_items
        self.config = config
        self.popularity = popularity
        self.generator = generator

    def __call__(self, setting: str, case: Case) -> np.ndarray:
        """Catalog rows, in the order shown to an LLM."""
        if setting == "generator":
            return self.generator.generate(list(case.history), (), self.config.n_candidates).indices
        if setting == "full":
            mask = np.ones(self.n_items, dtype=bool)
            mask[list(case.history)] = False
            return np.flatnonzero(mask)
        rng = rng_for(self.config.seed, case.n, case.user, 1 if setting == "sampled-pop" else 0)
        banned = set(case.history) | set(case.seen_later) | {case.target}
        mask = np.ones(self.n_items, dtype=bool)
        mask[list(banned)] = False
        allowed = np.flatnonzero(mask)
        # a small catalog (or a user who saw most of it) may hold fewer negatives than asked: all of them
        size = min(self.config.n_candidates - 1, len(allowed))
        if setting == "sampled-pop":
            p = self.popularity[allowed] + 1.0
            negatives = rng.choice(allowed, size=size, replace=False, p=p / p.sum()) if size else allowed
        else:
            negatives = rng.choice(allowed, size=size, replace=False) if size else allowed
        rows = np.concatenate([[case.target], negatives])
        return rows[rng.permutation(len(rows))]
