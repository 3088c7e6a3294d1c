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

This module builds the generator and cuts its shortlists. Its other jobs live beside it, one module
each: what it is asked and gives (``zsrec.candidate_types``), the array steps every path shares
(``zsrec.score_arrays``), new picks and items added without a rebuild (``zsrec.candidate_updates``),
its index file (``zsrec.candidate_file``) and new-item slots (``zsrec.new_item_slots``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy import sparse

from .bm25 import EMPTY_DOC, SparseBM25
from .candidate_file import SavedIndex, check_text_index
from .candidate_types import CandidateConfig, Candidates
from .candidate_updates import CountedPicks, IndexUpdates
from .cooccurrence import CoOccurrenceIndex
from .data import Catalog, Interactions
from .errors import OptionError
from .length_weights import LengthWeights
from .new_item_slots import NewItemSlots
from .score_arrays import blend, co_at, find, minmax, scaled, sorted_rows, top_n
from .sittings import SittingIndex
from .text import tokenize

__all__ = ["CandidateConfig", "CandidateGenerator", "Candidates", "CountedPicks"]


class CandidateGenerator(IndexUpdates, SavedIndex, NewItemSlots):
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
        # set by with_saved_index: each index built here that the file lacked or that did not fit, with why
        self.index_file_rebuilt: tuple[str, ...] = ()
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
            check_text_index(index.n_docs, index.meta, catalog, self.config)
            self.index = index
        else:
            self.index = SparseBM25.build(tokenize(item.text(self.config.skip_fields)) for item in catalog)
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
        scaled = minmax(np.log1p(counts))
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
        bm25 = minmax(self.bm25_scores(history)) if len(history) else np.zeros(len(self.catalog))
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
            rows, vals = blend(rows, vals, *self.session.neighbour_scores(history, cfg.session_decay),
                                cfg.session_share)
        if self.sittings is not None and len(history) >= 2:
            rows, vals = blend(rows, vals, *self.sittings.neighbour_scores(history, cfg.session_decay,
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

    def _filtered(self, history: Sequence[int], exclude, n: int, allowed: np.ndarray,
                  unfiltered: Callable[[int], Candidates],
                  bm25_of: Callable[[], Callable[[np.ndarray], np.ndarray]]) -> Candidates:
        """The shortlist drawn from ``allowed`` rows only: the unfiltered order with the other items
        left out. A small filter is scored item by item (``_restricted``); a large one (most of a big
        catalog in stock) would cost a pass over every item that way, so the unfiltered shortlist is
        widened until it holds n allowed items (about n x catalog / filter to begin with, then four
        times more, twice), and scored item by item only if it still does not."""
        allowed = sorted_rows(allowed)
        if len(allowed) > self.FILTER_SCORED_MAX:
            left = self._left(self._seen(history, exclude))
            wide = int(np.ceil(2 * n * len(self.catalog) / len(allowed)))
            for _ in range(3):
                wide = min(wide, left)
                cands = unfiltered(wide)
                keep = np.flatnonzero(find(allowed, cands.indices)[0])
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
        return lambda rows: scaled(raw[rows], lo, hi)

    def _scaled_at(self, query_row: sparse.csr_matrix, lo: float, hi: float) -> Callable[[np.ndarray], np.ndarray]:
        """Scaled BM25 of given rows, their raw scores summed for those rows alone, with the whole
        catalog's min and max as ``_scaled_dense`` takes them (the same bits: ``scores_at``)."""
        def bm25_of(rows: np.ndarray) -> np.ndarray:
            order = np.argsort(rows)
            raw = np.empty(len(rows))
            raw[order] = self.index.scores_at(query_row, np.asarray(rows, dtype=np.int64)[order])
            return scaled(raw, lo, hi)
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
                hit, at = find(docs, rows)
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
        co = co_at(rows, co_rows, co_vals)
        fused = bm25_w * bm25 + pop_w * pop + co_w * co
        top = top_n(rows, fused, min(n, len(rows)))
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
            popular = popular[~find(scored, popular)[0]]
        rows = np.concatenate([scored, popular])
        bm25 = self._scaled_sparse(docs, raw)(rows)
        co = co_at(rows, co_rows, co_vals)
        pop = self._pop_scaled[rows]
        fused = bm25_w * bm25 + pop_w * pop + co_w * co
        if len(seen):
            fused[find(seen, rows)[0]] = -np.inf
        self._hide(rows, fused)
        top = top_n(rows, fused, n)
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
            bm25 = scaled(raw, lo, hi, out=raw)
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
                          cooccurrence=co_at(top, co_rows, co_vals) if co_w else None)

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
            bm25 = scaled(raw[rows], lo, hi)  # minmax's steps, item by item
            fused = bm25 * bm25_w
            fused += pop_term[rows]
            if len(co_rows):
                hit, at = find(co_rows, rows)
                fused[hit] += co_w * co_vals[at[hit]]
            if len(seen):
                fused[find(seen, rows)[0]] = -np.inf
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
        top = keep[top_n(rows[keep], fused[keep], n)]
        return Candidates(indices=rows[top], scores=fused[top], bm25=bm25[top], popularity=self._pop_scaled[rows[top]],
                          cooccurrence=co_at(rows[top], co_rows, co_vals) if co_w else None)

    def _top_of_many(self, fused: np.ndarray, n: int, likely: np.ndarray) -> np.ndarray:
        """``top_n`` over the whole catalog, cut first to the items scoring at least the n-th best of
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
                return keep[top_n(keep, fused[keep], n)]
        return top_n(self._rows, fused, n)

    def _generate_dense(self, history: Sequence[int], exclude, n: int) -> Candidates:
        """The reference path: every catalog item scored by rank-bm25."""
        return self._select_dense(self.bm25_scores(history) if len(history) else np.zeros(len(self.catalog)),
                                  history, exclude, n)
