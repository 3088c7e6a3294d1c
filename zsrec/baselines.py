"""Trained item-based baselines for the evaluation: what a team would use instead of zsrec.

EASE (Steck 2019): a closed-form linear item-item model, B = argmin ||X - XB||^2 + l2 ||B||^2 with a
zero diagonal; one hyper-parameter, the l2 penalty. ItemKNN (Sarwar et al. 2001): cosine similarity
between items' user vectors, shrunk toward zero for items few users share, each item keeping its k
nearest neighbours. Both score every catalog item for a history by summing over its items, so they
rank the full catalog. They are fit on training users only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse


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
        x = user_item_matrix(sequences, self.n_items)
        gram = (x.T @ x).toarray()
        gram[np.diag_indices(self.n_items)] += self.l2
        inverse = np.linalg.inv(gram)
        b = -inverse / np.diag(inverse)[None, :]
        b[np.diag_indices(self.n_items)] = 0.0
        self.weights = b
        return self

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
        x = user_item_matrix(sequences, self.n_items)
        co = (x.T @ x).tocoo()
        keep = co.row != co.col
        row, col, count = co.row[keep], co.col[keep], co.data[keep]
        norms = np.sqrt(np.asarray(x.sum(axis=0)).ravel())
        sim = count / (norms[row] * norms[col] + self.shrink)
        order = np.lexsort((col, -sim, row))
        row, col, sim = row[order], col[order], sim[order]
        within = np.arange(len(row)) - np.searchsorted(row, row, side="left")
        top = within < self.neighbours
        self.similarity = sparse.csr_matrix((sim[top], (row[top], col[top])), shape=(self.n_items, self.n_items))
        return self

    def scores(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        assert self.similarity is not None, "fit first"
        return np.asarray((_history_matrix(histories, self.n_items) @ self.similarity).todense())
