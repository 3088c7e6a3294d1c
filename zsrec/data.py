"""The three things a recommender knows about the world: items, a catalog of them, and who touched what.

Kept as plain containers (dataclasses over numpy arrays) so that loaders of any format produce the
same objects and every later stage reads one shape.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .errors import UnknownItemError, UnknownUserError
from .repeats import first_places, repeated


GENRE_FIELDS = ("genres", "genre", "class")


@dataclass(frozen=True)
class Item:
    """One catalog entry. ``fields`` holds every other text column (genres, year, description...)."""

    id: str
    title: str
    fields: dict[str, str] = field(default_factory=dict)

    def genre_text(self) -> str:
        """The field a catalog keeps its genres or category in (``GENRE_FIELDS``, first found). A plain
        loop: the genre index and the reason checker read every item's, and a generator expression
        made that 0.6 s at 1M items (0.15 s this way)."""
        fields = self.fields
        for name in GENRE_FIELDS:
            text = fields.get(name)
            if text:
                return text
        return ""

    def text(self, skip_fields: Iterable[str] = ()) -> str:
        """All text a retriever or a prompt may use, title first."""
        skip = set(skip_fields)
        parts = [self.title] + [v for k, v in self.fields.items() if v and k not in skip]
        return " ".join(parts)


class Catalog:
    """Items in a fixed order: index ``i`` is the row used by every array in the pipeline."""

    def __init__(self, items: Sequence[Item]):
        self.items: list[Item] = list(items)
        # same_title's groups (row -> the rows of its title, for titles held twice or more) and each
        # title's first row: made on first use, then kept up to date by ``extend``
        self._twins: dict[int, list[int]] | None = None
        self._first_of_title: dict[str, int] | None = None
        self._index: dict[str, int] = dict(zip([item.id for item in self.items], range(len(self.items))))
        if len(self._index) < len(self.items):  # the first id held twice, named
            seen: set[str] = set()
            for item in self.items:
                if item.id in seen:
                    raise ValueError(f"duplicate item id {item.id!r} in catalog")
                seen.add(item.id)

    def __len__(self) -> int:
        return len(self.items)

    def copy(self) -> Catalog:
        """The same items in a catalog of its own: what ``extend`` adds to one is not in the other."""
        other = Catalog.__new__(Catalog)
        other.items, other._index = list(self.items), dict(self._index)
        # the groups' lists are never changed, only replaced: the copy may share them
        other._first_of_title = dict(self._first_of_title) if self._first_of_title is not None else None
        other._twins = dict(self._twins) if self._twins is not None else None
        return other

    def with_items(self, items: Sequence[Item]) -> Catalog:
        """A new catalog of these items and then ``items`` (this one unchanged): what an index over the
        catalog ``extend`` will make is built over, before it is made. Made from this one's lookups,
        not by reading every item again (0.57 s at 1M items; 0.06 s this way)."""
        other = self.copy()
        other.extend(items)
        return other

    def extend(self, items: Sequence[Item]) -> np.ndarray:
        """Append new items in place and return their rows: every row already handed out keeps its
        item, so arrays indexed by row only need the new rows added at their end
        (``zsrec.recommender.Recommender.add_items``). An id the catalog (or the batch) already holds
        raises before anything is appended."""
        items = list(items)
        given: set[str] = set()
        for item in items:
            if item.id in self._index or item.id in given:
                raise ValueError(f"duplicate item id {item.id!r} in catalog")
            given.add(item.id)
        start = len(self.items)
        self.items.extend(items)  # rows first, ids after: a reader that finds a new id finds its row
        for row, item in enumerate(items, start=start):
            self._index[item.id] = row
        first, twins = self._first_of_title, self._twins
        if first is not None and twins is not None:  # a new item may share a title with an old one
            for row, item in enumerate(items, start=start):
                head = first.setdefault(item.title, row)
                if head != row:
                    group = [*twins.get(head, [head]), row]  # a new list: a reader holds the old one or this
                    for i in group:
                        twins[i] = group
        return np.arange(start, start + len(items))

    def __iter__(self):
        return iter(self.items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._index

    def rows_of(self, item_ids: Iterable[str]) -> np.ndarray | None:
        """Each id's row, or None where one is not in the catalog: what the bulk readers of files and
        frames look a column's distinct ids up with (the rows then name the unknown one)."""
        index = self._index
        rows = np.fromiter((index.get(item_id, -1) for item_id in item_ids), dtype=np.int64)
        return None if len(rows) and int(rows.min()) < 0 else rows

    def index_of(self, item_id: str) -> int:
        try:
            return self._index[item_id]
        except KeyError:
            raise UnknownItemError(f"unknown item id {item_id!r}", [item_id]) from None

    def get(self, item_id: str) -> Item:
        return self.items[self.index_of(item_id)]

    @property
    def ids(self) -> list[str]:
        return [item.id for item in self.items]

    def fingerprint(self, skip_fields: Iterable[str] = (), upto: int | None = None) -> str:
        """A digest of every item's id and text (less ``skip_fields``): what a saved text index was
        built from, so that one built for another catalog of the same size is not used. ``upto``: of
        the first items only (a file saved before items were added to this catalog)."""
        digest = hashlib.sha256()
        for item in self.items[:upto]:
            digest.update(f"{item.id}\x1f{item.text(skip_fields)}\x1e".encode())
        return digest.hexdigest()

    def same_title(self, rows: Iterable[int]) -> list[int]:
        """Other rows whose title is exactly that of one of ``rows``. MovieLens lists some films twice,
        under two ids (18 in ML-100K: "Chasing Amy (1997)" is 246 and 268): a film the user has seen
        must not come back as new under its other id."""
        twins = self.title_groups()[1]
        given = set(rows)
        return sorted({j for i in given for j in twins.get(i, ()) if j not in given})

    def title_groups(self) -> tuple[dict[str, int], dict[int, list[int]]]:
        """Each title's first row, and each row of a title held twice or more mapped to that title's
        rows (ascending): made once, on first use, then kept up to date by ``extend``. ``same_title``
        and title matching (``zsrec.titles``) read them; neither is to be changed by a reader."""
        if self._twins is None:
            self._group_titles()
        return self._first_of_title, self._twins

    def _group_titles(self) -> None:
        """same_title's groups, made from one pass over the titles: ``extend`` keeps them up to date,
        and a Recommender makes them when it is built, so no request waits for this (2.4 s at 1M
        items as a loop that grouped every row, 1.05 s this way)."""
        titles = [item.title for item in self.items]
        first = first_places(titles)
        rows, heads = repeated(titles, first)
        by_title = np.argsort(heads, kind="stable")  # rows ascending within each title
        rows, heads = rows[by_title], heads[by_title]
        twins: dict[int, list[int]] = {}
        for group in np.split(rows, np.flatnonzero(np.diff(heads)) + 1) if len(rows) else ():
            members = group.tolist()
            twins.update(dict.fromkeys(members, members))
        self._first_of_title = first  # before the groups: ``extend`` reads both once the groups are there
        self._twins = twins


def _rows_by_user(users: np.ndarray, timestamps: np.ndarray) -> dict[str, np.ndarray]:
    """Each user's rows, by time, ties in file order (the ids in sorted order): the per-user lookup,
    made once per process: by a start that builds the indexes, or after a start from the index file by
    the request for a second known user (a server's or a batch's: the first is found by a scan,
    ``Interactions._rows_alone``).

    Each pick's user becomes a code in one pass of a dict (``first_seen_codes``), then its id's
    place among the sorted ids; the rows are sorted as one integer each, that place then the row.
    Logs are mostly kept in time order (appended as picks come), so each user's rows in file order
    are usually in time order already: where no user's picks next to each other are out of order,
    the rows are grouped by user in file order, checked, and only the few users whose rows are not in
    time order are sorted (``_put_in_time``). Otherwise (a file sorted by user and item, one in no
    order, or many users late), every pick is put in time order first, as before. At 10M picks
    (benchmarks/user_lookup.py): 0.9 s for a log written user by user (against 2.1-2.2 s), 1.8-2.0 s
    for one in time order, with or without a few picks logged late (against 2.2-2.4 s), each peaking
    110 MB lower; 2.1 s against 2.2-2.3 s for one sorted by user and item, 3.8-3.9 s against 4.7-4.8 s
    for one in no order; 2.3-2.5 s either way for two servers' logs put one after the other."""
    n = len(users)
    if not n:
        return {}
    ids, codes = first_seen_codes(users)
    if not all(type(u) is str for u in ids) or len(ids) >= 1 << 29 or n >= 1 << 34:
        return _rows_by_user_sorting(users, timestamps)
    by_id = sorted(ids)
    place = dict(zip(by_id, range(len(ids))))
    user_place = np.fromiter(map(place.__getitem__, ids), dtype=np.int64, count=len(ids))[codes]
    del ids, place
    sizes = np.bincount(user_place, minlength=len(by_id))
    bounds = np.cumsum(sizes)
    adjacent_late = ~(timestamps[1:] >= timestamps[:-1])  # NaN counts as late: a sort puts it last
    adjacent_late &= codes[1:] == codes[:-1]
    del codes  # these arrays are 80 MB each at 10M picks: the sorts below work in place
    in_order = not adjacent_late.any()
    del adjacent_late
    if in_order:
        order = _by_place(user_place)
        late = _late_users(order, timestamps, bounds)
        if not late.any():
            return dict(zip(by_id, np.split(order, bounds[:-1])))
        if np.sum(sizes[late]) <= n // 8:  # few: sorted apart (many: one sort of every pick holds less memory)
            _put_in_time(order, timestamps, sizes, late)
            return dict(zip(by_id, np.split(order, bounds[:-1])))
        user_place = np.empty(n, dtype=np.int64)  # many users late: each pick's place again, as below
        user_place[order] = np.repeat(np.arange(len(sizes)), sizes)
        del order
    in_time = np.argsort(timestamps, kind="stable")
    key = user_place[in_time]
    del user_place
    order = in_time[_by_place(key)]
    return dict(zip(by_id, np.split(order, bounds[:-1])))


def first_seen_codes(users: np.ndarray) -> tuple[list, np.ndarray]:
    """Every id once, in the order first seen, and each pick's id as its place there (what a user x
    item matrix is made from where the per-user lookup is not made): one dict lookup per pick, made
    in C (a defaultdict numbering each new id). Two passes (the ids, then each pick's place) took
    twice as long, mostly waiting on memory: at 10M picks each pass is 0.4-3 s."""
    first_seen: defaultdict = defaultdict(itertools.count().__next__)
    codes = np.fromiter(map(first_seen.__getitem__, users), dtype=np.int64, count=len(users))
    return list(first_seen), codes


def _by_place(place: np.ndarray) -> np.ndarray:
    """The positions sorted by ``place``, ties in position order: one integer sort, of place and
    position packed in one int64 (places < 2^29, positions < 2^34), where a stable argsort is
    slower. ``place`` is overwritten."""
    place <<= 34
    place |= np.arange(len(place))
    place.sort()
    place &= (1 << 34) - 1
    return place


def _late_users(order: np.ndarray, timestamps: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Which users' rows, as ``order`` holds them (each user's in turn, ``bounds`` their ends), are
    not in time order (a NaN time counts as out of order: a sort puts it last)."""
    stamps = timestamps[order]
    late = ~(stamps[1:] >= stamps[:-1])
    del stamps
    late[bounds[:-1] - 1] = False  # one user's last pick, then the next user's first
    users = np.zeros(len(bounds), dtype=bool)
    users[np.searchsorted(bounds, np.flatnonzero(late) + 1, side="right")] = True
    return users


def _put_in_time(order: np.ndarray, timestamps: np.ndarray, sizes: np.ndarray, users: np.ndarray) -> None:
    """Sort by time, in place, the rows ``order`` holds (each user's, ``sizes`` of them, in turn) of
    the ``users`` marked, ties in file order."""
    at = np.flatnonzero(np.repeat(users, sizes))
    in_time = np.argsort(timestamps[order[at]], kind="stable")
    which = np.repeat(np.arange(np.count_nonzero(users)), sizes[users])[in_time]
    order[at] = order[at][in_time[_by_place(which)]]


def _rows_by_user_sorting(users: np.ndarray, timestamps: np.ndarray) -> dict[str, np.ndarray]:
    """The same lookup by one sort of (id, time, row), for ids that are not all strings (made in
    code, not read from a file) or data too large for ``_rows_by_user``'s one-integer key. ASCII ids
    sorted as bytes: the same order, a fifth faster than as text."""
    try:
        ids = users.astype(bytes)
    except UnicodeEncodeError:
        ids = users.astype(str)
    order = np.lexsort((np.arange(len(users)), timestamps, ids))
    users_sorted = users[order]
    groups: dict[str, np.ndarray] = {}
    if len(order):
        cuts = np.flatnonzero(users_sorted[1:] != users_sorted[:-1]) + 1
        for chunk in np.split(order, cuts):
            groups[str(users[chunk[0]])] = chunk
    return groups


# Spare rows ``Interactions.extend`` leaves at the end of its columns: an eighth of the picks, at most
# this many. Appending into them costs the new picks alone; growing the columns copies every pick (at
# 10M picks 0.13 s, holding the interpreter: a request beside an add waited that long; 17 ms this way).
SPARE_ROWS = 1_000_000
_ROOM_LOCK = threading.Lock()


class _Room:
    """Columns with spare rows at their end, shared by an Interactions and its copies: whoever holds
    the picks up to ``used`` may append in place (the others read shorter views and never see it);
    anyone else grows a room of their own."""

    def __init__(self, columns: list[np.ndarray], used: int):
        self.columns, self.used = columns, used


@dataclass
class Interactions:
    """Who interacted with what and when, as parallel arrays of catalog indices."""

    users: np.ndarray  # object array of user id strings
    items: np.ndarray  # int64 catalog indices
    timestamps: np.ndarray  # float64, seconds or any monotone clock
    ratings: np.ndarray  # float64, NaN where the source has none
    # False when the source gave no timestamps and rows keep file order instead: an order, not a clock,
    # so signals that count seconds (the shortlist's session signal) stay off.
    timed: bool = True

    def __post_init__(self) -> None:
        n = len(self.users)
        if not (len(self.items) == len(self.timestamps) == len(self.ratings) == n):
            raise ValueError("interaction arrays differ in length")
        self._by_user: dict[str, np.ndarray] | None = None
        self._alone: tuple[str, np.ndarray] | None = None  # the one user asked about before the lookup was made
        self._saved: Callable[[], dict[str, np.ndarray]] | None = None  # the lookup read from a file, made on need
        # Held while the lookup is made and while ``extend`` appends: two requests that need it at once
        # make it once, and an append waits for a making from the picks before it (which would lack its own)
        self._lookup_lock = threading.Lock()
        self._fingerprint: tuple | None = None  # the columns the digest was taken of, and the digest
        self._room: _Room | None = None  # spare rows ``extend`` appends into (none until the first extend)

    def __len__(self) -> int:
        return len(self.users)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, int, float, float]], timed: bool = True) -> Interactions:
        rows = list(rows)
        return cls(
            timed=timed,
            users=np.array([r[0] for r in rows], dtype=object),
            items=np.array([r[1] for r in rows], dtype=np.int64),
            timestamps=np.array([r[2] for r in rows], dtype=np.float64),
            ratings=np.array([r[3] for r in rows], dtype=np.float64),
        )

    def _user_rows(self) -> dict[str, np.ndarray]:
        found = self._by_user
        if found is None:
            with self._lookup_lock:
                found = self._by_user
                if found is None:
                    found = self._by_user = self._make_lookup()
        return found

    def _make_lookup(self) -> dict[str, np.ndarray]:
        """The per-user lookup, from the file where one was read (``adopt_lookup``), else from the
        picks; the lock held."""
        saved, self._saved = self._saved, None
        return saved() if saved is not None else _rows_by_user(self.users, self.timestamps)

    def adopt_lookup(self, make: Callable[[], dict[str, np.ndarray]]) -> None:
        """Take the per-user lookup from ``make`` (``zsrec.saved_lookup``: read from the index file, made
        from it in 0.3 s where making it from 10M picks takes 2 s) when it is first needed. ``make``
        must give the lookup of exactly these picks (the file's digest of them is checked first)."""
        with self._lookup_lock:
            if self._by_user is None:
                self._saved = make

    def picks_by_user(self) -> tuple[list[str], np.ndarray, np.ndarray] | None:
        """Every user id once, each one's rows one after another (oldest first), and how many each
        has: a user x item matrix's rows as they are stored (its row pointers are the running count),
        read off the per-user lookup (``user_history``'s). None when the lookup is not made (a start
        from the index file that asked about one user): making it for this would cost more than
        counting from each pick's user code (``first_seen_codes``), and even made from the index
        file's it would gain nothing (at 10M picks: 0.3 s to make it, 0.25 s to count off it, against
        0.56 s). The ids are sorted, and any added since come after them."""
        if self._by_user is None:
            return None
        groups = self._by_user
        rows = list(groups.values())
        sizes = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        order = np.concatenate(rows).astype(np.int64, copy=False) if rows else np.zeros(0, dtype=np.int64)
        return list(groups), order, sizes

    @property
    def user_ids(self) -> list[str]:
        return list(self._user_rows())

    def index_users(self) -> None:
        """Make the per-user lookup now, not when a second user is asked about: what a service does
        before it takes requests (1.4 s at 10M picks)."""
        self._user_rows()

    def has_user(self, user_id: str) -> bool:
        return str(user_id) in self._user_rows()

    def _rows_of(self, user_id: str) -> np.ndarray:
        """The user's rows in these arrays, oldest first."""
        if self._by_user is None:
            with self._lookup_lock:  # an append in between would leave a scan of the picks before it
                if self._by_user is None:
                    alone = self._rows_alone(str(user_id))
                    if alone is not None:
                        return alone
        rows = self._user_rows().get(str(user_id))
        if rows is None:
            raise UnknownUserError(
                f"unknown user id {user_id!r} ({len(self._user_rows())} users in the data)"
            )
        return rows

    def _rows_alone(self, key: str) -> np.ndarray | None:
        """The first user asked about, found by one scan of the picks rather than by the lookup of
        every user: ``zsrec rank --index FILE --user U`` reads the indexes from the file and asks about
        no one else, so at 10M picks it spent 1.0-1.2 s on a lookup it read once; the scan takes 0.1 s.
        The same rows as the lookup gives (by time, ties in file order, a NaN time last). None for a
        second user (the lookup is made then: a server or a batch asks about many), and for a user
        the scan does not find (the lookup says whether the id is unknown or held as a number made
        in code)."""
        alone = self._alone
        if alone is not None:
            return alone[1] if alone[0] == key else None
        rows = np.flatnonzero(self.users == key)
        if not len(rows):
            return None
        rows = rows[np.argsort(self.timestamps[rows], kind="stable")]
        self._alone = (key, rows)
        return rows

    def user_history(self, user_id: str) -> np.ndarray:
        """Catalog indices the user touched, oldest first."""
        return self.items[self._rows_of(user_id)]

    def user_ratings(self, user_id: str) -> np.ndarray:
        """The user's rating of each item of ``user_history``, in the same order (NaN where the source
        has none): what a signal needs to count only what people liked."""
        return self.ratings[self._rows_of(user_id)]

    def user_times(self, user_id: str) -> np.ndarray:
        """When the user touched each item of ``user_history``, in the same order: what a
        time-aware signal needs to count only what happened before a user's picks."""
        return self.timestamps[self._rows_of(user_id)]

    def fingerprint(self) -> str:
        """A digest of who picked what and when (ratings aside: no saved index counts them): what a
        saved co-occurrence index was counted from, so that one counted before new events is not used."""
        columns = (self.users, self.items, self.timestamps, self.timed)
        kept = self._fingerprint
        if kept is not None and all(a is b for a, b in zip(kept[0], columns)):
            return kept[1]  # a start from the index file asks twice (the counted indexes, the per-user lookup)
        digest = self._digest()
        self._fingerprint = (columns, digest)
        return digest

    def _digest(self) -> str:
        digest = hashlib.sha256()
        ids = self.users.tolist()  # Python strings, made at C speed: 0.6 s where str() of each took 1 s at 10M
        try:
            digest.update("\x1f".join(ids).encode())
        except TypeError:  # an id that is not a string (made in code, not read from a file)
            digest.update("\x1f".join(map(str, ids)).encode())
        for column in (self.items, self.timestamps):
            digest.update(np.ascontiguousarray(column).tobytes())
        digest.update(b"timed" if self.timed else b"untimed")
        return digest.hexdigest()

    def times_for(self, user_ids: Iterable[str]) -> list[np.ndarray] | None:
        """``user_times`` of each user, or None when the data has no timestamps (rows in file order
        are an order, not a clock): what time-aware signals are given, so that they stay off there."""
        return [self.user_times(u) for u in user_ids] if self.timed else None

    def latest_time(self, user_id: str) -> float | None:
        """When the user last picked something (None for a user the data does not hold yet)."""
        rows = self._user_rows().get(str(user_id))
        return float(self.timestamps[rows[-1]]) if rows is not None else None

    def extend(self, users: Sequence[str], items: Sequence[int], timestamps: Sequence[float],
               ratings: Sequence[float]) -> np.ndarray:
        """Append picks in place and return their rows. Each user's new picks must be no older than
        their earlier ones (the caller checks: ``zsrec.recommender.Recommender.add_interactions``), so
        a user's rows stay in time order by appending, and the per-user lookup is extended rather than
        sorted again (at 1M interactions the sort takes 0.36 s here, an append of one pick 0.01 s).
        The columns keep spare rows at their end (``SPARE_ROWS``), so an append writes only the new
        picks there, where it copied every pick before; an Interactions that shares them with a copy
        already appended to grows columns of its own instead, so neither sees the other's picks."""
        n = len(users)
        if not (len(items) == len(timestamps) == len(ratings) == n):
            raise ValueError("interaction arrays differ in length")
        with self._lookup_lock:
            return self._append(users, items, timestamps, ratings)

    def _append(self, users: Sequence[str], items: Sequence[int], timestamps: Sequence[float],
                ratings: Sequence[float]) -> np.ndarray:
        n = len(users)
        start = len(self.users)
        if self._by_user is None and self._saved is not None:  # it holds the picks before these alone
            self._by_user = self._make_lookup()
        by_user = self._by_user  # None: never looked up yet, and sorted on first use as always
        added = np.empty(n, dtype=object)
        added[:] = [str(u) for u in users]
        appended = [added, np.asarray(items, dtype=np.int64), np.asarray(timestamps, dtype=np.float64),
                    np.asarray(ratings, dtype=np.float64)]
        old = [self.users, self.items, self.timestamps, self.ratings]
        with _ROOM_LOCK:
            room = self._room
            if room is None or room.used != start or start + n > len(room.columns[0]) \
                    or any(column.base is not buffer for column, buffer in zip(old, room.columns)):
                size = start + n + max(n, min(start // 8, SPARE_ROWS))
                columns = [np.empty(size, dtype=np.result_type(a.dtype, b.dtype)) for a, b in zip(old, appended)]
                for buffer, column in zip(columns, old):
                    buffer[:start] = column
                room = self._room = _Room(columns, start)
            for buffer, column in zip(room.columns, appended):
                buffer[start:start + n] = column
            room.used = start + n
        self.users, self.items, self.timestamps, self.ratings = (buffer[:start + n] for buffer in room.columns)
        rows = np.arange(start, start + n)
        if by_user is not None:
            new: dict[str, list[int]] = {}
            for row, user in zip(rows.tolist(), added.tolist()):
                new.setdefault(user, []).append(row)
            by_user = dict(by_user)
            for user, user_rows in new.items():
                old = by_user.get(user)
                mine = np.asarray(user_rows, dtype=np.int64)
                by_user[user] = mine if old is None else np.concatenate([old, mine])
        self._by_user = by_user
        self._alone = None  # the user found by a scan may be among those who picked more
        self._fingerprint = None  # (and it held the columns before these)
        return rows

    def copy(self) -> Interactions:
        """The same picks in a container of its own: what ``extend`` adds to one is not in the other.
        The arrays and the per-user lookup are shared, not copied (``extend`` writes only past the
        rows they hold, or replaces them), so this costs nothing at any size."""
        other = Interactions(users=self.users, items=self.items, timestamps=self.timestamps, ratings=self.ratings,
                             timed=self.timed)
        with self._lookup_lock:
            other._by_user, other._saved, other._room = self._by_user, self._saved, self._room
        return other

    def item_counts(self, n_items: int, half_life: float | None = None) -> np.ndarray:
        """Interactions per item; with ``half_life`` (same unit as timestamps) older ones count less."""
        if half_life is None or len(self) == 0:
            weights = None
        else:
            age = self.timestamps.max() - self.timestamps
            weights = np.power(0.5, age / half_life)
        return np.bincount(self.items, weights=weights, minlength=n_items).astype(np.float64)


@dataclass
class Dataset:
    """A catalog with its interactions, and where they came from (shown in results)."""

    name: str
    catalog: Catalog
    interactions: Interactions
    source: str = ""
    skipped_rows: int = 0  # malformed rows dropped under ``skip_bad_rows`` (0 otherwise: they raise)
