import numpy as np
import pytest

from zsrec.candidates import CandidateConfig, CandidateGenerator


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
