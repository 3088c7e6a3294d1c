"""Trained item-based baselines for the evaluation: what a team would use instead of zsrec.

EASE (Steck 2019): a closed-form linear item-item model, B = argmin ||X - XB||^2 + l2 ||B||^2 with a
zero diagonal; one hyper-parameter, the l2 penalty. ItemKNN (Sarwar et al. 2001): cosine similarity
between items' user vectors, shrunk toward zero for items few users share, each item keeping its k
nearest neighbours. Both score every catalog item for a history by summing over its items, so they
rank the full catalog. They are fit on training users only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from scipy import sparse

from .sparse_rows import places_in_rows


def user_item_matrix(sequences: Sequence[Sequence[int]], n_items: int) -> sparse.csr_matrix:
    """Users x items, 1 where the user picked the item (a repeat pick counts once): what item-item
    models are fit on."""
    rows = np.repeat(np.arange(len(sequences)), [len(s) for s in sequences])
    cols = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences]) if sequences else np.zeros(0, int)
    x = sparse.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(sequences), n_items))
    x.data[:] = 1.0  # binary: a repeat pick counts once
    return x


def _history_matrix(histories: Sequence[Sequence[int]], n_items: int) -> sparse.csr_matrix:
    return user_item_matrix([list(dict.fromkeys(int(i) for i in h)) for h in histories], n_items)


class EASE:
    def __init__(self, n_items: int, l2: float = 500.0):
        self.n_items = n_items
        self.l2 = l2
        self.weights: np.ndarray | None = None

    def fit(self, sequences: Sequence[Sequence[int]]) -> EASE:
        ((_, fitted),) = EASE.fit_grid(self.n_items, sequences, [{"l2": self.l2}])
        self.weights = fitted.weights
        return self

    @classmethod
    def fit_grid(cls, n_items: int, sequences: Sequence[Sequence[int]],
                 grid: Sequence[dict[str, float]]) -> Iterator[tuple[dict[str, float], EASE]]:
        """One model per setting in ``grid``, the Gram matrix counted once for all of them (tuning
        tries many penalties on the same users)."""
        x = user_item_matrix(sequences, n_items)
        gram = (x.T @ x).toarray()
        diagonal = np.diag_indices(n_items)
        counts = gram[diagonal].copy()
        for params in grid:
            gram[diagonal] = counts + params["l2"]
            inverse = np.linalg.inv(gram)
            b = -inverse / np.diag(inverse)[None, :]
            b[diagonal] = 0.0
            model = cls(n_items, **params)
            model.weights = b
            yield params, model

    def scores(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        assert self.weights is not None, "fit first"
        return np.asarray(_history_matrix(histories, self.n_items) @ self.weights)


class ItemKNN:
    def __init__(self, n_items: int, neighbours: int = 100, shrink: float = 10.0):
        self.n_items = n_items
        self.neighbours = neighbours
        self.shrink = shrink
        self.similarity: sparse.csr_matrix | None = None

    def fit(self, sequences: Sequence[Sequence[int]]) -> ItemKNN:
        ((_, fitted),) = ItemKNN.fit_grid(self.n_items, sequences, [{"neighbours": self.neighbours, "shrink": self.shrink}])
        self.similarity = fitted.similarity
        return self

    @classmethod
    def fit_grid(cls, n_items: int, sequences: Sequence[Sequence[int]],
                 grid: Sequence[dict[str, float]]) -> Iterator[tuple[dict[str, float], ItemKNN]]:
        """One model per setting in ``grid``. The co-counts are counted once; each shrink's similarities
        are sorted once and cut at every neighbour count (a row's k nearest are the first k of its
        sorted list). Settings come out grouped by shrink, so only one sorted list is held at a time."""
        x = user_item_matrix(sequences, n_items)
        co = (x.T @ x).tocoo()
        keep = co.row != co.col
        row, col, count = co.row[keep], co.col[keep], co.data[keep]
        norms = np.sqrt(np.asarray(x.sum(axis=0)).ravel())
        pair_norms = norms[row] * norms[col]
        for shrink in dict.fromkeys(params["shrink"] for params in grid):
            sim = count / (pair_norms + shrink)
            order = np.lexsort((col, -sim, row))  # by row, most similar first, ties by column
            r, c, s = row[order], col[order], sim[order]
            within = places_in_rows(r)
            for params in (p for p in grid if p["shrink"] == shrink):
                top = within < params["neighbours"]
                model = cls(n_items, **params)
                model.similarity = sparse.csr_matrix((s[top], (r[top], c[top])), shape=(n_items, n_items))
                yield params, model

    def scores(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        assert self.similarity is not None, "fit first"
        return np.asarray((_history_matrix(histories, self.n_items) @ self.similarity).todense())
