"""New-item slots (``CandidateConfig.new_item_slots``): the last places of a shortlist go to items
nobody (or too few) picked, chosen by how well their text matches the history read after the
shortlist's best items; everything else in the list is the shortlist it was."""

import numpy as np
import pytest

from conftest import ScriptedBackend, own_copy
from zsrec.bm25 import SparseBM25
from zsrec.candidates import CandidateConfig, CandidateGenerator
from zsrec.data import Interactions
from zsrec.errors import OptionError
from zsrec.recommender import Recommender

N = 20


def _without(ds, new_rows):
    """ML-100K's picks less every pick of the given items: those are then in the catalog with their
    text and no picks, as items added yesterday would be."""
    inter = ds.interactions
    keep = ~np.isin(inter.items, new_rows)
    return Interactions(users=inter.users[keep], items=inter.items[keep], timestamps=inter.timestamps[keep],
                        ratings=inter.ratings[keep])


@pytest.fixture(scope="module")
def made_new(ml100k):
    """ML-100K with 40 of its films picked by 30 to 200 people made new; the plain generator over it."""
    counts = ml100k.interactions.item_counts(len(ml100k.catalog))
    rows = np.flatnonzero((counts >= 30) & (counts <= 200))
    new = np.sort(np.random.default_rng(3).choice(rows, size=40, replace=False))
    plain = CandidateGenerator(ml100k.catalog, _without(ml100k, new), CandidateConfig(n_candidates=N))
    return new, plain.popularity_counts, plain


def _slotted(ml100k, plain, pop, **cfg):
    return CandidateGenerator(ml100k.catalog, config=CandidateConfig(n_candidates=N, **cfg), popularity=pop,
                              index=plain.index, cooccurrence=plain.cooccurrence, first_picks=plain.first_picks,
                              session=plain.session, sittings=plain.sittings)


def _histories(ml100k, new):
    users = ml100k.interactions.user_ids[::47]
    out = []
    for u in users:
        rows = [int(r) for r in ml100k.interactions.user_history(u) if int(r) not in set(new.tolist())]
        out += [rows[:1], rows[:5]]
    return out


def test_the_last_places_go_to_the_new_items_whose_text_matches_best(ml100k, made_new):
    new, pop, plain = made_new
    gen = _slotted(ml100k, plain, pop, new_item_slots=2, new_item_query=10)
    # text scores of every item from the reference library
    reference = CandidateGenerator(ml100k.catalog, config=CandidateConfig(n_candidates=N, retriever="rank-bm25"),
                                   popularity=pop)
    histories = _histories(ml100k, new)
    filled = 0
    for h, was, got in zip(histories, plain.generate_many(histories), gen.generate_many(histories), strict=True):
        assert len(got) == N and not set(got.indices.tolist()) & set(h)
        held = np.isin(was.indices, new)
        if held.sum() >= 2:  # new items that earned two places: nothing changes
            assert got.indices.tolist() == was.indices.tolist() and got.new_item_slot is None
            continue
        need = 2 - int(held.sum())
        keep = [r for i, r in enumerate(was.indices.tolist()) if i not in set(np.flatnonzero(~held)[-need:].tolist())]
        assert got.indices[:N - need].tolist() == keep  # the shortlist it was, less its lowest places
        assert got.new_item_slot.tolist() == [False] * (N - need) + [True] * need
        # the slots: the new items outside the list, by text match to the history read after the
        # shortlist's 10 best items (best nearest the history), the newest row first on a tie
        query = was.indices[:10][::-1].tolist() + list(h)
        pool = np.setdiff1d(new, np.concatenate([was.indices, h]))
        text = reference.bm25_scores(query)[pool]
        expected = pool[np.lexsort((-pool, -text))][:need]
        assert got.indices[N - need:].tolist() == expected.tolist()
        # each slot item carries its own fused score and parts, as the shortlist scores any item
        fused = plain.fused_scores(h)
        np.testing.assert_allclose(got.scores[N - need:], fused[expected], atol=1e-12)
        assert np.all(got.popularity[N - need:] == 0) and np.all(got.cooccurrence[N - need:] == 0)
        filled += need
    assert filled >= len(histories)  # most lists had room for both slots


def test_without_slots_or_without_new_items_the_shortlist_is_unchanged(ml100k, made_new):
    new, pop, plain = made_new
    histories = _histories(ml100k, new)
    off = _slotted(ml100k, plain, pop)  # the default: no slots
    picked = CandidateGenerator(ml100k.catalog, ml100k.interactions, CandidateConfig(n_candidates=N, new_item_slots=3))
    full = CandidateGenerator(ml100k.catalog, ml100k.interactions, CandidateConfig(n_candidates=N))
    assert len(picked._new_rows) == 0  # every ML-100K film has a pick: no item is new
    for h, a, b in zip(histories, plain.generate_many(histories), off.generate_many(histories), strict=True):
        assert a.indices.tolist() == b.indices.tolist() and b.new_item_slot is None
    for a, b in zip(full.generate_many(histories), picked.generate_many(histories), strict=True):
        assert a.indices.tolist() == b.indices.tolist() and b.new_item_slot is None


def test_new_items_seen_excluded_hidden_or_filtered_out_never_fill_a_slot(ml100k, made_new):
    new, pop, plain = made_new
    gen = _slotted(ml100k, plain, pop, new_item_slots=3)
    h = _histories(ml100k, new)[1]
    first = gen.generate(h).indices[-3:].tolist()
    assert set(first) <= set(new.tolist())
    again = gen.generate(list(h) + first[:1], exclude=first[1:2])
    assert not set(again.indices.tolist()) & set(first[:2])  # seen, excluded
    gen.hide_rows(first[2:])
    assert first[2] not in gen.generate(h).indices.tolist()  # hidden
    gen.hide_rows([])
    # a filter wider than the shortlist, holding five new items: the slots come from those five
    allowed = np.sort(np.concatenate([plain.generate(h, n=30).indices, new[:5]]))
    only = gen.generate(h, allowed=allowed)
    assert set(only.indices.tolist()) <= set(allowed.tolist())
    assert only.new_item_slot is not None and set(only.indices[only.new_item_slot].tolist()) <= set(new[:5].tolist())


def test_items_with_a_few_picks_count_as_new_up_to_new_item_picks(ml100k):
    counts = ml100k.interactions.item_counts(len(ml100k.catalog))
    gen = CandidateGenerator(ml100k.catalog, ml100k.interactions,
                             CandidateConfig(n_candidates=N, new_item_slots=2, new_item_picks=3))
    assert gen._new_rows.tolist() == np.flatnonzero(counts < 3).tolist()
    got = gen.generate([ml100k.catalog.index_of("50")])
    slot = got.indices[got.new_item_slot]
    assert len(slot) == 2 and np.all(counts[slot] < 3)
    # an item with picks may have co-occurrence: its score's parts are counted, not assumed 0
    fused = gen.fused_scores([ml100k.catalog.index_of("50")])
    np.testing.assert_allclose(got.scores[got.new_item_slot], fused[slot], atol=1e-12)


def test_both_retrievers_fill_the_same_slots(ml100k, made_new):
    new, pop, plain = made_new
    sparse_gen = _slotted(ml100k, plain, pop, new_item_slots=2)
    ref = CandidateGenerator(ml100k.catalog, config=CandidateConfig(n_candidates=N, new_item_slots=2,
                                                                    retriever="rank-bm25"),
                             popularity=pop, cooccurrence=plain.cooccurrence, first_picks=plain.first_picks,
                             session=plain.session, sittings=plain.sittings)
    histories = _histories(ml100k, new)
    for a, b in zip(sparse_gen.generate_many(histories), ref.generate_many(histories), strict=True):
        assert a.indices.tolist() == b.indices.tolist()
        assert (a.new_item_slot is None) == (b.new_item_slot is None)


def test_scoring_a_few_documents_gives_the_whole_pass_scores_bit_for_bit():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(60)]
    docs = [list(rng.choice(words, size=int(rng.integers(1, 12)))) for _ in range(3000)]
    index = SparseBM25.build(docs)
    for _ in range(20):
        query = {w: float(rng.random()) for w in rng.choice(words, size=int(rng.integers(1, 25)), replace=False)}
        row = index.query_matrix([query])
        rows = np.sort(rng.choice(3000, size=int(rng.integers(1, 3000)), replace=False))
        assert index.scores_at(row, rows).tolist() == index.dense_scores(row)[rows].tolist()
    assert index.scores_at(row, np.zeros(0, dtype=np.int64)).tolist() == []


@pytest.mark.parametrize("bad, says", [
    ({"new_item_slots": 21}, "cannot exceed n_candidates"),
    ({"new_item_slots": -1}, "new_item_slots is a whole number"),
    ({"new_item_slots": True}, "new_item_slots is a whole number"),
    ({"new_item_query": 2.5}, "new_item_query is a whole number"),
    ({"new_item_slots": 2, "new_item_picks": 0}, "new_item_picks must be at least 1"),
])
def test_bad_settings_are_refused(bad, says):
    with pytest.raises(OptionError, match=says):
        CandidateConfig(n_candidates=N, **bad)


def test_an_item_added_to_a_running_recommender_is_shown_until_it_is_picked(ml100k):
    """A shop adds a film: from the next request its slot shows it to the people whose picks its text
    matches, with a reason from the data; once picked it competes on its picks like every other."""
    rec = Recommender(own_copy(ml100k), backend=ScriptedBackend(lambda p: ""), reasons="evidence",
                      fusion_weight=0, candidates=CandidateConfig(n_candidates=10, new_item_slots=1))
    rec.add_items([{"item_id": "9001", "title": "Galactic Rebels (2026)", "genres": ["Sci-Fi", "War"]}])
    result = rec.recommend(["Star Wars (1977)"], k=10)
    last = result.items[-1]
    assert (last.item_id, last.new_item_slot, last.source) == ("9001", True, "generator")
    assert "not picked by anyone yet" in " ".join(f.text for f in last.evidence)
    assert last.reason and [it.new_item_slot for it in result.items].count(True) == 1
    assert result.to_dict()["items"][-1]["new_item_slot"] is True
    rec.add_interactions([{"user_id": "1", "item_id": "9001"}])
    again = rec.recommend(["Star Wars (1977)"], k=10)
    assert not any(it.new_item_slot for it in again.items)  # picked once: no longer new


def test_a_popularity_half_life_does_not_change_which_items_are_new(ml100k):
    """With a half-life popularity counts old picks for less than one; an item's picks still count
    one each when telling whether it is new."""
    counts = ml100k.interactions.item_counts(len(ml100k.catalog))
    gen = CandidateGenerator(ml100k.catalog, ml100k.interactions,
                             CandidateConfig(new_item_slots=1, new_item_picks=2, popularity_half_life=30 * 86400.0))
    assert not np.array_equal(gen.popularity_counts, counts)
    assert gen._new_rows.tolist() == np.flatnonzero(counts < 2).tolist()


def test_slots_end_at_the_places_shown_and_the_places_they_take_move_down(ml100k, made_new):
    """Shown 10 of 20 in the list's own order (fusion weight 0, or a fallback), slots at the end of
    the 20 would never be seen: they end at the 10th place, and the two items they displace come
    right after them, still in the list."""
    new, pop, plain = made_new
    gen = _slotted(ml100k, plain, pop, new_item_slots=2)
    moved = 0
    for h in _histories(ml100k, new):
        was, whole, got = plain.generate(h), gen.generate(h), gen.generate(h, shown=10)
        if np.isin(was.indices[:10], new).any() or not np.array_equal(whole.indices[:18], was.indices[:18]):
            continue  # a new item earned a shown place, or one from lower down: another case
        take = whole.indices[18:].tolist()  # the same two items, by the same rule
        assert got.indices.tolist() == was.indices[:8].tolist() + take + was.indices[8:18].tolist()
        assert got.new_item_slot.tolist() == [False] * 8 + [True, True] + [False] * 10
        np.testing.assert_array_equal(got.scores[8:10], whole.scores[18:])
        moved += 1
    assert moved >= 10


def test_a_recommender_shows_a_slot_item_within_k_at_fusion_weight_0(ml100k):
    rec = Recommender(own_copy(ml100k), backend=ScriptedBackend(lambda p: ""), reasons="evidence",
                      fusion_weight=0, candidates=CandidateConfig(n_candidates=20, new_item_slots=1))
    rec.add_items([{"item_id": "9001", "title": "Galactic Rebels (2026)", "genres": ["Sci-Fi", "War"]}])
    items = rec.recommend(["Star Wars (1977)"], k=5).items
    assert [it.item_id for it in items][-1] == "9001" and items[-1].new_item_slot
    assert [it.generator_rank for it in items] == [1, 2, 3, 4, 5]  # the shortlist's own order, as shown
