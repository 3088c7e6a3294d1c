"""Ranking metrics for one user, and the statistics that turn per-user values into a claim.

Each ranking is a list of catalog rows, best first; ``relevant`` holds the rows that count as a hit
(one next item, or the next five). Binary relevance throughout, as in the sequential-recommendation
literature: NDCG@k divides the DCG by the ideal DCG for min(k, |relevant|) hits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def _positions(ranking: Sequence[int], relevant: set[int]) -> list[int]:
    return [i for i, item in enumerate(ranking) if item in relevant]


def ndcg(ranking: Sequence[int], relevant: set[int], k: int) -> float:
    hits = [p for p in _positions(ranking[:k], relevant)]
    if not relevant:
        return 0.0
    dcg = sum(1.0 / math.log2(p + 2) for p in hits)
    ideal = sum(1.0 / math.log2(p + 2) for p in range(min(k, len(relevant))))
    return dcg / ideal


def hit(ranking: Sequence[int], relevant: set[int], k: int) -> float:
    return 1.0 if _positions(ranking[:k], relevant) else 0.0


def mrr(ranking: Sequence[int], relevant: set[int]) -> float:
    """1 / rank of the first hit; 0 when no relevant item is in the ranking (a miss counts)."""
    pos = _positions(ranking, relevant)
    return 1.0 / (pos[0] + 1) if pos else 0.0


def coverage(rankings: Sequence[Sequence[int]], n_items: int, k: int = 10) -> float:
    """Share of the catalog that appears in anyone's top k."""
    return len({item for r in rankings for item in r[:k]}) / n_items


def novelty(rankings: Sequence[Sequence[int]], popularity: np.ndarray, n_users: int, k: int = 10) -> float:
    """Mean self-information -log2(p(i)) of recommended items, p(i) = share of training users who
    picked i (an item nobody picked counts as picked by one, so it stays finite)."""
    info = [-math.log2(max(float(popularity[i]), 1.0) / n_users) for r in rankings for i in r[:k]]
    return float(np.mean(info)) if info else 0.0


def bootstrap_ci(values: Sequence[float], n: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over users."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n, len(x)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def paired_p_value(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Wilcoxon signed-rank test on the same users' values; 1.0 when they never differ."""
    from scipy.stats import wilcoxon

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(x) != len(y):
        raise ValueError("paired test needs the same users in both")
    if not np.any(x != y):
        return 1.0
    return float(wilcoxon(x, y, zero_method="wilcox").pvalue)


def order_kept(shown: Sequence[int], output: Sequence[int]) -> float:
    """Spearman correlation between the order items were shown in and the order they came back in:
    1 means the ranker echoed the prompt's order (position bias at its worst), 0 means the shown
    order did not matter. NaN when the output does not hold every shown item."""
    place = {item: i for i, item in enumerate(output)}
    if len(shown) < 2 or any(item not in place for item in shown):
        return math.nan
    out = np.array([place[item] for item in shown], dtype=np.float64)
    ranks = np.argsort(np.argsort(out)).astype(np.float64)
    pos = np.arange(len(shown), dtype=np.float64)
    return float(np.corrcoef(pos, ranks)[0, 1])
