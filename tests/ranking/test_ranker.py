"""Ranker and Recommender logic with a scripted backend (failure modes: tests/ranking/test_llm_failures.py)."""

from dataclasses import replace

import numpy as np
import pytest

from conftest import ScriptedBackend, without_lookup
from zsrec.backends import BUILTIN, BackendSpec
from zsrec.candidates import CandidateConfig, CandidateGenerator
from zsrec.batch import UserRequest
from zsrec.errors import EmptyHistoryError, OptionError, UnknownItemError
from zsrec.prompts import PromptTemplate
from zsrec.ranker import Ranker, RankerConfig
from zsrec.recommender import Recommender


def _ranker(ds, backend, n=10, k=5, **cfg):
    gen = CandidateGenerator(ds.catalog, ds.interactions, CandidateConfig(n_candidates=n))
    return Ranker(ds.catalog, gen, backend, PromptTemplate("listwise"), RankerConfig(k=k, n_candidates=n, **cfg))


def test_llm_order_and_reasons_are_used(ml100k):
    r = _ranker(ml100k, ScriptedBackend(lambda p: "[3] - it fits the history\n[1] - also good")).rank([0, 49])
    assert [it.generator_rank for it in r.items] == [3, 1, 2, 4, 5]
    assert r.items[0].reason == "it fits the history" and r.items[0].source == "llm"
    assert r.items[2].source == "generator" and r.items[2].reason == ""
    assert not r.info.fallback and r.info.parsed == 2
    assert r.items[0].score == 1.0 and r.items[1].score < 1.0
    assert set(r.info.timings) >= {"candidates", "prompt", "llm", "parse", "reasons", "total"}


def test_rank_many_batches_one_call(ml100k):
    backend = ScriptedBackend(lambda p: "[2] > [1]")
    out = _ranker(ml100k, backend).rank_many([[0], [49], [99]])
    assert len(backend.calls) == 1 and len(backend.calls[0]) == 3
    assert all(r.items[0].generator_rank == 2 for r in out)


def test_backend_loads_lazily_after_input_checks(ml100k, monkeypatch):
    loads = []

    class Counted(ScriptedBackend):
        def __init__(self, model=None):
            loads.append(model)
            super().__init__(lambda p: "[1]")

    monkeypatch.setitem(BUILTIN, "counted", Counted)
    rec = Recommender(ml100k, backend=BackendSpec("counted", "some-model"))
    with pytest.raises(UnknownItemError, match="no catalog item matches"):
        rec.recommend(["Not A Real Film At All 3000"])
    assert loads == []
    r = rec.recommend(["Toy Story (1995)"])
    assert loads == ["some-model"] and r.info.backend == "scripted"


def test_recommender_history_and_user_paths(ml100k):
    rec = Recommender(ml100k, backend=ScriptedBackend(lambda p: "[2] > [1]"), k=3)
    r = rec.recommend(["toy story", "Toy Story (1995)", "Fargo (1996)"])
    assert [h["title"] for h in r.history] == ["Toy Story (1995)", "Fargo (1996)"]
    assert [h["query"] for h in r.history] == ["toy story", "Fargo (1996)"]
    seen_titles = {"Toy Story (1995)", "Fargo (1996)"}
    assert not seen_titles & {it.title for it in r.items}
    r = rec.recommend_for_user("42", n_history=5)
    all_seen = {ml100k.catalog.items[i].id for i in ml100k.interactions.user_history("42")}
    assert r.user_id == "42" and r.info.history_used == 5
    assert not all_seen & {it.item_id for it in r.items}


def test_python_calls_that_would_mean_something_else_are_errors(ml100k):
    """Three calls that used to run and answer another question: k=0 (gave the default 10 items),
    n_history=0 or -3 (gave every pick, or all but the first three, as the history) and a history
    passed as one string (each letter matched as a title)."""
    rec = Recommender(ml100k, backend=ScriptedBackend(lambda p: "[1]"), k=3)
    with pytest.raises(OptionError, match="k must be at least 1, got 0"):
        rec.recommend(["Fargo (1996)"], k=0)
    for n in (0, -3):
        with pytest.raises(OptionError, match=f"n_history must be at least 1 .*got {n}"):
            rec.recommend_for_user("42", n_history=n)
        with pytest.raises(OptionError, match="n_history must be at least 1"):
            next(rec.recommend_many(["42"], n_history=n))  # once for the run, not once per user
    with pytest.raises(OptionError, match="k must be at least 1"):
        next(rec.recommend_many(["42"], k=0))
    with pytest.raises(TypeError, match=r"not one string: pass \['Fargo \(1996\)'\]"):
        rec.recommend("Fargo (1996)")
    with pytest.raises(TypeError, match="not one string"):
        UserRequest("new", "Fargo (1996)")
    for call in (lambda: rec.recommend(["Fargo (1996)"], exclude="50"), lambda: rec.recommend_for_user("42", exclude="50"),
                 lambda: UserRequest("new", ("Fargo (1996)",), exclude="50")):
        with pytest.raises(TypeError, match="not one string"):
            call()
    assert UserRequest("new", ["Fargo (1996)"]).history == ("Fargo (1996)",)  # a list is fine
    # what stays allowed: None is every pick; k=None the configured k
    assert rec.recommend_for_user("42", n_history=None).info.history_used == len(ml100k.interactions.user_history("42"))
    assert len(rec.recommend(["Fargo (1996)"], k=None).items) == 3


def test_a_seen_film_does_not_come_back_under_its_other_id(ml100k):
    """ML-100K lists 18 films twice, under two ids. Typing one ("Body Snatchers (1993)") put its twin at
    the top of the shortlist, and 20 known users had a twin of a film they saw in theirs."""
    rec = Recommender(ml100k, backend=ScriptedBackend(lambda p: "[1]"), k=3)
    catalog = ml100k.catalog
    titles = [item.title for item in catalog.items]
    twice = sorted({t for t in titles if titles.count(t) > 1})
    assert len(twice) == 18
    for title in twice:
        user = rec.prepare([title])
        assert title not in {titles[i] for i in user.prepared.candidates.indices}, title
    body_snatchers = [i for i, t in enumerate(titles) if t == "Body Snatchers (1993)"]
    assert catalog.same_title([body_snatchers[0]]) == [body_snatchers[1]]
    assert catalog.same_title(body_snatchers) == [] and catalog.same_title([0]) == []  # given rows stay out
    for user_id in ml100k.interactions.user_ids:
        seen = {titles[i] for i in ml100k.interactions.user_history(user_id)}
        cands = rec.prepare_user(user_id, n_history=5).prepared.candidates.indices
        assert not seen & {titles[i] for i in cands}, user_id
    # the same through exclude: an excluded id's twin is excluded too
    shown = rec.prepare(["Fargo (1996)"], exclude=[catalog.items[body_snatchers[0]].id]).prepared.candidates.indices
    assert not set(body_snatchers) & set(shown)


def test_exclude_takes_ids_or_titles_but_never_a_near_miss(ml100k):
    """People type titles where systems pass ids; a title matched only fuzzily is refused with the
    closest titles, since excluding a near miss would leave the meant item in without a word."""
    rec = Recommender(ml100k, backend=ScriptedBackend(lambda p: "[1]"), k=3)
    catalog = ml100k.catalog
    jedi = catalog.index_of("181")
    assert catalog.items[jedi].title == "Return of the Jedi (1983)"
    shown = rec.prepare(["Star Wars (1977)"]).prepared.candidates.indices
    assert jedi in shown
    for key in ("181", "Return of the Jedi (1983)", "return of the jedi", "Return Of The Jedi (1983)"):
        assert rec.exclude_rows([key]) == [jedi], key
        assert jedi not in rec.prepare(["Star Wars (1977)"], exclude=[key]).prepared.candidates.indices
    with pytest.raises(UnknownItemError, match=r"exclude: no item id or title is 'Return of the Jedy \(1983\)' "
                                               r"\(closest: Return of the Jedi \(1983\)") as error:
        rec.prepare(["Star Wars (1977)"], exclude=["181", "Return of the Jedy (1983)", "nope"])
    assert error.value.unmatched == ["Return of the Jedy (1983)", "nope"]
    with pytest.raises(TypeError, match="not one string"):
        rec.exclude_rows("181")


def test_only_these_items_or_genres(ml100k):
    """A shop recommends from what is in stock, a page from one shelf: ``only`` (ids or titles, as
    ``exclude`` takes them) and ``only_genres`` (case-insensitive, any of several) filter what may
    be recommended, together their intersection. The shortlist keeps the unfiltered order; the
    prompt shows only allowed items; the result says what the filter was; a filter that leaves
    nothing unseen gives an empty list, and a genre no item has is an error listing the genres."""
    import numpy as np

    from zsrec import load_records

    prompts = []
    rec = Recommender(ml100k, backend=ScriptedBackend(lambda p: prompts.append(p) or "[2] [1]"), k=3)
    catalog = ml100k.catalog
    genres = [set(catalog.items[i].fields["genres"].split()) for i in range(len(catalog))]
    history = ["Toy Story (1995)", "Fargo (1996)", "Star Wars (1977)"]
    plain = rec.prepare(history).prepared.candidates.indices
    whole = rec.generator.generate(rec.prepare(history).prepared.history, [], len(catalog)).indices
    comedies = rec.prepare(history, only_genres=["comedy"]).prepared
    assert all("Comedy" in genres[i] for i in comedies.candidates.indices) and len(comedies.candidates) == 20
    assert list(comedies.candidates.indices) == [i for i in whole if "Comedy" in genres[i]][:20]
    assert list(comedies.candidates.indices) != list(plain)
    assert comedies.filter == "genre Comedy: 505 of 1,682 items"
    kept = rec.allowed(only_genres=["comedy"])  # resolved once per filter, for every user who asks
    assert kept is rec.allowed(only_genres=["comedy"]) and not kept.rows.flags.writeable
    either = rec.prepare(history, only_genres=["Film-Noir", "WESTERN"]).prepared
    assert all(genres[i] & {"Film-Noir", "Western"} for i in either.candidates.indices)

    result = rec.recommend(history, only=["Raiders of the Lost Ark (1981)", 181, "return of the jedi", "12"],
                           only_genres=["action"])
    # the shortlist is [181, 174] (the usual suspects, 12, are no action film); the scripted LLM swaps them
    assert [it.item_id for it in result.items] == ["174", "181"]
    assert result.info.filter == "the 4 items listed with genre Action: 2 of 1,682 items"
    assert "Raiders of the Lost Ark" in prompts[-1] and "Usual Suspects" not in prompts[-1]
    as_array = rec.prepare(history, only=np.array([174, 181, 12]), only_genres=["action"]).prepared  # ids from numpy
    assert list(as_array.candidates.indices) == [catalog.index_of("181"), catalog.index_of("174")]
    assert rec.recommend(history, only=["50", "1"]).items == []  # both already picked
    assert rec.recommend(history).info.filter == ""
    seen = {catalog.items[r].id for r in ml100k.interactions.user_history("42")}
    listed = ["181", "174", "56", "1", "172", "100", "127", "22"]
    unseen = set(listed) - seen  # four of them
    assert len(unseen) == 4 and {it.item_id for it in rec.recommend_for_user("42", 5, k=4, only=listed).items} == unseen

    with pytest.raises(OptionError, match=r"no item has the genre 'Comdy' \(genres: Action, .*Comedy, "):
        rec.prepare(history, only_genres=["Comdy"])
    with pytest.raises(UnknownItemError, match=r"only: no item id or title is 'Raiders of the Lost Arc' "
                                               r"\(closest: Raiders of the Lost Ark \(1981\)"):
        rec.prepare(history, only=["Raiders of the Lost Arc"])
    with pytest.raises(TypeError, match="only_genres is a list, not one string"):
        rec.prepare(history, only_genres="Comedy")
    shop = load_records([{"item_id": "a", "title": "A"}, {"item_id": "b", "title": "B"}],
                        [{"user_id": "u", "item_id": "a"}, {"user_id": "u", "item_id": "b"}])
    untimed = CandidateConfig(session_share=0, sittings_share=0)
    with pytest.raises(OptionError, match="these items have no genres to filter by"):
        Recommender(shop, backend=ScriptedBackend(lambda p: "[1]"), candidates=untimed, k=1).prepare(
            ["A"], only_genres=["x"])


def test_item_ids_may_be_python_ints(ml100k):
    """MovieLens ids and a DataFrame's id column are ints in Python; they crashed title matching
    ('int' object has no attribute 'strip'). An int is the id it spells; other types are named."""
    import numpy as np

    rec = Recommender(ml100k, backend=ScriptedBackend(lambda p: "[1]"), k=3)
    as_text = rec.prepare(["50", "100"], exclude=["181"])
    as_ints = rec.prepare([50, np.int64(100)], exclude=[181])
    assert list(as_ints.prepared.candidates.indices) == list(as_text.prepared.candidates.indices)
    assert as_ints.prepared.history == as_text.prepared.history
    assert [r.item_id for r in rec.recommend([50, 100], exclude=[np.int32(181)]).items] == [
        r.item_id for r in rec.recommend(["50", "100"], exclude=["181"]).items]
    for bad, where in (([50, 3.5], "history"), ([True], "history")):
        with pytest.raises(TypeError, match=f"{where} holds titles or item ids \\(str or int\\), not"):
            rec.prepare(bad)
    with pytest.raises(TypeError, match="exclude holds titles or item ids"):
        rec.prepare([50], exclude=[None])


def test_a_python_recommender_keeps_its_indexes_in_a_file(ml100k, tmp_path, monkeypatch):
    """What `zsrec rank --index` does, from Python: the first Recommender builds the shortlist's
    indexes and writes them; the next reads them instead of counting again; other settings count
    what no longer fits and write the file again."""
    import zsrec.candidates as candidates_module

    path = tmp_path / "shop.npz"
    first = Recommender(ml100k, backend=ScriptedBackend(lambda p: "[1]"), index=path)
    assert path.is_file()
    built_at = path.stat().st_mtime_ns
    counted = []
    real_build = candidates_module.CoOccurrenceIndex.build
    monkeypatch.setattr(candidates_module.CoOccurrenceIndex, "build",
                        classmethod(lambda cls, *a, **kw: counted.append(1) or real_build(*a, **kw)))
    again = Recommender(ml100k, backend=ScriptedBackend(lambda p: "[1]"), index=path)
    assert counted == [] and path.stat().st_mtime_ns == built_at  # read, not counted, not written
    for history in (["Star Wars (1977)"], ["Toy Story (1995)", "Fargo (1996)", "Heat (1995)"]):
        assert list(again.prepare(history).prepared.candidates.indices) == list(
            first.prepare(history).prepared.candidates.indices)
    windowed = CandidateConfig(cooccurrence=replace(CandidateConfig().cooccurrence, window=3))
    Recommender(ml100k, backend=ScriptedBackend(lambda p: "[1]"), candidates=windowed, index=path)
    assert counted and path.stat().st_mtime_ns != built_at  # other settings: counted again, written again
    with pytest.raises(OptionError, match="pass generator or index, not both"):
        Recommender(ml100k, generator=again.generator, index=path)


def test_a_start_from_the_index_file_ranks_one_user_without_the_lookup_of_every_user(ml100k, tmp_path):
    """``zsrec rank --index FILE --user U``: the indexes come from the file, so nothing else asks for
    every user's picks; the user's own are found by a scan and the evidence is counted without the
    per-user lookup. The list and its reasons are those of a Recommender that built everything; a
    second user then makes the lookup, and gets the same as well."""
    path = tmp_path / "shop.npz"
    built = Recommender(ml100k, backend=ScriptedBackend(lambda p: "[3] > [1]"), index=path, reasons="evidence", k=5)
    fresh = replace(ml100k, interactions=without_lookup(ml100k.interactions))
    again = Recommender(fresh, backend=ScriptedBackend(lambda p: "[3] > [1]"), index=path, reasons="evidence", k=5)

    def shown(result):
        return [(item.item_id, item.reason) for item in result.items]

    for user in ("196", "405"):
        got = shown(again.recommend_for_user(user, n_history=5))
        assert got == shown(built.recommend_for_user(user, n_history=5))
        assert all(reason for _, reason in got) and len(got) == 5
        assert (again.dataset.interactions._by_user is None) == (user == "196")
        # the first user's facts are counted from their items' picks alone; the second's from the matrix
        assert (again.ranker.evidence._pending is not None) == (user == "196")
    picks = [{"user_id": "196", "item_id": "50"}, {"user_id": "newcomer", "item_id": "50"}]
    fresh = replace(ml100k, interactions=without_lookup(ml100k.interactions))
    third = Recommender(fresh, backend=ScriptedBackend(lambda p: "[3] > [1]"), index=path, reasons="evidence", k=5)
    assert shown(third.recommend_for_user("196", n_history=5)) == shown(built.recommend_for_user("196", n_history=5))
    for rec in (third, built):  # picks added before the matrix is counted: counted into it once
        rec.add_interactions(picks)
    for user in ("newcomer", "405"):
        assert shown(third.recommend_for_user(user)) == shown(built.recommend_for_user(user))
    assert np.array_equal(third.ranker.evidence.pickers, built.ranker.evidence.pickers)


def test_a_recommender_reads_title_search_from_its_index_file(ml100k, tmp_path, monkeypatch):
    """Title search is kept in the index file too: a start from the file reads it (making no title's
    names again) and matches, searches and excludes a film's twin as a built one does; a file saved
    without it (by an older zsrec, or by ``save_index`` alone) is read and written again with it."""
    import numpy as np

    from zsrec.npz_files import write_npz
    from zsrec.titles import TitleMatcher

    path = tmp_path / "shop.npz"
    first = Recommender(ml100k, backend=ScriptedBackend(lambda p: "[1]"), index=path)
    with np.load(path) as f:
        assert "title_with_year" in f.files and "co_config" in f.files
        older = {k: f[k] for k in f.files if not k.startswith("title_")}
    built = []
    real_init = TitleMatcher.__init__
    monkeypatch.setattr(TitleMatcher, "__init__", lambda self, *a, **kw: built.append(1) or real_init(self, *a, **kw))
    written = path.stat().st_mtime_ns
    again = Recommender(ml100k, backend=ScriptedBackend(lambda p: "[1]"), index=path)
    assert built == [] and path.stat().st_mtime_ns == written  # read, not made, not written
    for query in ("Star Wars", "usual suspects", "Seven", "godfathr", "Chasing Amy (1997)"):
        assert again.matcher.match(query) == first.matcher.match(query), query
        assert again.matcher.search(query) == first.matcher.search(query), query
    history = ["Chasing Amy (1997)", "Toy Story (1995)"]  # Chasing Amy is listed twice: its twin is excluded
    assert list(again.prepare(history).prepared.candidates.indices) == list(first.prepare(history).prepared.candidates.indices)
    write_npz(path, older)
    third = Recommender(ml100k, backend=ScriptedBackend(lambda p: "[1]"), index=path)
    assert built == [1] and third.matcher.search("star") == first.matcher.search("star")
    with np.load(path) as f:
        assert "title_with_year" in f.files  # written again, with title search


def test_empty_history_is_cold_start(ml100k):
    rec = Recommender(ml100k, backend=ScriptedBackend(lambda p: "[1]"), k=3)
    r = rec.recommend([])
    assert r.items[0].title == "Star Wars (1977)" and r.history == []
    with pytest.raises(EmptyHistoryError, match="no history"):
        rec.recommend([], allow_empty=False)


def test_each_prompt_is_rendered_once_and_the_same_as_a_fresh_render(ml100k, monkeypatch):
    # The check in prepare renders the prompt (no model needed); ranking fits that same text to the
    # context instead of rendering it again. A ranker of another mode must not reuse it.
    renders = []
    real = PromptTemplate.render

    def counted(self, *args, **kwargs):
        renders.append(kwargs.get("mode", "generate"))
        return real(self, *args, **kwargs)

    backend = ScriptedBackend(lambda p: "[2] > [1]")
    r = _ranker(ml100k, backend)
    monkeypatch.setattr(PromptTemplate, "render", counted)
    prepared = [r.prepare([0, 49]), r.prepare([99])]
    assert len(renders) == 2
    r.rank_prepared(prepared)
    assert len(renders) == 2
    other = ScriptedBackend(lambda p: "[2] > [1]")
    _ranker(ml100k, other).rank_many([[0, 49], [99]])  # prepared and ranked afresh
    assert backend.calls[0] == other.calls[0]
    renders.clear()
    r.core.rank([r._request(prepared[0])], 3)  # rendered for k=5: asked for k=3, it is rendered again
    assert len(renders) == 1 and "3" in backend.calls[-1][0] and backend.calls[-1][0] != backend.calls[0][0]
