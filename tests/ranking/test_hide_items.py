"""Items hidden from recommendations while a Recommender runs (``Recommender.hide_items``): never
shortlisted for anyone, by any path, yet still in the catalog (named in a history, counted, cited), and
shown again exactly as before; kept in the picks log across a restart."""

import json

import numpy as np
import pytest

from conftest import ScriptedBackend, own_copy
from zsrec.candidates import CandidateConfig, CandidateGenerator
from zsrec.errors import DataError, UnknownItemError
from zsrec.recommender import Recommender

JEDI, CONTACT = "181", "258"  # Return of the Jedi, Contact: first and third in a Star Wars fan's shortlist


def _rec(ds, **kwargs):
    return Recommender(ds, backend=ScriptedBackend(lambda p: ""), candidates=CandidateConfig(), reasons="evidence",
                       **kwargs)


def _ids(rec, prepared):
    return [rec.dataset.catalog.items[r].id for r in prepared.prepared.candidates.indices]


def test_a_hidden_item_is_recommended_to_no_one_and_shown_again_as_before(ml100k):
    rec = _rec(own_copy(ml100k))
    variant = rec.with_settings(k=5)  # made before: every variant a service made reads the same hidden items
    star_wars = ["Star Wars (1977)"]
    before = {"typed": _ids(rec, rec.prepare(star_wars)), "user": _ids(rec, rec.prepare_user("1", n_history=5)),
              "new": _ids(rec, rec.prepare([])), "genre": _ids(rec, rec.prepare(star_wars, only_genres=["Action"]))}
    assert before["typed"][0] == JEDI and CONTACT in before["typed"]
    assert JEDI in before["genre"] and "50" in before["new"]
    popularity = rec.generator.popularity_counts.copy()

    assert rec.hide_items([JEDI, "contact (1997)", "50"]).to_dict() == {"changed": 3, "hidden": 3}
    assert variant.hidden_items() == [JEDI, CONTACT, "50"]
    for prepared in (variant.prepare(star_wars), variant.prepare([]), variant.prepare_user("1", n_history=5),
                     variant.prepare(star_wars, only_genres=["Action"]), variant.prepare(star_wars, only=[JEDI, "1"])):
        assert not {JEDI, CONTACT, "50"} & set(_ids(rec, prepared))
    # the shortlist is the one without them: as if excluded, the rest in the same order
    assert _ids(rec, variant.prepare(star_wars)) == _ids(rec, variant.prepare(star_wars, exclude=[JEDI, CONTACT]))
    # still in the catalog: typed as a history, counted, searched, picked
    typed = variant.prepare(["Return of the Jedi (1983)"]).prepared
    assert typed.history == [rec.dataset.catalog.index_of(JEDI)] and len(typed.candidates) == 20
    assert (rec.generator.popularity_counts == popularity).all()  # hiding counts nothing
    assert rec.matcher.match("return of the jedi").index == rec.dataset.catalog.index_of(JEDI)

    assert rec.hide_items([JEDI]).changed == 0  # hidden already
    assert rec.show_items([JEDI, CONTACT, "50", "1"]).to_dict() == {"changed": 3, "hidden": 0}
    fresh = _rec(own_copy(ml100k))
    assert _ids(rec, rec.prepare(star_wars)) == _ids(fresh, fresh.prepare(star_wars)) == before["typed"]
    assert _ids(rec, rec.prepare([])) == before["new"]
    assert _ids(rec, rec.prepare(star_wars, only_genres=["Action"])) == before["genre"]

    rec.hide_items([JEDI])  # a pick of a hidden item is still counted: it tells what goes together
    rec.add_interactions([{"user_id": "ann", "item_id": JEDI}])
    jedi = rec.dataset.catalog.index_of(JEDI)
    assert rec.generator.popularity_counts[jedi] == popularity[jedi] + 1


def test_hiding_unknown_items_changes_nothing(ml100k):
    rec = _rec(own_copy(ml100k))
    with pytest.raises(UnknownItemError, match=r"hide: no item id or title is 'Star Warz' \(closest: .*Star Wars \(1977\)"):
        rec.hide_items(["50", "Star Warz"])
    with pytest.raises(TypeError, match="not one string"):
        rec.hide_items("50")
    assert rec.hidden_items() == []
    with pytest.raises(UnknownItemError, match="show: no item id"):
        rec.show_items(["nope"])


def test_hidden_items_are_kept_in_the_picks_log_across_a_restart(ml100k, tmp_path):
    log = tmp_path / "picks.jsonl"
    live = _rec(own_copy(ml100k), picks_log=log)
    live.add_items([{"item_id": "n1", "title": "Brand New (2026)", "genres": "Sci-Fi"}])
    live.hide_items([JEDI, "n1", "50"])
    live.show_items(["50"])
    live.show_items(["50"])  # nothing changed: nothing logged
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines[1:] == [{"hide": [JEDI, "n1", "50"]}, {"show": ["50"]}]

    restarted = _rec(own_copy(ml100k), picks_log=log)
    assert restarted.hidden_items() == [JEDI, "n1"]
    assert JEDI not in _ids(restarted, restarted.prepare(["Star Wars (1977)"]))
    assert restarted.prepare(["Star Wars (1977)"], only_genres=["Sci-Fi"]).prepared.candidates.indices.max() < 1682

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"hide": ["50"]}) + "\n" + json.dumps({"hide": ["no-such-item"]}) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl:2: item id 'no-such-item' is not in the catalog"):
        _rec(own_copy(ml100k), picks_log=bad)
    bad.write_text(json.dumps({"hide": "50"}) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl:1: not a logged pick or item"):
        _rec(own_copy(ml100k), picks_log=bad)


@pytest.mark.parametrize("retriever", ["sparse", "rank-bm25"])
@pytest.mark.parametrize("dense", [False, True])
def test_the_generator_leaves_hidden_rows_out_of_every_path(ml100k, retriever, dense, monkeypatch):
    """Every way a shortlist is made (sparse or whole-catalog scoring, the bounded cut, a filter scored
    item by item or cut from a widened list, a new user's popularity) gives the order it had without
    hiding, less the hidden rows, scores and all."""
    if dense:  # the whole-catalog paths: every query scored densely, the bounded cut tried at any size
        monkeypatch.setattr(CandidateGenerator, "DENSE_FRACTION", 0.0)
        monkeypatch.setattr(CandidateGenerator, "BOUNDED_MIN_ITEMS", 0)
    gen = CandidateGenerator(ml100k.catalog, ml100k.interactions, CandidateConfig(retriever=retriever))
    n_items = len(ml100k.catalog)
    most_picked = np.argsort(-gen.popularity_counts, kind="stable")[:30]  # in nearly every shortlist
    hidden = np.concatenate([most_picked, np.random.default_rng(0).choice(n_items, 200, replace=False)])
    histories = [[], [49], [0, 99, 180], ml100k.interactions.user_history("1")[:10].tolist()]
    wholes = [gen.generate(h, h, n_items) for h in histories]  # every unseen item, in order
    gen.hide_rows(hidden)
    assert len(gen.hidden_rows) == len(set(hidden.tolist()))
    for history, whole in zip(histories, wholes):
        shown = ~np.isin(whole.indices, hidden)
        got = gen.generate(history, history, 20)
        assert got.indices.tolist() == whole.indices[shown][:20].tolist(), history
        assert np.array_equal(got.scores, whole.scores[shown][:20])
        allowed = np.arange(0, n_items, 3)
        for scored_max in (n_items, 0):  # item by item, then cut from a widened list
            monkeypatch.setattr(CandidateGenerator, "FILTER_SCORED_MAX", scored_max)
            got = gen.generate(history, history, 20, allowed)
            keep = shown & np.isin(whole.indices, allowed)
            assert got.indices.tolist() == whole.indices[keep][:20].tolist(), (history, scored_max)
            assert np.array_equal(got.scores, whole.scores[keep][:20])
    assert len(gen.generate([], [], n_items)) == n_items - len(gen.hidden_rows)  # all that can be shown
    gen.hide_rows([])
    for history, whole in zip(histories, wholes):
        assert gen.generate(history, history, 20).indices.tolist() == whole.indices[:20].tolist()
    with pytest.raises(ValueError, match="catalog rows"):
        gen.hide_rows([n_items])
