"""The co-occurrence signal: counts against a brute-force count, the normalisations, pruning, adding
interactions without a rebuild, saving with the text index, and its place in the shortlist."""

import itertools

import numpy as np
import pytest

from zsrec.candidates import CandidateConfig, CandidateGenerator
from zsrec.cooccurrence import CoOccurrenceConfig, CoOccurrenceIndex
from zsrec.errors import OptionError


def _sequences(ml100k, n_users=120):
    users = sorted(ml100k.interactions.user_ids, key=int)[:n_users]
    return [ml100k.interactions.user_history(u).tolist() for u in users]


def _brute(sequences, window=None, ordered=False, max_history=200):
    counts = {}
    for seq in sequences:
        seq = seq[-max_history:]
        for a, b in itertools.combinations(range(len(seq)), 2):
            if window is not None and b - a > window or seq[a] == seq[b]:
                continue
            pairs = [(seq[a], seq[b])] if ordered else [(seq[a], seq[b]), (seq[b], seq[a])]
            for p in pairs:
                counts[p] = counts.get(p, 0) + 1
    return counts


@pytest.mark.parametrize("window, ordered", [(None, False), (5, False), (5, True)])
def test_counts_match_a_brute_force_count(ml100k, window, ordered):
    seqs = _sequences(ml100k, 40)
    cfg = CoOccurrenceConfig(window=window, ordered=ordered, neighbours=5000, max_history=60)
    index = CoOccurrenceIndex.build(seqs, len(ml100k.catalog), cfg)
    expected = _brute(seqs, window, ordered, max_history=60)
    got = index.counts.tocoo()
    assert dict(zip(zip(got.row.tolist(), got.col.tolist()), got.data.tolist())) == expected


def test_normalisations_and_pruning():
    seqs = [[0, 1], [0, 1], [0, 2], [0, 3], [3, 2], [3, 1]]
    n = np.array([4, 3, 2, 3], dtype=float)  # picks per item
    for norm, expect in [("raw", 2.0), ("cosine", 2 / np.sqrt(4 * 3)), ("damped", 2 / (4 ** 0.25 * 3 ** 0.75))]:
        index = CoOccurrenceIndex.build(seqs, 4, CoOccurrenceConfig(normalisation=norm, neighbours=10))
        assert index.scores[0, 1] == pytest.approx(expect, rel=1e-6)
        assert np.array_equal(index.item_counts, n)
    pruned = CoOccurrenceIndex.build(seqs, 4, CoOccurrenceConfig(normalisation="raw", neighbours=1))
    assert pruned.scores.getnnz(axis=1).max() == 1 and pruned.scores[0, 1] == 2.0  # item 0 keeps its strongest
    with pytest.raises(OptionError, match="normalisation"):
        CoOccurrenceConfig(normalisation="lift")


def test_adding_interactions_equals_a_rebuild_when_nothing_is_pruned(ml100k):
    seqs = _sequences(ml100k, 60)
    cfg = CoOccurrenceConfig(window=4, neighbours=5000, max_history=5000)
    full = CoOccurrenceIndex.build(seqs, len(ml100k.catalog), cfg)
    cut = [len(s) // 2 for s in seqs]
    grown = CoOccurrenceIndex.build([s[:c] for s, c in zip(seqs, cut)], len(ml100k.catalog), cfg)
    grown.add([s[c:] for s, c in zip(seqs, cut)], tails=[s[:c] for s, c in zip(seqs, cut)])
    assert (grown.counts != full.counts).nnz == 0
    assert np.array_equal(grown.item_counts, full.item_counts)
    assert abs(grown.scores - full.scores).max() < 1e-6


def test_the_shortlist_uses_it_and_its_fast_path_matches_the_dense_one(ml100k):
    cfg = CandidateConfig(bm25_weight=0.2, popularity_weight=0.3, cooccurrence_weight=0.5)
    gen = CandidateGenerator(ml100k.catalog, ml100k.interactions, cfg)
    assert gen.cooccurrence is not None
    for history in ([0], [0, 49, 99], [171, 172, 173, 180], list(range(300, 330))):
        got = gen.generate(history, (), 20)
        fused = gen.fused_scores(history)
        fused[history] = -np.inf
        expected = np.lexsort((np.arange(len(fused)), -fused))[:20]
        assert got.indices.tolist() == expected.tolist()
        assert np.allclose(got.scores, fused[expected])
        assert got.cooccurrence is not None and got.cooccurrence.max() <= 1.0


def test_items_nobody_co_picked_fall_back_to_text_and_popularity(ml100k):
    lonely = int(np.flatnonzero(ml100k.interactions.item_counts(len(ml100k.catalog)) == 1)[0])
    gen = CandidateGenerator(ml100k.catalog, ml100k.interactions,
                             CandidateConfig(cooccurrence_weight=0.5,
                                             cooccurrence=CoOccurrenceConfig(window=1, ordered=True)))
    plain = CandidateGenerator(ml100k.catalog, ml100k.interactions, CandidateConfig(cooccurrence_weight=0.0))
    rows, _ = gen.cooccurrence.neighbour_scores([lonely])
    if len(rows) == 0:  # a lone pick with no follower: the shortlist is BM25 + popularity
        assert gen.generate([lonely]).indices.tolist() == plain.generate([lonely]).indices.tolist()
    assert gen.generate([]).indices.tolist() == plain.generate([]).indices.tolist()  # cold start: popularity


def test_saved_with_the_text_index_and_rebuilt_when_settings_differ(ml100k, tmp_path):
    cfg = CandidateConfig(cooccurrence_weight=0.5)
    gen = CandidateGenerator(ml100k.catalog, ml100k.interactions, cfg)
    path = tmp_path / "index.npz"
    gen.save_index(path)
    loaded = CandidateGenerator.with_saved_index(path, ml100k.catalog, ml100k.interactions, cfg)
    assert (loaded.cooccurrence.scores != gen.cooccurrence.scores).nnz == 0
    assert loaded.generate([0, 49]).indices.tolist() == gen.generate([0, 49]).indices.tolist()
    other = CandidateConfig(cooccurrence_weight=0.5, cooccurrence=CoOccurrenceConfig(window=3))
    rebuilt = CandidateGenerator.with_saved_index(path, ml100k.catalog, ml100k.interactions, other)
    assert rebuilt.cooccurrence.config.window == 3


def test_adding_keeps_each_item_within_its_neighbours(ml100k):
    seqs = _sequences(ml100k, 80)
    index = CoOccurrenceIndex.build([s[:10] for s in seqs], len(ml100k.catalog), CoOccurrenceConfig(neighbours=7))
    before = index.item_counts.sum()
    index.add([s[10:40] for s in seqs], tails=[s[:10] for s in seqs])
    assert index.counts.getnnz(axis=1).max() <= 7 and index.scores.nnz == index.counts.nnz
    assert index.item_counts.sum() == before + sum(len(s[10:40]) for s in seqs)
    rows, vals = index.neighbour_scores(seqs[0][:3])
    assert len(rows) and np.all(vals > 0)
