"""Similar sittings: the catalog's runs of picks cut at gaps over some seconds, checked against a
brute-force cut; the sittings most like a history found and voted as session kNN defines them,
against a brute-force scoring; new picks added without a rebuild; blended into the shortlist's
co-occurrence part for histories of two or more picks; saved with the index; on by default; tuned on
validation users; off, with the reason, where there are no timestamps."""

import numpy as np
import pytest

from zsrec.candidates import CandidateConfig, CandidateGenerator
from zsrec.errors import OptionError
from zsrec.evaluation.protocol import EvalConfig
from zsrec.evaluation.session_tuning import tune_sittings
from zsrec.sittings import SittingIndex


def _picks(ml100k, n_users=120):
    users = sorted(ml100k.interactions.user_ids, key=int)[:n_users]
    inter = ml100k.interactions
    return users, [inter.user_history(u).tolist() for u in users], [inter.user_times(u).tolist() for u in users]


def _brute_sittings(seqs, times, seconds):
    out = []  # (user, set of items, last time), in user then time order
    for u, (seq, ts) in enumerate(zip(seqs, times)):
        current, last = [], None
        for item, t in zip(seq, ts):
            if last is not None and t - last > seconds:
                out.append((u, set(current), last))
                current = []
            current.append(item)
            last = t
        if current:
            out.append((u, set(current), last))
    return out


def _brute_scores(sittings, history, decay, neighbours, n_items):
    weights = {item: 0.0 for item in history}
    for pos, item in enumerate(history):
        weights[item] += decay ** (len(history) - 1 - pos)
    liked = []
    for row, (_, items, _) in enumerate(sittings):
        if len(items) < 2:
            continue
        like = sum(w for item, w in weights.items() if item in items)
        if like > 0:
            liked.append((-like / np.sqrt(len(items)), row))
    out = np.zeros(n_items)
    for neg, row in sorted(liked)[:neighbours]:
        for item in sittings[row][1]:
            out[item] += -neg
    return out


@pytest.mark.parametrize("seconds", [0.5, 60, 3600])
def test_sittings_match_a_brute_force_cut(ml100k, seconds):
    users, seqs, times = _picks(ml100k, 60)
    index = SittingIndex.build(seqs, times, len(ml100k.catalog), seconds, users)
    brute = _brute_sittings(seqs, times, seconds)
    assert index.n_sittings == len(brute)
    for row, (u, items, last) in enumerate(brute):
        assert set(index.members[row].indices.tolist()) == items
        assert index.ends[row] == last and index.users[index.owners[row]] == users[u]
    # ML-100K raters rated in bursts: some sittings hold many picks
    assert max(len(items) for _, items, _ in brute) > 5


@pytest.mark.parametrize("neighbours", [1, 20, 200])
def test_neighbour_scores_follow_session_knn(ml100k, neighbours):
    users, seqs, times = _picks(ml100k, 200)
    index = SittingIndex.build(seqs, times, len(ml100k.catalog), 60, users)
    brute = _brute_sittings(seqs, times, 60)
    for history in ([int(i) for i in ml100k.interactions.user_history("300")[:5]], seqs[3][2:4], [seqs[7][0]]):
        rows, vals = index.neighbour_scores(history, 0.5, neighbours)
        dense = np.zeros(len(ml100k.catalog))
        dense[rows] = vals
        assert np.all(np.diff(rows) > 0)
        assert np.allclose(dense, _brute_scores(brute, history, 0.5, neighbours, len(ml100k.catalog)))
    assert [len(x) for x in index.neighbour_scores([], 0.5)] == [0, 0]
    with pytest.raises(OptionError, match="outside"):
        index.neighbour_scores([len(ml100k.catalog)], 0.5)
    with pytest.raises(OptionError, match="at least 1"):
        index.neighbour_scores(history, 0.5, 0)


def test_each_item_lists_only_its_most_recent_sittings(ml100k):
    users, seqs, times = _picks(ml100k, 300)
    capped = SittingIndex.build(seqs, times, len(ml100k.catalog), 60, users, per_item=3)
    full = SittingIndex.build(seqs, times, len(ml100k.catalog), 60, users)
    counts = np.diff(capped.listed.indptr)
    assert counts.max() == 3 and np.diff(full.listed.indptr).max() > 3
    for item in np.flatnonzero(np.diff(full.listed.indptr) > 3)[:20]:
        every = full.listed.indices[full.listed.indptr[item]:full.listed.indptr[item + 1]]
        kept = capped.listed.indices[capped.listed.indptr[item]:capped.listed.indptr[item + 1]]
        latest = every[np.lexsort((-every, -full.ends[every]))][:3]
        assert sorted(kept.tolist()) == sorted(latest.tolist())
    # one-pick sittings hold only the item itself: never listed
    assert np.all(capped.sizes[capped.listed.indices] >= 2)


def test_adding_picks_equals_a_rebuild(ml100k):
    users, seqs, times = _picks(ml100k, 80)
    whole = SittingIndex.build(seqs, times, len(ml100k.catalog), 60, users)
    half = [len(s) // 2 for s in seqs]
    # the first 60 users' first halves, then their second halves and 20 new users
    grown = SittingIndex.build([s[:h] for s, h in zip(seqs[:60], half)], [t[:h] for t, h in zip(times[:60], half)],
                               len(ml100k.catalog), 60, users[:60])
    grown.add(users[:60] + users[60:], [s[h:] for s, h in zip(seqs[:60], half)] + seqs[60:],
              [t[h:] for t, h in zip(times[:60], half)] + times[60:])
    def as_sets(index):
        return sorted((str(index.users[index.owners[r]]), index.ends[r], tuple(index.members[r].indices.tolist()))
                      for r in range(index.n_sittings))
    assert as_sets(grown) == as_sets(whole)
    m = grown.members  # only the changed rows were written: still one sorted entry per item, each 1
    canon = m.copy()
    canon.sum_duplicates()
    canon.sort_indices()
    assert m.data.dtype == np.uint8 and bool((m.data == 1).all())
    assert np.array_equal(canon.indices, m.indices) and np.array_equal(canon.indptr, m.indptr)
    history = seqs[5][:5]
    assert [x.tolist() for x in grown.neighbour_scores(history, 0.5)] == [x.tolist() for x in whole.neighbour_scores(history, 0.5)]
    last = int(np.flatnonzero(grown.owners == list(grown.users).index(users[0]))[-1])
    held, end = grown.members[last].indices.tolist(), float(grown.ends[last])
    grown.add([users[0]], [[held[0]]], [[end + 1]])  # an item the sitting holds already: counted once
    assert grown.members[last].indices.tolist() == held and grown.ends[last] == end + 1
    with pytest.raises(OptionError, match="time order"):
        grown.add([users[0]], [[1]], [[0.0]])
    with pytest.raises(OptionError, match="one timestamp per pick"):
        grown.add([users[0]], [[1, 2]], [[1e12]])


def test_the_shortlist_blends_it_into_co_occurrence_for_two_or_more_picks(ml100k):
    on = CandidateGenerator(ml100k.catalog, ml100k.interactions, CandidateConfig(sittings_share=0.4))
    off = CandidateGenerator(ml100k.catalog, ml100k.interactions, CandidateConfig(sittings_share=0.0))
    assert off.sittings is None and on.sittings is not None and on.sittings.seconds == 60
    history = [int(i) for i in ml100k.interactions.user_history("1")[:5]]
    # (1 - share) x (co-occurrence with the session signal) + share x sittings, each scaled to a top of 1
    co = off.cooccurrence_scores(history)
    rows, vals = on.sittings.neighbour_scores(history, 0.5, 200)
    sittings = np.zeros(len(co))
    sittings[rows] = vals
    assert np.allclose(on.cooccurrence_scores(history), 0.6 * co + 0.4 * sittings / sittings.max())
    fused = on.fused_scores(history)
    fused[history] = -np.inf
    assert on.generate(history).indices.tolist() == np.lexsort((np.arange(len(fused)), -fused))[:20].tolist()
    assert on.generate(history).indices.tolist() != off.generate(history).indices.tolist()
    one = history[-1:]
    assert on.generate(one).indices.tolist() == off.generate(one).indices.tolist()
    for bad in ({"sittings_share": 1.5}, {"sittings_share": -0.1}, {"sittings_neighbours": 0}):
        with pytest.raises(OptionError):
            CandidateConfig(**bad)


def test_the_sittings_are_saved_with_the_index(ml100k, tmp_path):
    gen = CandidateGenerator(ml100k.catalog, ml100k.interactions)
    path = tmp_path / "index.npz"
    gen.save_index(path)
    loaded = CandidateGenerator.with_saved_index(path, ml100k.catalog, ml100k.interactions)
    assert loaded.sittings is not None and not loaded.index_file_stale
    assert loaded.sittings.users.tolist() == gen.sittings.users.tolist()
    history = [int(i) for i in ml100k.interactions.user_history("7")[:6]]
    assert loaded.generate(history).indices.tolist() == gen.generate(history).indices.tolist()
    # another sitting length: cut afresh from the interactions, and worth saving again
    other = CandidateGenerator.with_saved_index(path, ml100k.catalog, ml100k.interactions,
                                                CandidateConfig(session_seconds=300))
    assert other.sittings.seconds == 300 and other.index_file_stale


def test_the_sittings_lists_are_read_from_the_file_and_a_file_without_them_is_cut_again(ml100k, tmp_path, monkeypatch):
    """A start reads each item's latest sittings from the file rather than cutting them again (2.4 s at
    1M items); they must be the lists a cut gives, to the entry. A file saved before they were kept
    is cut on load, as before; lists of the wrong size are a clear error."""
    from zsrec.errors import DataError

    gen = CandidateGenerator(ml100k.catalog, ml100k.interactions)
    path = tmp_path / "index.npz"
    gen.save_index(path)
    cuts = []
    real_cut = SittingIndex._cut
    monkeypatch.setattr(SittingIndex, "_cut", lambda self, *a: cuts.append(1) or real_cut(self, *a))
    loaded = CandidateGenerator.with_saved_index(path, ml100k.catalog, ml100k.interactions)
    assert cuts == [] and not loaded.index_file_stale  # read, not cut
    s = loaded.sittings
    fresh = SittingIndex(s.members, s.ends, s.owners, s.users, s.seconds, s.per_item)
    assert len(cuts) == 1
    for part in ("indptr", "indices", "data"):
        assert np.array_equal(getattr(s.listed, part), getattr(fresh.listed, part)), part
    assert s.listed.shape == fresh.listed.shape and np.array_equal(s.sizes, fresh.sizes)
    history = [int(i) for i in ml100k.interactions.user_history("7")[:6]]
    assert [x.tolist() for x in s.neighbour_scores(history, 0.5)] == [x.tolist() for x in fresh.neighbour_scores(history, 0.5)]
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    older = tmp_path / "older.npz"  # as saved before the lists were kept
    np.savez(older, **{k: v for k, v in arrays.items() if not k.startswith("sit_listed_")})
    cuts.clear()
    again = CandidateGenerator.with_saved_index(older, ml100k.catalog, ml100k.interactions)
    assert len(cuts) == 1 and np.array_equal(again.sittings.listed.indices, fresh.listed.indices)
    assert again.generate(history).indices.tolist() == gen.generate(history).indices.tolist()
    broken = tmp_path / "broken.npz"
    np.savez(broken, **{**arrays, "sit_listed_indptr": arrays["sit_listed_indptr"][:-1]})
    with pytest.raises(DataError, match="cannot read index"):
        CandidateGenerator.with_saved_index(broken, ml100k.catalog, ml100k.interactions)
    with pytest.raises(ValueError, match="sittings' lists are 1682 x 10;"):  # lists of other sittings
        SittingIndex(s.members, s.ends, s.owners, s.users, s.seconds, s.per_item, s.listed[:, :10])


def test_it_is_on_by_default_and_off_without_timestamps(ml100k):
    from zsrec.defaults import SHORTLIST_SITTINGS_NEIGHBOURS, SHORTLIST_SITTINGS_SHARE

    assert CandidateConfig().sittings_share == SHORTLIST_SITTINGS_SHARE > 0 and CandidateConfig().uses_sittings
    assert CandidateConfig().sittings_neighbours == SHORTLIST_SITTINGS_NEIGHBOURS
    assert EvalConfig().shortlist().sittings_share == SHORTLIST_SITTINGS_SHARE
    users, seqs, times = _picks(ml100k, 100)
    with pytest.warns(UserWarning, match="similar sittings .* is off .* without sequence_times"):
        untimed = CandidateGenerator(ml100k.catalog, config=CandidateConfig(session_share=0.0), sequences=seqs)
    assert untimed.sittings is None and "sequence_times" in untimed.session_off
    timed = CandidateGenerator(ml100k.catalog, config=CandidateConfig(session_share=0.0), sequences=seqs,
                               sequence_times=times)
    assert timed.sittings is not None


def test_the_tuner_chooses_it_on_validation_users_and_keeps_it_only_beyond_noise(ml100k):
    config = EvalConfig(history_lens=(1, 5))
    tuning = tune_sittings(ml100k, config, shares=(0.5, 1.0), neighbours=(200,), folds=2)
    assert [(t.sittings_share, t.sittings_neighbours) for t in tuning.trials] == [(0.5, 200), (1.0, 200)]
    assert tuning.off.sittings_share == 0 and tuning.lengths == (5,)
    assert tuning.best == max(tuning.trials, key=lambda t: t.criterion)
    assert all(t.recall[1] == tuning.off.recall[1] for t in tuning.trials)
    # the session signal stays as the base has it
    assert all(t.session_share == CandidateConfig().session_share for t in [tuning.off, *tuning.trials])
    chosen = tuning.config(CandidateConfig())
    assert chosen.sittings_share == (tuning.best.sittings_share if tuning.kept else 0.0)
    assert tuning.kept == (tuning.best.criterion > tuning.off.criterion and tuning.best.p_pooled < 0.05)
    # share 1 drops co-occurrence for sittings alone: a different shortlist
    assert tuning.trials[1].recall != tuning.trials[0].recall
    with pytest.raises(OptionError, match="above 0"):
        tune_sittings(ml100k, config, shares=(0.0,), folds=2)


def test_room_for_new_items_is_what_a_build_over_the_larger_catalog_holds(ml100k):
    users, seqs, times = _picks(ml100k, 120)
    n = len(ml100k.catalog)
    index = SittingIndex.build(seqs, times, n, 60, users, per_item=5)
    index.grow(n + 7)  # items nobody has picked: no sitting holds them, every list stays as it was
    whole = SittingIndex.build(seqs, times, n + 7, 60, users, per_item=5)
    for mine, theirs in ((index.members, whole.members), (index.listed, whole.listed)):
        assert mine.shape == theirs.shape and (mine != theirs).nnz == 0
        assert np.array_equal(mine.indptr, theirs.indptr) and np.array_equal(mine.indices, theirs.indices)
    assert np.array_equal(index.sizes, whole.sizes)
    assert index.neighbour_scores(seqs[3][:4])[0].tolist() == whole.neighbour_scores(seqs[3][:4])[0].tolist()
    with pytest.raises(ValueError, match="only grows"):
        index.grow(n)


def test_adds_re_cut_only_the_lists_they_change_as_a_whole_re_cut_would(ml100k):
    """An add re-cuts only the lists of the items in the sittings it changed; each list must be the
    one a re-cut of every list gives, to the entry and in order (a small cap, so lists overflow)."""
    users, seqs, times = _picks(ml100k, 150)
    half = [len(s) // 2 for s in seqs]
    index = SittingIndex.build([s[:h] for s, h in zip(seqs[:120], half)], [t[:h] for t, h in zip(times[:120], half)],
                               len(ml100k.catalog), 3600, users[:120], per_item=4)
    batches = [(users[:40], 0), (users[40:120], 0), (users[120:], 1)]  # old users' later picks, then new users'
    for batch, new_users in batches:
        rows = [users.index(u) for u in batch]
        if new_users:
            index.add(batch, [seqs[r] for r in rows], [times[r] for r in rows])
        else:
            index.add(batch, [seqs[r][half[r]:] for r in rows], [times[r][half[r]:] for r in rows])
        cut = SittingIndex(index.members, index.ends, index.owners, index.users, index.seconds, index.per_item)
        assert index.listed.shape == cut.listed.shape
        for part in ("indptr", "indices", "data"):
            assert np.array_equal(getattr(index.listed, part), getattr(cut.listed, part)), part
        assert np.array_equal(index.sizes, cut.sizes)
    index.add([users[0]], [[]], [[]])  # nothing new: the lists stay
    assert np.array_equal(index.listed.indices, cut.listed.indices)


def test_a_large_cut_sorts_one_integer_per_entry_into_the_three_key_sorts_order(ml100k):
    """A build's cut (as many entries as sittings, or more) sorts each entry as one integer, item then
    the sitting's place among all sittings; a smaller cut (an add's) sorts the three keys. Both must
    give every item's list in the same order, to the entry, ties in the sittings' ends included."""
    users, seqs, times = _picks(ml100k, 150)
    coarse = [np.floor(np.asarray(t) / 86_400.0) * 86_400.0 for t in times]  # many sittings end together
    index = SittingIndex.build(seqs, coarse, len(ml100k.catalog), 60, users, per_item=4)
    assert len(np.unique(index.ends)) < len(index.ends) // 2
    rng = np.random.default_rng(3)
    n_sittings = len(index.ends)
    for size in (n_sittings, 3 * n_sittings, n_sittings - 1, 40):
        sitting = rng.integers(0, n_sittings, size)
        item = rng.integers(0, len(ml100k.catalog), size)
        pairs = np.unique(item * n_sittings + sitting)  # an item lists a sitting once
        item, sitting = pairs // n_sittings, pairs % n_sittings
        assert (len(item) >= n_sittings) == (size >= n_sittings)  # the one-integer sort for the first two sizes
        rng.shuffle(perm := np.arange(len(item)))
        item, sitting = item[perm], sitting[perm]
        got_item, got_sitting = index._cut(item, sitting)
        order = np.lexsort((-sitting, -index.ends[sitting], item))
        want_item, want_sitting = item[order], sitting[order]
        keep = np.arange(len(want_item)) - np.searchsorted(want_item, want_item, side="left") < index.per_item
        assert np.array_equal(got_item, want_item[keep]) and np.array_equal(got_sitting, want_sitting[keep])
        assert got_item.dtype == got_sitting.dtype == np.int64
