import os
import stat
import time
import warnings

import numpy as np
import pytest

from zsrec.candidates import CandidateConfig, CandidateGenerator
from zsrec.data import Catalog, Interactions, Item
from zsrec.errors import DataError
from zsrec.score_arrays import top_n


def _titles(ds, cands):
    return [ds.catalog.items[i].title for i in cands.indices]


def test_seen_items_are_excluded(ml100k):
    gen = CandidateGenerator(ml100k.catalog, ml100k.interactions)
    history = [0, 99, 49]
    extra = [180, 171]
    c = gen.generate(history, exclude=extra, n=50)
    assert len(c) == 50
    assert not set(c.indices) & set(history + extra)
    assert len(set(c.indices.tolist())) == 50


def test_empty_history_is_popularity_order(ml100k):
    gen = CandidateGenerator(ml100k.catalog, ml100k.interactions)
    c = gen.generate([])
    counts = ml100k.interactions.item_counts(len(ml100k.catalog))
    assert c.indices.tolist() == np.argsort(-counts, kind="stable")[:20].tolist()
    assert _titles(ml100k, c)[0] == "Star Wars (1977)"


def test_bm25_pulls_in_related_items(ml100k):
    """A sci-fi history shortlists sci-fi; with text alone the shortlist shares words with the history."""
    gen = CandidateGenerator(ml100k.catalog, ml100k.interactions, CandidateConfig(bm25_weight=1.0, popularity_weight=0.0))
    star_wars = ml100k.catalog.index_of("50")
    c = gen.generate([star_wars])
    genres = [ml100k.catalog.items[i].fields["genres"] for i in c.indices]
    assert all("Sci-Fi" in g or "War" in g or "Adventure" in g for g in genres)
    assert c.scores[0] >= c.scores[-1]


def test_weights_shift_the_shortlist_towards_popularity(ml100k):
    h = [ml100k.catalog.index_of("1")]
    text_only = CandidateGenerator(ml100k.catalog, ml100k.interactions, CandidateConfig(bm25_weight=1, popularity_weight=0))
    pop_heavy = CandidateGenerator(ml100k.catalog, ml100k.interactions, CandidateConfig(bm25_weight=0.1, popularity_weight=1))
    counts = text_only.popularity_counts
    assert counts[pop_heavy.generate(h).indices].mean() > counts[text_only.generate(h).indices].mean()


def test_recency_weights_the_query():
    from zsrec.data import Catalog, Item
    cat = Catalog([Item("a", "alpha", {"g": "horror"}), Item("b", "beta", {"g": "comedy"}),
                   Item("c", "gamma", {"g": "horror"}), Item("d", "delta", {"g": "comedy"}),
                   Item("e", "eps", {"g": "western"}), Item("f", "phi", {"g": "war"}), Item("g", "chi", {"g": "noir"})])
    gen = CandidateGenerator(cat, None, CandidateConfig(n_candidates=1, bm25_weight=1, popularity_weight=0,
                                                        recency_decay=0.5))
    # most recent pick is comedy (b): the comedy item wins; reversed, the horror one does
    assert cat.items[gen.generate([0, 1]).indices[0]].id == "d"
    assert cat.items[gen.generate([1, 0]).indices[0]].id == "c"


def test_shortlist_shrinks_when_catalog_runs_out():
    from zsrec.data import Catalog, Item
    cat = Catalog([Item(str(i), f"t{i}") for i in range(3)])
    c = CandidateGenerator(cat, None).generate([0], n=20)
    assert sorted(c.indices.tolist()) == [1, 2]


def test_config_validation():
    with pytest.raises(ValueError):
        CandidateConfig(n_candidates=0)
    with pytest.raises(ValueError):
        CandidateConfig(bm25_weight=0, popularity_weight=0)


def _user_rows(ds, users):
    out = []
    for u in users:
        rows = [int(i) for i in ds.interactions.user_history(u)]
        out.append((rows[-5:], rows))
    return out


@pytest.mark.parametrize("dense_fraction", [0.0, 1e9], ids=["postings-summed", "sparse-product"])
def test_sparse_index_gives_rank_bm25s_exact_shortlists(ml100k, monkeypatch, dense_fraction):
    """Every ML-100K user, history 5, all seen items excluded: identical top-20 and scores, on both
    of the sparse index's scoring paths."""
    monkeypatch.setattr(CandidateGenerator, "DENSE_FRACTION", dense_fraction)
    ref = CandidateGenerator(ml100k.catalog, ml100k.interactions, CandidateConfig(retriever="rank-bm25"))
    fast = CandidateGenerator(ml100k.catalog, ml100k.interactions)
    jobs = _user_rows(ml100k, ml100k.interactions.user_ids)
    batch = fast.generate_many([h for h, _ in jobs], [e for _, e in jobs])
    for (h, e), b in zip(jobs, batch):
        r, f = ref.generate(h, e), fast.generate(h, e)
        assert np.array_equal(r.indices, f.indices) and np.array_equal(r.indices, b.indices)
        assert np.allclose(r.scores, f.scores, rtol=0, atol=1e-12)
    assert np.allclose(ref.bm25_scores([0, 49]), fast.bm25_scores([0, 49]), rtol=1e-12)


@pytest.mark.parametrize("history, weights", [([], (0.6, 0.4)), ([0], (0.6, 0.0)), (list(range(300)), (0.0, 1.0)),
                                              ([5, 5, 7], (1.0, 1.0))])
def test_sparse_matches_reference_at_the_edges(ml100k, history, weights):
    cfg = dict(bm25_weight=weights[0], popularity_weight=weights[1])
    ref = CandidateGenerator(ml100k.catalog, ml100k.interactions, CandidateConfig(retriever="rank-bm25", **cfg))
    fast = CandidateGenerator(ml100k.catalog, ml100k.interactions, CandidateConfig(**cfg))
    assert np.array_equal(ref.generate(history, (), 60).indices, fast.generate(history, (), 60).indices)


def test_index_saves_and_loads(ml100k, tmp_path):
    built = CandidateGenerator(ml100k.catalog, ml100k.interactions)
    path = tmp_path / "ml100k.index"  # any name: the file is written at exactly this path
    built.save_index(path)
    loaded = CandidateGenerator.with_saved_index(path, ml100k.catalog, ml100k.interactions)
    for h, e in _user_rows(ml100k, ["1", "42", "500"]):
        assert np.array_equal(built.generate(h, e).indices, loaded.generate(h, e).indices)
    with pytest.raises(DataError, match="built for another catalog or settings"):
        CandidateGenerator.with_saved_index(path, ml100k.catalog, config=CandidateConfig(skip_fields=()))
    (tmp_path / "broken.index").write_bytes(b"not an index")
    with pytest.raises(DataError, match="broken.index: cannot read index"):
        CandidateGenerator.with_saved_index(tmp_path / "broken.index", ml100k.catalog)
    # a new folder is made; where no file can be written the error names the path, and no temporary file is left
    built.save_index(tmp_path / "new" / "sub" / "ml100k.index")
    assert (tmp_path / "new" / "sub" / "ml100k.index").is_file()
    (tmp_path / "taken.index").mkdir()
    with pytest.raises(DataError, match="taken.index: cannot write the index there"):
        built.save_index(tmp_path / "taken.index")
    with pytest.raises(DataError, match="a file stands where a folder is needed"):
        built.save_index(path / "inside.index")  # ``path`` is a file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.index", "ml100k.index", "new", "taken.index"]


@pytest.mark.skipif(os.name != "posix", reason="file modes and the umask are POSIX's")
def test_an_index_file_gets_the_permissions_any_new_file_gets(tmp_path):
    """Built by one user (an image build), read by another (the service): a temporary file's owner-only
    mode, kept by the rename, made it unreadable to the second."""
    from zsrec.npz_files import write_npz

    old = os.umask(0o022)
    try:
        write_npz(tmp_path / "shared.npz", {"a": np.arange(3)})
        os.umask(0o077)
        write_npz(tmp_path / "private.npz", {"a": np.arange(3)})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shared.npz").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "private.npz").stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["private.npz", "shared.npz"]


def test_a_saved_index_is_not_used_for_data_it_was_not_built_from(ml100k, tmp_path):
    """New events appended to the interactions file: a saved index counted before them used to be
    loaded as is (co-occurrence from the old picks beside popularity from the new). Now it is counted
    again, with a warning, and marked to be written again; another catalog of the same size is an error."""
    path = tmp_path / "ml100k.index"
    CandidateGenerator(ml100k.catalog, ml100k.interactions).save_index(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same data: no warning, nothing counted again
        same = CandidateGenerator.with_saved_index(path, ml100k.catalog, ml100k.interactions)
    assert not same.index_file_stale
    inter = ml100k.interactions
    star_wars, fargo = ml100k.catalog.index_of("50"), ml100k.catalog.index_of("100")
    later = Interactions(users=np.concatenate([inter.users, np.array([f"new{i}" for i in range(300)] * 2, dtype=object)]),
                         items=np.concatenate([inter.items, [star_wars] * 300 + [fargo] * 300]),
                         timestamps=np.concatenate([inter.timestamps, np.full(600, inter.timestamps.max() + 1)]),
                         ratings=np.concatenate([inter.ratings, np.full(600, 5.0)]))
    with pytest.warns(UserWarning, match="counted from other interactions than these"):
        reloaded = CandidateGenerator.with_saved_index(path, ml100k.catalog, later)
    fresh = CandidateGenerator(ml100k.catalog, later)
    assert reloaded.index_file_stale
    # each index counted from the picks was counted again, and says why; the text index was read
    assert reloaded.index_file_rebuilt == tuple(f"{name} (counted from other interactions)"
                                                for name, _, _ in reloaded.saved_parts() if name != "text index")
    assert len(reloaded.index_file_rebuilt) == 4 and same.index_file_rebuilt == ()
    for h in ([star_wars], [0, star_wars, 99]):
        assert np.array_equal(reloaded.generate(h, h).indices, fresh.generate(h, h).indices)
    assert not np.array_equal(fresh.generate([star_wars], [star_wars]).indices,
                              same.generate([star_wars], [star_wars]).indices)  # the new events matter here
    reloaded.save_index(path)  # written again: now it is these interactions' index
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not CandidateGenerator.with_saved_index(path, ml100k.catalog, later).index_file_stale
    renamed = Catalog([Item(it.id, it.title + " (director's cut)" if it.id == "1" else it.title, it.fields)
                       for it in ml100k.catalog.items])
    with pytest.raises(DataError, match="built for another catalog of 1682 items \\(their ids or texts differ"):
        CandidateGenerator.with_saved_index(path, renamed, later)


def _wrong_kernel(*args):
    raise TypeError("csc_matvec() takes other arguments")


@pytest.mark.parametrize("kernel", ["scipy's", None, _wrong_kernel], ids=["in-place", "no-kernel", "changed-kernel"])
def test_dense_scores_sum_the_postings_in_place(ml100k, monkeypatch, kernel):
    """The in-place sum over each term's postings equals the product of the selected rows; a scipy
    without the kernel, or with one that takes other arguments, gets the public product."""
    import zsrec.bm25

    if kernel != "scipy's":
        monkeypatch.setattr(zsrec.bm25, "_scatter_add", kernel)
    gen = CandidateGenerator(ml100k.catalog, ml100k.interactions)
    for history in ([0], [0, 49, 99], list(range(20))):
        q = gen.index.query_matrix([gen.query_weights(history)])
        expected = np.asarray(gen.index.term_docs[q.indices].T @ q.data).ravel()
        got = gen.index.dense_scores(q)
        assert got.shape == expected.shape and np.allclose(got, expected, rtol=0, atol=1e-12)
    assert not gen.index.dense_scores(gen.index.query_matrix([{"no-such-word": 1.0}])).any()


@pytest.mark.parametrize("cores", [2, 3, 8])
def test_dense_scores_split_over_threads_are_the_same_to_the_bit(ml100k, monkeypatch, cores):
    """A query reading many postings is summed over slices of the catalog on several threads (how a
    1M-item shortlist stays fast); every document's terms are added in the same order, so the scores
    equal the one-thread sum exactly, at any number of cores."""
    import zsrec.bm25

    gen = CandidateGenerator(ml100k.catalog, ml100k.interactions)
    queries = [gen.index.query_matrix([gen.query_weights(h)]) for h in ([0], [0, 49, 99], list(range(20)))]
    whole = [gen.index.dense_scores(q) for q in queries]
    monkeypatch.setattr(zsrec.bm25, "SPLIT_POSTINGS", 1)
    monkeypatch.setattr(zsrec.bm25, "_cores", lambda: cores)
    called = []
    kernel = zsrec.bm25._scatter_add
    monkeypatch.setattr(zsrec.bm25, "_scatter_add", lambda *a: (called.append(a[3][0]), kernel(*a)))
    for q, expected in zip(queries, whole):
        called.clear()
        got = gen.index.dense_scores(q)
        assert np.array_equal(got, expected)
        assert len(called) > len(q.indices)  # the terms' postings were cut into slices
    assert not gen.index.dense_scores(gen.index.query_matrix([{"no-such-word": 1.0}])).any()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_split_scoring_works_in_a_forked_child(ml100k, monkeypatch):
    """A pre-forking server forks after the parent has scored: the child has none of the parent's pool
    threads, so it must make its own pool, not wait forever on the parent's."""
    import zsrec.bm25

    monkeypatch.setattr(zsrec.bm25, "SPLIT_POSTINGS", 1)
    monkeypatch.setattr(zsrec.bm25, "_cores", lambda: 2)
    gen = CandidateGenerator(ml100k.catalog, ml100k.interactions)
    q = gen.index.query_matrix([gen.query_weights([0, 49, 99])])
    expected = gen.index.dense_scores(q)  # the parent's pool now exists
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        code = 1
        try:
            code = 0 if np.array_equal(gen.index.dense_scores(q), expected) else 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung scoring on the parent's thread pool")


@pytest.mark.parametrize("config, prunes", [
    (CandidateConfig(), True),
    (CandidateConfig(n_candidates=50, session_share=0.0), True),
    (CandidateConfig(cooccurrence_weight=0.0, by_length=()), False),  # popularity leads: the bound prunes little
], ids=["default", "50, no session", "bm25+popularity"])
def test_bounded_selection_equals_fusing_every_item(ml100k, monkeypatch, config, prunes):
    """The dense shortlist fuses only the items whose raw BM25 can reach the likely rows' bound (how a
    1M-item shortlist skips most whole-catalog passes): the same items, order, scores and parts, to
    the bit, as fusing every item, on real histories and on scores with many ties."""
    gen = CandidateGenerator(ml100k.catalog, ml100k.interactions, config)
    monkeypatch.setattr(gen, "BOUNDED_MIN_ITEMS", 0)  # ML-100K is below the size where it pays
    rng = np.random.default_rng(0)
    users = ml100k.interactions.user_ids
    histories = [ml100k.interactions.user_history(users[int(i)])[: int(rng.integers(1, 8))].tolist()
                 for i in rng.integers(0, len(users), 120)]
    used = []
    bounded = gen._select_bounded
    monkeypatch.setattr(gen, "_select_bounded", lambda *a: used.append(bounded(*a)) or used[-1])

    def both(raw, history, exclude):
        got = gen._select_dense(raw.copy(), history, exclude, config.n_candidates)
        with monkeypatch.context() as m:
            m.setattr(gen, "_select_bounded", lambda *a: None)
            want = gen._select_dense(raw.copy(), history, exclude, config.n_candidates)
        for part in ("indices", "scores", "bm25", "popularity", "cooccurrence"):
            a, b = getattr(got, part), getattr(want, part)
            assert (a is None and b is None) or np.array_equal(a, b), part

    for history in histories:
        raw = gen.bm25_scores(history)
        both(raw, history, [history[0] + 1])
        both(np.round(raw), history, ())  # coarse scores: ties at the cut go to the lowest row
    done = sum(r is not None for r in used)
    assert done > len(used) // 2 if prunes else done == 0  # where it prunes, the bounded path did the work


def test_bounded_top_equals_the_whole_catalog_partition(ml100k):
    """The top n cut from the items above the likely rows' n-th best is the plain top n, ties at the
    cut (to the lowest row) and excluded (-inf) rows included."""
    gen = CandidateGenerator(ml100k.catalog, ml100k.interactions)
    rng = np.random.default_rng(0)
    rows = np.arange(len(ml100k.catalog))
    for trial in range(200):
        fused = rng.integers(0, 6, len(rows)).astype(float) / 5  # many ties
        fused[rng.choice(len(rows), 50, replace=False)] = -np.inf
        n = int(rng.integers(1, 40))
        likely = np.unique(rng.choice(len(rows), int(rng.integers(n, 300)), replace=False))
        assert np.array_equal(gen._top_of_many(fused, n, likely), top_n(rows, fused, n))


@pytest.mark.parametrize("scored_max", [20_000, 0], ids=["item-by-item", "widened"])
@pytest.mark.parametrize("path", ["sparse-product", "postings-summed", "rank-bm25"])
def test_a_filtered_shortlist_is_the_unfiltered_order_without_the_rest(ml100k, monkeypatch, path, scored_max):
    """``allowed`` (a caller's filter) picks which items compete and never how one scores: for random
    histories, exclusions and filters, the filtered shortlist is exactly the unfiltered order of the
    whole catalog with the other items left out, scores and parts to the bit, on every scoring path,
    whether the filter's items are scored one by one or cut from a widened shortlist (a large filter;
    here every filter, down to one item, so widening runs out and falls back too); batched users each
    keep their own filter; a filter of every item changes nothing."""
    monkeypatch.setattr(CandidateGenerator, "DENSE_FRACTION", 0.0 if path == "postings-summed" else 1e9)
    monkeypatch.setattr(CandidateGenerator, "FILTER_SCORED_MAX", scored_max)
    gen = CandidateGenerator(ml100k.catalog, ml100k.interactions,
                             CandidateConfig(retriever="rank-bm25") if path == "rank-bm25" else None)
    n_items = len(ml100k.catalog)
    rng = np.random.default_rng(7)
    cases = []
    for size in [1, 3, 25, 400, n_items - 5] * 6:
        history = rng.choice(n_items, int(rng.integers(0, 8)), replace=False).tolist()
        exclude = rng.choice(n_items, int(rng.integers(0, 4)), replace=False).tolist()
        cases.append((history, exclude, np.sort(rng.choice(n_items, size, replace=False))))
    batch = gen.generate_many([h for h, _, _ in cases], [e for _, e, _ in cases], 20, [a for _, _, a in cases])
    for (history, exclude, allowed), batched in zip(cases, batch):
        whole = gen.generate(history, exclude, n_items)  # every unseen item, in generator order
        keep = np.isin(whole.indices, allowed)
        got = gen.generate(history, exclude, 20, allowed)
        assert len(got) == min(20, len(np.setdiff1d(allowed, history + exclude)))
        assert np.array_equal(got.indices, whole.indices[keep][:20])
        assert np.array_equal(got.scores, whole.scores[keep][:20])
        assert np.array_equal(got.bm25, whole.bm25[keep][:20])
        assert np.array_equal(got.popularity, whole.popularity[keep][:20])
        assert np.array_equal(got.cooccurrence, whole.cooccurrence[keep][:20])
        assert np.array_equal(batched.indices, got.indices)
    plain, everything = gen.generate([0, 49, 99], [180], 20), gen.generate([0, 49, 99], [180], 20, np.arange(n_items))
    assert np.array_equal(plain.indices, everything.indices) and np.array_equal(plain.scores, everything.scores)
    whole = gen.generate([0, 49, 99], [180], n_items)  # a filter of the 1,000 worst: widening thrice finds none
    worst = gen.generate([0, 49, 99], [180], 20, np.sort(whole.indices[-1000:]))
    assert np.array_equal(worst.indices, whole.indices[-1000:][:20])
    assert np.array_equal(worst.scores, whole.scores[-1000:][:20])
