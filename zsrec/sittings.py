"""The catalog's sittings, and the ones most like a new user's latest picks (session kNN).

A sitting is a run of one user's picks with at most ``seconds`` between consecutive ones: what
someone chose in one go (MovieLens raters rated a page of films at a time). Pair counts (the session
signal, ``zsrec.cooccurrence`` with ``seconds``) keep only which two items were picked together; a
sitting keeps the whole set, so "the sittings that hold most of this user's latest picks" points at
the other items of that page or mood, which pairs blur. Scoring follows session kNN (Ludewig and
Jannach, 2018): each sitting is weighted by how much of the history it holds (recent picks count
more), divided by the square root of its size so big sittings do not win by size alone; the
``neighbours`` best sittings vote for their items with that weight. No training: the index is the
interactions regrouped.

Bounded cost at any catalog size: each item lists at most ``per_item`` sittings (its most recent
ones), so a query touches at most ``len(history) x per_item`` sittings, then the members of the
``neighbours`` best. New picks extend their user's latest sitting or open one, without a rebuild of
the counts (``add``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from .errors import DataError, OptionError
from .sparse_rows import grown, places_in_rows, with_rows
from .user_codes import UserCodes

PER_ITEM = 1000  # sittings listed per item (its most recent); ML-100K's most picked film is in 583


class SittingIndex:
    """Sittings x items (which items each sitting holds), and per item its most recent sittings of
    two or more picks (a one-pick sitting only holds the item itself)."""

    def __init__(self, members: sparse.csr_matrix, ends: np.ndarray, owners: np.ndarray, users: np.ndarray,
                 seconds: float, per_item: int = PER_ITEM, listed: sparse.csr_matrix | None = None):
        """``listed``: the per-item lists these sittings give (``listed`` as saved with them, read back
        by ``from_arrays``); None cuts them here."""
        if not seconds > 0:
            raise OptionError("a sitting's gap (seconds) must be more than 0")
        if per_item < 1:
            raise OptionError("per_item must be at least 1")
        self.members = members  # sittings x items, 1 where the sitting holds the item
        self.ends = np.asarray(ends, dtype=np.float64)  # each sitting's last pick's time
        self.owners = np.asarray(owners, dtype=np.int64)  # each sitting's user, as a row of ``users``
        self._codes = UserCodes(users)  # user ids, as given to build / add
        self._n_users = len(self._codes)  # the codes this index knows (its copies may know more)
        self._latest: np.ndarray | None = None  # each user's latest sitting (-1: none), made on the first add
        self.seconds = float(seconds)
        self.per_item = int(per_item)
        self._list_sittings(listed)

    @property
    def users(self) -> np.ndarray:
        """User ids, each at its code (``owners``): as given to build, then as adds first counted them."""
        return self._codes.ids(self._n_users)

    @property
    def n_items(self) -> int:
        return self.members.shape[1]

    @property
    def n_sittings(self) -> int:
        return self.members.shape[0]

    @classmethod
    def build(cls, sequences: Sequence[Sequence[int]], times: Sequence[Sequence[float]], n_items: int,
              seconds: float, users: Sequence[str] | None = None, per_item: int = PER_ITEM) -> SittingIndex:
        """Cut each user's picks (oldest first, ``times`` their timestamps) into sittings, one user
        at a time: memory is the picks themselves, one entry each."""
        if len(times) != len(sequences):
            raise OptionError("times must give one list of timestamps per user's picks")
        users = [str(u) for u in users] if users is not None else [str(u) for u in range(len(sequences))]
        if len(users) != len(sequences):
            raise OptionError("users must name each sequence's user")
        sitting_of, items, ends, owners = [], [], [], []
        count = 0
        for u, (seq, stamps) in enumerate(zip(sequences, times)):
            seq = np.asarray(seq, dtype=np.int64)
            stamps = np.asarray(stamps, dtype=np.float64)
            if len(stamps) != len(seq):
                raise OptionError("times must give one timestamp per pick")
            if not len(seq):
                continue
            starts = sitting_starts(stamps, seconds)
            which = np.zeros(len(seq), dtype=np.int64)
            which[starts] = 1
            which = np.cumsum(which)
            sitting_of.append(count + which)
            items.append(seq)
            last = np.append(starts - 1, len(seq) - 1)
            ends.append(stamps[last])
            owners.append(np.full(len(last), u))
            count += len(last)
        if items and (np.concatenate(items).min() < 0 or np.concatenate(items).max() >= n_items):
            raise DataError(f"a pick is outside the catalog's {n_items} items")
        members = _membership(np.concatenate(sitting_of) if items else np.zeros(0, dtype=np.int64),
                              np.concatenate(items) if items else np.zeros(0, dtype=np.int64), count, n_items)
        return cls(members, np.concatenate(ends) if ends else np.zeros(0),
                   np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64), np.asarray(users, dtype=str),
                   seconds, per_item)

    def _list_sittings(self, listed: sparse.csr_matrix | None = None) -> None:
        """Per item, its most recent ``per_item`` sittings of two or more picks (CSR: item -> sittings).
        Lists saved with the sittings are taken as they are: cutting them again took 2.4 s of a start
        from the index file at 1M items."""
        sizes = np.diff(self.members.indptr)
        self.sizes = sizes.astype(np.float64)
        if listed is not None:
            if listed.shape != (self.n_items, self.n_sittings):
                raise ValueError(f"the sittings' lists are {listed.shape[0]} x {listed.shape[1]}; these sittings "
                                 f"need {self.n_items} x {self.n_sittings}")
            self.listed = listed
            return
        coo = self.members.tocoo()
        keep = sizes[coo.row] >= 2
        item, sitting = self._cut(coo.col[keep].astype(np.int64), coo.row[keep].astype(np.int64))
        kept = np.bincount(item, minlength=self.n_items)
        self.listed = sparse.csr_matrix((np.ones(len(item), dtype=np.uint8), sitting,
                                         np.concatenate([[0], np.cumsum(kept)])), shape=(self.n_items, self.n_sittings))

    def _cut(self, item: np.ndarray, sitting: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(item, sitting) entries grouped by item, each item's latest sittings first (then the newest
        row), cut to ``per_item`` each: the one rule every list is made by. Given as many entries as
        there are sittings or more (a build, or a start from the index file), the sittings are put in
        that order once and each entry sorted as one integer, item then place: the same order, in
        0.9-1.2 s where the three-key sort took 2.7-2.9 s at 1M items (an add's few entries keep it)."""
        if len(item) >= len(self.ends) and len(self.ends) < 1 << 32 and self.n_items < 1 << 31:
            latest = np.lexsort((-np.arange(len(self.ends)), -self.ends))
            place = np.empty(len(latest), dtype=np.int64)
            place[latest] = np.arange(len(latest))
            key = (item << 32) | place[sitting]
            key.sort()
            item, sitting = key >> 32, latest[key & 0xFFFFFFFF]
        else:
            order = np.lexsort((-sitting, -self.ends[sitting], item))
            item, sitting = item[order], sitting[order]
        keep = places_in_rows(item) < self.per_item  # each item's first per_item, items sorted
        return item[keep], sitting[keep]

    # ------------------------------------------------------------ scoring

    def neighbour_scores(self, history: Sequence[int], recency_decay: float = 1.0,
                         neighbours: int = 200) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores), rows sorted: each item's summed likeness over the ``neighbours`` sittings
        most like the history (its picks weighted ``recency_decay`` per older one; a sitting's
        likeness is the weight of the history it holds over the square root of its size). Equal
        likeness goes to the lower sitting row, so the result is the same on every run."""
        if neighbours < 1:
            raise OptionError("neighbours must be at least 1")
        hist = np.asarray(history, dtype=np.int64)
        if len(hist) and (hist.min() < 0 or hist.max() >= self.n_items):
            raise OptionError(f"a history item is outside the index's {self.n_items} items")
        weights = recency_decay ** np.arange(len(hist) - 1, -1, -1, dtype=np.float64)
        chosen, like = self.best_sittings(hist, weights, neighbours)
        if not len(chosen):
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        rows_of = self.members[chosen]
        items = rows_of.indices.astype(np.int64)
        votes = np.repeat(like, np.diff(rows_of.indptr))
        rows, inverse = np.unique(items, return_inverse=True)
        return rows, np.bincount(inverse, weights=votes, minlength=len(rows))

    def best_sittings(self, history: np.ndarray, weights: np.ndarray, neighbours: int,
                      size_exponent: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
        """(sitting rows, likeness) of the ``neighbours`` sittings most like ``history`` (catalog rows,
        each weighted by ``weights``): the weight of the history a sitting holds over its size **
        ``size_exponent``, best first, equal likeness to the lower row. ``neighbour_scores`` lets them
        vote; benchmarks/sittings_variants.py scores other votes on the same neighbours."""
        m = self.listed
        lengths = m.indptr[history + 1] - m.indptr[history]
        if not len(history) or not lengths.sum():
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        take = np.concatenate([np.arange(m.indptr[h], m.indptr[h + 1]) for h in history])
        found, inverse = np.unique(m.indices[take], return_inverse=True)
        like = np.bincount(inverse, weights=np.repeat(weights, lengths), minlength=len(found))
        like /= self.sizes[found] ** size_exponent
        best = np.lexsort((found, -like))[:neighbours]
        return found[best], like[best]

    # ------------------------------------------------------------ adding interactions

    def add(self, users: Sequence[str], sequences: Sequence[Sequence[int]], times: Sequence[Sequence[float]]) -> None:
        """Add each user's new picks (oldest first, with their times, no earlier than the user's last
        pick here): a pick within ``seconds`` of the user's latest sitting joins it, a later one opens
        a sitting. Only the changed sittings' rows of the membership are written again (the rest are
        copied), and the lists of their items re-cut (``_relist``); nothing is recounted from the old
        picks, and no per-user or per-sitting array is read into Python objects. New arrays throughout,
        so a copy can be added to while the original is read (``CandidateGenerator.count_picks``)."""
        if not (len(users) == len(sequences) == len(times)):
            raise OptionError("add() needs one user, one list of picks and one list of times each")
        if self._latest is None:  # a user's sittings get rows in time order: their highest row
            self._latest = np.full(self._n_users, -1, dtype=np.int64)
            np.maximum.at(self._latest, self.owners, np.arange(self.n_sittings, dtype=np.int64))
        latest, n_old = self._latest, self.n_sittings
        moved: dict[int, int] = {}  # user code -> latest sitting, where this add changed it
        new_ends: list[float] = []
        new_owners: list[int] = []
        ended: dict[int, float] = {}  # an old sitting's new end
        new_rows, new_items = [], []

        def end_of(s: int) -> float:
            return new_ends[s - n_old] if s >= n_old else ended.get(s, float(self.ends[s]))

        for user, seq, stamps in zip(users, sequences, times):
            if len(stamps) != len(seq):
                raise OptionError("times must give one timestamp per pick")
            u = self._codes.code(str(user))
            for item, t in zip(seq, stamps):
                item, t = int(item), float(t)
                if not 0 <= item < self.n_items:
                    raise DataError(f"a pick is outside the catalog's {self.n_items} items")
                s = moved.get(u, int(latest[u]) if u < len(latest) else -1)
                if s >= 0 and t < end_of(s):
                    raise OptionError(f"user {user}'s new pick at {t:g} is older than their last one here "
                                      f"({end_of(s):g}): add picks in time order")
                if s < 0 or t - end_of(s) > self.seconds:
                    s = moved[u] = n_old + len(new_ends)
                    new_ends.append(t)
                    new_owners.append(u)
                if s >= n_old:
                    new_ends[s - n_old] = t
                else:
                    ended[s] = t
                new_rows.append(s)
                new_items.append(item)
        self._n_users = len(self._codes)
        self._latest = np.concatenate([latest, np.full(self._n_users - len(latest), -1, dtype=np.int64)])
        self._latest[list(moved)] = list(moved.values())
        self.ends = np.concatenate([self.ends, np.asarray(new_ends, dtype=np.float64)])
        self.ends[list(ended)] = list(ended.values())
        self.owners = np.concatenate([self.owners, np.asarray(new_owners, dtype=np.int64)])
        changed = np.unique(np.asarray(new_rows, dtype=np.int64))
        self.members = self._with_picks(changed, np.asarray(new_rows, dtype=np.int64),
                                        np.asarray(new_items, dtype=np.int64), len(self.ends))
        self._relist(changed)

    def _with_picks(self, changed: np.ndarray, rows: np.ndarray, items: np.ndarray, n_sittings: int) -> sparse.csr_matrix:
        """The membership with ``n_sittings`` rows, the ``changed`` ones holding what they held and
        the new (sitting, item) picks, each item once: the matrix ``_membership`` makes from every
        pick, with only those rows written."""
        old = changed[changed < self.n_sittings]
        held = self.members[old]
        row = np.concatenate([np.repeat(old, np.diff(held.indptr)), rows])
        col = np.concatenate([held.indices.astype(np.int64), items])
        key = np.unique(row * self.n_items + col)  # by sitting, then item: a repeat pick counts once
        row, col = key // self.n_items, key % self.n_items
        return with_rows(grown(self.members, (n_sittings, self.n_items)), changed, row, col,
                         np.ones(len(row), dtype=np.uint8))

    def _relist(self, changed: np.ndarray) -> None:
        """Re-cut the per-item lists after picks joined the sittings ``changed`` (new ones, or a
        user's latest grown): only their items' lists can change, and no other list is rebuilt.
        A sitting only gains picks and a later end, so it only moves up in its items' lists: each
        such list is its old one without the changed sittings, with them put back by the same rule
        (latest first, then the newer row), cut to ``per_item``; what fell off a list before stays
        off. The same lists as ``_list_sittings`` over everything (tested)."""
        self.sizes = np.diff(self.members.indptr).astype(np.float64)
        if not len(changed):
            self.listed = grown(self.listed, (self.n_items, self.n_sittings))
            return
        held = self.members[changed]
        sitting = np.repeat(changed, np.diff(held.indptr))
        item = held.indices.astype(np.int64)
        touched = np.unique(item)
        before = self.listed[touched]
        old_item = np.repeat(touched, np.diff(before.indptr))
        old_sitting = before.indices.astype(np.int64)
        kept = ~np.isin(old_sitting, changed)
        two = self.sizes[sitting] >= 2  # a one-pick sitting only holds the item itself: never listed
        item, sitting = self._cut(np.concatenate([old_item[kept], item[two]]),
                                  np.concatenate([old_sitting[kept], sitting[two]]))
        self.listed = with_rows(self.listed, touched, item, sitting, np.ones(len(item), dtype=np.uint8),
                                shape=(self.n_items, self.n_sittings))

    def grow(self, n_items: int) -> None:
        """Make room for items added to the catalog (no sitting holds them yet)."""
        if n_items < self.n_items:
            raise ValueError("a catalog only grows: items are never taken out of an index")
        if n_items == self.n_items:
            return
        # no sitting holds the new items: each gets an empty list, and every other list is as it was
        self.members = grown(self.members, (self.n_sittings, n_items))
        self.listed = grown(self.listed, (n_items, self.n_sittings))

    # ------------------------------------------------------------ saving

    def arrays(self, prefix: str = "sit_") -> dict[str, np.ndarray]:
        """The index as named arrays, saved in the shortlist's index file beside BM25's."""
        m = self.members
        return {f"{prefix}indices": m.indices, f"{prefix}indptr": m.indptr, f"{prefix}ends": self.ends,
                f"{prefix}owners": self.owners, f"{prefix}users": self.users,
                f"{prefix}shape": np.asarray(m.shape, dtype=np.int64),
                f"{prefix}settings": np.asarray([self.seconds, self.per_item], dtype=np.float64),
                # the per-item lists too, so a start reads them rather than cutting them again
                f"{prefix}listed_indices": self.listed.indices, f"{prefix}listed_indptr": self.listed.indptr}

    @classmethod
    def from_arrays(cls, f, prefix: str = "sit_") -> SittingIndex:
        """The index ``arrays`` saved; a file saved before the lists were has them cut here."""
        shape = tuple(int(x) for x in f[f"{prefix}shape"])
        indices = f[f"{prefix}indices"]
        members = sparse.csr_matrix((np.ones(len(indices), dtype=np.uint8), indices, f[f"{prefix}indptr"]), shape=shape)
        seconds, per_item = f[f"{prefix}settings"]
        listed = None
        if f"{prefix}listed_indices" in f.files:
            kept = f[f"{prefix}listed_indices"]
            listed = sparse.csr_matrix((np.ones(len(kept), dtype=np.uint8), kept, f[f"{prefix}listed_indptr"]),
                                       shape=(shape[1], shape[0]))
        return cls(members, f[f"{prefix}ends"], f[f"{prefix}owners"], f[f"{prefix}users"], float(seconds),
                   int(per_item), listed)


def sitting_starts(stamps: np.ndarray, seconds: float) -> np.ndarray:
    """Where one user's picks (times oldest first) open a new sitting: after a gap of more than ``seconds``."""
    return np.flatnonzero(np.diff(stamps) > seconds) + 1


def _membership(rows: np.ndarray, items: np.ndarray, n_rows: int, n_items: int) -> sparse.csr_matrix:
    """Sittings x items with 1 where a sitting holds an item (a repeat pick counts once)."""
    m = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, items)), shape=(n_rows, n_items))
    m.sum_duplicates()
    m.sort_indices()
    # one byte per entry: only which items a sitting holds is read, never a count
    return sparse.csr_matrix((np.ones(m.nnz, dtype=np.uint8), m.indices, m.indptr), shape=m.shape)
