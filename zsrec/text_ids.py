"""Ids in text numbered a block at a time, for the bulk read of a ratings file (zsrec/bulk_ratings.py).

A log with ids in text ("A3R5OBKS7OM2IR" rates "B00004TUBL") comes to the bulk read as a numpy bytes
array a block (about 26k ids). Each distinct id needs one number (a user's code, the key to an
item's catalog row) across the whole file. Sorting each block's ids to find its distinct ones and
looking those up in a dict took 17 us a row at 1M ratings, more than the rest of the read; here
each id's bytes are hashed to 64 bits and looked up in an open-addressing table held in numpy
arrays, the whole block at once. Only ids not met before are handled one at a time (to look an item
up in the catalog), once each. Two ids that hash alike are told apart by their bytes, which are
compared on every hit: the numbering is exact whatever the hashes do.
"""

from __future__ import annotations

import numpy as np

_EMPTY = -1  # a free slot's code
_MIX = np.uint64(0xBF58476D1CE4E5B9)  # splitmix64's multiplier: every bit of a word moves the high bits
_START = np.uint64(0x9E3779B97F4A7C15)


def hashes(ids: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each id (a numpy bytes array; no id holds a zero byte), the same whatever the
    array's width: the bytes are read 8 at a time, and a word of padding alone (all zeros) is skipped."""
    width = ids.dtype.itemsize
    padded = -(-width // 8) * 8
    if padded != width:
        ids = ids.astype(f"S{padded}")
    words = np.ascontiguousarray(ids).view(np.uint64).reshape(len(ids), padded // 8)
    h = np.full(len(ids), _START, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(words.shape[1]):
            word = words[:, k]
            mixed = (h ^ word) * _MIX
            mixed ^= mixed >> np.uint64(29)
            h = np.where(word != 0, mixed, h)
    return h


class TextIds:
    """Distinct ids in text, each with a code: 0, 1, 2, ... in the order they were added."""

    def __init__(self) -> None:
        self._slot_hash = np.zeros(1 << 10, dtype=np.uint64)
        self._slot_code = np.full(1 << 10, _EMPTY, dtype=np.int64)
        self._texts = np.zeros(1 << 10, dtype="S1")  # each code's id, room to grow
        self._hash_of = np.zeros(1 << 10, dtype=np.uint64)  # each code's hash: the table is grown without hashing again
        self.count = 0

    def codes(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each id's code, and the ids not held before, now added (distinct, in sorted order: they have
        the codes after those held before, in that order)."""
        h = hashes(ids)
        codes = self._find(h, ids)
        missing = codes < 0
        if not missing.any():
            return codes, ids[:0]
        fresh, inverse = np.unique(ids[missing], return_inverse=True)
        first = self.count
        self._add(fresh, hashes(fresh))
        codes[missing] = first + inverse
        return codes, fresh

    def texts(self) -> np.ndarray:
        """Every id held, by code."""
        return self._texts[:self.count]

    def _find(self, h: np.ndarray, ids: np.ndarray) -> np.ndarray:
        mask = len(self._slot_hash) - 1
        codes = np.full(len(ids), _EMPTY, dtype=np.int64)
        todo = np.arange(len(ids))
        slot = (h & np.uint64(mask)).astype(np.int64)
        while len(todo):  # linear probing: on from each id's slot until its own or a free one
            code = self._slot_code[slot]
            same = (code != _EMPTY) & (self._slot_hash[slot] == h[todo])
            if same.any():
                at = np.flatnonzero(same)
                equal = self._texts[code[at]] == ids[todo[at]]
                codes[todo[at[equal]]] = code[at[equal]]
                same[at[~equal]] = False  # another id with the same hash: probe on
            going = (code != _EMPTY) & ~same
            todo, slot = todo[going], (slot[going] + 1) & mask
        return codes

    def _add(self, fresh: np.ndarray, h: np.ndarray) -> None:
        n, first = len(fresh), self.count
        if (first + n) * 2 > len(self._slot_hash):
            self._grow(first + n)
        if first + n > len(self._texts) or fresh.dtype.itemsize > self._texts.dtype.itemsize:
            size = max(len(self._texts), 2 * (first + n))
            width = max(fresh.dtype.itemsize, self._texts.dtype.itemsize)
            texts, hash_of = np.zeros(size, dtype=f"S{width}"), np.zeros(size, dtype=np.uint64)
            texts[:first], hash_of[:first] = self._texts[:first], self._hash_of[:first]
            self._texts, self._hash_of = texts, hash_of
        self._texts[first:first + n] = fresh
        self._hash_of[first:first + n] = h
        self._place(h, np.arange(first, first + n))
        self.count = first + n

    def _place(self, h: np.ndarray, codes: np.ndarray) -> None:
        mask = len(self._slot_hash) - 1
        slot = (h & np.uint64(mask)).astype(np.int64)
        todo = np.arange(len(h))
        while len(todo):  # each free slot taken by the first id wanting it; the rest probe on
            free = np.flatnonzero(self._slot_code[slot] == _EMPTY)
            _, first = np.unique(slot[free], return_index=True)
            won = free[first]
            self._slot_hash[slot[won]] = h[todo[won]]
            self._slot_code[slot[won]] = codes[todo[won]]
            left = np.ones(len(todo), dtype=bool)
            left[won] = False
            todo, slot = todo[left], (slot[left] + 1) & mask

    def _grow(self, needed: int) -> None:
        size = len(self._slot_hash)
        while needed * 4 > size:  # a quarter full at most after growing: short probes
            size *= 2
        self._slot_hash = np.zeros(size, dtype=np.uint64)
        self._slot_code = np.full(size, _EMPTY, dtype=np.int64)
        self._place(self._hash_of[:self.count], np.arange(self.count))
