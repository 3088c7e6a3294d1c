"""The co-occurrence signal: counts against a brute-force count, the normalisations, pruning, adding
interactions without a rebuild, saving with the text index, and its place in the shortlist."""

import itertools
from dataclasses import replace

import numpy as np
import pytest
from scipy import sparse

from zsrec import cooccurrence
from zsrec.candidates import CandidateConfig, CandidateGenerator
from zsrec.cooccurrence import (CoOccurrenceConfig, CoOccurrenceIndex, _normalised, _PrunedRows, _row_blocks,
                                _top_per_row)
from zsrec.errors import OptionError
from zsrec.length_weights import LengthWeights, by_length_text, parse_by_length


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
def test_counts_match_a_brute_force_count(ml100k, window, ordered, monkeypatch):
    seqs = _sequences(ml100k, 40)
    cfg = CoOccurrenceConfig(window=window, ordered=ordered, neighbours=5000, max_history=60)
    index = CoOccurrenceIndex.build(seqs, len(ml100k.catalog), cfg)
    expected = _brute(seqs, window, ordered, max_history=60)
    got = index.counts.tocoo()
    assert dict(zip(zip(got.row.tolist(), got.col.tolist()), got.data.tolist())) == expected
    # counted a few items at a time (each block laid out as CSR, then joined): the same arrays to the bit
    monkeypatch.setattr(cooccurrence, "PAIR_CHUNK", 300)
    small = CoOccurrenceIndex.build(seqs, len(ml100k.catalog), cfg).counts
    for part in ("indptr", "indices", "data"):
        a, b = getattr(index.counts, part), getattr(small, part)
        assert a.dtype == b.dtype and np.array_equal(a, b), part
    assert small.has_sorted_indices and small.indices.dtype == np.int32


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


@pytest.mark.parametrize("norm", ["cosine", "damped", "raw"])
def test_adds_score_again_only_the_pairs_whose_counts_moved_as_a_whole_pass_would(ml100k, norm):
    """After an add, only the scores in the rows and columns of items whose counts moved are computed
    again; every score must be the one a pass over all the counts gives, to the bit."""
    seqs = _sequences(ml100k, 200)
    cfg = CoOccurrenceConfig(normalisation=norm, damping=0.7, window=5, neighbours=30)
    cut = [len(s) // 2 for s in seqs]
    index = CoOccurrenceIndex.build([s[:c] for s, c in zip(seqs[:150], cut)], len(ml100k.catalog), cfg)
    batches = [([s[c:] for s, c in zip(seqs[:50], cut)], [s[:c] for s, c in zip(seqs[:50], cut)]),
               ([[seqs[160][0]]], [[]]),  # a new user's first pick: no pair, one item's count moves
               ([s[c:c + 1] for s, c in zip(seqs[50:150], cut[50:])], [s[:c] for s, c in zip(seqs[50:150], cut[50:])])]
    for new, tails in batches:
        index.add(new, tails=tails)
        whole = index._normalise(index.counts.copy())
        assert np.array_equal(index.scores.indptr, whole.indptr) and np.array_equal(index.scores.indices, whole.indices)
        assert index.scores.data.dtype == whole.data.dtype and np.array_equal(index.scores.data, whole.data)


@pytest.mark.parametrize("window", [None, 5])
def test_scores_share_the_counts_pattern_and_an_add_to_a_copy_leaves_the_original_as_it_was(ml100k, window, tmp_path):
    """The scores hold their own numbers on the counts' columns and row pointers, not a copy of them
    (212 MB at 1M items), through a build, a load, adds small and large, and a grow. A shortlist reads
    an index while new picks are counted into a shallow copy of it (``count_picks``): the original's
    counts and scores must stay as they were, and agree with each other."""
    import copy

    from zsrec.npz_files import write_npz

    def shared(index):
        for part in ("indices", "indptr"):
            assert np.shares_memory(getattr(index.scores, part), getattr(index.counts, part)), part
        whole = index._normalise(index.counts.copy())
        assert np.array_equal(index.scores.indices, whole.indices) and np.array_equal(index.scores.data, whole.data)

    def arrays(index):
        return [getattr(m, a).copy() for m in (index.counts, index.scores) for a in ("data", "indices", "indptr")]

    seqs = _sequences(ml100k, 300)
    n = len(ml100k.catalog)
    cut = [len(s) // 2 for s in seqs]
    index = CoOccurrenceIndex.build([s[:c] for s, c in zip(seqs[:200], cut)], n, CoOccurrenceConfig(window=window))
    shared(index)
    write_npz(tmp_path / "co.npz", index.arrays())
    with np.load(tmp_path / "co.npz") as f:
        shared(CoOccurrenceIndex.from_arrays(f))
    for new, tails in (([[seqs[250][0]]], [[]]),  # a new user's first pick: scores moved, counts not
                       ([s[c:c + 2] for s, c in zip(seqs[:20], cut)], [s[:c] for s, c in zip(seqs[:20], cut)]),
                       ([s[c:] for s, c in zip(seqs[:200], cut)], [s[:c] for s, c in zip(seqs[:200], cut)])):
        held = arrays(index)
        aside = copy.copy(index)
        aside.add(new, tails=tails)
        shared(aside)
        for before, now in zip(held, arrays(index)):
            assert before.dtype == now.dtype and np.array_equal(before, now)
        shared(index)
        index = aside
    index.grow(n + 5)
    shared(index)


@pytest.mark.parametrize("norm", ["cosine", "damped", "raw"])
def test_a_loaded_index_keeps_the_files_float32_counts_and_scores_and_adds_as_the_built_one(ml100k, norm, tmp_path):
    """A build and a start from the file both keep the counts as float32 (whole numbers), as the file
    holds them: their scores, their damped scores, and every add after (small ones, whose moved
    scores alone are computed again from the counts, then ones that score every pair again, then
    room for new items) must equal, bit for bit, those of the same index with float64 counts."""
    from zsrec.npz_files import write_npz

    seqs = _sequences(ml100k, 300)
    n = len(ml100k.catalog)
    cut = [len(s) // 2 for s in seqs]
    built = CoOccurrenceIndex.build([s[:c] for s, c in zip(seqs[:200], cut)], n,
                                    CoOccurrenceConfig(normalisation=norm, window=5, neighbours=40))
    write_npz(tmp_path / "co.npz", built.arrays())
    with np.load(tmp_path / "co.npz") as f:
        loaded = CoOccurrenceIndex.from_arrays(f)
    wide = CoOccurrenceIndex(built.counts.astype(np.float64), built.item_counts, built.config)
    assert loaded.counts.data.dtype == built.counts.data.dtype == np.float32 and wide.counts.data.dtype == np.float64

    def same(a, b):
        assert np.array_equal(a.counts.indptr, b.counts.indptr) and np.array_equal(a.counts.indices, b.counts.indices)
        assert np.array_equal(a.counts.data, b.counts.data) and np.array_equal(a.item_counts, b.item_counts)
        assert a.scores.data.dtype == b.scores.data.dtype == np.float32 and np.array_equal(a.scores.data, b.scores.data)
        for history in ([seqs[0][0]], seqs[1][:5], seqs[2][:10]):
            for damping in (None, 0.3):
                rows, vals = a.neighbour_scores(history, 0.9, damping)
                rows_b, vals_b = b.neighbour_scores(history, 0.9, damping)
                assert np.array_equal(rows, rows_b) and np.array_equal(vals, vals_b)

    same(loaded, built)
    same(built, wide)
    for new, tails in (([[seqs[250][0]]], None),  # a new user's one pick: one item's scores computed again
                       ([seqs[0][cut[0]:cut[0] + 1]], [seqs[0][:cut[0]]]),  # one more pick: a few rows
                       ([s[c:c + 2] for s, c in zip(seqs[:20], cut)], [s[:c] for s, c in zip(seqs[:20], cut)]),
                       ([s[c:] for s, c in zip(seqs[:200], cut)], [s[:c] for s, c in zip(seqs[:200], cut)]),
                       ([list(s) for s in seqs[200:]], None)):
        for index in (loaded, built, wide):
            index.add(new, tails=tails)
        same(loaded, built)
        same(built, wide)
    for index in (loaded, built, wide):
        index.grow(n + 3)
    same(loaded, built)
    same(built, wide)
    # adds write the new counts in the index's own type
    assert loaded.counts.data.dtype == built.counts.data.dtype == np.float32 and wide.counts.data.dtype == np.float64


@pytest.mark.parametrize("norm", ["cosine", "damped", "raw"])
def test_room_for_new_items_is_what_a_build_over_the_larger_catalog_holds(ml100k, norm):
    seqs = _sequences(ml100k, 200)
    n = len(ml100k.catalog)
    cfg = CoOccurrenceConfig(normalisation=norm, damping=0.7, neighbours=50)  # pruned: what the default does
    index = CoOccurrenceIndex.build(seqs, n, cfg)
    index.grow(n + 9)  # nobody picked the new items: every stored pair and score is kept as it was
    whole = CoOccurrenceIndex.build(seqs, n + 9, cfg)
    for mine, theirs in ((index.counts, whole.counts), (index.scores, whole.scores)):
        assert mine.shape == theirs.shape == (n + 9, n + 9)
        assert np.array_equal(mine.indptr, theirs.indptr) and np.array_equal(mine.indices, theirs.indices)
        assert mine.data.dtype == theirs.data.dtype and np.array_equal(mine.data, theirs.data)  # to the bit
    assert np.array_equal(index.item_counts, whole.item_counts)
    with pytest.raises(ValueError, match="only grows"):
        index.grow(n)


@pytest.mark.parametrize("window", [None, 3])
def test_first_picks_count_each_users_earliest_picks(ml100k, window):
    """Counted from each user's first K picks: the brute-force count over those picks, however long the
    history; added picks count only while the user is among their first K, paired with the earlier ones."""
    seqs = _sequences(ml100k, 60)
    cfg = CoOccurrenceConfig(first_picks=12, window=window, neighbours=5000)
    index = CoOccurrenceIndex.build(seqs, len(ml100k.catalog), cfg)
    got = index.counts.tocoo()
    assert dict(zip(zip(got.row.tolist(), got.col.tolist()), got.data.tolist())) == _brute(
        [s[:12] for s in seqs], window)
    assert np.array_equal(index.item_counts, np.bincount(np.concatenate([s[:12] for s in seqs]),
                                                         minlength=len(ml100k.catalog)))
    assert cfg.span == (window or 11)
    for cut in (5, 12, 20):  # the earlier picks end before, at and after the first 12
        grown = CoOccurrenceIndex.build([s[:cut] for s in seqs], len(ml100k.catalog), cfg)
        grown.add([s[cut:] for s in seqs], tails=[s[:cut] for s in seqs])
        assert (grown.counts != index.counts).nnz == 0 and np.array_equal(grown.item_counts, index.item_counts)
    with pytest.raises(OptionError, match="first_picks >= 2"):
        CoOccurrenceConfig(first_picks=1)


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
    assert not loaded.index_file_stale
    other = CandidateConfig(cooccurrence_weight=0.5, cooccurrence=CoOccurrenceConfig(window=3))
    rebuilt = CandidateGenerator.with_saved_index(path, ml100k.catalog, ml100k.interactions, other)
    assert rebuilt.cooccurrence.config.window == 3 and rebuilt.index_file_stale
    # a file without the default's first-picks index (saved by an older zsrec): counted, and worth saving
    shipped = CandidateGenerator.with_saved_index(path, ml100k.catalog, ml100k.interactions, CandidateConfig())
    assert shipped.index_file_stale and shipped.first_picks
    shipped.save_index(path)
    again = CandidateGenerator.with_saved_index(path, ml100k.catalog, ml100k.interactions, CandidateConfig())
    assert not again.index_file_stale and set(again.first_picks) == set(shipped.first_picks)


def test_adding_keeps_each_item_within_its_neighbours(ml100k):
    seqs = _sequences(ml100k, 80)
    index = CoOccurrenceIndex.build([s[:10] for s in seqs], len(ml100k.catalog), CoOccurrenceConfig(neighbours=7))
    before = index.item_counts.sum()
    index.add([s[10:40] for s in seqs], tails=[s[:10] for s in seqs])
    assert index.counts.getnnz(axis=1).max() <= 7 and index.scores.nnz == index.counts.nnz
    assert index.item_counts.sum() == before + sum(len(s[10:40]) for s in seqs)
    rows, vals = index.neighbour_scores(seqs[0][:3])
    assert len(rows) and np.all(vals > 0)


def test_damping_at_query_time_equals_an_index_built_with_it(ml100k):
    # Nothing pruned (every neighbour kept), so the cosine index's raw counts rescored with damping b
    # must give exactly what an index normalised with b at build time gives, for any history.
    seqs = _sequences(ml100k, 60)
    n = len(ml100k.catalog)
    keep_all = dict(neighbours=n)
    cosine = CoOccurrenceIndex.build(seqs, n, CoOccurrenceConfig(**keep_all))
    for b in (0.0, 0.3, 0.5):
        built = CoOccurrenceIndex.build(seqs, n, CoOccurrenceConfig("damped", damping=b, **keep_all))
        for history in (seqs[0][:1], seqs[1][:4]):
            rows, vals = cosine.neighbour_scores(history, 0.8, damping=b)
            want_rows, want = built.neighbour_scores(history, 0.8)
            assert rows.tolist() == want_rows.tolist()
            np.testing.assert_allclose(vals, want, rtol=1e-5)
    with pytest.raises(OptionError, match=r"\[0, 1\]"):
        cosine.neighbour_scores(seqs[0][:1], damping=2.0)


def test_pick_weights_scale_each_picks_neighbours(ml100k):
    # The weighted sum over picks, against one pick at a time: weight w on a pick scales its own
    # neighbour row by w on top of its recency weight; all ones is the plain recency-weighted sum.
    seqs = _sequences(ml100k, 60)
    index = CoOccurrenceIndex.build(seqs, len(ml100k.catalog), CoOccurrenceConfig())
    history, weights, decay = seqs[1][:4], [2.0, 0.0, 0.5, 1.0], 0.8
    want = np.zeros(index.n_items)
    for age, (item, w) in enumerate(zip(reversed(history), reversed(weights))):
        want += w * decay ** age * index.dense_scores([item])
    rows, vals = index.neighbour_scores(history, decay, pick_weights=weights)
    got = np.zeros(index.n_items)
    got[rows] = vals
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    plain_rows, plain = index.neighbour_scores(history, decay)
    ones_rows, ones = index.neighbour_scores(history, decay, pick_weights=[1.0] * len(history))
    assert ones_rows.tolist() == plain_rows.tolist() and np.array_equal(ones, plain)
    with pytest.raises(OptionError, match="3 weights for 4 history picks"):
        index.neighbour_scores(history, decay, pick_weights=[1.0, 1.0, 1.0])


def test_short_histories_use_their_own_weights_and_damping(ml100k):
    cfg = CandidateConfig(by_length="1:0/0.3/0.7@0,3:0.2/0.1/0.7@0.2")
    gen = CandidateGenerator(ml100k.catalog, ml100k.interactions, cfg)
    assert [gen.damping_for(n) for n in (1, 2, 3, 4, 10)] == [0.0, 0.2, 0.2, None, None]
    assert gen.length_weights(1) == LengthWeights(1, 0.0, 0.3, 0.7, 0.0) and gen.length_weights(4) is None
    assert by_length_text(cfg.by_length) == "1:0/0.3/0.7@0,3:0.2/0.1/0.7@0.2"
    assert parse_by_length(by_length_text(cfg.by_length)) == cfg.by_length
    plain = CandidateGenerator(ml100k.catalog, ml100k.interactions, CandidateConfig(by_length=()),
                               cooccurrence=gen.cooccurrence, index=gen.index)
    star_wars = [49]
    damped, cosine = gen.generate(star_wars), plain.generate(star_wars)
    # "people who picked Star Wars picked most": more popular picks than cosine's discount gives
    assert gen.popularity_counts[damped.indices].mean() > plain.popularity_counts[cosine.indices].mean()
    assert damped.bm25 is not None and np.allclose(damped.scores, 0.3 * damped.popularity + 0.7 * damped.cooccurrence)
    rows, vals = gen.cooccurrence.neighbour_scores(star_wars, damping=0.0)
    assert set(damped.indices[:5]) <= set(rows)  # the top comes from the damped co-picks
    longer = [0, 49, 99, 180, 126]
    assert gen.generate(longer).indices.tolist() == plain.generate(longer).indices.tolist()
    # the dense (reference) path scores the same way, and fused_scores agrees with the shortlist
    dense = CandidateGenerator(ml100k.catalog, ml100k.interactions, CandidateConfig(
        retriever="rank-bm25", by_length="1:0/0.3/0.7@0,3:0.2/0.1/0.7@0.2"), cooccurrence=gen.cooccurrence)
    assert dense.generate(star_wars).indices.tolist() == damped.indices.tolist()
    fused = gen.fused_scores(star_wars)
    fused[star_wars] = -np.inf
    assert np.lexsort((np.arange(len(fused)), -fused))[:20].tolist() == damped.indices.tolist()


def test_short_histories_can_count_co_occurrence_from_users_first_picks(ml100k, tmp_path):
    """An entry with +firstK scores its histories with a second index, counted from each user's first K
    picks; longer histories keep the shortlist's own. Saved in the index file and loaded from it."""
    text = "1:0/0.3/0.7@0.4+first15,3:0.1/0.1/0.8"
    cfg = CandidateConfig(by_length=text)
    assert by_length_text(cfg.by_length) == text and cfg.by_length[0].first_picks == 15
    assert cfg.first_picks_counts == (15,)
    gen = CandidateGenerator(ml100k.catalog, ml100k.interactions, cfg)
    seqs = [ml100k.interactions.user_history(u) for u in ml100k.interactions.user_ids]
    early = CoOccurrenceIndex.build(seqs, len(ml100k.catalog), CoOccurrenceConfig(first_picks=15))
    assert (gen.first_picks[15].counts != early.counts).nnz == 0
    # one pick: as a shortlist whose own index is the early one; three picks: the shipped index
    one_pick = CandidateGenerator(ml100k.catalog, ml100k.interactions, CandidateConfig(by_length="1:0/0.3/0.7@0.4"),
                                  cooccurrence=early, index=gen.index)
    shipped = CandidateGenerator(ml100k.catalog, ml100k.interactions, CandidateConfig(by_length=text.split("+")[0] +
                                 ",3:0.1/0.1/0.8"), cooccurrence=gen.cooccurrence, index=gen.index)
    assert gen.generate([49]).indices.tolist() == one_pick.generate([49]).indices.tolist()
    assert gen.generate([49]).indices.tolist() != shipped.generate([49]).indices.tolist()
    assert gen.generate([0, 49, 99]).indices.tolist() == shipped.generate([0, 49, 99]).indices.tolist()
    path = tmp_path / "index.npz"
    gen.save_index(path)
    loaded = CandidateGenerator.with_saved_index(path, ml100k.catalog, config=cfg, popularity=gen.popularity_counts)
    assert (loaded.first_picks[15].counts != early.counts).nnz == 0
    assert loaded.generate([49]).indices.tolist() == gen.generate([49]).indices.tolist()
    with pytest.raises(OptionError, match="first 15 picks"):
        CandidateGenerator(ml100k.catalog, config=cfg, popularity=gen.popularity_counts, cooccurrence=gen.cooccurrence)


def test_the_default_makes_do_with_a_lent_index_when_it_cannot_count_first_picks(ml100k):
    """The shipped one-pick entry counts its own index from users' first picks; lent only a built index
    and nothing to count from, the default says so and scores those histories with the lent index
    (an entry one wrote oneself is refused instead: see above)."""
    cfg = CandidateConfig()
    assert cfg.tuned_by_length and cfg.first_picks_counts
    k = cfg.first_picks_counts[0]
    full = CandidateGenerator(ml100k.catalog, ml100k.interactions, cfg)
    assert set(full.first_picks) == {k}
    with pytest.warns(UserWarning, match=f"first {k} picks"):
        lent = CandidateGenerator(ml100k.catalog, config=cfg, popularity=full.popularity_counts,
                                  cooccurrence=full.cooccurrence, index=full.index)
    assert lent.first_picks == {}
    one_index = CandidateConfig(by_length=[replace(e, first_picks=None) for e in cfg.by_length])
    assert not one_index.tuned_by_length
    same = CandidateGenerator(ml100k.catalog, config=one_index, popularity=full.popularity_counts,
                              cooccurrence=full.cooccurrence, index=full.index)
    assert lent.generate([49]).indices.tolist() == same.generate([49]).indices.tolist()
    assert full.generate([49]).indices.tolist() != same.generate([49]).indices.tolist()


@pytest.mark.parametrize("bad, match", [("1:0/0.3/0.7,1:0/0.2/0.8", "distinct"), ("0:0/0.3/0.7", "at least 1"),
                                        ("1:0/0.3/0.7@1.5", r"\[0, 1\]"), ("1:0/0/1", "both 0"),
                                        ("one:0.1", "look like"), ("1:0.3/0.7", "look like"),
                                        ("1:0/0.3/0.7+firstx", "look like"), ("1:0/0.3/0.7+first1", "at least 2")])
def test_bad_weights_by_length_are_refused(bad, match):
    with pytest.raises(OptionError, match=match):
        CandidateConfig(by_length=bad)
    assert CandidateConfig(by_length="none").by_length == ()
    assert CandidateConfig(by_length=[(1, 0, 0.3, 0.7, None)]).by_length == (LengthWeights(1, 0, 0.3, 0.7),)


def test_weights_one_sets_hold_at_every_length_unless_one_sets_these_too():
    from zsrec.defaults import SHORTLIST_BY_LENGTH
    from zsrec.evaluation.protocol import EvalConfig

    tuned = parse_by_length(SHORTLIST_BY_LENGTH)
    assert tuned and CandidateConfig().by_length == tuned == CandidateConfig(by_length="auto").by_length
    assert CandidateConfig(bm25_weight=1.0, popularity_weight=0.0).by_length == ()
    assert CandidateConfig(bm25_weight=1.0, by_length=tuned).by_length == tuned
    assert EvalConfig().by_length == tuned and EvalConfig(popularity_weight=0.5).by_length == ()


def _best_by_sorting(row, col, score, k):
    """Each row's k best (score high to low, ties to the lower column), by sorting in Python."""
    by_row = {}
    for r, c, s in zip(row.tolist(), col.tolist(), score.tolist()):
        by_row.setdefault(r, []).append((-s, c))
    return {(r, c) for r, cells in by_row.items() for _, c in sorted(cells)[:k]}


@pytest.mark.parametrize("norm", ["raw", "cosine", "damped"])
@pytest.mark.parametrize("window", [None, 3, "one sitting"])
def test_pruning_keeps_each_items_best_neighbours_with_ties_to_the_lower_item(ml100k, norm, window, monkeypatch):
    """Pruned a block of rows at a time, each block's pairs scored, cut and written into the index's
    arrays: the pairs a sort of every row keeps, and, however many blocks, the same arrays to the bit."""
    users = sorted(ml100k.interactions.user_ids, key=int)[:150]
    seqs = [ml100k.interactions.user_history(u).tolist() for u in users]
    times = [ml100k.interactions.user_times(u).tolist() for u in users] if window == "one sitting" else None
    cfg = CoOccurrenceConfig(normalisation=norm, max_history=60, **(
        {"seconds": 3600.0} if window == "one sitting" else {"window": window}))
    whole = CoOccurrenceIndex.build(seqs, len(ml100k.catalog), replace(cfg, neighbours=100_000), times)
    for k in (1, 7, 40):
        pruned = CoOccurrenceIndex.build(seqs, len(ml100k.catalog), replace(cfg, neighbours=k), times)
        every, kept = whole.counts.tocoo(), pruned.counts.tocoo()
        score = _normalised(every.row, every.col, every.data, np.maximum(whole.item_counts, 1.0), whole.config)
        assert set(zip(kept.row.tolist(), kept.col.tolist())) == _best_by_sorting(every.row, every.col, score, k)
        assert np.array_equal(kept.data, every.tocsr()[kept.row, kept.col].A1)  # each kept pair's whole count
        with monkeypatch.context() as m:
            m.setattr(cooccurrence, "PAIR_CHUNK", 150)  # a few rows a block: hundreds of blocks
            small = CoOccurrenceIndex.build(seqs, len(ml100k.catalog), replace(cfg, neighbours=k), times)
        for a, b in ((pruned.counts, small.counts), (pruned.scores, small.scores)):
            for part in ("indptr", "indices", "data"):
                assert getattr(a, part).dtype == getattr(b, part).dtype, part
                assert np.array_equal(getattr(a, part), getattr(b, part)), part
        assert small.counts.has_sorted_indices


def test_blocks_of_rows_written_in_turn_make_the_one_csr_a_build_would_lay_out():
    rng = np.random.default_rng(3)
    whole = (sparse.random(40, 30, density=0.2, format="csr", random_state=4) * 10).ceil()  # counts: whole numbers
    cuts = [0, 1, 1, 7, 20, 40]  # an empty block too
    out = _PrunedRows(40, 30, most=whole.nnz + 5)  # more room than is written: cut to what was, in place
    for a, b in zip(cuts[:-1], cuts[1:]):
        out.write(whole[a:b])
    joined = out.matrix()
    for part in ("indptr", "indices", "data"):
        assert np.array_equal(getattr(joined, part), getattr(whole, part)), part
    assert joined.indices.dtype == joined.indptr.dtype == whole.indices.dtype == np.int32
    assert joined.data.dtype == np.float32  # whole numbers, as the index file holds them
    assert len(joined.data) == len(joined.indices) == whole.nnz and joined.shape == (40, 30)
    for part in (joined.data, joined.indices):  # the arrays themselves cut, not views of the larger ones
        assert (part if part.base is None else part.base).size == whole.nnz
    assert _PrunedRows(0, 5, most=0).matrix().shape == (0, 5)
    short = _PrunedRows(40, 30, most=whole.nnz - 1)
    with pytest.raises(ValueError, match="room"):
        short.write(whole)
    part_written = _PrunedRows(40, 30, most=whole.nnz)
    part_written.write(whole[:7])
    with pytest.raises(ValueError, match="7 of 40 rows"):
        part_written.matrix()
    weights = rng.integers(0, 9, 50)
    runs = _row_blocks(weights, 20)
    assert runs[0][0] == 0 and runs[-1][1] == 50 and all(a[1] == b[0] for a, b in zip(runs, runs[1:]))
    for a, b in runs:  # at most 20 a run, unless one row alone weighs more; as few runs as that allows
        assert weights[a:b].sum() <= 20 or b == a + 1
        assert b == 50 or weights[a:b + 1].sum() > 20
    assert _row_blocks(np.array([50, 1, 1]), 20) == [(0, 1), (1, 3)]


def test_the_kept_neighbours_are_exact_where_float32_cannot_tell_scores_apart():
    rng = np.random.default_rng(0)
    row = np.repeat(np.arange(6), 50)
    col = np.tile(np.arange(50), 6)
    score = np.where(rng.random(300) < 0.5, 1.0, 2.0) + rng.integers(0, 4, 300) * 1e-12  # equal as float32
    score[:50] = [np.inf] * 5 + [3.0] * 5 + [0.0 if c % 2 else -0.0 for c in range(30)] + [-1.0] * 10  # -0.0 == 0.0
    score[50:100] = rng.choice([1e300, 1e301, -1e300], 50)  # past float32's range
    shuffled = rng.permutation(300)  # rows in no order
    for k in (1, 3, 10, 15, 49, 50, 60):  # at 15 the first row's cut falls among its zeros, ties to the lower column
        r, c, count = _top_per_row(row[shuffled], col[shuffled], score[shuffled], score[shuffled], k)
        assert set(zip(r.tolist(), c.tolist())) == _best_by_sorting(row, col, score, k)
        assert np.array_equal(count, score[r * 50 + c])
    score[7] = np.nan  # sorted last, as np.lexsort sorts it
    r, c, _ = _top_per_row(row, col, score, score, 5)
    assert (0, 7) not in set(zip(r.tolist(), c.tolist()))
    finite = np.where(np.isnan(score), -np.inf, score)
    assert set(zip(r.tolist(), c.tolist())) == _best_by_sorting(row, col, finite, 5)


@pytest.mark.parametrize("norm", ["cosine", "damped"])
def test_scores_are_the_same_floats_whether_powers_are_taken_per_item_or_per_pair(norm):
    rng = np.random.default_rng(1)
    n = rng.integers(1, 100_000, 3000).astype(np.float64)
    row, col = rng.integers(0, 3000, 50_000), rng.integers(0, 3000, 50_000)
    count = rng.integers(1, 500, 50_000).astype(np.float64)
    cfg = CoOccurrenceConfig(normalisation=norm, damping=0.7)
    per_item = _normalised(row, col, count, n, cfg)  # more pairs than items
    per_pair = np.concatenate([_normalised(row[i:i + 1000], col[i:i + 1000], count[i:i + 1000], n, cfg)
                               for i in range(0, 50_000, 1000)])
    assert np.array_equal(per_item, per_pair)
    assert np.array_equal(per_item, count / (n[row] ** (1 - cfg.damping if norm == "damped" else 0.5)
                                             * n[col] ** (cfg.damping if norm == "damped" else 0.5)))


@pytest.mark.parametrize("norm", ["raw", "cosine", "damped"])
@pytest.mark.parametrize("density", [0.05, 0.001], ids=["more pairs than items", "fewer pairs than items"])
def test_an_index_scores_its_counts_a_block_of_rows_at_a_time_as_pair_by_pair(norm, density, monkeypatch):
    """A start from the index file scores every stored pair again from its count, a block of rows at
    a time (each row's power repeated over its entries): the same float32 scores as ``_normalised``
    per pair (which takes its powers per pair when there are fewer pairs than items), across blocks
    of any size, with empty rows first, last and between."""
    from scipy import sparse

    import zsrec.cooccurrence as co

    rng = np.random.default_rng(2)
    n = 400
    dense = rng.integers(1, 50, (n, n)) * (rng.random((n, n)) < density)
    dense[:5] = dense[-7:] = dense[200:230] = 0
    counts = sparse.csr_matrix(dense.astype(np.float64))
    item_counts = rng.integers(0, 1000, n).astype(np.float64)  # zeros too: counted as 1
    cfg = CoOccurrenceConfig(normalisation=norm, damping=0.7)
    row = np.repeat(np.arange(n), np.diff(counts.indptr))
    want = _normalised(row, counts.indices, counts.data, np.maximum(item_counts, 1.0), cfg).astype(np.float32)
    assert 0 < counts.nnz and (counts.nnz > n) == (density == 0.05)
    for block in (1, 97, 1000, 1 << 20):
        monkeypatch.setattr(co, "NORMALISE_BLOCK", block)
        scores = CoOccurrenceIndex(counts.copy(), item_counts, cfg).scores
        assert scores.dtype == np.float32 and np.array_equal(scores.indptr, counts.indptr)
        assert np.array_equal(scores.indices, counts.indices) and np.array_equal(scores.data, want)
