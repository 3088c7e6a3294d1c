"""New picks and new items taken into a running generator without a rebuild, in two steps so that
shortlists go on meanwhile: the counting (``count_picks``, ``count_items``, ``text_index_with``) makes
new copies of the indexes and changes nothing a shortlist reads; the putting in place (``take_picks``,
``add_items``) is a few assignments. Part of ``CandidateGenerator`` (``zsrec.candidates``), whose
indexes and popularity these read and replace."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .bm25 import EMPTY_DOC, SparseBM25
from .cooccurrence import CoOccurrenceIndex
from .data import Interactions, Item
from .sittings import SittingIndex
from .text import tokenize


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


class IndexUpdates:
    """``CandidateGenerator``'s adds: every index it counted (co-occurrence, first picks, session,
    sittings, popularity) and its text index, grown by new picks or new items."""

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
            index = self.index.with_docs(tokenize(item.text(self.config.skip_fields)) for item in unread)
        else:
            docs = (tokenize(item.text(self.config.skip_fields)) for item in [*self.catalog.items, *items])
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
