"""New-item slots: the last places a user is shown given to items too new for co-occurrence or
popularity to bring up, those whose text best matches the history read after the shortlist's best
items (``CandidateConfig.new_item_slots``; measured by benchmarks/new_items.py). Part of
``CandidateGenerator`` (``zsrec.candidates``), whose scoring these reuse, so a slot's item is
scored as the shortlist scores every item."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .bm25 import SparseBM25
from .candidate_types import Candidates
from .score_arrays import co_at, find, sorted_rows, top_n


class NewItemSlots:
    """``CandidateGenerator``'s new-item slots, filled after each shortlist is cut."""

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
            hit, at = find(covers, rows)
            if bool(hit.all()):
                self._new_text = (cut, at, self.index, rows, covers)
                return cut, at
        assert self.index is not None
        cut = SparseBM25(self.index.term_docs[:, rows].tocsr(), self.index.vocabulary)
        at = np.arange(len(rows))
        self._new_text = (cut, at, self.index, rows, rows)
        return cut, at

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
            held = find(self._new_rows, cands.indices[:end])[0]
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
            allowed = sorted_rows(allowed)
            if len(allowed) < len(pool):
                hit, where = find(pool, allowed)
                at = where[hit]
            else:
                at = np.flatnonzero(find(allowed, pool)[0])
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
        hit, where = find(pool, np.concatenate([self._seen(history, exclude), np.asarray(listed, dtype=np.int64)]))
        text[where[hit]] = -np.inf
        left = np.flatnonzero(np.isfinite(text))
        # the shortlist's own cut (a partition, then the few winners sorted), ties to the highest
        # row: the newest item
        return pool[left[top_n(-pool[left], text[left], min(need, len(left)))]]

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
            co = co_at(take, *self._co_sparse(history))
        fused = bm25_w * bm25 + pop_w * pop + co_w * co

        def placed(part: np.ndarray, new: np.ndarray) -> np.ndarray:
            return np.concatenate([part[head], new, part[tail]])
        return Candidates(indices=placed(cands.indices, take), scores=placed(cands.scores, fused),
                          bm25=placed(cands.bm25, bm25), popularity=placed(cands.popularity, pop),
                          cooccurrence=None if cands.cooccurrence is None else placed(cands.cooccurrence, co),
                          new_item_slot=placed(np.zeros(len(cands), dtype=bool), np.ones(len(take), dtype=bool)))
