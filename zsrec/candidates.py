"""Shortlist items for a user: BM25 over item text queried with the history, fused with popularity.

The LLM can only rank what it is shown, so this stage decides recall. BM25 finds items that share
words (genres, title words, descriptions) with what the user touched; popularity keeps the shortlist
on items people actually pick, which is the best single guess for someone the system barely knows.
Both scores are min-max scaled over the catalog before the weighted sum, so the weights mean the
same thing on any catalog.

The default index (``zsrec.bm25``) scores a query in one of two ways, with the same result. When its
words are rare, only the items that share a word get a BM25 score; every other item has the same
(lowest) BM25 part, so among them the most popular win, and the top n lies within the matched items
plus the n + |seen| most popular ones: only that set is fused, masked and sorted. When its words are
common, the postings are summed in C into a score for every item, and the fusion, the seen-item mask
and the top-n partition are whole-array vector operations. There is no Python loop over the catalog.
"""

from __future__ import annotations

import copy
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy import sparse

from .bm25 import EMPTY_DOC, SparseBM25
from .choices import Retriever
from .data import Catalog, Interactions, Item
from .cooccurrence import CoOccurrenceConfig, CoOccurrenceIndex
from .defaults import (SHORTLIST_BM25_WEIGHT, SHORTLIST_BY_LENGTH, SHORTLIST_COOCCURRENCE_WEIGHT,
                       SHORTLIST_NEW_ITEM_QUERY, SHORTLIST_POPULARITY_WEIGHT, SHORTLIST_SESSION_DECAY,
                       SHORTLIST_SESSION_SECONDS, SHORTLIST_SESSION_SHARE, SHORTLIST_SITTINGS_NEIGHBOURS,
                       SHORTLIST_SITTINGS_SHARE)
from .errors import DataError, OptionError
from .length_weights import LengthWeights, check_weights, parse_by_length
from .sittings import SittingIndex
from .text import tokenize


@dataclass(frozen=True)
class CandidateConfig:
    n_candidates: int = 20
    bm25_weight: float = SHORTLIST_BM25_WEIGHT  # see zsrec/defaults.py for how these were chosen
    popularity_weight: float = SHORTLIST_POPULARITY_WEIGHT
    popularity_half_life: float | None = None  # in timestamp units; None counts every interaction alike
    recency_decay: float = 0.8  # weight of each older history item relative to the next one in the query
    # Years match across unrelated items ("1977" links Star Wars to Annie Hall), so they stay out of BM25.
    skip_fields: tuple[str, ...] = ("year",)
    # "sparse": BM25 as a sparse matrix (zsrec.bm25), fast on large catalogs; "rank-bm25": the reference
    # library, one Python pass over the catalog per query word. Both give the same scores.
    retriever: str = "sparse"
    # What the catalog's users picked together with the history (zsrec.cooccurrence); 0 turns it off.
    cooccurrence_weight: float = SHORTLIST_COOCCURRENCE_WEIGHT
    cooccurrence: CoOccurrenceConfig = CoOccurrenceConfig()
    # Other weights (and co-occurrence damping) for short histories, shortest first (zsrec.length_weights);
    # longer histories than every entry use the weights above. None ("auto"): the tuned entries when the
    # weights above are the tuned defaults, none when they were set, so weights one sets hold at every
    # length unless one also sets these.
    by_length: tuple[LengthWeights, ...] | None = None
    # What users picked within ``session_seconds`` of each other (one sitting), blended into the
    # co-occurrence part with this share for histories of two or more picks (0: off), its history
    # weighted by ``session_decay`` per older pick. On by default at the setting chosen on validation
    # users (benchmarks/session_signal.py); it needs the picks' timestamps, and the generator leaves
    # it off, with a warning, where there are none.
    session_share: float = SHORTLIST_SESSION_SHARE
    session_seconds: float = SHORTLIST_SESSION_SECONDS
    session_decay: float = SHORTLIST_SESSION_DECAY
    # The ``sittings_neighbours`` sittings (runs of picks at most ``session_seconds`` apart) most like the
    # history's latest picks (weighted by ``session_decay``) vote for their other items (zsrec.sittings),
    # blended into the co-occurrence part with this share, after the session signal, for histories of
    # two or more picks (0: off). Chosen on validation users (benchmarks/similar_sittings.py); it needs
    # timestamps too.
    sittings_share: float = SHORTLIST_SITTINGS_SHARE
    sittings_neighbours: int = SHORTLIST_SITTINGS_NEIGHBOURS
    # Up to this many of the last places shown (``generate_many``'s ``shown``: the k a Ranker shows; the
    # whole list by default) go to new items: items with fewer than ``new_item_picks`` picks, which
    # co-occurrence and popularity never bring up (0: off, the default).
    # They are the new items whose text best matches the history read after the shortlist's best
    # ``new_item_query`` items (its best last, nearest the history), newest first where that ties; new
    # items that earned a place on their own count toward the slots and keep it (``_with_new_items``;
    # measured by benchmarks/new_items.py).
    new_item_slots: int = 0
    new_item_picks: int = 1
    new_item_query: int = SHORTLIST_NEW_ITEM_QUERY

    def __post_init__(self) -> None:
        entries = self.by_length
        if entries is None or (isinstance(entries, str) and entries.strip().lower() == "auto"):
            shared = (self.bm25_weight, self.popularity_weight, self.cooccurrence_weight)
            tuned = (SHORTLIST_BM25_WEIGHT, SHORTLIST_POPULARITY_WEIGHT, SHORTLIST_COOCCURRENCE_WEIGHT)
            entries = SHORTLIST_BY_LENGTH if shared == tuned else ()
        object.__setattr__(self, "by_length", parse_by_length(entries))
        if self.n_candidates < 1:
            raise OptionError("n_candidates must be at least 1")
        check_weights(self.bm25_weight, self.popularity_weight, self.cooccurrence_weight)
        if not 0 < self.recency_decay <= 1:
            raise OptionError("recency_decay must be in (0, 1]")
        if not 0 <= self.session_share <= 1:
            raise OptionError("session_share must lie in [0, 1] (0 turns the session signal off)")
        if not self.session_seconds > 0:
            raise OptionError("session_seconds must be more than 0")
        if not 0 < self.session_decay <= 1:
            raise OptionError("session_decay must be in (0, 1]")
        if not 0 <= self.sittings_share <= 1:
            raise OptionError("sittings_share must lie in [0, 1] (0 turns similar sittings off)")
        if self.sittings_neighbours < 1:
            raise OptionError("sittings_neighbours must be at least 1")
        for name in ("new_item_slots", "new_item_picks", "new_item_query"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise OptionError(f"{name} is a whole number of at least 0, got {value!r}")
        if self.new_item_slots > self.n_candidates:
            raise OptionError(f"new_item_slots ({self.new_item_slots}) cannot exceed n_candidates "
                              f"({self.n_candidates}): they are places in the shortlist")
        if self.new_item_slots and self.new_item_picks < 1:
            raise OptionError("new_item_picks must be at least 1: an item is new while it has fewer picks than this")
        try:
            object.__setattr__(self, "retriever", Retriever(self.retriever).value)
        except ValueError:
            raise OptionError(f"retriever must be 'sparse' or 'rank-bm25', got {self.retriever!r}") from None

    @property
    def uses_cooccurrence(self) -> bool:
        """Whether any history length gives co-occurrence a weight (so its index is needed)."""
        return self.cooccurrence_weight > 0 or any(e.cooccurrence_weight > 0 for e in self.by_length)

    @property
    def first_picks_counts(self) -> tuple[int, ...]:
        """The K of every short-history entry that counts co-occurrence from users' first K picks."""
        return tuple(sorted({e.first_picks for e in self.by_length if e.first_picks and e.cooccurrence_weight > 0}))

    @property
    def tuned_by_length(self) -> bool:
        """Whether the short-history entries are the shipped ones (chosen for you, not by you)."""
        return self.by_length == parse_by_length(SHORTLIST_BY_LENGTH)

    @property
    def uses_session(self) -> bool:
        """Whether the session signal is on (so its index, counted from timestamps, is needed)."""
        return self.session_share > 0 and self.uses_cooccurrence

    @property
    def uses_sittings(self) -> bool:
        """Whether similar sittings are on (so the sittings, cut from timestamps, are needed)."""
        return self.sittings_share > 0 and self.uses_cooccurrence

    @property
    def session_config(self) -> CoOccurrenceConfig:
        """The settings of the index of pairs picked within ``session_seconds``: the co-occurrence
        settings otherwise, over each user's last picks."""
        return replace(self.cooccurrence, seconds=self.session_seconds, first_picks=None)

    def first_picks_config(self, k: int) -> CoOccurrenceConfig:
        """The co-occurrence settings of the index counted from each user's first ``k`` picks."""
        return replace(self.cooccurrence, first_picks=k)


@dataclass(frozen=True)
class Candidates:
    """A shortlist in generator order (best first) with the scores that produced it."""

    indices: np.ndarray  # catalog rows
    scores: np.ndarray  # fused score
    bm25: np.ndarray  # scaled BM25 part
    popularity: np.ndarray  # scaled popularity part
    cooccurrence: np.ndarray | None = None  # scaled co-occurrence part (None: the signal is off)
    # per position: whether a new-item slot put it there (None: no slot was filled)
    new_item_slot: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.indices)


def _minmax(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``x`` scaled to [0, 1] (all zeros when constant); ``out=x`` scales a fresh array in place."""
    return _scaled(x, float(x.min()), float(x.max()), out)


def _scaled(x: np.ndarray, lo: float, hi: float, out: np.ndarray | None = None) -> np.ndarray:
    """``_minmax`` with ``x``'s min and max already found."""
    if hi <= lo:
        if out is None:
            return np.zeros_like(x)
        out[:] = 0.0
        return out
    out = np.subtract(x, lo, out=out)
    out /= hi - lo
    return out


def _co_at(rows: np.ndarray, co_rows: np.ndarray, co_vals: np.ndarray) -> np.ndarray:
    """The co-occurrence score of each of ``rows`` (0 where none was counted)."""
    co = np.zeros(len(rows))
    if len(co_rows):
        hit, at = _find(co_rows, rows)
        co[hit] = co_vals[at[hit]]
    return co


def _blend(rows: np.ndarray, vals: np.ndarray, s_rows: np.ndarray, s_vals: np.ndarray,
           share: float) -> tuple[np.ndarray, np.ndarray]:
    """The co-occurrence part (``rows``, ``vals``, top 1) blended with a sitting signal:
    (1 - share) x co-occurrence + share x the signal scaled to a top of 1. The session signal and
    similar sittings were each chosen on validation users (benchmarks/session_signal.py,
    benchmarks/similar_sittings.py); one-pick histories keep co-occurrence alone, where the blend
    lost (benchmarks/cooccurrence_variants.py)."""
    top = float(s_vals.max()) if len(s_vals) else 0.0
    if top <= 0:
        return rows, vals
    both = np.union1d(rows, s_rows)
    out = np.zeros(len(both))
    if len(rows):
        out[np.searchsorted(both, rows)] += (1.0 - share) * vals
    out[np.searchsorted(both, s_rows)] += share * (s_vals / top)
    return both, out


def _sorted_rows(rows) -> np.ndarray:
    """Catalog rows as a sorted array of distinct int64s (a filter's ``allowed``), taken as they are
    when they already are: a caller's list is usually sorted, and sorting a large one costs."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) > 1 and not bool(np.all(rows[1:] > rows[:-1])):
        rows = np.unique(rows)
    return rows


def _find(sorted_rows: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(found, at): which of ``rows`` are in the non-empty ``sorted_rows``, and where they would be."""
    at = np.searchsorted(sorted_rows, rows).clip(max=len(sorted_rows) - 1)
    return sorted_rows[at] == rows, at


@dataclass(frozen=True)
class CountedPicks:
    """New picks counted into copies of a generator's indexes (``CandidateGenerator.count_picks``), or
    room made in them for new items (``count_items``), read by no shortlist until ``take_picks`` (or
    ``add_items``) puts them in place."""

    version: int  # the generator's count of changes it was counted from
    n_items: int  # the catalog's size they are for
    cooccurrence: CoOccurrenceIndex | None
    first_picks: dict[int, CoOccurrenceIndex]
    session: CoOccurrenceIndex | None
    sittings: SittingIndex | None
    popularity_counts: np.ndarray
    unweighted_counts: np.ndarray | None
    pop_scaled: np.ndarray
    pop_order: np.ndarray
    counted_from: Interactions | None
    rows: np.ndarray | None = None  # the grown catalog's rows (count_items); None: the catalog did not grow


class CandidateGenerator:
    """Index a catalog once (or load a saved index), then shortlist per user or per batch of users."""

    DENSE_FRACTION = 0.25  # queries touching more postings than this share of the catalog go dense
    BOUNDED_MIN_ITEMS = 20_000  # below this, fusing every item costs less than finding the few to fuse
    # a filter of at most this many items is scored item by item; a larger one is cut from a widened
    # unfiltered shortlist (``_filtered``; benchmarks/filtered_shortlist.py times both ways)
    FILTER_SCORED_MAX = 20_000

    def __init__(self, catalog: Catalog, interactions: Interactions | None = None,
                 config: CandidateConfig | None = None, popularity: np.ndarray | None = None,
                 index: SparseBM25 | None = None, cooccurrence: CoOccurrenceIndex | None = None,
                 sequences: Sequence[Sequence[int]] | None = None,
                 first_picks: Mapping[int, CoOccurrenceIndex] | None = None,
                 session: CoOccurrenceIndex | None = None,
                 sequence_times: Sequence[Sequence[float]] | None = None,
                 sittings: SittingIndex | None = None):
        """Popularity and co-occurrence come from ``interactions``, or from ``popularity`` and
        ``sequences`` (each user's picks, oldest first; ``sequence_times`` their timestamps, for the
        session signal) where the caller counts them on a subset of users (the evaluation's training
        users); ``index`` / ``cooccurrence`` lend built ones, ``first_picks`` the indexes counted from
        users' first K picks, by K, ``session`` the index of pairs picked in one sitting and
        ``sittings`` the sittings themselves."""
        self.catalog = catalog
        self.config = config or CandidateConfig()
        self.cooccurrence: CoOccurrenceIndex | None = None
        self.session: CoOccurrenceIndex | None = None  # pairs picked within session_seconds
        self.sittings: SittingIndex | None = None  # runs of picks within session_seconds, for similar sittings
        self.first_picks: dict[int, CoOccurrenceIndex] = {}  # K -> index of users' first K picks
        self.index_file_stale = False  # set by with_saved_index: the file lacked an index built here
        self._picks_version = 0  # counts of picks put in place (take_picks) and item adds: see take_picks
        from_interactions = sequences is None and interactions is not None
        read: list[Sequence[Sequence[int]]] = []  # the interactions' picks, read once for every index

        def all_sequences() -> Sequence[Sequence[int]] | None:
            if not from_interactions:
                return sequences
            if not read:
                read.append([interactions.user_history(u) for u in interactions.user_ids])
            return read[0]

        if self.config.uses_cooccurrence:
            if cooccurrence is not None:
                self.cooccurrence = cooccurrence
            elif sequences is not None or interactions is not None:
                self.cooccurrence = CoOccurrenceIndex.build(all_sequences(), len(catalog), self.config.cooccurrence)
            for k in self.config.first_picks_counts:
                lent = (first_picks or {}).get(k)
                if lent is None and self.cooccurrence is not None:
                    counted = all_sequences()
                    if counted is None and self.config.tuned_by_length:
                        # a lent index and nothing to count from: the shipped entries make do with it
                        warnings.warn(f"the default shortlist counts co-occurrence from users' first {k} picks for "
                                      "short histories; with only a built index lent (no interactions or "
                                      "sequences, no first-picks index) those histories use that index",
                                      stacklevel=2)
                        continue
                    if counted is None:
                        raise OptionError(f"short histories count co-occurrence from users' first {k} picks: pass "
                                          "the interactions (or sequences) to count them from, or that index")
                    lent = CoOccurrenceIndex.build(counted, len(catalog), self.config.first_picks_config(k))
                if lent is not None:
                    self.first_picks[k] = lent
        # Why the session signal (or similar sittings) is off although the config asks for it (None: on,
        # or not asked for).
        self.session_off: str | None = None
        stamped: list[tuple[Sequence[Sequence[float]] | None, str]] = []  # the picks' times, read once for both

        def picks_times() -> tuple[Sequence[Sequence[float]] | None, str]:
            if not stamped:
                stamped.append(self._times(all_sequences(), interactions if from_interactions else None,
                                           sequence_times))
            return stamped[0]

        if self.config.uses_session and self.cooccurrence is not None:
            if session is None:
                times, why = picks_times()
                if times is None:
                    self._off(f"the session signal (session_share {self.config.session_share:g})", why)
                else:
                    session = CoOccurrenceIndex.build(all_sequences(), len(catalog), self.config.session_config, times)
            self.session = session
        if self.config.uses_sittings and self.cooccurrence is not None:
            if sittings is None:
                times, why = picks_times()
                if times is None:
                    self._off(f"similar sittings (sittings_share {self.config.sittings_share:g})", why)
                else:  # each user named as in the interactions, so later picks can be added to theirs
                    sittings = SittingIndex.build(all_sequences(), times, len(catalog), self.config.session_seconds,
                                                  interactions.user_ids if from_interactions else None)
            self.sittings = sittings
        self._popularity_counted = popularity is None and interactions is not None  # else lent, or none
        if popularity is None:
            popularity = (interactions.item_counts(len(catalog), self.config.popularity_half_life)
                          if interactions is not None else np.zeros(len(catalog)))
        if len(popularity) != len(catalog):
            raise ValueError("popularity needs one count per catalog item")
        self.popularity_counts = np.asarray(popularity, dtype=np.float64)
        self._unweighted_counts = self._unweighted(interactions)
        self._rows = np.arange(len(catalog))
        self.hidden_rows = np.zeros(0, dtype=np.int64)  # never shortlisted (hide_rows), sorted
        self._count_popularity()
        self._rank_bm25 = None
        self.index: SparseBM25 | None = None
        # the text index cut to the new items: (cut, their places in it, index cut, pool, rows it covers)
        self._new_text: tuple | None = None
        if self.config.retriever == "rank-bm25":
            from rank_bm25 import BM25Okapi

            docs = [tokenize(item.text(self.config.skip_fields)) for item in catalog]
            self._rank_bm25 = BM25Okapi([d if d else [EMPTY_DOC] for d in docs])
        elif index is not None:
            if index.n_docs != len(catalog) or index.meta.get("skip_fields") != list(self.config.skip_fields):
                raise DataError(f"the saved index was built for another catalog or settings ({index.n_docs} items, "
                                f"fields skipped {index.meta.get('skip_fields')}); this catalog has {len(catalog)} "
                                f"items, skipping {list(self.config.skip_fields)}: delete the file to rebuild it")
            built_for = index.meta.get("catalog")  # files saved before fingerprints were kept have none
            if built_for is not None and built_for != catalog.fingerprint(self.config.skip_fields):
                raise DataError(f"the saved index was built for another catalog of {len(catalog)} items (their ids "
                                "or texts differ from these): delete the file to rebuild it")
            self.index = index
        else:
            self.index = SparseBM25.build([tokenize(item.text(self.config.skip_fields)) for item in catalog])
            self.index.meta = {"skip_fields": list(self.config.skip_fields), "n_docs": len(catalog)}
        # what the counted indexes came from, written beside them by save_index
        self.counted_from = interactions if from_interactions else None

    def _unweighted(self, interactions: Interactions | None) -> np.ndarray | None:
        """Picks per item, each counted once, where a half-life weighs popularity's counts; None
        where popularity is that count itself (lent counts are taken as they are)."""
        if self._popularity_counted and self.config.popularity_half_life is not None:
            return interactions.item_counts(len(self.catalog))
        return None

    @property
    def pick_counts(self) -> np.ndarray:
        """Picks per item, each counted once: what tells a new item (``new_item_picks``)."""
        return self.popularity_counts if self._unweighted_counts is None else self._unweighted_counts

    def _count_popularity(self) -> None:
        self._pop_scaled, self._pop_order = self._popularity_order(self.popularity_counts)
        self._pop_terms: dict[float, np.ndarray] = {}
        self._apply_hidden()

    def _popularity_order(self, counts: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The popularity signal from ``counts``: log-scaled to [0, 1], and the catalog's rows by it,
        ties to the lowest row (the order the reference path also uses); ``rows``: a grown catalog's."""
        scaled = _minmax(np.log1p(counts))
        return scaled, np.lexsort((self._rows if rows is None else rows, -scaled))

    def hide_rows(self, rows: Sequence[int] | np.ndarray) -> None:
        """Set the rows no shortlist may hold, for every user, until set again (``Recommender.hide_items``:
        a product retired for good). Each shortlist is then the order it had, less these rows. Kept
        as a mask and the popularity order without them, so that hiding many items costs a request
        nothing per hidden item, where passing them as every user's ``exclude`` would."""
        rows = np.unique(np.asarray(rows, dtype=np.int64).reshape(-1))
        if len(rows) and (rows[0] < 0 or rows[-1] >= len(self.catalog)):
            raise ValueError(f"hide_rows() takes catalog rows (0 to {len(self.catalog) - 1})")
        self.hidden_rows = rows
        self._apply_hidden()

    def _apply_hidden(self) -> None:
        """The mask and popularity order of what may be shown, and the new items that may fill a
        slot, after the hidden rows, the counts or the catalog moved."""
        new = np.flatnonzero(self.pick_counts < self.config.new_item_picks) \
            if self.config.new_item_slots else np.zeros(0, dtype=np.int64)
        if not len(self.hidden_rows):
            self._hidden_mask: np.ndarray | None = None
            self._shown_order = self._pop_order
        else:
            mask = np.zeros(len(self.catalog), dtype=bool)
            mask[self.hidden_rows] = True
            self._hidden_mask = mask
            self._shown_order = self._pop_order[~mask[self._pop_order]]
            new = new[~mask[new]]
        self._new_rows = new

    def _new_items_text(self, rows: np.ndarray) -> tuple[SparseBM25, np.ndarray]:
        """The text index cut to the documents of the new items ``rows`` (a third of a large
        catalog's postings, or far fewer), and each one's document in it: a slot's query is summed
        over these alone. New picks only take items out of the pool, so a cut made before that still
        holds every item is reused; it is made again when the pool gains one or the text index
        changes. Kept as one tuple, so a reader never sees a cut with another pool's places."""
        kept = self._new_text
        if kept is not None and kept[2] is self.index:
            cut, at, _, made_for, covers = kept
            if made_for is rows:
                return cut, at
            hit, at = _find(covers, rows)
            if bool(hit.all()):
                self._new_text = (cut, at, self.index, rows, covers)
                return cut, at
        assert self.index is not None
        cut = SparseBM25(self.index.term_docs[:, rows].tocsr(), self.index.vocabulary)
        at = np.arange(len(rows))
        self._new_text = (cut, at, self.index, rows, rows)
        return cut, at

    def _left(self, seen: np.ndarray) -> int:
        """Items a shortlist can hold: neither seen nor hidden."""
        left = len(self.catalog) - len(seen)
        if self._hidden_mask is not None:
            left -= len(self.hidden_rows) - int(np.count_nonzero(self._hidden_mask[seen]))
        return left

    def _hide(self, rows: np.ndarray, fused: np.ndarray) -> None:
        """Hidden rows score -inf (in place), as seen ones do."""
        if self._hidden_mask is not None:
            fused[self._hidden_mask[rows]] = -np.inf

    def add_interactions(self, interactions: Interactions, rows: np.ndarray) -> None:
        """Count new picks into every index without a rebuild: ``interactions`` holds them already
        (appended, each user's no older than their earlier ones: ``Interactions.extend``), ``rows``
        are theirs. The same as ``take_picks(count_picks(interactions, rows))``; a service that must
        not stall its requests meanwhile calls those two itself (``Recommender.add_interactions``)."""
        self.take_picks(self.count_picks(interactions, rows))

    def count_picks(self, interactions: Interactions, rows: np.ndarray) -> CountedPicks:
        """New picks counted into copies of the indexes, changing nothing this generator's shortlists
        read, so it runs while they go on; ``take_picks`` then puts them in place in one short step.
        Each index pairs a user's new picks with what they picked before (the shared one with their
        last ones, the first-picks ones with all of them, the session signal and the sittings by time),
        and popularity takes the new picks' counts added (with a half-life every weight moves, and it
        is counted again from every pick). The text index needs nothing: items are not added. The indexes
        then hold what a rebuild would, but for neighbour pairs pruned before that start again from
        their new count (``CoOccurrenceIndex.add``). Each index's ``add`` makes new arrays and never
        writes into its old ones, so a shallow copy can be added to while the original is read."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return CountedPicks(self._picks_version, len(self.catalog), self.cooccurrence, dict(self.first_picks),
                                self.session, self.sittings, self.popularity_counts, self._unweighted_counts,
                                self._pop_scaled, self._pop_order, self.counted_from)
        new_count = Counter(str(u) for u in interactions.users[rows])  # in the order users first appear
        users = list(new_count)
        picks, earlier, times, earlier_times = [], [], [], []
        for user in users:
            history = interactions.user_history(user)
            stamps = interactions.user_times(user)
            cut = len(history) - new_count[user]
            picks.append(history[cut:])
            earlier.append(history[:cut])
            times.append(stamps[cut:])
            earlier_times.append(stamps[:cut])

        def added(index, *args, **kwargs):
            if index is None:
                return None
            index = copy.copy(index)
            index.add(*args, **kwargs)
            return index

        if self._popularity_counted and self.config.popularity_half_life is not None:  # every weight moves
            popularity = interactions.item_counts(len(self.catalog), self.config.popularity_half_life)
        else:  # counts (or lent counts, a subset of users'): the new picks are added to them
            popularity = self.popularity_counts + np.bincount(interactions.items[rows], minlength=len(self.catalog))
        scaled, order = self._popularity_order(popularity)
        return CountedPicks(
            self._picks_version, len(self.catalog),
            added(self.cooccurrence, picks, earlier),
            {k: added(index, picks, earlier) for k, index in self.first_picks.items()},
            added(self.session, picks, earlier, times=times, tail_times=earlier_times),
            added(self.sittings, users, picks, times),
            popularity, self._unweighted(interactions), scaled, order,
            interactions if self.counted_from is not None else None)

    def take_picks(self, counted: CountedPicks) -> None:
        """Put picks counted by ``count_picks`` in place: a few assignments and the hidden rows' mask,
        the only part of an add that shortlists wait for. Counted from indexes that have changed since
        (another add took its picks first, or items came) they would undo that change: that raises.
        (``add_items`` puts room made by ``count_items`` in place the same way.)"""
        if counted.version != self._picks_version or counted.n_items != len(self.catalog):
            raise ValueError("these picks were counted from indexes that have changed since (other picks or "
                             "new items were put in place): count them again")
        if counted.rows is not None:  # room for new items (count_items)
            self._rows = counted.rows
        self.cooccurrence, self.first_picks = counted.cooccurrence, counted.first_picks
        self.session, self.sittings = counted.session, counted.sittings
        self.popularity_counts, self._unweighted_counts = counted.popularity_counts, counted.unweighted_counts
        self._pop_scaled, self._pop_order, self._pop_terms = counted.pop_scaled, counted.pop_order, {}
        self._apply_hidden()
        if self.counted_from is not None:
            self.counted_from = counted.counted_from
        self._picks_version += 1

    def text_index_with(self, items: Sequence[Item]) -> SparseBM25 | object | None:
        """The text index over the catalog and then ``items``, built without changing anything (done
        first while shortlists go on). BM25's document frequencies and lengths move with each new
        document, so every weight does; they are computed again from the term counts the index keeps,
        reading only the new items' text. An index loaded from a file keeps no counts: the first add
        reads every item's text and builds it whole (keeping them), as the reference retriever
        (``rank-bm25``) always does."""
        if self.index is None and self._rank_bm25 is None:
            return None
        if self.index is not None and self.index.counts is not None:  # the items it has not read, and then these
            unread = [*self.catalog.items[self.index.n_docs:], *items]
            index = self.index.with_docs([tokenize(item.text(self.config.skip_fields)) for item in unread])
        else:
            docs = [tokenize(item.text(self.config.skip_fields)) for item in [*self.catalog.items, *items]]
            if self._rank_bm25 is not None:
                from rank_bm25 import BM25Okapi

                return BM25Okapi([d if d else [EMPTY_DOC] for d in docs])
            index = SparseBM25.build(docs)
        index.meta = {"skip_fields": list(self.config.skip_fields), "n_docs": index.n_docs}
        return index

    def count_items(self, n_items: int) -> CountedPicks:
        """Room for new items made in copies of the counted indexes, changing nothing this generator's
        shortlists read, for a catalog about to grow to ``n_items``: every counted index grows by
        empty rows and columns, popularity gives each new item no picks, and its order over every
        item is made again (most of what an add of items did while shortlists waited: 50 ms at 1M
        items). ``add_items`` then puts it in place with the text index."""
        added = n_items - len(self.popularity_counts)  # the items counted so far (the catalog may hold them)
        if added < 0:
            raise ValueError("a catalog only grows: items are never taken out of an index")

        def grown(index):
            if index is None:
                return None
            index = copy.copy(index)  # grow replaces the index's matrices, never writes into them
            index.grow(n_items)
            return index

        popularity = np.concatenate([self.popularity_counts, np.zeros(added)])
        unweighted = None if self._unweighted_counts is None else np.concatenate([self._unweighted_counts, np.zeros(added)])
        rows = np.arange(n_items)
        scaled, order = self._popularity_order(popularity, rows)
        return CountedPicks(self._picks_version, n_items, grown(self.cooccurrence),
                            {k: grown(index) for k, index in self.first_picks.items()}, grown(self.session),
                            grown(self.sittings), popularity, unweighted, scaled, order, self.counted_from, rows)

    def add_items(self, rows: np.ndarray, text_index: SparseBM25 | object | None = None,
                  counted: CountedPicks | None = None) -> None:
        """Make room for items just appended to the catalog (``Catalog.extend``; ``rows`` are theirs):
        the text index over every item is put in place (``text_index``, from ``text_index_with``
        before they were appended; else built here), and the counted indexes grown by empty rows and
        columns, with popularity giving each new item no picks (``counted``, from ``count_items``
        before they were appended; else made here). The generator is then what a build over the
        larger catalog with the same interactions gives."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return
        n = len(self.catalog)
        if len(self.popularity_counts) + len(rows) != n or rows[-1] != n - 1:
            raise ValueError("add_items() takes the rows of the items last appended to the catalog")
        if counted is not None and counted.n_items != n:
            raise ValueError(f"room was made for {counted.n_items} items; the catalog has {n}")
        if text_index is None:  # the catalog holds the new items by now
            text_index = self.text_index_with(())
        if isinstance(text_index, SparseBM25) and text_index.n_docs != n:
            raise ValueError(f"the text index was built over {text_index.n_docs} items; the catalog has {n}")
        # put in place as picks are (picks counted before are for the smaller catalog: its version moves)
        self.take_picks(counted if counted is not None else self.count_items(n))
        if self._rank_bm25 is not None:
            self._rank_bm25 = text_index
        elif self.index is not None:
            self.index = text_index

    @staticmethod
    def _times(sequences: Sequence[Sequence[int]] | None, interactions: Interactions | None,
               times: Sequence[Sequence[float]] | None) -> tuple[Sequence[Sequence[float]] | None, str]:
        """The picks' times to cut sittings from, and, for when there are none, why (data without
        timestamps, sequences without ``sequence_times``, only built indexes lent)."""
        if interactions is not None:
            return interactions.times_for(interactions.user_ids), "the interactions have no timestamps"
        if sequences is None:
            return None, "only built indexes were lent (no interactions or sequences to count sittings from)"
        return times, "the picks have no times (data without timestamps, or sequences without sequence_times)"

    def _off(self, signal: str, why: str) -> None:
        """Leave a signal that needs the picks' times off, with a warning and the reason in
        ``session_off``: the shortlist is then the one without it, as it was before it existed."""
        self.session_off = why
        warnings.warn(f"{signal} is off for this shortlist: it needs the picks within {self.config.session_seconds:g} "
                      f"s of each other, and {why}; set its share to 0 to silence this", stacklevel=3)

    def save_index(self, path: str | Path) -> None:
        """Save the text index and the co-occurrence neighbours (each index of users' first picks
        too) in one file (popularity is recomputed from the interactions on load: it is cheap)."""
        if self.index is None:
            raise OptionError("only the sparse retriever's index can be saved")
        extra = self.cooccurrence.arrays() if self.cooccurrence is not None else {}
        for k, early in self.first_picks.items():
            extra.update(early.arrays(prefix=f"first{k}_co_"))
        if self.session is not None:
            extra.update(self.session.arrays(prefix="session_co_"))
        if self.sittings is not None:
            extra.update(self.sittings.arrays(prefix="sit_"))
        # the catalog and the interactions the indexes came from, so a later load can tell they are these
        self.index.meta["catalog"] = self.catalog.fingerprint(self.config.skip_fields)
        self.index.meta.pop("interactions", None)
        if self.counted_from is not None:
            self.index.meta["interactions"] = self.counted_from.fingerprint()
        path = Path(path)
        try:  # a new folder is made, as for any output file; what cannot be written is said in one line
            path.parent.mkdir(parents=True, exist_ok=True)
            self.index.save(path, extra or None)
        except (FileExistsError, NotADirectoryError):
            raise DataError("cannot write the index there: a file stands where a folder is needed", str(path)) from None
        except OSError as e:
            raise DataError(f"cannot write the index there ({e.strerror or e})", str(path)) from None

    @classmethod
    def with_saved_index(cls, path: str | Path, catalog: Catalog, interactions: Interactions | None = None,
                         config: CandidateConfig | None = None, **kwargs) -> CandidateGenerator:
        config = config or CandidateConfig()
        cooc = None
        early: dict[int, CoOccurrenceIndex] = {}
        session = None
        sittings = None
        try:
            index = SparseBM25.load(path)
            with np.load(path, allow_pickle=False) as f:
                if "co_config" in f.files:
                    cooc = CoOccurrenceIndex.from_arrays(f)
                if config.uses_session and "session_co_config" in f.files:
                    session = CoOccurrenceIndex.from_arrays(f, prefix="session_co_")
                if config.uses_sittings and "sit_shape" in f.files:
                    sittings = SittingIndex.from_arrays(f, prefix="sit_")
                for k in config.first_picks_counts:
                    if f"first{k}_co_config" in f.files:
                        early[k] = CoOccurrenceIndex.from_arrays(f, prefix=f"first{k}_co_")
        except (OSError, ValueError, KeyError, EOFError) as e:
            raise DataError(f"cannot read index ({type(e).__name__}: {e})", str(path)) from None
        grown = (index.n_docs < len(catalog) and index.meta.get("skip_fields") == list(config.skip_fields)
                 and index.meta.get("catalog") == catalog.fingerprint(config.skip_fields, upto=index.n_docs))
        if grown:  # items added since (Recommender.add_items, kept in a picks log): the same catalog, grown
            extra = len(catalog) - index.n_docs
            added = "the catalog's last item was" if extra == 1 else f"the catalog's last {extra} items were"
            warnings.warn(f"the index file {path} was built before {added} added; its indexes are "
                          "built again over every item (and the file written again by --index or index=)",
                          stacklevel=2)
            index = None  # every index, sized for the smaller catalog, is built again from these
            cooc, early, session, sittings = None, {}, None, None
        if (not grown and interactions is not None and cooc is not None
                and index.meta.get("interactions") != interactions.fingerprint()):
            # counted from other interactions (new events since, or a file from before fingerprints):
            # everything counted is counted again from these; the text index only needs the catalog
            warnings.warn(f"the index file {path} was counted from other interactions than these; its "
                          "co-occurrence is counted again from them (and the file written again by --index or index=)",
                          stacklevel=2)
            cooc, early, session, sittings = None, {}, None, None
        if cooc is not None and (cooc.config != config.cooccurrence or cooc.n_items != len(catalog)):
            cooc = None  # saved with other co-occurrence settings: rebuilt from the interactions
        # the same for each index of users' first picks
        early = {k: e for k, e in early.items()
                 if cooc is not None and e.config == config.first_picks_config(k) and e.n_items == len(catalog)}
        if session is not None and (cooc is None or session.config != config.session_config
                                    or session.n_items != len(catalog)):
            session = None
        if sittings is not None and (cooc is None or sittings.seconds != config.session_seconds
                                     or sittings.n_items != len(catalog)):
            sittings = None
        gen = cls(catalog, interactions, config, index=index, cooccurrence=cooc, first_picks=early, session=session,
                  sittings=sittings, **kwargs)
        # what this config needs and the file did not hold was counted afresh: worth saving again
        gen.index_file_stale = gen.index is not None and (
            grown or (gen.cooccurrence is not None and cooc is None) or any(k not in early for k in gen.first_picks)
            or (gen.session is not None and session is None) or (gen.sittings is not None and sittings is None))
        return gen

    def query_weights(self, history: Sequence[int]) -> dict[str, float]:
        """Query term weights: recent items weigh more (the last item counts 1, each older one less)."""
        weights: dict[str, float] = {}
        n = len(history)
        items = self.catalog.items
        for pos, idx in enumerate(history):
            w = self.config.recency_decay ** (n - 1 - pos)
            for tok in tokenize(items[int(idx)].text(self.config.skip_fields)) or [EMPTY_DOC]:
                weights[tok] = weights.get(tok, 0.0) + w
        return weights

    def bm25_scores(self, history: Sequence[int]) -> np.ndarray:
        """Raw BM25 scores of every catalog item for this history (dense)."""
        if self._rank_bm25 is not None:
            scores = np.zeros(len(self.catalog))
            for tok, w in self.query_weights(history).items():
                # get_scores over a one-word query is that word's BM25 column; weighting it repeats the word.
                scores += w * self._rank_bm25.get_scores([tok])
            return scores
        assert self.index is not None
        return self.index.scores(self.query_weights(history))

    def fused_scores(self, history: Sequence[int]) -> np.ndarray:
        """The shortlist score of every catalog item for this history (nothing masked), so that any
        set of items, not only the shortlist, can be put in generator order."""
        bm25 = _minmax(self.bm25_scores(history)) if len(history) else np.zeros(len(self.catalog))
        bm25_w, pop_w, co_w = self._weights(len(history))
        fused = bm25_w * bm25 + self._pop_term(pop_w)
        if co_w:
            fused = fused + co_w * self.cooccurrence_scores(history)
        return fused

    def cooccurrence_scores(self, history: Sequence[int]) -> np.ndarray:
        """The co-occurrence signal of every catalog item for this history, scaled to [0, 1]."""
        out = np.zeros(len(self.catalog))
        rows, vals = self._co_sparse(history)
        out[rows] = vals
        return out

    def _co_sparse(self, history: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scaled scores) of the items co-picked with the history, rows sorted."""
        index = self._co_index(len(history))
        if index is None or not len(history):
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        rows, vals = index.neighbour_scores(history, self.config.recency_decay, self.damping_for(len(history)))
        top = float(vals.max()) if len(vals) else 0.0
        vals = vals / top if top > 0 else vals
        cfg = self.config
        if self.session is not None and len(history) >= 2:
            rows, vals = _blend(rows, vals, *self.session.neighbour_scores(history, cfg.session_decay),
                                cfg.session_share)
        if self.sittings is not None and len(history) >= 2:
            rows, vals = _blend(rows, vals, *self.sittings.neighbour_scores(history, cfg.session_decay,
                                                                            cfg.sittings_neighbours),
                                cfg.sittings_share)
        return rows, vals

    def length_weights(self, length: int) -> LengthWeights | None:
        """The entry of ``by_length`` that covers a history this long (None: the shortlist's weights)."""
        for entry in self.config.by_length:
            if length <= entry.up_to:
                return entry
        return None

    def _co_index(self, length: int) -> CoOccurrenceIndex | None:
        """The co-occurrence index for a history this long: its entry's count of users' first picks,
        or the shortlist's own."""
        entry = self.length_weights(length)
        if entry is not None and entry.first_picks and entry.first_picks in self.first_picks:
            return self.first_picks[entry.first_picks]
        return self.cooccurrence

    def damping_for(self, length: int) -> float | None:
        """The co-occurrence damping for a history this long (None: the index's normalisation)."""
        entry = self.length_weights(length)
        return entry.damping if entry is not None else None

    def generate(self, history: Sequence[int], exclude: Sequence[int] | np.ndarray = (),
                 n: int | None = None, allowed: np.ndarray | None = None, shown: int | None = None) -> Candidates:
        """The top-``n`` unseen items. Empty history: popularity alone (the cold-start branch).
        ``allowed``: the sorted catalog rows the shortlist may hold (a filter: in stock, one genre).
        ``shown``: see ``generate_many``."""
        return self.generate_many([history], [exclude], n, [allowed], shown)[0]

    def generate_many(self, histories: Sequence[Sequence[int]],
                      excludes: Sequence[Sequence[int] | np.ndarray] | None = None,
                      n: int | None = None,
                      alloweds: Sequence[np.ndarray | None] | None = None,
                      shown: int | None = None) -> list[Candidates]:
        """Shortlists for many users; on the sparse path all queries are scored in one matrix product.
        ``alloweds``: per user, None or the sorted catalog rows their shortlist may hold. ``shown``:
        how many of the list a user will be shown (k) when it is shown in its own order: new-item
        slots end there, and the places they take move down the list, not out (None: the whole list)."""
        n = n or self.config.n_candidates
        excludes = excludes if excludes is not None else [()] * len(histories)
        alloweds = alloweds if alloweds is not None else [None] * len(histories)
        if self._rank_bm25 is not None:
            scaled = [lambda h=h: self._scaled_dense(self.bm25_scores(h) if len(h) else None) for h in histories]
            out = [self._generate_dense(h, e, n) if a is None else
                   self._filtered(h, e, n, a, lambda wide, h=h, e=e: self._generate_dense(h, e, wide), bm25_of)
                   for h, e, a, bm25_of in zip(histories, excludes, alloweds, scaled, strict=True)]
            return self._with_new_items(histories, excludes, alloweds, out, n, scaled, shown)
        assert self.index is not None
        queries = self.index.query_matrix([self.query_weights(h) if len(h) else {} for h in histories])
        # Sum the postings in C for queries whose words cover much of the catalog; keep the sparse
        # product (only matched items) for the rest. Both give the same scores.
        postings = np.add.reduceat(self.index.doc_freq[queries.indices], queries.indptr[:-1]) \
            if queries.nnz else np.zeros(len(histories))
        postings = np.where(np.diff(queries.indptr) > 0, postings, 0)
        dense = postings > self.DENSE_FRACTION * len(self.catalog)
        sparse_rows = np.flatnonzero(~dense)
        matched = self.index.match_rows(queries[sparse_rows]) if len(sparse_rows) else None
        out: list[Candidates] = []
        scaled_bm25: list[Callable[[], Callable[[np.ndarray], np.ndarray]]] = []  # for new-item slots
        slots = self.config.new_item_slots and len(self._new_rows)
        for u, (h, e, a) in enumerate(zip(histories, excludes, alloweds, strict=True)):
            at = int(np.searchsorted(sparse_rows, u))
            if dense[u]:
                ranged: dict[str, tuple[float, float]] = {}  # the raw scores' range, kept for new-item slots

                def unfiltered(wide: int, u=u, h=h, e=e, ranged=ranged) -> Candidates:
                    raw = self.index.dense_scores(queries[u])
                    if slots and len(h):
                        ranged["raw"] = (float(raw.min()), float(raw.max()))
                    return self._select_dense(raw, h, e, wide)

                def bm25_of(u=u, h=h, ranged=ranged) -> Callable[[np.ndarray], np.ndarray]:
                    if "raw" in ranged:  # a few slot items scaled as the shortlist was, without a second pass
                        return self._scaled_at(queries[u], *ranged["raw"])
                    return self._scaled_dense(self.index.dense_scores(queries[u]) if len(h) else None)
            else:
                def unfiltered(wide: int, h=h, e=e, at=at) -> Candidates:
                    return self._generate_sparse(h, e, wide, matched, at)

                def bm25_of(at=at) -> Callable[[np.ndarray], np.ndarray]:
                    span = slice(matched.indptr[at], matched.indptr[at + 1])
                    return self._scaled_sparse(matched.indices[span], matched.data[span])
            out.append(unfiltered(n) if a is None else self._filtered(h, e, n, a, unfiltered, bm25_of))
            scaled_bm25.append(bm25_of)
        return self._with_new_items(histories, excludes, alloweds, out, n, scaled_bm25, shown)

    def _with_new_items(self, histories: Sequence[Sequence[int]], excludes: Sequence, alloweds: Sequence,
                        shortlists: list[Candidates], n: int,
                        scaled_bm25: Sequence[Callable[[], Callable[[np.ndarray], np.ndarray]]],
                        shown: int | None = None) -> list[Candidates]:
        """Each shortlist with the last of its first ``shown`` places (all of it by default) given to
        new items (``new_item_slots``), as many as the slots less the new items those places hold
        already. Without slots, or with no new item left to show, the shortlists are returned as they
        are."""
        if not self.config.new_item_slots or not len(self._new_rows):
            return shortlists
        out = []
        for h, e, a, cands, bm25_of in zip(histories, excludes, alloweds, shortlists, scaled_bm25, strict=True):
            end = min(n if shown is None else shown, len(cands))
            held = _find(self._new_rows, cands.indices[:end])[0]
            need = min(self.config.new_item_slots, end) - int(np.count_nonzero(held))
            take = self._best_new(h, e, a, cands.indices, cands.indices[:end], need) if need > 0 \
                else np.zeros(0, dtype=np.int64)
            out.append(self._placed(h, cands, held, take, bm25_of()) if len(take) else cands)
        return out

    def _best_new(self, history: Sequence[int], exclude, allowed: np.ndarray | None, shortlist: np.ndarray,
                  listed: np.ndarray, need: int) -> np.ndarray:
        """Up to ``need`` new items, neither seen, excluded nor ``listed`` (and allowed, under a filter),
        whose text best matches the history read after the shortlist's best items: what co-picked
        items are like says more about a new item's chances than the history's own words alone
        (benchmarks/new_items.py). Ties, an unmatched query among them, go to the newest row (items
        are appended as they arrive). The pool may be a third of a large catalog (its unpicked long
        tail), so it is scored whole and masked, and only the few best are sorted."""
        new = self._new_rows
        pool, at = new, slice(None)  # at: the pool's places among the new items
        if allowed is not None:
            allowed = _sorted_rows(allowed)
            if len(allowed) < len(pool):
                hit, where = _find(pool, allowed)
                at = where[hit]
            else:
                at = np.flatnonzero(_find(allowed, pool)[0])
            pool = pool[at]
        if not len(pool):
            return pool
        query = [int(i) for i in shortlist[:self.config.new_item_query][::-1]] + [int(i) for i in history]
        if not query:
            text = np.zeros(len(pool))
        elif self._rank_bm25 is not None:
            text = self.bm25_scores(query)[pool]
        else:  # the same sums as over the whole index, term by term in the query's order
            assert self.index is not None
            cut, place = self._new_items_text(new)
            text = cut.dense_scores(self.index.query_matrix([self.query_weights(query)]))[place[at]]
        hit, where = _find(pool, np.concatenate([self._seen(history, exclude), np.asarray(listed, dtype=np.int64)]))
        text[where[hit]] = -np.inf
        left = np.flatnonzero(np.isfinite(text))
        # the shortlist's own cut (a partition, then the few winners sorted), ties to the highest
        # row: the newest item
        return pool[left[self._top(-pool[left], text[left], min(need, len(left)))]]

    def _placed(self, history: Sequence[int], cands: Candidates, held: np.ndarray, take: np.ndarray,
                bm25_of: Callable[[np.ndarray], np.ndarray]) -> Candidates:
        """``cands`` with ``take`` placed to end where its first ``len(held)`` places (those shown)
        end: the lowest of those places not ``held`` by new items move down to just after them, and
        the list keeps its length. Shown whole (the default), that is the list less its lowest
        places, then ``take``. A new item was left out, so the list was full: it holds every item it
        could otherwise. Each taken item gets the parts of its fused score as the shortlist scores
        every item (one taken from further down the list moves up, scored the same)."""
        end = len(held)
        shown_old = np.flatnonzero(~held)
        moved = shown_old[len(shown_old) - len(take):]
        head = np.setdiff1d(np.arange(end), moved)
        below = np.arange(end, len(cands))
        below = below[~np.isin(cands.indices[below], take)]
        tail = np.concatenate([moved, below])[:len(cands) - len(head) - len(take)]
        bm25_w, pop_w, co_w = self._weights(len(history))
        bm25 = bm25_of(take)
        pop = self._pop_scaled[take]
        co = np.zeros(len(take))
        if co_w and np.any(self.pick_counts[take] > 0):  # an item nobody picked has no co-occurrence
            co = _co_at(take, *self._co_sparse(history))
        fused = bm25_w * bm25 + pop_w * pop + co_w * co

        def placed(part: np.ndarray, new: np.ndarray) -> np.ndarray:
            return np.concatenate([part[head], new, part[tail]])
        return Candidates(indices=placed(cands.indices, take), scores=placed(cands.scores, fused),
                          bm25=placed(cands.bm25, bm25), popularity=placed(cands.popularity, pop),
                          cooccurrence=None if cands.cooccurrence is None else placed(cands.cooccurrence, co),
                          new_item_slot=placed(np.zeros(len(cands), dtype=bool), np.ones(len(take), dtype=bool)))

    def _filtered(self, history: Sequence[int], exclude, n: int, allowed: np.ndarray,
                  unfiltered: Callable[[int], Candidates],
                  bm25_of: Callable[[], Callable[[np.ndarray], np.ndarray]]) -> Candidates:
        """The shortlist drawn from ``allowed`` rows only: the unfiltered order with the other items
        left out. A small filter is scored item by item (``_restricted``); a large one (most of a big
        catalog in stock) would cost a pass over every item that way, so the unfiltered shortlist is
        widened until it holds n allowed items (about n x catalog / filter to begin with, then four
        times more, twice), and scored item by item only if it still does not."""
        allowed = _sorted_rows(allowed)
        if len(allowed) > self.FILTER_SCORED_MAX:
            left = self._left(self._seen(history, exclude))
            wide = int(np.ceil(2 * n * len(self.catalog) / len(allowed)))
            for _ in range(3):
                wide = min(wide, left)
                cands = unfiltered(wide)
                keep = np.flatnonzero(_find(allowed, cands.indices)[0])
                if len(keep) >= n or wide >= left:
                    keep = keep[:n]
                    return Candidates(indices=cands.indices[keep], scores=cands.scores[keep], bm25=cands.bm25[keep],
                                      popularity=cands.popularity[keep],
                                      cooccurrence=None if cands.cooccurrence is None else cands.cooccurrence[keep])
                wide *= 4
        return self._restricted(history, exclude, n, allowed, bm25_of())

    def _scaled_dense(self, raw: np.ndarray | None) -> Callable[[np.ndarray], np.ndarray]:
        """Scaled BM25 of given rows from every item's raw score (None: an empty history, all 0), with
        the whole catalog's min and max, as ``_select_dense`` scales it."""
        if raw is None:
            return lambda rows: np.zeros(len(rows))
        lo, hi = float(raw.min()), float(raw.max())
        return lambda rows: _scaled(raw[rows], lo, hi)

    def _scaled_at(self, query_row: sparse.csr_matrix, lo: float, hi: float) -> Callable[[np.ndarray], np.ndarray]:
        """Scaled BM25 of given rows, their raw scores summed for those rows alone, with the whole
        catalog's min and max as ``_scaled_dense`` takes them (the same bits: ``scores_at``)."""
        def bm25_of(rows: np.ndarray) -> np.ndarray:
            order = np.argsort(rows)
            raw = np.empty(len(rows))
            raw[order] = self.index.scores_at(query_row, np.asarray(rows, dtype=np.int64)[order])
            return _scaled(raw, lo, hi)
        return bm25_of

    def _scaled_sparse(self, docs: np.ndarray, raw: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """Scaled BM25 of given rows from the matched items' raw scores (the rest score 0), as
        ``_generate_sparse`` scales it."""
        docs = docs.astype(np.int64)
        lo = float(raw.min()) if len(raw) else 0.0
        hi = float(raw.max()) if len(raw) else 0.0
        if len(raw) < len(self.catalog):
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        span = hi - lo

        def bm25_of(rows: np.ndarray) -> np.ndarray:
            out = np.full(len(rows), (0.0 - lo) / span if span > 0 else 0.0)
            if len(docs):
                hit, at = _find(docs, rows)
                out[hit] = (raw[at[hit]] - lo) / span if span > 0 else 0.0
            return out
        return bm25_of

    def _restricted(self, history: Sequence[int], exclude, n: int, allowed: np.ndarray,
                    bm25_of: Callable[[np.ndarray], np.ndarray]) -> Candidates:
        """The shortlist drawn from ``allowed`` rows only. Each keeps the score it has in the whole
        catalog's fusion (BM25 scaled over every item), so a filter changes which items compete, never
        how one scores: the result is the unfiltered order with the other items left out. Only the
        allowed rows are scored, so a small filter on a large catalog costs little."""
        bm25_w, pop_w, co_w = self._weights(len(history))
        co_rows, co_vals = self._co_sparse(history) if co_w else (np.zeros(0, dtype=np.int64), np.zeros(0))
        rows = np.setdiff1d(np.asarray(allowed, dtype=np.int64), self._seen(history, exclude))
        if self._hidden_mask is not None:
            rows = rows[~self._hidden_mask[rows]]
        bm25 = bm25_of(rows)
        pop = self._pop_scaled[rows]
        co = _co_at(rows, co_rows, co_vals)
        fused = bm25_w * bm25 + pop_w * pop + co_w * co
        top = self._top(rows, fused, min(n, len(rows)))
        return Candidates(indices=rows[top], scores=fused[top], bm25=bm25[top], popularity=pop[top],
                          cooccurrence=co[top] if co_w else None)

    def _seen(self, history: Sequence[int], exclude: Sequence[int] | np.ndarray) -> np.ndarray:
        # joined as arrays: a long exclude (a shop's hidden items) is not walked in Python per request
        return np.unique(np.concatenate([np.asarray(history, dtype=np.int64).reshape(-1),
                                         np.asarray(exclude, dtype=np.int64).reshape(-1)]))

    def _pop_term(self, pop_w: float) -> np.ndarray:
        """``pop_w * popularity`` for every item, computed once per weight."""
        cached = self._pop_terms.get(pop_w)
        if cached is None:
            cached = self._pop_terms[pop_w] = pop_w * self._pop_scaled
        return cached

    def _weights(self, length: int) -> tuple[float, float, float]:
        """(BM25, popularity, co-occurrence) weights for a history this long."""
        cfg = self.config
        if not length:  # cold start: popularity alone
            return 0.0, cfg.popularity_weight if cfg.popularity_weight > 0 else 1.0, 0.0
        w = self.length_weights(length) or cfg
        return w.bm25_weight, w.popularity_weight, w.cooccurrence_weight if self._co_index(length) is not None else 0.0

    @staticmethod
    def _top(rows: np.ndarray, fused: np.ndarray, n: int) -> np.ndarray:
        """Positions (into ``rows``) of the best ``n``, by score, ties to the lowest catalog row.
        A partition finds the cut in linear time; only the n winners are sorted."""
        if n <= 0:
            return np.zeros(0, dtype=np.int64)
        if n < len(fused):
            pick = np.argpartition(fused, len(fused) - n)[len(fused) - n:]
            kth = fused[pick].min()
            inside = int(np.count_nonzero(fused[pick] == kth))
            if inside != int(np.count_nonzero(fused == kth)):  # ties at the cut: the lowest rows win
                above = np.flatnonzero(fused > kth)
                ties = np.flatnonzero(fused == kth)
                ties = ties[np.argsort(rows[ties], kind="stable")][: n - len(above)]
                pick = np.concatenate([above, ties])
        else:
            pick = np.arange(len(fused))
        return pick[np.lexsort((rows[pick], -fused[pick]))]

    def _generate_sparse(self, history: Sequence[int], exclude, n: int, matched: sparse.csr_matrix,
                         row: int) -> Candidates:
        seen = self._seen(history, exclude)
        n = min(n, self._left(seen))
        start, end = matched.indptr[row], matched.indptr[row + 1]
        docs, raw = matched.indices[start:end], matched.data[start:end]  # docs sorted
        bm25_w, pop_w, co_w = self._weights(len(history))
        co_rows, co_vals = self._co_sparse(history) if co_w else (np.zeros(0, dtype=np.int64), np.zeros(0))
        docs = docs.astype(np.int64)
        scored = np.union1d(docs, co_rows) if len(co_rows) else docs
        # Items neither matched nor co-picked share one BM25 value and no co-occurrence, so the most
        # popular of them are the only ones that can make the cut: take as many as could be needed
        # after removing the seen ones.
        popular = self._shown_order[: n + len(seen)]
        if len(scored):
            popular = popular[~_find(scored, popular)[0]]
        rows = np.concatenate([scored, popular])
        bm25 = self._scaled_sparse(docs, raw)(rows)
        co = _co_at(rows, co_rows, co_vals)
        pop = self._pop_scaled[rows]
        fused = bm25_w * bm25 + pop_w * pop + co_w * co
        if len(seen):
            fused[_find(seen, rows)[0]] = -np.inf
        self._hide(rows, fused)
        top = self._top(rows, fused, n)
        return Candidates(indices=rows[top], scores=fused[top], bm25=bm25[top], popularity=pop[top],
                          cooccurrence=co[top] if co_w else None)

    def _select_dense(self, raw: np.ndarray, history: Sequence[int], exclude, n: int) -> Candidates:
        """Top n from scores of every item, computed exactly as the reference does, in vector ops.
        ``raw`` is scaled in place (callers hand over a fresh array); co-occurrence is added only where
        it is non-zero, and the top n is cut from the items at or above a bound the shortlist's most
        likely members give, not partitioned from the whole catalog."""
        bm25_w, pop_w, co_w = self._weights(len(history))
        co_rows, co_vals = self._co_sparse(history) if co_w else (np.zeros(0, dtype=np.int64), np.zeros(0))
        seen = self._seen(history, exclude)
        n = min(n, self._left(seen))
        likely = np.union1d(co_rows, self._shown_order[: n + len(seen)])
        if len(history):
            lo, hi = float(raw.min()), float(raw.max())
            bounded = self._select_bounded(raw, lo, hi, bm25_w, pop_w, co_w, co_rows, co_vals, seen, n, likely)
            if bounded is not None:
                return bounded
            bm25 = _scaled(raw, lo, hi, out=raw)
        else:
            bm25 = raw
            bm25[:] = 0.0
        fused = bm25 * bm25_w
        fused += self._pop_term(pop_w)
        if len(co_rows):
            fused[co_rows] += co_w * co_vals
        fused[seen] = -np.inf
        self._hide(self._rows, fused)
        top = self._top_of_many(fused, n, likely)
        return Candidates(indices=top, scores=fused[top], bm25=bm25[top], popularity=self._pop_scaled[top],
                          cooccurrence=_co_at(top, co_rows, co_vals) if co_w else None)

    def _select_bounded(self, raw: np.ndarray, lo: float, hi: float, bm25_w: float, pop_w: float, co_w: float,
                        co_rows: np.ndarray, co_vals: np.ndarray, seen: np.ndarray, n: int,
                        likely: np.ndarray) -> Candidates | None:
        """``_select_dense``'s shortlist without fusing every item: the n-th best fused score of the
        likely rows bounds the shortlist from below; an item outside them has no co-occurrence and at
        most the popularity of the first popular item left out, so it can reach the bound only if its
        raw BM25 reaches a threshold that follows. One comparison over the raw scores finds those few,
        and only they (and the likely rows) are fused, by the same arithmetic, so the shortlist and its
        scores are the same to the bit. At 1M items this saves most of the whole-catalog passes when
        co-occurrence leads the fusion (the default's short-history weights). None where it does not
        apply (no BM25 weight, constant BM25, a small catalog) or prunes too little to pay."""
        if (len(raw) < self.BOUNDED_MIN_ITEMS or bm25_w <= 0 or pop_w < 0 or n <= 0 or len(likely) < n
                or len(raw) <= 4 * len(likely) or hi <= lo):
            return None
        pop_term = self._pop_term(pop_w)

        def fuse(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            bm25 = _scaled(raw[rows], lo, hi)  # _minmax's steps, item by item
            fused = bm25 * bm25_w
            fused += pop_term[rows]
            if len(co_rows):
                hit, at = _find(co_rows, rows)
                fused[hit] += co_w * co_vals[at[hit]]
            if len(seen):
                fused[_find(seen, rows)[0]] = -np.inf
            self._hide(rows, fused)
            return bm25, fused

        vals = fuse(likely)[1]
        vals = vals[np.isfinite(vals)]
        if len(vals) < n:
            return None
        bound = float(np.partition(vals, len(vals) - n)[len(vals) - n])
        left_out = self._shown_order[n + len(seen):n + len(seen) + 1]  # the most popular shown item not in likely
        cap = float(pop_term[left_out[0]]) if len(left_out) else -np.inf
        need = lo + (bound - cap) * (hi - lo) / bm25_w
        need -= 1e-9 * (abs(need) + (hi - lo))  # below the exact threshold: rounding can only add items
        # the bound prunes little where popularity leads the fusion: a strided sample of the catalog
        # says so before a pass over all of it is spent
        sample = raw[:: max(1, len(raw) // 4096)]
        if np.count_nonzero(sample >= need) > len(sample) // 16:
            return None
        reach = raw >= need
        if np.count_nonzero(reach) > len(raw) // 16:
            return None
        rows = np.union1d(likely, np.flatnonzero(reach))
        bm25, fused = fuse(rows)
        keep = np.flatnonzero(fused >= bound)
        top = keep[self._top(rows[keep], fused[keep], n)]
        return Candidates(indices=rows[top], scores=fused[top], bm25=bm25[top], popularity=self._pop_scaled[rows[top]],
                          cooccurrence=_co_at(rows[top], co_rows, co_vals) if co_w else None)

    def _top_of_many(self, fused: np.ndarray, n: int, likely: np.ndarray) -> np.ndarray:
        """``_top`` over the whole catalog, cut first to the items scoring at least the n-th best of
        ``likely`` (distinct rows): at least n items reach that bound, so the true top n, ties at its
        cut included, lie above it, and only those few are partitioned and sorted."""
        if n <= 0:
            return np.zeros(0, dtype=np.int64)
        if len(fused) > 4 * len(likely) and len(likely) >= n:
            vals = fused[likely]
            vals = vals[np.isfinite(vals)]
            if len(vals) >= n:
                bound = np.partition(vals, len(vals) - n)[len(vals) - n]
                keep = np.flatnonzero(fused >= bound)
                return keep[self._top(keep, fused[keep], n)]
        return self._top(self._rows, fused, n)

    def _generate_dense(self, history: Sequence[int], exclude, n: int) -> Candidates:
        """The reference path: every catalog item scored by rank-bm25."""
        return self._select_dense(self.bm25_scores(history) if len(history) else np.zeros(len(self.catalog)),
                                  history, exclude, n)
