"""User ids as rows of an index's per-user arrays, kept across the copies new picks are counted into.

New picks are counted into a copy of each index while requests go on reading the original
(``CandidateGenerator.count_picks``). Giving each copy a lookup of its own meant copying one entry
per user on every add, and turning every user id into a Python string and back: at 1M users that
held every other thread for a quarter of a second (``benchmarks/add_interactions.py``). The lookup
is shared instead, and only ever appended to: a user keeps one code in the original and every copy,
and an index reads only the first codes, up to its own count of users.
"""

from __future__ import annotations

from collections.abc import Sequence


class UserCodes:
    """User ids in the order they were first counted; each one's place is its code."""

    def __init__(self, names: Sequence[str]):
        self.names = [str(u) for u in names]
        self._code_of: dict[str, int] | None = None  # made on the first add: a loaded index may never take one

    def code(self, user: str) -> int:
        """``user``'s code, a new one (after every code given so far) for a user not counted yet."""
        if self._code_of is None:
            self._code_of = {u: i for i, u in enumerate(self.names)}
        code = self._code_of.get(user)
        if code is None:
            code = self._code_of[user] = len(self.names)
            self.names.append(user)
        return code

    def __len__(self) -> int:
        return len(self.names)
