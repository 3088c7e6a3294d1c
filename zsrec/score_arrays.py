"""The array steps every way of making a shortlist shares: min-max scaling, a score looked up among
sorted rows, two signals blended, and the top n with ties to the lowest row. They are kept in one
place because the paths (sparse, dense, bounded, filtered, new-item slots) must give the same bits:
each one scales, fuses and cuts through these, never through its own copy."""

from __future__ import annotations

import numpy as np


def minmax(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``x`` scaled to [0, 1] (all zeros when constant); ``out=x`` scales a fresh array in place."""
    return scaled(x, float(x.min()), float(x.max()), out)


def scaled(x: np.ndarray, lo: float, hi: float, out: np.ndarray | None = None) -> np.ndarray:
    """``minmax`` with ``x``'s min and max already found."""
    if hi <= lo:
        if out is None:
            return np.zeros_like(x)
        out[:] = 0.0
        return out
    out = np.subtract(x, lo, out=out)
    out /= hi - lo
    return out


def co_at(rows: np.ndarray, co_rows: np.ndarray, co_vals: np.ndarray) -> np.ndarray:
    """The co-occurrence score of each of ``rows`` (0 where none was counted)."""
    co = np.zeros(len(rows))
    if len(co_rows):
        hit, at = find(co_rows, rows)
        co[hit] = co_vals[at[hit]]
    return co


def blend(rows: np.ndarray, vals: np.ndarray, s_rows: np.ndarray, s_vals: np.ndarray,
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


def sorted_rows(rows) -> np.ndarray:
    """Catalog rows as a sorted array of distinct int64s (a filter's ``allowed``), taken as they are
    when they already are: a caller's list is usually sorted, and sorting a large one costs."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) > 1 and not bool(np.all(rows[1:] > rows[:-1])):
        rows = np.unique(rows)
    return rows


def find(sorted_rows: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(found, at): which of ``rows`` are in the non-empty ``sorted_rows``, and where they would be."""
    at = np.searchsorted(sorted_rows, rows).clip(max=len(sorted_rows) - 1)
    return sorted_rows[at] == rows, at

def top_n(rows: np.ndarray, fused: np.ndarray, n: int) -> np.ndarray:
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
