"""One seeding rule for every random choice of the evaluation (sampled negatives, shuffles, the random
baseline), so that a run is reproducible across processes and every user gets their own draw.

A user id that is a number is used as that number (the rule the published reports were made with);
any other id is hashed with SHA-256, never with Python's ``hash`` (which changes per process) and never
folded to a constant (which gave every such user the same shuffle).
"""

from __future__ import annotations

import hashlib

import numpy as np


def user_key(user: str) -> int:
    if user.isdigit():
        return int(user)
    return int.from_bytes(hashlib.sha256(user.encode("utf-8")).digest()[:8], "big")


def rng_for(seed: int, *parts: int | str) -> np.random.Generator:
    """A generator for one purpose and one user: ``parts`` are small integers (a purpose tag, a history
    length, a permutation number) or user ids."""
    return np.random.default_rng([seed, *(user_key(p) if isinstance(p, str) else int(p) for p in parts)])
