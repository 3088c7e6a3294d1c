"""Rows of a sparse index replaced in place of a rebuild (``zsrec.sparse_rows``): a run-by-run copy when
the rows are few, an entry-by-entry move when they are many; both must give the matrix a rebuild gives."""

import numpy as np
import pytest
from scipy import sparse

from zsrec import sparse_rows
from zsrec.sparse_rows import grown, index_type, with_rows


def _random(rng, n_rows, n_cols, nnz, dtype):
    m = sparse.csr_matrix((rng.random(nnz).astype(dtype), (rng.integers(0, n_rows, nnz), rng.integers(0, n_cols, nnz))),
                          shape=(n_rows, n_cols))
    m.sum_duplicates()
    return m


@pytest.mark.parametrize("per_run", [1, 10**9])  # every replacement copied run by run / entry by entry
@pytest.mark.parametrize("n_rows", [1, 5, 60, 300])
def test_replaced_rows_hold_their_new_entries_in_order_and_the_rest_are_untouched(monkeypatch, per_run, n_rows):
    monkeypatch.setattr(sparse_rows, "ENTRIES_PER_RUN", per_run)
    rng = np.random.default_rng(n_rows)
    for dtype in (np.float64, np.uint8):
        m = _random(rng, 400, 500, 6000, dtype)
        rows = rng.choice(400, n_rows, replace=False)
        rows[0] = 0 if n_rows > 1 else 399  # the first and last rows are replaced too
        if n_rows > 2:
            rows[1] = 399
        row = rng.choice(rows, 900)  # some replaced rows get no entries at all
        col = rng.integers(0, 700, 900)
        data = rng.random(900).astype(dtype)
        got = with_rows(m, rows, row, col, data, shape=(400, 700))
        # the rule written out: untouched rows as they were, each replaced row its entries in the order given
        want_rows = []
        for r in range(400):
            if r in set(rows.tolist()):
                want_rows.append([(int(c), d) for rr, c, d in zip(row, col, data) if rr == r])
            else:
                span = slice(m.indptr[r], m.indptr[r + 1])
                want_rows.append(list(zip(m.indices[span].tolist(), m.data[span].tolist())))
        assert got.shape == (400, 700) and got.data.dtype == m.data.dtype
        for r in range(400):
            span = slice(got.indptr[r], got.indptr[r + 1])
            assert list(zip(got.indices[span].tolist(), got.data[span].tolist())) == want_rows[r], r


def test_grown_adds_empty_rows_or_columns_and_shares_the_entries():
    m = _random(np.random.default_rng(0), 30, 30, 200, np.float32)
    bigger = grown(m, (33, 35))
    assert bigger.shape == (33, 35) and bigger[30:].nnz == 0 and (bigger[:30, :30] != m).nnz == 0
    assert np.shares_memory(bigger.data, m.data)
    csc = grown(m.tocsc(), (30, 34))
    assert csc.shape == (30, 34) and csc[:, 30:].nnz == 0 and (csc[:, :30] != m).nnz == 0
    with pytest.raises(ValueError, match="only grows"):
        grown(m, (29, 30))


def test_the_index_type_is_the_one_scipy_gives_those_sizes():
    top = np.iinfo(np.int32).max
    assert index_type(0) == index_type(5, top) == np.int32 and index_type() == np.int32
    assert index_type(top + 1) == index_type(3, top + 1, 7) == np.int64
    kind = index_type(2, 3)
    made = sparse.csr_matrix((np.ones(2), np.array([0, 1], dtype=kind), np.array([0, 1, 2], dtype=kind)), shape=(2, 3))
    assert made.indices.dtype == made.indptr.dtype == np.int32
