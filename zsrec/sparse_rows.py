"""Sparse indexes changed a few rows at a time, without recounting or re-sorting the rest.

An item no one has picked adds an empty row (or column) to every counted index and changes no stored
entry, so the index over the larger catalog is the old one with empty entries at its end (each index
used to be renormalised or relisted whole to get there: a third of a second at 100k items while
shortlists waited). New picks change the rows of the items they touch; the other rows are copied
into place, shifted, not rebuilt (benchmarks/add_interactions.py).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse


def grown(m: sparse.csr_matrix | sparse.csc_matrix, shape: tuple[int, int]) -> sparse.csr_matrix | sparse.csc_matrix:
    """``m`` (CSR or CSC) as a matrix of ``shape``, no smaller in either axis: the compressed axis
    gains empty entries at its end, the other is only widened. Its stored arrays are shared, not
    copied (every index replaces its matrices when it changes, never writes into them)."""
    if shape[0] < m.shape[0] or shape[1] < m.shape[1]:
        raise ValueError("a catalog only grows: items are never taken out of an index")
    major = shape[0] if m.format == "csr" else shape[1]
    extra = major + 1 - len(m.indptr)
    indptr = np.concatenate([m.indptr, np.full(extra, m.indptr[-1], dtype=m.indptr.dtype)]) if extra else m.indptr
    return type(m)((m.data, m.indices, indptr), shape=shape)


# Untouched rows are copied a run at a time while there are at least this many stored entries per
# run (a slice copy costs about as much as moving this many entries one by one; measured at 100k rows).
ENTRIES_PER_RUN = 400


def index_type(*sizes: int) -> type:
    """The index type scipy gives a sparse matrix whose shape and stored entries reach ``sizes``:
    int32 while they fit, int64 past that. Arrays made in it are taken by scipy without a copy."""
    return np.int32 if max(sizes, default=0) <= np.iinfo(np.int32).max else np.int64


def places_in_rows(row: np.ndarray) -> np.ndarray:
    """Each entry's place among its row's entries (0 for the first), for row numbers already sorted:
    where a row's entries go in a CSR layout, and, sorted best first, which are its k best."""
    return np.arange(len(row)) - np.searchsorted(row, row, side="left")


def with_rows(m: sparse.csr_matrix, rows: np.ndarray, row: np.ndarray, col: np.ndarray, data: np.ndarray,
              shape: tuple[int, int] | None = None) -> sparse.csr_matrix:
    """``m`` (CSR) with the given ``rows`` (distinct) replaced by the entries (row, col, data), each
    row holding its entries in the order given; the other rows' entries are copied as they are,
    shifted: one slice copy per run of untouched rows when the replaced rows are few, not an index
    per stored entry. ``shape``: a larger one (more columns), else ``m``'s."""
    n = m.shape[0]
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    row = np.asarray(row, dtype=np.int64)
    old_len = np.diff(m.indptr)
    new_len = old_len.copy()
    new_len[rows] = np.bincount(row, minlength=n)[rows]
    indptr = np.concatenate([[0], np.cumsum(new_len)]).astype(np.int64)
    indices = np.empty(indptr[-1], dtype=m.indices.dtype)
    values = np.empty(indptr[-1], dtype=m.data.dtype)
    if len(rows) * ENTRIES_PER_RUN <= len(m.data):
        # few runs of untouched rows, from just after one replaced row up to the next: one slice copy each
        for first, last in zip(np.concatenate([[0], rows + 1]).tolist(), np.concatenate([rows, [n]]).tolist()):
            if last > first:
                start, end, at = int(m.indptr[first]), int(m.indptr[last]), int(indptr[first])
                indices[at:at + end - start] = m.indices[start:end]
                values[at:at + end - start] = m.data[start:end]
    else:  # many: each kept entry moved by its row's shift, in a few passes over every entry
        keep_row = np.ones(n, dtype=bool)
        keep_row[rows] = False
        keep = np.repeat(keep_row, old_len)
        dest = (np.arange(len(m.data)) + np.repeat(indptr[:-1] - m.indptr[:-1], old_len))[keep]
        indices[dest] = m.indices[keep]
        values[dest] = m.data[keep]
    order = np.argsort(row, kind="stable")  # grouped by row, each row's entries in the order given
    row = row[order]
    dest = indptr[row] + places_in_rows(row)
    indices[dest] = np.asarray(col)[order]
    values[dest] = np.asarray(data)[order]
    return sparse.csr_matrix((values, indices, indptr), shape=shape or m.shape)
