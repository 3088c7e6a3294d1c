"""Which items the catalog's own users picked together: the strongest training-free signal a new user
can get, counted from the interactions popularity comes from.

For each user, the most recent ``max_history`` picks in time order (or, with ``first_picks``, their
first picks: how people pick while they are new, which is what a cold-start user is doing); a pair
(i, j) counts once for every user who picked both at most ``window`` picks apart (``ordered``: j after i, "what people picked soon
after i"; ``seconds``: only picks at most that many seconds apart, "picked in one sitting", which needs
each pick's timestamp). The counts become scores by the chosen normalisation and each item keeps only its
``neighbours`` best, so memory is bounded by items x neighbours however many interactions there are.
A history scores every item by the recency-weighted sum of its items' neighbour scores; items nobody
co-picked with the history score 0, so the shortlist falls back to text and popularity for them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from .choices import CoNormalisation
from .errors import OptionError
from .npz_files import read_npz, write_npz
from .sparse_rows import grown, index_type, places_in_rows, with_rows

# Pairs counted (or cut to each item's neighbours) at a time while building: bounds the build's memory,
# about 65 bytes a pair at its peak. At 1M items 5M was as fast as 20M and its build peaked 0.6-1.0 GB
# lower (benchmarks/index_build.py --index cooccurrence / sitting).
PAIR_CHUNK = 5_000_000
NORMALISE_BLOCK = 1 << 20  # stored pairs scored at a time from the counts: their temporaries stay in cache


@dataclass(frozen=True)
class CoOccurrenceConfig:
    normalisation: CoNormalisation | str = CoNormalisation.COSINE
    window: int | None = None  # picks apart at most; None: any two of the user's last max_history picks
    ordered: bool = False  # True: only pairs in time order (j picked after i)
    neighbours: int = 100  # kept per item
    max_history: int = 200  # most recent picks per user that are counted
    damping: float = 0.75  # the "damped" normalisation's exponent on the neighbour's count
    # Count each user's first this many picks instead of their last max_history (None: the last ones).
    first_picks: int | None = None
    # Count only pairs picked at most this many seconds apart (one sitting); needs the picks' timestamps.
    seconds: float | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "normalisation", CoNormalisation(self.normalisation))
        except ValueError:
            raise OptionError(f"co-occurrence normalisation must be raw, cosine or damped; got "
                              f"{self.normalisation!r}") from None
        if self.window is not None and self.window < 1:
            raise OptionError("the co-occurrence window must be at least 1 (or None for the whole history)")
        if self.neighbours < 1 or self.max_history < 2:
            raise OptionError("co-occurrence needs neighbours >= 1 and max_history >= 2")
        if not 0 <= self.damping <= 1:
            raise OptionError("damping must lie in [0, 1]")
        if self.first_picks is not None and self.first_picks < 2:
            raise OptionError("counting a user's first picks needs at least 2 of them (first_picks >= 2)")
        if self.seconds is not None and not self.seconds > 0:
            raise OptionError("counting pairs picked within some seconds needs seconds > 0")

    @property
    def span(self) -> int:
        """The largest distance between two counted picks."""
        kept = self.first_picks or self.max_history
        return min(self.window or kept - 1, kept - 1)

    def counted(self, sequence: Sequence[int]) -> Sequence[int]:
        """The part of one user's picks (oldest first) that is counted."""
        return sequence[: self.first_picks] if self.first_picks else sequence[-self.max_history:]


def _flatten(sequences: Sequence[Sequence[int]], config: CoOccurrenceConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(items, user) of every counted pick (all of them without a config), users one after another,
    each oldest first."""
    kept = [np.asarray(config.counted(s) if config is not None else s, dtype=np.int64) for s in sequences if len(s)]
    if not kept:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    items = np.concatenate(kept)
    user = np.repeat(np.arange(len(kept)), [len(k) for k in kept])
    return items, user


def _flatten_times(times: Sequence[Sequence[float]] | None, sequences: Sequence[Sequence[int]],
                   config: CoOccurrenceConfig | None = None) -> np.ndarray | None:
    """The timestamps of ``_flatten``'s picks, in the same order; None when the config does not count
    by seconds. A config that does refuses to count without them."""
    if config is None or config.seconds is None:
        return None
    if times is None:
        raise OptionError("counting pairs picked within some seconds needs each pick's timestamp (times=...)")
    if len(times) != len(sequences) or any(len(t) != len(s) for t, s in zip(times, sequences)):
        raise OptionError("times must give one timestamp per pick of each sequence")
    kept = [np.asarray(config.counted(t), dtype=np.float64) for t, s in zip(times, sequences) if len(s)]
    return np.concatenate(kept) if kept else np.zeros(0)


def _distance_pairs(items: np.ndarray, user: np.ndarray, config: CoOccurrenceConfig,
                    also: Callable[[int], np.ndarray] | None = None,
                    times: np.ndarray | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(earlier, later) picks of one user ``d`` apart, for d = 1 .. the config's span, and (later,
    earlier) too unless the config counts ordered transitions; ``also(d)`` narrows the pairs further
    (a mask over the later picks), and ``times`` with the config's ``seconds`` to picks that close in
    time. A pick paired with itself never counts."""
    for d in range(1, config.span + 1):
        if d >= len(items):
            return
        same = user[:-d] == user[d:]
        if times is not None and config.seconds is not None:
            same &= times[d:] - times[:-d] <= config.seconds
        if not same.any():  # picks further apart are further apart in time too: none can count
            return
        keep = same & (items[:-d] != items[d:])
        if also is not None:
            keep &= also(d)
        a, b = items[:-d][keep], items[d:][keep]
        yield a, b
        if not config.ordered:
            yield b, a


def _column_exponent(config: CoOccurrenceConfig) -> float:
    """``b`` in a score count / (n_row ** (1 - b) * n_col ** b): 0.5 for cosine, else the damping."""
    return 0.5 if config.normalisation is CoNormalisation.COSINE else config.damping


def _normalised(row: np.ndarray, col: np.ndarray, count: np.ndarray, n: np.ndarray,
                config: CoOccurrenceConfig) -> np.ndarray:
    if config.normalisation is CoNormalisation.RAW:
        return count.astype(np.float64)
    b = _column_exponent(config)
    if len(row) > len(n):  # the powers taken once per item, not once per pair: the same floats
        return count / ((n ** (1.0 - b))[row] * (n ** b)[col])
    return count / (n[row] ** (1.0 - b) * n[col] ** b)


class _PrunedRows:
    """A pruned matrix's CSR arrays, written a block of rows at a time as each block is counted and
    cut: the kept pairs are held once, in their final place (8 bytes a pair: the counts are whole
    numbers, held as float32, exact up to 2^24 users a pair, as the index file holds them). Room is made at the
    start for the most the rows can keep (``most``: each row's neighbours, or fewer where it has
    fewer pairs); pages never written take no memory, and the arrays are cut to what was written,
    in place, at the end. Where each block was kept as a matrix of its own and the blocks joined,
    the build held its kept pairs twice at the join, its peak at 1M items (the blocks' small arrays
    are not given back to the system when freed); benchmarks/index_build.py --index cooccurrence."""

    def __init__(self, n_rows: int, n_cols: int, most: int):
        # int64 only where the room passes int32's range; scipy takes int32 again where what was
        # written fits, as it did for one CSR of these pairs
        kind = index_type(most, n_rows, n_cols)
        self.shape = (n_rows, n_cols)
        self.indptr = np.zeros(n_rows + 1, dtype=kind)
        self.indices = np.empty(most, dtype=kind)
        self.data = np.empty(most, dtype=np.float32)
        self.rows = self.filled = 0

    def write(self, block: sparse.csr_matrix) -> None:
        """The next ``block.shape[0]`` rows (columns in order)."""
        at, filled, nnz = self.rows, self.filled, block.nnz
        if filled + nnz > len(self.data):
            raise ValueError("more pairs kept than there was room for")
        self.indptr[at + 1:at + block.shape[0] + 1] = block.indptr[1:] + filled
        self.indices[filled:filled + nnz] = block.indices
        self.data[filled:filled + nnz] = block.data
        self.rows, self.filled = at + block.shape[0], filled + nnz

    def matrix(self) -> sparse.csr_matrix:
        if self.rows != self.shape[0]:
            raise ValueError(f"{self.rows} of {self.shape[0]} rows written")
        for part in (self.indices, self.data):
            part.resize(self.filled, refcheck=False)  # in place: nothing else holds them
        return sparse.csr_matrix((self.data, self.indices, self.indptr), shape=self.shape)


def _row_blocks(weights: np.ndarray, most: int) -> list[tuple[int, int]]:
    """Runs of consecutive rows whose ``weights`` (each row's pairs) add up to at most ``most`` (a
    row heavier than that alone), so a build holds one such run's pairs at a time."""
    work = np.cumsum(weights, dtype=np.float64)
    cuts = [0]
    while cuts[-1] < len(work):
        done = work[cuts[-1] - 1] if cuts[-1] else 0.0
        nxt = int(np.searchsorted(work, done + most, side="right"))
        cuts.append(min(len(work), max(nxt, cuts[-1] + 1)))
    return list(zip(cuts[:-1], cuts[1:]))


def _kept_block(row: np.ndarray, col: np.ndarray, count: np.ndarray, start: int, end: int, n_cols: int,
                n: np.ndarray, config: CoOccurrenceConfig) -> sparse.csr_matrix:
    """Rows ``start`` to ``end`` of the pruned counts, as CSR, columns in order: each row's
    ``neighbours`` best of the counted pairs (row, col, count) by the config's score."""
    score = _normalised(row, col, count, n, config)
    row, col, count = _top_per_row(row, col, score, count, config.neighbours)
    del score
    block = sparse.csr_matrix((np.asarray(count, dtype=np.float64), (row - start, col)), shape=(end - start, n_cols))
    block.sort_indices()
    return block


def _pruned(counts: sparse.csr_matrix, item_counts: np.ndarray, config: CoOccurrenceConfig) -> sparse.csr_matrix:
    """``counts`` (CSR, duplicates summed) with each row's ``neighbours`` best by score (ties to the
    lower column), a run of rows at a time: the scores and the ordering's keys of every counted pair
    (about 60 bytes a pair) were the peak of the session index's build at 1M items (1.6 GB above
    the picks), where one run's are now."""
    n = np.maximum(item_counts, 1.0)
    ptr = counts.indptr
    lengths = np.diff(ptr)
    out = _PrunedRows(*counts.shape, most=int(np.minimum(lengths, config.neighbours).sum()))
    for start, end in _row_blocks(lengths, PAIR_CHUNK):
        s, e = ptr[start], ptr[end]
        row = np.repeat(np.arange(start, end, dtype=np.int64), lengths[start:end])
        out.write(_kept_block(row, counts.indices[s:e].astype(np.int64), counts.data[s:e], start, end,
                              counts.shape[1], n, config))
    return out.matrix()


def _top_per_row(row: np.ndarray, col: np.ndarray, score: np.ndarray, count: np.ndarray,
                 k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` best entries of each row by score (ties to the lower column), in no set order: every
    caller lays them out as CSR. Most of a build's time went to ordering every counted pair exactly
    (``np.lexsort``, 13 s of 21 at 100k items); here a row's pairs are ordered by their scores
    rounded to float32, in one integer sort, and only the pairs whose rounded score equals the
    ``k``-th's are ordered exactly. Rounding is monotone, so a pair rounded above the ``k``-th is
    above it exactly, and one rounded below is beaten by ``k`` pairs: the same pairs are kept."""
    n = len(row)
    if n == 0:
        return row, col, count
    score = np.asarray(score, dtype=np.float64) + 0.0  # -0.0 becomes 0.0, which it equals, so both get one key
    if np.isnan(score).any():
        order = np.lexsort((col, -score, row))
        keep = order[places_in_rows(row[order]) < k]
        return row[keep], col[keep], count[keep]
    if np.any(row[1:] < row[:-1]):
        by_row = np.argsort(row, kind="stable")
        row, col, score, count = row[by_row], col[by_row], score[by_row], count[by_row]
    starts = np.concatenate([[0], np.flatnonzero(row[1:] != row[:-1]) + 1])
    lengths = np.diff(np.append(starts, n))
    big = lengths > k
    if not big.any():
        return row, col, count
    # one int64 key per pair: its row's place in the high half, its rounded score, best first, in the
    # low half (the float's bits, turned round where negative, run in the floats' order); made in place
    with np.errstate(over="ignore"):  # a score past float32's range rounds to inf, still in order
        key = score.astype(np.float32).view(np.int32).astype(np.int64)
    np.bitwise_xor(key, 0x7FFF_FFFF, out=key, where=key < 0)
    np.subtract(0x7FFF_FFFF, key, out=key)
    key |= np.repeat(np.arange(len(starts), dtype=np.int64) << 32, lengths)
    ranked = np.sort(key)  # each row's pairs stay in its own span, best first
    kth = np.full(len(starts), np.iinfo(np.int64).max)
    kth[big] = ranked[starts[big] + k - 1]
    need = np.zeros(len(starts), dtype=np.int64)  # places left after the pairs rounded above the k-th
    need[big] = k - (np.searchsorted(ranked, kth[big]) - starts[big])
    kth = np.repeat(kth, lengths)
    keep = key < kth  # rounded above the k-th: kept whatever the exact order (all of a short row)
    edge = np.flatnonzero(key == kth)
    if len(edge):  # the rest of a long row's k, from the pairs rounded to the k-th's score
        edge = edge[np.lexsort((col[edge], -score[edge], key[edge] >> 32))]  # exactly, by row: few pairs
        run = key[edge] >> 32
        keep[edge[places_in_rows(run) < need[run]]] = True
    return row[keep], col[keep], count[keep]


def _replace_rows(m: sparse.csr_matrix, rows: np.ndarray, row: np.ndarray, col: np.ndarray,
                  data: np.ndarray) -> sparse.csr_matrix:
    """``m`` with the given ``rows`` replaced by the entries (row, col, data), each row's sorted by
    column, without rebuilding the untouched rows (a copy of their arrays, shifted)."""
    order = np.lexsort((col, row))
    return with_rows(m, rows, row[order], col[order], np.asarray(data, dtype=np.float64)[order])


def _with_pattern(counts: sparse.csr_matrix, data: np.ndarray) -> sparse.csr_matrix:
    """Scores on the counts' own pattern: their column and row-pointer arrays shared, not copied (212
    MB at 1M items for the main index). Neither matrix is ever written into (an add, a grow and a prune
    replace both), and the counts' columns are sorted within each row, so scipy's in-place sort is
    a no-op on either."""
    return sparse.csr_matrix((data, counts.indices, counts.indptr), shape=counts.shape)


class CoOccurrenceIndex:
    """Per item, its best neighbours: ``counts`` (raw pair counts) and ``scores`` (normalised), both
    item x item CSR with the same pattern, plus how often each item was counted."""

    def __init__(self, counts: sparse.csr_matrix, item_counts: np.ndarray, config: CoOccurrenceConfig):
        self.config = config
        self.item_counts = np.asarray(item_counts, dtype=np.float64)
        self.counts = counts
        self.scores = self._normalise(counts)

    @property
    def n_items(self) -> int:
        return self.counts.shape[0]

    # ------------------------------------------------------------ building

    @classmethod
    def build(cls, sequences: Sequence[Sequence[int]], n_items: int,
              config: CoOccurrenceConfig | None = None,
              times: Sequence[Sequence[float]] | None = None) -> CoOccurrenceIndex:
        """From each user's picks (catalog rows, oldest first); ``times``, each pick's timestamp in
        seconds, is needed only by a config that counts pairs within some ``seconds``."""
        config = config or CoOccurrenceConfig()
        items, user = _flatten(sequences, config)
        stamps = _flatten_times(times, sequences, config)
        item_counts = np.bincount(items, minlength=n_items).astype(np.float64)
        if config.window is None and not config.ordered and stamps is None:
            counts = cls._count_all_pairs(items, user, n_items, item_counts, config)
            return cls(counts, item_counts, config)
        counts = _pruned(cls._count(items, user, n_items, config, stamps), item_counts, config)
        return cls(counts, item_counts, config)

    @staticmethod
    def _count_all_pairs(items: np.ndarray, user: np.ndarray, n_items: int, item_counts: np.ndarray,
                         config: CoOccurrenceConfig) -> sparse.csr_matrix:
        """Every pair of a user's counted picks, once per user, as a product of the user x item matrix
        with itself, one block of items at a time, each block pruned to its neighbours before the next:
        memory stays bounded by the block and the kept neighbours."""
        n_users = int(user.max()) + 1 if len(user) else 0
        x = sparse.csr_matrix((np.ones(len(items)), (user, items)), shape=(n_users, n_items))
        x.data[:] = 1.0
        xt = x.T.tocsr()
        n = np.maximum(item_counts, 1.0)
        # An item's pairs are at most the summed history lengths of its users (``work``). Blocks of
        # items whose products hold at most PAIR_CHUNK pairs, so a block of popular items is small and
        # one of rare items large.
        work = xt @ np.diff(x.indptr).astype(np.float64)
        out = _PrunedRows(n_items, n_items, most=int(np.minimum(work, config.neighbours).sum()))
        for start, end in _row_blocks(work, PAIR_CHUNK):
            c = (xt[start:end] @ x).tocoo()
            row = c.row.astype(np.int64) + start
            keep = row != c.col
            row, col, count = row[keep], c.col[keep].astype(np.int64), c.data[keep]
            del c, keep
            out.write(_kept_block(row, col, count, start, end, n_items, n, config))
            del row, col, count
        return out.matrix()

    @staticmethod
    def _count(items: np.ndarray, user: np.ndarray, n_items: int, config: CoOccurrenceConfig,
               times: np.ndarray | None = None) -> sparse.csr_matrix:
        """Pair counts, streamed over distances so that at most PAIR_CHUNK pairs are held at once."""
        total = sparse.csr_matrix((n_items, n_items), dtype=np.float64)
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        held = 0

        def flush() -> None:
            nonlocal total, held
            if rows:
                r, c = np.concatenate(rows), np.concatenate(cols)
                total = total + sparse.csr_matrix((np.ones(len(r)), (r, c)), shape=(n_items, n_items))
                rows.clear()
                cols.clear()
                held = 0

        for a, b in _distance_pairs(items, user, config, times=times):
            rows.append(a)
            cols.append(b)
            held += len(a)
            if held >= PAIR_CHUNK:
                flush()
        flush()
        total.sum_duplicates()
        return total

    def _normalise(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        """Scores with the counts' own sparsity pattern, computed entry by entry (no re-sorting), a
        block of rows at a time: each row's power repeated over its entries, where a row number per
        stored pair (a 400 MB array at 1M items) was made and gathered from. The same floats as
        ``_normalised`` per pair, at any size (tested; powers per item or per pair give the same
        floats); a start from the index file does this for every index it reads, and it took 3-4 s
        of that start at 1M items, 0.5 s this way. Raw counts are the scores, cast."""
        counts.sort_indices()
        if self.config.normalisation is CoNormalisation.RAW:
            data = counts.data.astype(np.float32)
        else:
            n = np.maximum(self.item_counts, 1.0)
            b = _column_exponent(self.config)
            row_power, col_power = n ** (1.0 - b), n ** b
            lengths = np.diff(counts.indptr)
            data = np.empty(counts.nnz, dtype=np.float32)
            ptr = counts.indptr
            cuts = np.unique(np.append(np.searchsorted(ptr, np.arange(0, counts.nnz, NORMALISE_BLOCK), side="right") - 1,
                                       counts.shape[0]))
            for a, z in zip(cuts[:-1].tolist(), cuts[1:].tolist()):
                s, e = ptr[a], ptr[z]
                # the float64 quotient rounded to float32 on the way out: ``astype``'s rounding
                np.divide(counts.data[s:e], np.repeat(row_power[a:z], lengths[a:z]) * col_power[counts.indices[s:e]],
                          out=data[s:e], casting="same_kind")
        return _with_pattern(counts, data)

    def _rescored(self, moved: np.ndarray, replaced: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                  ) -> sparse.csr_matrix:
        """The scores after an add, from the counts: every entry in a row or column of a ``moved``
        item (its count moved) computed again, the rest, whose counts and items' counts are as they
        were, kept from the scores before (``replaced``: the rows the counts replaced and their
        entries, laid out again first). After a small add that is a few rows and columns, not a
        pass of powers over every stored pair; when most pairs moved, that pass (``_normalise``)
        costs less. The same numbers either way, entry by entry (tested)."""
        c = self.counts
        is_moved = np.zeros(c.shape[0], dtype=bool)
        is_moved[np.asarray(moved, dtype=np.int64)] = True
        hit = is_moved[c.indices]  # in a moved item's column
        rows = np.flatnonzero(is_moved)
        for start, end in zip(c.indptr[rows].tolist(), c.indptr[rows + 1].tolist()):
            hit[start:end] = True  # in its row
        redo = np.flatnonzero(hit)
        if len(redo) * 4 > len(c.data):
            return self._normalise(c)
        scores = self.scores
        if replaced is not None:
            touched, row, col = replaced
            order = np.lexsort((col, row))  # laid out as the counts were just laid out
            scores = with_rows(scores, touched, row[order], col[order], np.zeros(len(row), dtype=np.float32))
        data = scores.data.copy()
        data[redo] = _normalised(np.searchsorted(c.indptr, redo, side="right") - 1, c.indices[redo], c.data[redo],
                                 np.maximum(self.item_counts, 1.0), self.config).astype(np.float32)
        return _with_pattern(c, data)

    # ------------------------------------------------------------ adding interactions

    def add(self, sequences: Sequence[Sequence[int]], tails: Sequence[Sequence[int]] | None = None,
            times: Sequence[Sequence[float]] | None = None, tail_times: Sequence[Sequence[float]] | None = None) -> None:
        """Count new picks without a rebuild: ``sequences`` are each user's new picks (oldest first),
        ``tails`` the picks they had before (their most recent ones; empty for a new user), so pairs
        across the two are counted (each pair as often as it occurs, from now on). Only the rows the
        new pairs touch are re-pruned, and only the scores that moved are computed again (those in the
        rows and columns of items whose counts moved; ``_rescored``). A pair
        pruned earlier starts again from its new count: the index stays bounded, at the cost of
        undercounting pairs that were too weak to keep. An index of users' ``first_picks`` needs each
        user's whole earlier history as the tail (it counts only picks within the first ones). An
        index that counts by ``seconds`` needs ``times`` (the new picks') and ``tail_times``."""
        tails = tails if tails is not None else [()] * len(sequences)
        if self.config.seconds is not None:
            if times is None or (tail_times is None and any(len(t) for t in tails)):
                raise OptionError("this index counts pairs picked within some seconds: add() needs the new "
                                  "picks' times (and the tails' tail_times)")
            tail_times = tail_times if tail_times is not None else [()] * len(sequences)
        joined = []
        joined_times: list[list[float]] = []
        starts = []
        first = self.config.first_picks
        for u, (tail, new) in enumerate(zip(tails, sequences, strict=True)):
            stamps = []
            if self.config.seconds is not None:
                if len(times[u]) != len(new) or len(tail_times[u]) != len(tail):
                    raise OptionError("times and tail_times must give one timestamp per pick")
                stamps = list(tail_times[u]) + list(times[u])
            if first:  # only picks among a user's first ones count; the earlier ones pair with them
                tail = list(tail)
                joined.append((tail + list(new))[:first])
                joined_times.append(stamps[:first])
            else:
                cut = len(tail) - min(len(tail), self.config.span)
                tail = list(tail)[cut:] if self.config.span else []
                joined.append(tail + list(new))
                joined_times.append(stamps[cut:] if self.config.span else stamps[len(stamps) - len(new):])
            starts.append(len(tail))
        items, user = _flatten(joined)
        stamps = (np.concatenate([np.asarray(t, dtype=np.float64) for t, j in zip(joined_times, joined) if len(j)])
                  if self.config.seconds is not None and len(items) else None)
        position = np.concatenate([np.arange(len(j)) for j in joined if len(j)]) if len(items) else items
        start = np.repeat(np.asarray([s for s, j in zip(starts, joined) if len(j)]),
                          [len(j) for j in joined if len(j)]) if len(items) else items
        new_items = items[position >= start]
        # a new array, never written into: a copy of this index can be added to while shortlists read
        # the original (``CandidateGenerator.count_picks``)
        self.item_counts = self.item_counts + np.bincount(new_items, minlength=self.n_items)
        # pairs whose later pick is new
        later_is_new = position >= start
        pairs = list(_distance_pairs(items, user, self.config, lambda d: later_is_new[d:], stamps))
        rows_, cols_ = [a for a, _ in pairs], [b for _, b in pairs]
        if not rows_:
            self.scores = self._rescored(new_items)  # the item counts moved
            return
        r, c = np.concatenate(rows_), np.concatenate(cols_)
        n = self.n_items
        delta = sparse.csr_matrix((np.ones(len(r)), (r, c)), shape=(n, n))
        touched = np.unique(r)  # rows with new pair counts: re-pruned
        sub = (self.counts[touched] + delta[touched]).tocoo()
        row = touched[sub.row]
        col = sub.col.astype(np.int64)
        score = _normalised(row, col, sub.data, np.maximum(self.item_counts, 1.0), self.config)
        row, col, count = _top_per_row(row, col, score, sub.data, self.config.neighbours)
        self.counts = _replace_rows(self.counts, touched, row, col, count)
        # the touched rows' scores are computed again; so is every score of an item whose count moved
        self.scores = self._rescored(np.union1d(new_items, touched), replaced=(touched, row, col))

    def grow(self, n_items: int) -> None:
        """Make room for items added to the catalog (rows and columns at the end, with no pairs yet):
        nothing is counted, so the index is what a build over the larger catalog would count."""
        extra = n_items - self.n_items
        if extra < 0:
            raise ValueError("a catalog only grows: items are never taken out of an index")
        if extra == 0:
            return
        # every stored pair keeps its count and both its items' counts, so its score: nothing is
        # normalised again (most of an item add's wait at 100k items, before)
        self.counts = grown(self.counts, (n_items, n_items))
        self.scores = _with_pattern(self.counts, self.scores.data)
        self.item_counts = np.concatenate([self.item_counts, np.zeros(extra)])

    # ------------------------------------------------------------ scoring

    def neighbour_scores(self, history: Sequence[int], recency_decay: float = 1.0,
                         damping: float | None = None,
                         pick_weights: Sequence[float] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores), rows sorted: the recency-weighted sum of the history items' neighbour
        scores, over the items some history item has as a neighbour. ``damping`` scores the kept
        neighbours as c_ij / (n_i^(1-b) n_j^b) with that b instead of the index's normalisation
        (0: "people who picked i also picked j", leaning to popular j; 0.5: cosine); the raw counts
        are kept beside the scores, so this costs nothing more than the index's own scores.
        ``pick_weights`` (one per history pick, e.g. from its rating) multiply the recency weights,
        so a pick can say more or less about what comes next than its place alone says."""
        hist = np.asarray(history, dtype=np.int64)
        if not len(hist):
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        m = self.scores if damping is None else self.counts
        weights = recency_decay ** np.arange(len(hist) - 1, -1, -1, dtype=np.float64)
        if pick_weights is not None:
            if len(pick_weights) != len(hist):
                raise OptionError(f"pick_weights has {len(pick_weights)} weights for {len(hist)} history picks")
            weights = weights * np.asarray(pick_weights, dtype=np.float64)
        starts, ends = m.indptr[hist], m.indptr[hist + 1]
        lengths = ends - starts
        if not lengths.sum():
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        take = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends)])
        cols = m.indices[take]
        vals = m.data[take].astype(np.float64) * np.repeat(weights, lengths)
        if damping is not None:
            if not 0 <= damping <= 1:
                raise OptionError("damping must lie in [0, 1]")
            n = np.maximum(self.item_counts, 1.0)
            vals /= np.repeat(n[hist] ** (1.0 - damping), lengths) * n[cols] ** damping
        rows, inverse = np.unique(cols, return_inverse=True)
        return rows, np.bincount(inverse, weights=vals, minlength=len(rows))

    def dense_scores(self, history: Sequence[int], recency_decay: float = 1.0,
                     damping: float | None = None) -> np.ndarray:
        out = np.zeros(self.n_items)
        rows, vals = self.neighbour_scores(history, recency_decay, damping)
        out[rows] = vals
        return out

    # ------------------------------------------------------------ saving

    def arrays(self, prefix: str = "co_") -> dict[str, np.ndarray]:
        """The index as named arrays (saved in the shortlist's index file, beside BM25's; ``prefix``
        tells several indexes in one file apart)."""
        c = self.counts
        return {f"{prefix}data": c.data.astype(np.float32, copy=False), f"{prefix}indices": c.indices, f"{prefix}indptr": c.indptr,
                f"{prefix}item_counts": self.item_counts, f"{prefix}config": np.array(json.dumps(asdict(self.config)))}

    @classmethod
    def from_arrays(cls, f, prefix: str = "co_") -> CoOccurrenceIndex:
        """The index ``arrays`` saved. Its counts stay in the file's float32 (whole numbers, exact up to
        2^24 users a pair), as a build holds them: every score and add computes from them in float64,
        and a start from the file makes no copy of them."""
        cfg = json.loads(str(f[f"{prefix}config"]))
        n = len(f[f"{prefix}item_counts"])
        counts = sparse.csr_matrix((f[f"{prefix}data"], f[f"{prefix}indices"], f[f"{prefix}indptr"]), shape=(n, n))
        return cls(counts, f[f"{prefix}item_counts"], CoOccurrenceConfig(**cfg))

    def save(self, path: str | Path) -> None:
        write_npz(path, self.arrays())

    @classmethod
    def load(cls, path: str | Path) -> CoOccurrenceIndex:
        with read_npz(path, "co-occurrence index") as f:
            return cls.from_arrays(f)
