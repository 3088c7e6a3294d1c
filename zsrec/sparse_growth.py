"""Sparse indexes made larger for items appended to the catalog, without recounting anything.

An item no one has picked adds an empty row (or column) to every counted index, and changes no
stored entry: the index over the larger catalog is the old one with empty entries at its end. Each
index used to be renormalised or relisted whole to get there, a third of a second at 100k items
while shortlists waited (benchmarks/add_interactions.py).
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
