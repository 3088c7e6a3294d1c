"""Which keys of a long list are held more than once, found with one dict made in C and array passes.

A catalog's titles and its titles' normalised names are mostly distinct: only the keys several places
share (a film listed twice, remakes, one-word titles) need anything done per place. At 1M titles a
Python loop that groups every place took 2.7 s; this takes a fraction of that."""

from __future__ import annotations

import numpy as np


def first_places(keys: list[str], numbers: list[int] | None = None) -> dict[str, int]:
    """Each key's first place in ``keys``. ``numbers``: ``list(range(len(keys)))`` or longer, whose
    ints the dict shares (several tables over the same places then hold one int each)."""
    places = numbers[:len(keys)] if numbers is not None else range(len(keys))
    return dict(zip(reversed(keys), reversed(places)))


def repeated(keys: list[str], first: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """The places whose key is held more than once (ascending), and each one's key's first place
    (``first``: ``first_places(keys)``). Both empty when every key is held once."""
    n = len(keys)
    if len(first) == n:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    firsts = np.fromiter(map(first.__getitem__, keys), dtype=np.int64, count=n)
    heads = np.unique(firsts[firsts != np.arange(n)])
    places = np.flatnonzero(np.isin(firsts, heads))
    return places, firsts[places]
