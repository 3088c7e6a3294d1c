"""Shortlist items for a user: BM25 over item text queried with the history, fused with popularity.

The LLM can only rank what it is shown, so this stage decides recall. BM25 finds items that share
words (genres, title words, descriptions) with what the user touched; popularity keeps the shortlist
on items people actually pick, which is the best single guess for someone the system barely knows.
Both scores are min-max scaled over the catalog before the weighted sum, so the weights mean the
same thing on any catalog. Seen items are masked out with one vectorised assignment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rank_bm25 import BM25Okapi

from .data import Catalog, Interactions
from .text import tokenize


@dataclass(frozen=True)
class CandidateConfig:
    n_candidates: int = 20
    bm25_weight: float = 0.6
    popularity_weight: float = 0.4
    popularity_half_life: float | None = None  # in timestamp units; None counts every interaction alike
    recency_decay: float = 0.8  # weight of each older history item relative to the next one in the query
    # Years match across unrelated items ("1977" links Star Wars to Annie Hall), so they stay out of BM25.
    skip_fields: tuple[str, ...] = ("year",)

    def __post_init__(self) -> None:
        if self.n_candidates < 1:
            raise ValueError("n_candidates must be at least 1")
        if self.bm25_weight < 0 or self.popularity_weight < 0 or self.bm25_weight + self.popularity_weight == 0:
            raise ValueError("weights must be non-negative and not both zero")
        if not 0 < self.recency_decay <= 1:
            raise ValueError("recency_decay must be in (0, 1]")


@dataclass(frozen=True)
class Candidates:
    """A shortlist in generator order (best first) with the scores that produced it."""

    indices: np.ndarray  # catalog rows
    scores: np.ndarray  # fused score
    bm25: np.ndarray  # scaled BM25 part
    popularity: np.ndarray  # scaled popularity part

    def __len__(self) -> int:
        return len(self.indices)


def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return np.zeros_like(x) if hi <= lo else (x - lo) / (hi - lo)


class CandidateGenerator:
    """Index a catalog once, then shortlist per user."""

    def __init__(self, catalog: Catalog, interactions: Interactions | None = None,
                 config: CandidateConfig | None = None):
        self.catalog = catalog
        self.config = config or CandidateConfig()
        self._docs = [tokenize(item.text(self.config.skip_fields)) for item in catalog]
        # rank-bm25 divides by the mean document length; an all-empty catalog would divide by zero.
        self._bm25 = BM25Okapi([d if d else ["<empty>"] for d in self._docs])
        counts = (interactions.item_counts(len(catalog), self.config.popularity_half_life)
                  if interactions is not None else np.zeros(len(catalog)))
        self.popularity_counts = counts
        self._pop_scaled = _minmax(np.log1p(counts))

    def query_weights(self, history: Sequence[int]) -> dict[str, float]:
        """Query term weights: recent items weigh more (the last item counts 1, each older one less)."""
        weights: dict[str, float] = {}
        n = len(history)
        for pos, idx in enumerate(history):
            w = self.config.recency_decay ** (n - 1 - pos)
            for tok in self._docs[int(idx)]:
                weights[tok] = weights.get(tok, 0.0) + w
        return weights

    def bm25_scores(self, history: Sequence[int]) -> np.ndarray:
        scores = np.zeros(len(self.catalog))
        for tok, w in self.query_weights(history).items():
            # get_scores over a one-word query is that word's BM25 column; weighting it repeats the word.
            scores += w * self._bm25.get_scores([tok])
        return scores

    def generate(self, history: Sequence[int], exclude: Sequence[int] | np.ndarray = (),
                 n: int | None = None) -> Candidates:
        """The top-``n`` unseen items. Empty history: popularity alone (the cold-start branch)."""
        n = n or self.config.n_candidates
        cfg = self.config
        bm25 = _minmax(self.bm25_scores(history)) if len(history) else np.zeros(len(self.catalog))
        bm25_w = cfg.bm25_weight if len(history) else 0.0
        fused = bm25_w * bm25 + cfg.popularity_weight * self._pop_scaled
        if not len(history) and cfg.popularity_weight == 0:
            fused = self._pop_scaled.copy()
        mask = np.zeros(len(self.catalog), dtype=bool)
        seen = np.asarray(list(history) + list(np.asarray(exclude).tolist()), dtype=np.int64)
        mask[seen] = True
        fused = np.where(mask, -np.inf, fused)
        n = min(n, int((~mask).sum()))
        # Ties at the cut go to the lowest catalog rows (argpartition alone would pick any of them),
        # so the same input always gives the same shortlist.
        kth = -np.partition(-fused, n - 1)[n - 1]
        above = np.flatnonzero(fused > kth)
        ties = np.flatnonzero(fused == kth)[: n - len(above)]
        top = np.concatenate([above, ties])
        top = top[np.lexsort((top, -fused[top]))]
        return Candidates(indices=top, scores=fused[top], bm25=bm25[top], popularity=self._pop_scaled[top])
