"""User ids as rows of an index's per-user arrays, kept across the copies new picks are counted into.

New picks are counted into a copy of each index while requests go on reading the original
(``CandidateGenerator.count_picks``). Giving each copy a lookup of its own meant copying one entry
per user on every add, and turning every user id into a Python string and back: at 1M users that
held every other thread for a quarter of a second (``benchmarks/add_interactions.py``). The lookup
is shared instead, and only ever appended to: a user keeps one code in the original and every copy,
and an index reads only the first codes, up to its own count of users.
"""

from __future__ import annotations

import numpy as np


class UserCodes:
    """User ids in the order they were first counted; each one's place is its code. The ids an index
    was built with stay the array they were given: the lookup (a Python string and dict entry per
    user) is made on the first add, so an index that never takes one never pays for it."""

    def __init__(self, ids: np.ndarray):
        self._given = np.asarray(ids, dtype=str)
        self._added: list[str] = []
        self._code_of: dict[str, int] | None = None

    def code(self, user: str) -> int:
        """``user``'s code, a new one (after every code given so far) for a user not counted yet."""
        if self._code_of is None:
            self._code_of = {u: i for i, u in enumerate(self._given.tolist())}
        code = self._code_of.get(user)
        if code is None:
            code = self._code_of[user] = len(self)
            self._added.append(user)
        return code

    def ids(self, n: int) -> np.ndarray:
        """The user ids of codes 0 to ``n`` - 1 (an index's own count), as an array."""
        if n <= len(self._given):
            return self._given[:n]
        return np.concatenate([self._given, np.asarray(self._added[:n - len(self._given)], dtype=str)])

    def __len__(self) -> int:
        return len(self._given) + len(self._added)
