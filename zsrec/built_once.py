"""One index that every variant of a Recommender reads, made on first use and made again once the
data outgrow it.

A service answers each request's own settings with a shallow copy of its Recommender
(``with_settings``); an index each copy made for itself was made again by every copy that needed it
(at 1M items a genre filter's index takes 0.6-0.7 s, a reason checker 1.5 s). Held here, the copies share
one, and two requests that need it at once wait for one making rather than make it twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class BuiltOnce(Generic[T]):
    def __init__(self, make: Callable[[], T], stale: Callable[[T], bool]):
        """``make``: builds the index from the data as they are now; ``stale``: whether a made one no
        longer fits them (the catalog grew), so that the next ``get`` makes it again."""
        self._make = make
        self._stale = stale
        # held while it is made, and by a caller that puts a grown one in place together with the
        # data it fits, so that no reader in between finds it stale and makes it again
        self.lock = threading.Lock()
        self.value: T | None = None  # what was made last (or put in place), stale or not

    def fresh(self) -> T | None:
        """What was made, where it still fits the data (else None), without making it: for a caller
        that uses it if it is there but must not wait for a making (an item add growing it; the
        reason checker reading the genre index's genres)."""
        value = self.value
        return value if value is not None and not self._stale(value) else None

    def get(self) -> T:
        value = self.value
        if value is None or self._stale(value):
            with self.lock:
                value = self.value
                if value is None or self._stale(value):
                    value = self.value = self._make()
        return value
