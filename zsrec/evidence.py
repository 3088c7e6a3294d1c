"""Why an item is on a user's list, counted from the data rather than written by a model.

Every candidate gets facts a person can check against the catalog and the interaction log: which of
the user's picks it was most often picked with, and by what share of the people who made that pick;
the genres it shares with the history; the title words the text search matched; how popular it is.
A reason built from these is true by construction, which a 135M-parameter model's prose is not.
"""

from __future__ import annotations

import copy
import functools
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from .data import Catalog, Interactions, Item, first_seen_codes
from .movielens_files import ML100K_GENRES
from .sparse_rows import grown, index_type
from .user_codes import UserCodes
from .text import tokenize

MIN_CO_PICKS = 2  # one shared user is an anecdote, not a pattern


@dataclass(frozen=True)
class CoPicked:
    """``count`` of the ``base`` people who picked the history item also picked this one."""

    with_item: str  # item id of the history item
    with_title: str
    count: int
    base: int
    kind: str = field(default="co_picked", init=False)
    text: str = field(default="", init=False)

    def __post_init__(self) -> None:
        share = self.count / self.base if self.base else 0.0
        object.__setattr__(self, "text", f"picked by {share:.0%} ({self.count} of {self.base}) of those who "
                                         f"picked {self.with_title}")

    @property
    def share(self) -> float:
        return self.count / self.base if self.base else 0.0


@dataclass(frozen=True)
class SharedGenres:
    genres: tuple[str, ...]
    kind: str = field(default="shared_genres", init=False)
    text: str = field(default="", init=False)

    def __post_init__(self) -> None:
        named = self.genres[:3]  # the text names three at most; ``genres`` holds them all
        object.__setattr__(self, "text", f"{_join(named)}, like your picks")


@dataclass(frozen=True)
class MatchedTerms:
    """Title words this item shares with the history's titles (what the text search matched on)."""

    terms: tuple[str, ...]
    kind: str = field(default="matched_terms", init=False)
    text: str = field(default="", init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", "its title shares " + _join([f'"{t}"' for t in self.terms])
                           + " with your picks")


@dataclass(frozen=True)
class PopularityRank:
    """Where the item stands by picks. Items picked equally often share a rank (1 + the items picked
    more), so two films with one pick each are not called 1638th and 1639th."""

    rank: int  # 1 = the most picked item in the catalog (or in ``among``)
    of: int
    count: int
    tied: bool = False  # other items have exactly this many picks
    among: str = ""  # the items ranked within, when a filter chose them ("Western items"); "" = the catalog
    kind: str = field(default="popularity", init=False)
    text: str = field(default="", init=False)

    def __post_init__(self) -> None:
        of = f"the {self.of} {self.among}" if self.among else str(self.of)
        if self.count == 0:
            text = f"not picked by anyone yet (of {of})"
        else:
            ordinal = "" if self.rank == 1 else f"{_ordinal(self.rank)} "
            place = f"{'tied ' if self.tied else 'the '}{ordinal}most picked of {of}"
            text = f"{place} ({self.count} pick{'' if self.count == 1 else 's'})"
        object.__setattr__(self, "text", text)


@dataclass(eq=False)
class Scope:
    """The items a caller's filter allows, named ("Western items"): a filtered list's popularity is
    told among them, since "the 3rd most picked western" says more to someone who asked for westerns
    than "the 61st most picked of 1682". Their counts are sorted once, on first use, and kept here:
    a filter is resolved once and asked for by every user of a run or a service."""

    rows: np.ndarray
    name: str
    _ordered: np.ndarray | None = field(default=None, repr=False)  # minus their counts, ascending


Fact = CoPicked | SharedGenres | MatchedTerms | PopularityRank


def _join(words: Sequence[str]) -> str:
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# Every genre GroupLens uses: one word each, which is what lets the loaders join them with spaces
_MOVIELENS_GENRES = frozenset(g.lower() for g in ML100K_GENRES) | {"children", "imax"}


def item_genres(item: Item) -> tuple[str, ...]:
    """The item's genres as a tuple: "A|B", "A, B" and "A B" (MovieLens' space-joined form) alike. A
    text without separators is one genre unless every word is a MovieLens genre: a shop's "Running
    Shoes" is one category, not two."""
    return genres_of(item.genre_text())


@functools.lru_cache(maxsize=1 << 16)
def genres_of(raw: str) -> tuple[str, ...]:
    """``item_genres`` of a genre text, kept: a catalog of a million items holds a few thousand
    genre texts (7,239 in the synthetic one), and splitting each item's again took 2.4 s of every
    genre index and reason checker made over it."""
    if re.search(r"[|,;]", raw):
        parts = re.split(r"\s*[|,;]\s*", raw)
    elif all(word.lower() in _MOVIELENS_GENRES for word in raw.split()):
        parts = raw.split()
    else:
        parts = [raw]
    named: dict[str, str] = {}  # each genre once, as first spelled: "Comedy|COMEDY" is one genre, as a filter reads it
    for part in map(str.strip, parts):
        if part and part.lower() not in ("unknown", "(no genres listed)"):
            named.setdefault(part.lower(), part)
    return tuple(named.values())


def _title_terms(item: Item) -> set[str]:
    return {t for t in tokenize(item.title) if not t.isdigit() and len(t) > 2}


_UNREAD = object()


class PerItem(Sequence):
    """``read(item)`` for each item, read on first use and kept: a request's facts read the genres
    and title words of its history and its 20 candidates, so reading every item's when the index is
    built (4.7 s and 520 MB of small tuples and sets at 1M items, all of it before a service's
    first request with reasons from the data could be answered) bought nothing. Threads reading one
    item at once read the same value, so either may keep it."""

    def __init__(self, read, items: Sequence[Item], kept: list | None = None, added: Sequence[Item] = ()):
        """``items``: a catalog's, read up to this one's length (an item add may grow it in place);
        ``added``: items after those, each copy's own."""
        self._read, self._items, self._added = read, items, list(added)
        self._kept = kept if kept is not None else [_UNREAD] * len(items)

    def __len__(self) -> int:
        return len(self._kept)

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        n = len(self._kept)  # (counted from this one's end, not its catalog's)
        if not -n <= row < n:
            raise IndexError("item row out of range")
        row %= n
        value = self._kept[row]
        if value is _UNREAD:
            first_added = n - len(self._added)
            item = self._items[row] if row < first_added else self._added[row - first_added]
            value = self._kept[row] = self._read(item)
        return value

    def extended(self, items: Sequence[Item]) -> PerItem:
        """A copy that also holds ``items`` (appended after these), this one left as it is: one
        entry per item copied, not the items."""
        items = list(items)
        return PerItem(self._read, self._items, self._kept + [_UNREAD] * len(items), [*self._added, *items])


def _check_rows(items: np.ndarray, n_items: int) -> None:
    if len(items) and (int(items.min()) < 0 or int(items.max()) >= n_items):  # scipy does not check these
        raise ValueError(f"the interactions name catalog rows outside 0 to {n_items - 1}")


def _who_picked_what(grouped: tuple[list, np.ndarray, np.ndarray] | None, users: np.ndarray, items: np.ndarray,
                     n_items: int) -> tuple[list, sparse.csc_matrix]:
    """Each user id, and a users x items matrix (columns: scipy's canonical form once repeats are
    summed) with an entry where the user picked the item. Read off the per-user lookup (``grouped``,
    ``Interactions.picks_by_user``) where it is made: the whole index took 0.25 s that way at 10M
    ratings, and 0.56 s from each pick's user code (0.3 s more to number them), which is how it is
    counted where the lookup is not made: making it would cost 1.0-1.2 s more."""
    if grouped is not None:
        ids, rows, sizes = grouped
        items = items[rows]
        del rows  # 80 MB at 10M picks: the matrix is made after it is gone
    else:
        ids, codes = first_seen_codes(users)
    # scipy's own index type, chosen here so that it copies neither array into it
    kind = index_type(len(items), n_items, len(ids))
    items = items.astype(kind, copy=False)
    ones = np.ones(len(items), dtype=np.float32)
    if grouped is None:  # scipy groups the picks by item in one linear pass, sorts each column's users, sums repeats
        codes = codes.astype(kind)  # the 64-bit codes let go first: 80 MB at 10M picks
        return ids, sparse.coo_matrix((ones, (codes, items)), shape=(len(ids), n_items)).tocsc()
    starts = np.zeros(len(ids) + 1, dtype=kind)  # made by user, as the lookup keeps them,
    np.cumsum(sizes, out=starts[1:])  # and turned to columns in one linear pass
    return ids, sparse.csr_matrix((ones, items, starts), shape=(len(ids), n_items)).tocsc()


def _some_columns(users: np.ndarray, items: np.ndarray, columns: Sequence[int], n_items: int) -> sparse.csc_matrix:
    """The users x ``columns`` part of ``_who_picked_what``'s matrix (rows: only the users who picked
    one of them, in no order that matters), with an entry of 1 where the user picked the item: one
    pass over the picks to find theirs, then only those. At 10M ratings 0.06-0.15 s for a
    history of 10 and 20 candidates, the most popular 20 included, where the whole matrix takes 0.9 s."""
    wanted = np.zeros(n_items, dtype=bool)
    wanted[columns] = True
    at = np.flatnonzero(wanted[items])
    ids, codes = first_seen_codes(users[at])
    place = np.full(n_items, -1, dtype=np.int64)
    place[columns] = np.arange(len(columns))
    ones = np.ones(len(at), dtype=np.float32)
    picks = sparse.coo_matrix((ones, (codes, place[items[at]])), shape=(len(ids), len(columns))).tocsc()
    picks.sum_duplicates()
    picks.data[:] = 1.0  # a user who picked an item twice counts once
    return picks


class EvidenceIndex:
    """Counts built once per catalog: who picked what (a sparse user x item matrix) and popularity.

    Given the counts to rank popularity by, and picks whose per-user lookup is not made (a start
    from the index file), the matrix is counted on first need, from the picks as they were when
    the index was made (later adds are counted by ``add``). A first request's facts, before that,
    read only the columns of its history and candidates (``_some_columns``): ``zsrec rank --index
    FILE --user U`` asks for no others, and at 10M ratings the whole matrix took 0.9 s of its 10.5 s."""

    def __init__(self, catalog: Catalog, interactions: Interactions, popularity: np.ndarray | None = None):
        self.catalog = catalog
        n_items = len(catalog)
        _check_rows(interactions.items, n_items)
        self._lock = threading.Lock()  # one build of the matrix, whichever request needs it first
        grouped = interactions.picks_by_user()
        # the picks as they are now: ``Interactions.extend`` writes past these arrays or replaces them
        self._pending: tuple[np.ndarray, np.ndarray, int] | None = (interactions.users, interactions.items, n_items)
        self._alone_served = False  # a first request's facts, from its columns alone
        if grouped is not None or popularity is None:  # read off the lookup, or every item's pickers needed now
            self._take(_who_picked_what(grouped, interactions.users, interactions.items, n_items))
        self._rank_popularity(popularity)
        self.genres = PerItem(item_genres, catalog.items)  # each item's, read on first use
        self.terms = PerItem(_title_terms, catalog.items)

    def _take(self, counted: tuple[list, sparse.csc_matrix]) -> None:
        users, picks = counted
        self._codes = UserCodes(users)  # each code's user id, shared with this index's copies (see UserCodes)
        self._n_users = len(users)  # the codes this index counts (its copies may know more)
        self._set_picks(picks)
        self._pending = None

    def _built(self) -> None:
        if self._pending is not None:
            with self._lock:
                if self._pending is not None:
                    self._take(_who_picked_what(None, *self._pending))

    @property
    def picks(self) -> sparse.csc_matrix:
        """Who picked what: users (``users``) x items, an entry of 1 where the user picked the item."""
        self._built()
        return self._picks

    @property
    def pickers(self) -> np.ndarray:
        """How many distinct users picked each item."""
        self._built()
        return self._pickers

    @property
    def users(self) -> np.ndarray:
        """User ids, each at its code (the rows of ``picks``)."""
        self._built()
        return self._codes.ids(self._n_users)

    def _set_picks(self, picks: sparse.csc_matrix) -> None:
        picks.sum_duplicates()
        if not bool((picks.data == 1.0).all()):  # a grown matrix's are: a copy shares them with the index in use
            picks.data[:] = 1.0  # a user who picked an item twice counts once
        self._picks = picks
        self._pickers = np.asarray(picks.sum(axis=0)).ravel().astype(np.int64)  # distinct users per item

    def _rank_popularity(self, popularity: np.ndarray | None) -> None:
        counts = self.pickers if popularity is None else np.asarray(popularity)
        ordered = np.sort(-counts)  # competition ranks: 1 + how many items have more picks
        self.pop_rank = np.searchsorted(ordered, -counts, side="left").astype(np.int64) + 1
        self.pop_tied = (np.searchsorted(ordered, -counts, side="right") + 1 - self.pop_rank) > 1
        self.pop_counts = counts

    def _count(self, picks: sparse.csc_matrix, popularity: np.ndarray | None) -> None:
        self._set_picks(picks)
        self._rank_popularity(popularity)

    def add(self, users: Sequence[str], items: Sequence[int], popularity: np.ndarray | None = None) -> None:
        """Count new picks (each by ``users``' same entry; a user the index has not seen gets a new
        code) so that every fact says what the data holds now; ``popularity``: the new counts, as
        given to the constructor. The matrix grows by the new entries; nothing is counted again
        from the old picks. Filters' sorted counts (``Scope``) are then out of date: resolve them again."""
        if len(users) != len(items):
            raise ValueError("add() needs one user per item")
        self._built()
        codes = [self._codes.code(str(u)) for u in users]
        self._n_users = len(self._codes)  # new users (and any a copy of this index counted first)
        shape = (self._n_users, len(self.catalog))
        new = sparse.csc_matrix((np.ones(len(codes), dtype=np.float32), (np.asarray(codes, dtype=np.int64),
                                                                         np.asarray(items, dtype=np.int64))), shape=shape)
        self._count((grown(self.picks, shape) + new).tocsc(), popularity)  # rows are users: room for new ones

    def with_picks(self, users: Sequence[str], items: Sequence[int], popularity: np.ndarray | None = None
                   ) -> EvidenceIndex:
        """A copy with new picks counted in (``add``), this index left as it is: what a service counts
        while requests go on reading this one. Cheap: ``add`` makes new arrays, so the copy shares
        the old ones (the matrix is counted first, here, so that both share it)."""
        self._built()
        index = copy.copy(self)
        index.add(users, items, popularity)
        return index

    def add_items(self, popularity: np.ndarray | None = None) -> None:
        """Count the items just appended to the catalog (no one has picked them yet): their genres and
        title words, and every popularity rank again, since "of 1682" is now "of" more. ``popularity``:
        the counts with the new items', as given to the constructor."""
        extra = len(self.catalog) - self.picks.shape[1]
        if extra < 0:
            raise ValueError("a catalog only grows: items are never taken out of the evidence")
        self._append(self.catalog.items[len(self.genres):len(self.genres) + extra], popularity)

    def with_items(self, items: Sequence[Item], popularity: np.ndarray | None = None) -> EvidenceIndex:
        """A copy that counts ``items`` too, before they are appended to the catalog (which the copy
        shares: put it in place once they are), this index left as it is: what a service counts
        while requests go on reading this one. ``popularity`` as for ``add_items``."""
        self._built()
        index = copy.copy(self)
        index._append(items, popularity)
        return index

    def _append(self, items: Sequence[Item], popularity: np.ndarray | None) -> None:
        self.genres = self.genres.extended(items)
        self.terms = self.terms.extended(items)
        self._count(grown(self.picks, (self.picks.shape[0], self.picks.shape[1] + len(items))), popularity)

    def _co_picks(self, hist: list[int], cands: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """How many users picked each history item and each candidate (|history| x |candidates|), and
        how many picked each history item: from the matrix, or for the first request before it is
        counted from the columns these need alone."""
        if not hist or not cands:  # a cold start's: no history, nothing co-picked (and no matrix to count)
            return np.zeros((len(hist), len(cands))), np.zeros(len(hist), dtype=np.int64)
        pending = None
        if self._pending is not None and not self._alone_served:
            with self._lock:
                pending, self._alone_served = (None if self._alone_served else self._pending), True
        if pending is not None:
            users, items, n_items = pending
            columns = list(dict.fromkeys(hist + cands))
            picks = _some_columns(users, items, columns, n_items)
            place = {c: i for i, c in enumerate(columns)}
            hist_at, cand_at = [place[h] for h in hist], [place[c] for c in cands]
            base = np.asarray(picks[:, hist_at].sum(axis=0)).ravel().astype(np.int64)
        else:
            picks, hist_at, cand_at = self.picks, hist, cands
            base = self.pickers[hist]
        return (picks[:, hist_at].T @ picks[:, cand_at]).toarray(), base

    def facts(self, history: Sequence[int], candidates: Sequence[int], scope: Scope | None = None) -> list[list[Fact]]:
        """Facts for each candidate, strongest first; every candidate gets at least its popularity,
        ranked among the ``scope``'s items where a filter chose the candidates."""
        hist = list(dict.fromkeys(int(h) for h in history))
        cands = [int(c) for c in candidates]
        items = self.catalog.items
        co, base = self._co_picks(hist, cands)
        history_genres = {g.lower() for h in hist for g in self.genres[h]}  # a filter's match: "comedy" is "Comedy"
        history_terms = set().union(*(self.terms[h] for h in hist)) if hist else set()
        out: list[list[Fact]] = []
        for j, c in enumerate(cands):
            facts: list[Fact] = []
            if hist:
                shares = np.where(base > 0, co[:, j] / np.maximum(base, 1), 0.0)
                # the strongest link; among equals the most recent pick, since recency predicts the next
                best = max(range(len(hist)), key=lambda i: (shares[i], co[i, j], i))
                if co[best, j] >= MIN_CO_PICKS:
                    h = items[hist[best]]
                    facts.append(CoPicked(h.id, h.title, int(co[best, j]), int(base[best])))
            shared = tuple(g for g in self.genres[c] if g.lower() in history_genres)
            if shared:
                facts.append(SharedGenres(shared))
            terms = tuple(sorted(self.terms[c] & history_terms))
            if terms:
                facts.append(MatchedTerms(terms))
            facts.append(self._popularity(c, scope))
            out.append(facts)
        return out

    def _popularity(self, row: int, scope: Scope | None) -> PopularityRank:
        count = self.pop_counts[row]
        if scope is None or len(scope.rows) < 2:  # first of one item says nothing: the catalog's rank then
            return PopularityRank(int(self.pop_rank[row]), len(self.catalog), int(count), bool(self.pop_tied[row]))
        if scope._ordered is None:
            scope._ordered = np.sort(-self.pop_counts[scope.rows])
        first = int(np.searchsorted(scope._ordered, -count, side="left"))
        ties = int(np.searchsorted(scope._ordered, -count, side="right")) - first
        return PopularityRank(first + 1, len(scope.rows), int(count), ties > 1, scope.name)


def summary(facts: Sequence[Fact], limit: int = 2) -> str:
    """The strongest facts as one line, for a prompt or a reason."""
    return "; ".join(f.text for f in list(facts)[:limit])


def sentence(facts: Sequence[Fact]) -> str:
    """A plain reason written from the evidence alone, for when the model gave no true one."""
    text = summary(facts, limit=2)
    return text[:1].upper() + text[1:] + "." if text else ""
