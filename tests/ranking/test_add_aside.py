"""New picks are counted aside (``CandidateGenerator.count_picks``) while requests go on reading the
indexes in use, and put in place in one short step (``take_picks``): a request never waits for the
counting, never sees half of an add, and the indexes end exactly as an add in place leaves them."""

import threading

import numpy as np
import pytest

from conftest import ScriptedBackend, own_copy
from zsrec.candidates import CandidateConfig, CandidateGenerator
from zsrec.data import Interactions, Item
from zsrec.evidence import EvidenceIndex
from zsrec.recommender import Recommender

WAIT = 60  # seconds a thread may take before the test calls it stuck (each step takes well under one)


def _arrays(gen):
    """Every array a shortlist reads from a generator's counted indexes and popularity, by name."""
    out = {}
    for name, index in [("co", gen.cooccurrence), ("session", gen.session),
                        *[(f"first{k}", i) for k, i in gen.first_picks.items()]]:
        for part in ("counts", "scores"):
            m = getattr(index, part)
            out.update({f"{name}.{part}.{a}": getattr(m, a).copy() for a in ("data", "indices", "indptr")})
        out[f"{name}.item_counts"] = index.item_counts.copy()
    s = gen.sittings
    for part in ("members", "listed"):
        out.update({f"sit.{part}.{a}": getattr(getattr(s, part), a).copy() for a in ("data", "indices", "indptr")})
    out.update({"sit.ends": s.ends.copy(), "sit.owners": s.owners.copy(), "sit.users": s.users.copy(),
                "sit.sizes": s.sizes.copy(), "popularity": gen.popularity_counts.copy(),
                "pop_order": gen._pop_order.copy()})
    return out


def _same(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype and np.array_equal(a[name], b[name]), name


def _late_picks(ds, n):
    """The data's picks without each of ``n`` users' last pick, and those picks."""
    inter = ds.interactions
    users = sorted(inter.user_ids, key=int)[:n]
    last = [int(inter._rows_of(u)[-1]) for u in users]
    keep = np.setdiff1d(np.arange(len(inter)), last)
    return keep, last


def test_counting_aside_changes_nothing_in_use_and_taking_equals_an_add_in_place(ml100k):
    data = own_copy(ml100k)
    keep, last = _late_picks(ml100k, 40)
    inter = data.interactions
    before = Interactions(inter.users[keep], inter.items[keep], inter.timestamps[keep], inter.ratings[keep])
    aside, in_place = CandidateGenerator(data.catalog, before), CandidateGenerator(data.catalog, before.copy())
    held = _arrays(aside)
    grown = before.copy()
    rows = grown.extend(inter.users[last].tolist(), inter.items[last].tolist(), inter.timestamps[last].tolist(),
                        inter.ratings[last].tolist())
    counted = aside.count_picks(grown, rows)
    _same(_arrays(aside), held)  # nothing a shortlist reads has moved
    history = inter.user_history(str(inter.users[last[0]]))[:5].tolist()
    assert aside.generate(history, n=20).indices.tolist() == in_place.generate(history, n=20).indices.tolist()
    aside.take_picks(counted)
    in_place_grown = before.copy()
    in_place_grown.extend(inter.users[last].tolist(), inter.items[last].tolist(), inter.timestamps[last].tolist(),
                          inter.ratings[last].tolist())
    in_place.add_interactions(in_place_grown, rows)
    _same(_arrays(aside), _arrays(in_place))
    assert np.array_equal(aside.generate(history, n=20).indices, in_place.generate(history, n=20).indices)
    assert not np.array_equal(_arrays(aside)["popularity"], held["popularity"])  # the picks did count


def test_picks_counted_from_indexes_that_changed_since_are_refused(ml100k):
    data = own_copy(ml100k)
    gen = CandidateGenerator(data.catalog, data.interactions)
    grown = data.interactions.copy()
    rows = grown.extend(["ann", "ann"], [0, 49], [9e8, 9e8 + 5], [np.nan, np.nan])
    first, second = gen.count_picks(grown, rows), gen.count_picks(grown, rows)
    gen.take_picks(first)
    with pytest.raises(ValueError, match="changed since"):
        gen.take_picks(second)  # it would undo the first add
    third = gen.count_picks(grown, rows[:0])
    gen.add_items(data.catalog.extend([Item("new", "New (2026)")]))
    with pytest.raises(ValueError, match="changed since"):
        gen.take_picks(third)  # counted for the catalog without the new item


def test_evidence_with_picks_leaves_the_index_in_use_as_it_was(ml100k):
    index = EvidenceIndex(ml100k.catalog, ml100k.interactions)
    pickers, users = index.pickers.copy(), index.users.copy()
    added = index.with_picks(["ann", "1", "ann"], [0, 0, 49])
    assert np.array_equal(index.pickers, pickers) and np.array_equal(index.users, users)
    assert added.pickers[0] == pickers[0] + 1 and added.pickers[49] == pickers[49] + 1  # user 1 had item 0
    assert added.users.tolist() == users.tolist() + ["ann"]
    again = added.with_picks(["bob", "ann"], [49, 49])
    assert again.pickers[49] == pickers[49] + 2 and again.users.tolist()[-2:] == ["ann", "bob"]
    other = added.with_picks(["bob"], [0])  # another copy of the same index: bob is new to it as well
    assert other.users.tolist() == users.tolist() + ["ann", "bob"] and other.pickers[0] == pickers[0] + 2


class _Held:
    """Stops an add inside the part it does aside (the generator's ``step``: counting picks, or
    growing the text index or making room in the counted indexes for items) until told to go on: what a slow add at 1M items looks like to
    the requests that arrive meanwhile."""

    def __init__(self, rec, step="count_picks"):
        self.counting, self.go = threading.Event(), threading.Event()
        count = getattr(rec.generator, step)

        def held(*args, **kwargs):
            out = count(*args, **kwargs)
            self.counting.set()
            assert self.go.wait(WAIT), "the test never let the add go on"
            return out
        setattr(rec.generator, step, held)


def _in_thread(fn):
    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            box["error"] = e
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def test_requests_go_on_while_picks_are_counted_and_see_all_of_them_after(ml100k):
    rec = Recommender(own_copy(ml100k), backend=ScriptedBackend(lambda p: ""), candidates=CandidateConfig(),
                      reasons="evidence")
    rec.ranker.evidence  # built before the add: the add counts its picks into a copy of it
    toy = rec.dataset.catalog.index_of("1")
    crowd = [{"user_id": f"fan{i}", "item_id": "1"} for i in range(5)] + [{"user_id": "ann", "item_id": "50"}]
    before = rec.prepare(["Toy Story (1995)"], k=3).prepared
    held = _Held(rec)
    adding, added = _in_thread(lambda: rec.add_interactions(crowd))
    assert held.counting.wait(WAIT)
    # the add is counting: a request is served at once, from the indexes before it
    serving, served = _in_thread(lambda: rec.prepare(["Toy Story (1995)"], k=3).prepared)
    serving.join(WAIT)
    assert not serving.is_alive(), "a request waited for the picks being counted"
    during = served["value"]
    assert during.candidates.indices.tolist() == before.candidates.indices.tolist()
    assert [f.count for f in during.facts[0] if hasattr(f, "count")] == \
        [f.count for f in before.facts[0] if hasattr(f, "count")]
    assert not rec.dataset.interactions.has_user("ann")
    held.go.set()
    adding.join(WAIT)
    assert "error" not in added and added["value"].added == 6
    assert rec.dataset.interactions.has_user("ann")
    assert rec.generator.popularity_counts[toy] == ml100k.interactions.item_counts(len(ml100k.catalog))[toy] + 5
    assert rec.ranker.evidence.pickers[toy] == ml100k.interactions.item_counts(len(ml100k.catalog))[toy] + 5
    assert rec.prepare_user("ann", k=3).prepared.history == [rec.dataset.catalog.index_of("50")]


def test_evidence_first_built_while_picks_are_counted_gets_them_too(ml100k):
    rec = Recommender(own_copy(ml100k), backend=ScriptedBackend(lambda p: ""), candidates=CandidateConfig(),
                      reasons="evidence")
    assert rec._evidence.index is None  # not asked for yet: the add has none to count into
    held = _Held(rec)
    adding, added = _in_thread(lambda: rec.add_interactions([{"user_id": "ann", "item_id": "1"},
                                                             {"user_id": "bob", "item_id": "1"}]))
    assert held.counting.wait(WAIT)
    rec.prepare(["Fargo (1996)"], k=3)  # a request builds the evidence now, from the picks without the add's
    built = rec._evidence.index
    assert built is not None and "ann" not in built.users.tolist()
    held.go.set()
    adding.join(WAIT)
    assert "error" not in added
    toy = rec.dataset.catalog.index_of("1")
    fresh = EvidenceIndex(rec.dataset.catalog, rec.dataset.interactions)
    assert np.array_equal(rec.ranker.evidence.pickers, fresh.pickers)
    assert rec.ranker.evidence.pickers[toy] == built.pickers[toy] + 2
    assert sorted(rec.ranker.evidence.users.tolist()) == sorted(fresh.users.tolist())


@pytest.mark.parametrize("built_before, step", [(True, "text_index_with"), (False, "text_index_with"),
                                                (True, "count_items")])
def test_items_are_counted_aside_and_evidence_built_meanwhile_gets_them(ml100k, built_before, step):
    rec = Recommender(own_copy(ml100k), backend=ScriptedBackend(lambda p: ""), candidates=CandidateConfig(),
                      reasons="evidence")
    if built_before:
        rec.ranker.evidence
    n = len(ml100k.catalog)
    held = _Held(rec, step)
    adding, added = _in_thread(lambda: rec.add_items([{"item_id": "9001", "title": "Galactic Rebels (2026)",
                                                       "genres": "Sci-Fi|Western"}]))
    assert held.counting.wait(WAIT)
    serving, served = _in_thread(lambda: rec.prepare(["Star Wars (1977)"], k=3).prepared)
    serving.join(WAIT)
    assert not serving.is_alive() and "error" not in served, "a request waited for the items being counted"
    assert len(rec.ranker.evidence.genres) == n  # built (or in use) without the new item
    held.go.set()
    adding.join(WAIT)
    assert "error" not in added and added["value"].added == 1
    evidence = rec.ranker.evidence
    assert len(evidence.genres) == len(evidence.pickers) == n + 1 and evidence.genres[-1] == ("Sci-Fi", "Western")
    facts = rec.prepare(["Star Wars (1977)"], k=1, only=["9001"]).prepared.facts[0]
    assert [f.text for f in facts] == ["Sci-Fi, like your picks", f"not picked by anyone yet (of {n + 1})"]


def test_room_for_items_is_made_aside_and_putting_it_in_place_equals_an_add_in_place(ml100k):
    config = CandidateConfig(new_item_slots=1)
    one, other = own_copy(ml100k), own_copy(ml100k)
    aside = CandidateGenerator(one.catalog, one.interactions, config=config)
    in_place = CandidateGenerator(other.catalog, other.interactions, config=config)
    for gen in (aside, in_place):
        gen.hide_rows([0, 49])
    n, history = len(one.catalog), [171, 180, 99]
    held, before = _arrays(aside), aside.generate(history, n=20).indices.tolist()
    room = aside.count_items(n + 2)
    _same(_arrays(aside), held)  # nothing a shortlist reads has moved
    assert aside.generate(history, n=20).indices.tolist() == before
    new = [Item("9001", "Galactic Rebels (2026)", {"genres": "Sci-Fi|War"}), Item("9002", "Quiet Farm (2026)")]
    text = aside.text_index_with(new)
    aside.add_items(one.catalog.extend(new), text, room)
    in_place.add_items(other.catalog.extend([Item(i.id, i.title, dict(i.fields)) for i in new]))
    _same(_arrays(aside), _arrays(in_place))
    assert len(aside.popularity_counts) == n + 2 and aside.popularity_counts[-2:].tolist() == [0, 0]
    for gen in (aside, in_place):  # the new items, nobody's pick yet, take the slot; the hidden stay out
        got = gen.generate(history, n=20).indices.tolist()
        assert n in got and not {0, 49} & set(got)
    assert aside.generate(history, n=20).indices.tolist() == in_place.generate(history, n=20).indices.tolist()


def test_room_made_for_another_catalog_or_before_a_change_is_refused(ml100k):
    data = own_copy(ml100k)
    gen = CandidateGenerator(data.catalog, data.interactions)
    n = len(data.catalog)
    too_big = gen.count_items(n + 5)
    with pytest.raises(ValueError, match="room was made for"):
        gen.add_items(data.catalog.extend([Item("9001", "Galactic Rebels (2026)")]), None, too_big)
    assert len(gen.popularity_counts) == n  # nothing was put in place
    gen.add_items(np.array([n]))  # made here: the catalog holds 9001 already
    stale = gen.count_items(n + 2)
    grown = data.interactions.copy()
    gen.add_interactions(grown, grown.extend(["ann"], [n], [9e8], [np.nan]))
    with pytest.raises(ValueError, match="changed since"):  # it would undo ann's pick
        gen.add_items(data.catalog.extend([Item("9002", "Quiet Farm (2026)")]), None, stale)
    with pytest.raises(ValueError, match="only grows"):
        gen.count_items(n)


def test_evidence_with_items_leaves_the_index_in_use_as_it_was(ml100k):
    index = EvidenceIndex(ml100k.catalog, ml100k.interactions)
    n, data = len(ml100k.catalog), index.picks.data
    added = index.with_items([Item("9001", "Galactic Rebels (2026)", {"genres": "Sci-Fi"})])
    assert len(index.genres) == len(index.pickers) == n and index.picks.shape[1] == n
    assert index.picks.data is data and bool((data == 1.0).all())
    assert len(added.genres) == len(added.pickers) == n + 1 and added.pickers[-1] == 0
    assert added.genres[-1] == ("Sci-Fi",) and np.array_equal(added.pickers[:n], index.pickers)


@pytest.mark.parametrize("half_life", [None, 30 * 86400.0])
def test_popularity_after_an_add_is_a_recount_of_every_pick(ml100k, half_life):
    """Plain counts take the new picks' counts added (no pass over every pick); with a half-life every
    weight moves with the clock, so they are counted again. Either way: what a build counts."""
    data = own_copy(ml100k)
    config = CandidateConfig(popularity_half_life=half_life)
    gen = CandidateGenerator(data.catalog, data.interactions, config)
    grown = data.interactions.copy()
    end = float(grown.timestamps.max())
    rows = grown.extend(["ann", "ann", "1"], [0, 49, 0], [end + 86400 * 40, end + 86400 * 41, end + 86400 * 42],
                        [np.nan] * 3)
    gen.take_picks(gen.count_picks(grown, rows))
    fresh = CandidateGenerator(data.catalog, grown, config)
    assert np.array_equal(gen.popularity_counts, fresh.popularity_counts)
    assert np.array_equal(gen.pick_counts, fresh.pick_counts) and np.array_equal(gen._pop_order, fresh._pop_order)


def test_evidence_built_while_an_add_is_put_in_place_is_counted_once(ml100k):
    """A caller may ask for the evidence outside any request (``rec.ranker.evidence``) just as an add
    puts the grown data in place: it is built from the data before the add (and the add counts
    into it) or after (and holds the picks), never in between, where it would count them twice."""
    rec = Recommender(own_copy(ml100k), backend=ScriptedBackend(lambda p: ""), candidates=CandidateConfig(),
                      reasons="evidence")
    assert rec._evidence.index is None
    holder, building = rec._evidence, {}
    take = holder.take

    def take_after_a_build_was_asked(*args):  # the grown data is in place by now
        thread, building["box"] = _in_thread(lambda: rec.ranker.evidence)
        thread.join(2)  # time enough to build ML-100K's evidence, unless the add holds it off
        building["thread"] = thread
        take(*args)
    holder.take = take_after_a_build_was_asked
    rec.add_interactions([{"user_id": "ann", "item_id": "1"}, {"user_id": "bob", "item_id": "1"}])
    building["thread"].join(WAIT)
    picks = rec.dataset.interactions
    fresh = EvidenceIndex(rec.dataset.catalog, picks, picks.item_counts(len(rec.dataset.catalog)))
    assert np.array_equal(rec.ranker.evidence.pickers, fresh.pickers)
    assert np.array_equal(rec.ranker.evidence.pop_counts, fresh.pop_counts)  # the "(N picks)" a reason cites: each pick once
    assert sorted(rec.ranker.evidence.users.tolist()) == sorted(fresh.users.tolist())
