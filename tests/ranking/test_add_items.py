"""New items put in the catalog while a Recommender runs (``Recommender.add_items``): the text index,
the counted indexes, popularity, title search, genres and the reasons end as a build over the larger
catalog would have them, and picks of the new items then count as a rebuild's; a bad batch is refused
whole, naming the record, and changes nothing."""

import json
import warnings

import numpy as np
import pytest

from conftest import ScriptedBackend, own_copy
from zsrec.bm25 import EMPTY_DOC, SparseBM25
from zsrec.candidates import CandidateConfig, CandidateGenerator
from zsrec.cooccurrence import CoOccurrenceConfig
from zsrec.data import Catalog, Dataset, Interactions
from zsrec.errors import DataError, OptionError, UnknownItemError
from zsrec.evidence import sentence
from zsrec.item_filter import GenreIndex
from zsrec.reasons import ReasonFlag
from zsrec.recommender import Recommender
from zsrec.text import tokenize

HELD_OUT = 5000  # ML-100K's latest picks: 35 films are picked only among them

# every pair counted and kept, sittings apart (as in test_add_interactions.py): a rebuild's indexes
# are then exactly defined, and adds must reach them
UNPRUNED = CandidateConfig(cooccurrence=CoOccurrenceConfig(neighbours=5000, max_history=5000), sittings_share=0.0)


def _records(items):
    return [{"item_id": it.id, "title": it.title, **it.fields} for it in items]


def _late_films(ds):
    """ML-100K as a shop would have had it before its latest picks: the films first picked among them
    are not in the catalog yet. Returns (the data before, those films, the latest picks as records,
    the same catalog with the films at its end and all the picks, as a rebuild would load it)."""
    inter = ds.interactions
    order = np.lexsort((np.arange(len(inter)), inter.timestamps))
    early, late = np.sort(order[:-HELD_OUT]), order[-HELD_OUT:]
    new_rows = sorted(set(inter.items[late].tolist()) - set(inter.items[early].tolist()))
    old_rows = [r for r in range(len(ds.catalog)) if r not in set(new_rows)]
    items = ds.catalog.items
    place = np.empty(len(items), dtype=np.int64)  # each film's row in the reordered catalog
    place[old_rows + new_rows] = np.arange(len(items))

    def data(catalog, rows):
        return Dataset(ds.name, catalog, Interactions(users=inter.users[rows], items=place[inter.items[rows]],
                                                      timestamps=inter.timestamps[rows], ratings=inter.ratings[rows]))
    before = data(Catalog([items[r] for r in old_rows]), early)
    full_catalog = Catalog([items[r] for r in old_rows + new_rows])
    picks = [{"user_id": str(inter.users[r]), "item_id": items[inter.items[r]].id,
              "timestamp": float(inter.timestamps[r]), "rating": float(inter.ratings[r])} for r in late]
    return before, [items[r] for r in new_rows], picks, data(full_catalog, early), data(full_catalog, np.sort(order))


def _rec(ds, config=UNPRUNED, **kwargs):
    return Recommender(ds, backend=ScriptedBackend(lambda p: ""), candidates=config, reasons="evidence", **kwargs)


def _same_index(a, b):
    assert a.counts.shape == b.counts.shape
    assert (a.counts != b.counts).nnz == 0
    assert np.array_equal(a.item_counts, b.item_counts)
    assert abs(a.scores - b.scores).max() < 1e-9


def _same_shortlists(grown, whole, users, typed):
    for u in users:
        mine, theirs = grown.prepare_user(u, n_history=5).prepared, whole.prepare_user(u, n_history=5).prepared
        assert mine.candidates.indices.tolist() == theirs.candidates.indices.tolist(), u
        assert np.allclose(mine.candidates.scores, theirs.candidates.scores, rtol=0, atol=1e-12)
        assert [sentence(f) for f in mine.facts] == [sentence(f) for f in theirs.facts]
    for history in typed:
        mine, theirs = grown.prepare(history).prepared, whole.prepare(history).prepared
        assert mine.candidates.indices.tolist() == theirs.candidates.indices.tolist(), history
        assert np.allclose(mine.candidates.scores, theirs.candidates.scores, rtol=0, atol=1e-12)
        assert [sentence(f) for f in mine.facts] == [sentence(f) for f in theirs.facts]


def test_added_items_and_then_their_picks_end_as_a_rebuild(ml100k):
    before, films, picks, catalog_only, everything = _late_films(ml100k)
    assert len(films) == 35
    grown = _rec(before)
    grown.ranker.evidence  # built before the add: grown, not built again
    grown.ranker.checker
    added = grown.add_items(_records(films))
    assert (added.added, added.items) == (35, 1682)
    assert [it.id for it in grown.dataset.catalog.items] == [it.id for it in catalog_only.catalog.items]

    # with the items and none of their picks: as a build over the larger catalog
    whole = _rec(catalog_only)
    gen, ref = grown.generator, whole.generator
    assert gen.index.vocabulary == ref.index.vocabulary
    assert (gen.index.term_docs != ref.index.term_docs).nnz == 0
    assert np.array_equal(gen.popularity_counts, ref.popularity_counts)
    for mine, theirs in [(gen.cooccurrence, ref.cooccurrence), (gen.session, ref.session),
                         *[(gen.first_picks[k], ref.first_picks[k]) for k in ref.first_picks]]:
        _same_index(mine, theirs)
    typed = [[films[0].title], [films[3].title, "Fargo (1996)"], ["Star Wars (1977)", "Titanic (1997)"]]
    _same_shortlists(grown, whole, sorted(before.interactions.user_ids)[::40], typed)
    assert grown.genres() == whole.genres()
    for film in films:
        assert grown.matcher.match(film.title.lower()).index == whole.matcher.match(film.title.lower()).index
    assert grown.ranker.checker.n_items == 1682  # built again: a reason naming a new film is checked too
    assert np.array_equal(grown.ranker.evidence.pop_rank, whole.ranker.evidence.pop_rank)

    # and their picks counted in: as a rebuild from all of ML-100K (in this order of the catalog)
    grown.add_interactions(picks)
    whole = _rec(everything)
    gen, ref = grown.generator, whole.generator
    assert np.array_equal(gen.popularity_counts, ref.popularity_counts)
    for mine, theirs in [(gen.cooccurrence, ref.cooccurrence), (gen.session, ref.session),
                         *[(gen.first_picks[k], ref.first_picks[k]) for k in ref.first_picks]]:
        _same_index(mine, theirs)
    touched = sorted({p["user_id"] for p in picks})
    _same_shortlists(grown, whole, touched[::3], typed)
    assert np.array_equal(grown.ranker.evidence.pickers, whole.ranker.evidence.pickers)


def test_a_new_item_is_typed_filtered_to_shortlisted_and_reasoned_about(ml100k):
    rec = _rec(own_copy(ml100k), CandidateConfig())
    variant = rec.with_settings(k=5)  # made before the add: it reads the same catalog and indexes
    variant.genres(), variant.ranker.checker  # built over the old catalog
    new = [{"item_id": "zz-1", "title": "Galactic Rebels (2026)", "genres": ["Sci-Fi", "Space Opera"],
            "plot": "rebels fight an empire among the stars"},
           {"item_id": 9001, "title": "Quiet Harbour (2026)", "genres": "Drama"}]
    assert variant.add_items(new).added == 2
    row = rec.dataset.catalog.index_of("zz-1")
    assert rec.dataset.catalog.index_of("9001") == row + 1  # a number is the id it spells

    assert variant.matcher.match("galactic rebels").index == row
    assert variant.genres()["Space Opera"] == 1
    user = variant.prepare(["Star Wars (1977)"], only_genres=["space opera"])
    assert user.prepared.candidates.indices.tolist() == [row]
    assert "not picked by anyone yet" in sentence(user.prepared.facts[0])
    # its text is searched at once: alone in a history, it gets a shortlist by its words and popularity
    alone = variant.prepare(["Galactic Rebels (2026)"]).prepared
    assert row not in alone.candidates.indices.tolist() and len(alone.candidates.indices) == 20
    titled = variant.prepare(["Star Wars (1977)"], only=["Galactic Rebels (2026)", "Quiet Harbour (2026)"]).prepared
    assert titled.candidates.indices.tolist() == [row, row + 1]  # by the text it shares with Star Wars
    assert row not in variant.prepare(["Star Wars (1977)"], exclude=["zz-1"], only=["zz-1", "50"]).prepared.candidates.indices
    checker = variant.ranker.checker
    item, history = rec.dataset.catalog.items[0], [rec.dataset.catalog.items[49]]
    assert ReasonFlag.OTHER_TITLE in checker.flags("Like Galactic Rebels, a space adventure.", item, history, [])

    # then picked, it is counted and its co-picks are found from it (Scream of Stone: one pick before)
    assert 1681 not in alone.candidates.indices.tolist()
    rec.add_interactions([{"user_id": f"fan{i}", "item_id": i_d} for i in range(5) for i_d in ("zz-1", "1682")])
    assert rec.prepare(["Galactic Rebels (2026)"]).prepared.candidates.indices[0] == 1681
    assert rec.generator.popularity_counts[row] == 5


def test_no_request_reads_every_item_again_after_an_item_add(ml100k, monkeypatch):
    """Titles held twice (what a seen film's twin is) and a genre filter's index are grown by the add,
    not made again over every item by the next request (at 1M items: 2.7 s for the titles, before)."""
    rec = _rec(own_copy(ml100k), CandidateConfig())
    sci_fi = rec.genres()["Sci-Fi"]  # a genre filter's index, built

    def refused(*args, **kwargs):
        raise AssertionError("made again over every item")
    monkeypatch.setattr(Catalog, "_group_titles", refused)
    monkeypatch.setattr(GenreIndex, "__init__", refused)
    rec.add_items([{"item_id": "sw-again", "title": "Star Wars (1977)", "genres": "Sci-Fi"},
                   {"item_id": "other", "title": "Brand New (2026)", "genres": "Drama"}])
    catalog = rec.dataset.catalog
    again, star_wars = catalog.index_of("sw-again"), catalog.index_of("50")
    assert catalog.same_title([star_wars]) == [again] and catalog.same_title([again]) == [star_wars]
    assert rec.genres()["Sci-Fi"] == sci_fi + 1
    for only_genres in ((), ["sci-fi"]):  # a seen film under its new id stays out of the shortlist
        shortlist = rec.prepare(["Star Wars (1977)"], only_genres=only_genres).prepared.candidates.indices
        assert again not in shortlist.tolist() and len(shortlist) > 0
    assert again in rec.prepare(["Toy Story (1995)"], only=["sw-again", "172"],
                                only_genres=["sci-fi"]).prepared.candidates.indices.tolist()


def test_each_recommender_adds_to_its_own_catalog_and_picks(ml100k):
    data = own_copy(ml100k)
    one, other = _rec(data, CandidateConfig()), _rec(data, CandidateConfig())
    one.add_items([{"item_id": "n1", "title": "Brand New (2026)"}])
    one.add_interactions([{"user_id": "ann", "item_id": "n1"}])
    assert len(one.dataset.catalog) == 1683 and len(other.dataset.catalog) == len(data.catalog) == 1682
    assert len(other.dataset.interactions) == len(data.interactions) == 100_000
    assert other.prepare(["Star Wars (1977)"]).prepared.candidates.indices.max() < 1682  # its indexes still fit it
    with pytest.raises(UnknownItemError, match="Brand New"):
        other.add_interactions([{"user_id": "bob", "item_id": "Brand New (2026)"}])


def test_items_from_a_dataframe_with_its_own_column_names(ml100k):
    pd = pytest.importorskip("pandas")
    rec = _rec(own_copy(ml100k), CandidateConfig())
    frame = pd.DataFrame({"sku": ["s1", "s2"], "name": ["Trail Runner X", None], "category": ["Shoes", "Socks"],
                          "tags": [["trail", "grip"], []]}).set_index("sku")
    assert rec.add_items(frame, columns={"item_id": "sku", "title": "name", "genres": "category"}).added == 2
    first, second = rec.dataset.catalog.get("s1"), rec.dataset.catalog.get("s2")
    assert (first.title, first.fields) == ("Trail Runner X", {"genres": "Shoes", "tags": "trail grip"})
    assert second.title == "s2"  # no title: the id stands in, as for a loaded item
    assert rec.genres()["Socks"] == 1


def test_a_bad_batch_of_items_is_refused_and_adds_nothing(ml100k, tmp_path):
    rec = _rec(own_copy(ml100k), CandidateConfig(),
               picks_log=tmp_path / "picks.jsonl")
    before = (len(rec.dataset.catalog), len(rec.generator.popularity_counts), rec.generator.index.n_docs)
    cases = [([{"item_id": "new-1", "title": "A"}, {"item_id": 50, "title": "Another Star Wars"}],
              r"items\[1\]: item id '50' is already in the catalog \('Star Wars \(1977\)'\)"),
             ([{"item_id": "new-1"}, {"item_id": "new-1", "title": "B"}],
              r"items\[1\]: item id 'new-1' is given twice \(also at items\[0\]\)"),
             ([{"item_id": "new-1"}, {"item_id": " ", "title": "B"}], r"items\[1\]: no item id"),
             ([{"title": "no id"}], r"no column 'item_id' for item_id"),
             ("new-1", r"expected records")]
    for batch, message in cases:
        with pytest.raises(DataError, match=message):
            rec.add_items(batch)
        assert (len(rec.dataset.catalog), len(rec.generator.popularity_counts), rec.generator.index.n_docs) == before
    assert not (tmp_path / "picks.jsonl").exists()  # nothing was logged either
    assert rec.matcher.match("new-1", fuzzy=False) is None
    assert rec.add_items([]).added == 0

    # a generator lent with a catalog of its own would get the items the Recommender's lacks
    lent = CandidateGenerator(Catalog(ml100k.catalog.items), ml100k.interactions)
    with pytest.raises(OptionError, match="catalog of its own"):
        Recommender(ml100k, backend=ScriptedBackend(lambda p: ""), generator=lent).add_items([{"item_id": "n"}])


def test_logged_items_come_back_on_a_restart_as_a_rebuild_would_have_them(ml100k, tmp_path):
    before, films, picks, _, everything = _late_films(ml100k)
    log = tmp_path / "picks.jsonl"
    live = _rec(before, CandidateConfig(), picks_log=log)
    later = {it.id for it in films[20:]}
    cut = next(i for i, p in enumerate(picks) if p["item_id"] in later)
    assert cut > 100
    live.add_items(_records(films[:20]))
    live.add_interactions(picks[:cut])  # picks of the items added so far, and of the old ones
    live.add_items(_records(films[20:]))
    live.add_interactions(picks[cut:])
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert sum("item" in line for line in lines) == 35 and len(lines) == 35 + HELD_OUT
    assert lines[0]["item"] == {"item_id": films[0].id, "title": films[0].title, "fields": films[0].fields}

    restarted = _rec(before, CandidateConfig(), picks_log=log)
    assert "35 items and 5,000 picks from" in restarted.dataset.source
    whole = _rec(everything, CandidateConfig())
    assert [it for it in restarted.dataset.catalog.items] == [it for it in whole.dataset.catalog.items]
    gen, ref = restarted.generator, whole.generator
    assert (gen.index.term_docs != ref.index.term_docs).nnz == 0
    assert np.array_equal(gen.popularity_counts, ref.popularity_counts)
    _same_index(gen.cooccurrence, ref.cooccurrence)  # pruning and all: the log joins before anything is counted
    users = sorted({p["user_id"] for p in picks})[::10]
    _same_shortlists(restarted, whole, users, [[films[0].title]])
    assert len(before.catalog) == 1682 - 35  # the caller's dataset is left as it was

    # a log whose item is in the catalog already (saved since?) or logged twice is named by line
    for text, line in ((json.dumps({"item": {"item_id": "50", "title": "x", "fields": {}}}), 1),
                       (json.dumps({"item": {"item_id": "q", "fields": {}}}) + "\n"
                        + json.dumps({"item": {"item_id": "q", "fields": {}}}), 2)):
        bad = tmp_path / f"bad{line}.jsonl"
        bad.write_text(text + "\n")
        with pytest.raises(DataError, match=rf"bad{line}.jsonl:{line}: item id '(50|q)' is logged as new"):
            _rec(ml100k, CandidateConfig(), picks_log=bad)


def test_a_generator_takes_new_items_on_its_own_as_a_build_would(ml100k):
    catalog = Catalog(ml100k.catalog.items[:-10])
    inter = ml100k.interactions
    kept = inter.items < len(catalog)
    picks = Interactions(users=inter.users[kept], items=inter.items[kept], timestamps=inter.timestamps[kept],
                         ratings=inter.ratings[kept])
    gen = CandidateGenerator(catalog, picks)
    gen.add_items(catalog.extend(ml100k.catalog.items[-10:]))  # no text index lent: built here
    ref = CandidateGenerator(Catalog(ml100k.catalog.items), picks)
    assert (gen.index.term_docs != ref.index.term_docs).nnz == 0 and gen.index.vocabulary == ref.index.vocabulary
    history = [ml100k.catalog.index_of("1680"), 49]
    assert gen.generate(history, [], 20).indices.tolist() == ref.generate(history, [], 20).indices.tolist()
    with pytest.raises(ValueError, match="last appended"):
        gen.add_items([3])


def test_an_index_file_saved_before_items_were_added_is_built_again_on_restart(ml100k, tmp_path):
    index, log = tmp_path / "shortlist.npz", tmp_path / "picks.jsonl"
    first = _rec(ml100k, CandidateConfig(), index=index, picks_log=log)  # builds and writes the file
    first.add_items([{"item_id": "n1", "title": "Galactic Rebels (2026)", "genres": "Sci-Fi"}])
    first.add_interactions([{"user_id": "ann", "item_id": "n1"}, {"user_id": "ann", "item_id": "50"}])
    with pytest.warns(UserWarning) as caught:
        again = _rec(ml100k, CandidateConfig(), index=index, picks_log=log)
    said = [str(w.message) for w in caught]  # one warning: every index is built again, so not "other interactions" too
    assert len(said) == 1 and "built before the catalog's last item was added; its indexes" in said[0], said
    report = again.index_report  # what zsrec index prints: every part made again, and why
    assert report.read and report.written and not report.current
    assert report.rebuilt == (*(f"{name} (the catalog grew since)" for name, _, _ in again.generator.saved_parts()),
                              "title search (other titles)", "user lookup (other picks)")
    assert first.index_report.to_dict() == {"path": str(index), "read": False, "rebuilt": [], "written": True,
                                            "current": False}
    whole = _rec(again.dataset, CandidateConfig())  # the data and the log's items and picks, built from scratch
    for history in (["Galactic Rebels (2026)"], ["Star Wars (1977)", "Fargo (1996)"]):
        assert (again.prepare(history).prepared.candidates.indices.tolist()
                == whole.prepare(history).prepared.candidates.indices.tolist())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # written again for the grown catalog: read back as it is
        third = _rec(ml100k, CandidateConfig(), index=index, picks_log=log)
    assert third.generator.index.n_docs == 1683 and third.index_report.current
    other = Catalog([*ml100k.catalog.items[:-1], ml100k.catalog.items[0].__class__("x", "Not the same", {})])
    with pytest.raises(DataError, match="built for another catalog"):  # not a grown one: still an error
        CandidateGenerator.with_saved_index(index, Catalog([*other.items, *third.dataset.catalog.items[1682:]]))


def _same_text_index(a, b):
    assert list(a.vocabulary.items()) == list(b.vocabulary.items())  # words numbered alike, in one order
    for part in ("data", "indices", "indptr"):
        x, y = getattr(a.term_docs, part), getattr(b.term_docs, part)
        assert x.dtype == y.dtype and np.array_equal(x, y), part  # weights to the bit


def test_the_text_index_grows_from_its_term_counts_to_the_bit(ml100k, tmp_path):
    docs = [tokenize(it.text(())) for it in ml100k.catalog.items]
    docs += [[], ["zzz", "zzz", "star"], ["wars"] * 300 + ["brand", "new"]]  # empty, new words, a count past 255
    whole = SparseBM25.build(docs)
    for cut in (1, 900, len(docs) - 3, len(docs) - 1):
        part = SparseBM25.build(docs[:cut])
        kept = (part.term_docs.data.copy(), dict(part.vocabulary))
        _same_text_index(part.with_docs(docs[cut:]), whole)
        assert np.array_equal(part.term_docs.data, kept[0]) and part.vocabulary == kept[1]  # left as it was
    _same_text_index(SparseBM25.build(docs[:1000]).with_docs(docs[1000:1600]).with_docs(docs[1600:]), whole)
    # documents read once, as they come (a catalog's words are never all held at once): the same index
    streamed = SparseBM25.build(iter(docs))
    _same_text_index(streamed, whole)
    _same_text_index(SparseBM25.build(iter(docs[:900])).with_docs(iter(docs[900:])), whole)
    c = streamed.counts
    assert (c.indptr.dtype, c.cols.dtype, c.tf.dtype, c.doc_len.dtype) == (np.int64, np.int32, np.uint16, np.int64)
    assert c.doc_len[-3] == 1 and c.indptr[-1] == len(c.cols) == len(c.tf)  # an empty document counts one word:
    assert streamed.term_docs[:, len(docs) - 3].nnz == 1 and EMPTY_DOC in streamed.vocabulary  # rank-bm25's stand-in
    whole.save(tmp_path / "index.npz")
    loaded = SparseBM25.load(tmp_path / "index.npz")
    assert loaded.counts is None
    with pytest.raises(ValueError, match="without its term counts"):
        loaded.with_docs([["star"]])


def test_an_item_add_reads_only_the_new_items_text_once_the_index_keeps_counts(ml100k, tmp_path, monkeypatch):
    import zsrec.candidate_updates as updates

    read = []
    real = updates.tokenize
    monkeypatch.setattr(updates, "tokenize", lambda text: read.append(text) or real(text))
    data = own_copy(ml100k)
    CandidateGenerator(data.catalog, data.interactions).save_index(tmp_path / "index.npz")
    rec = _rec(data, CandidateConfig(), index=tmp_path / "index.npz")
    assert rec.generator.index.counts is None  # loaded from the file: no counts
    films = [{"item_id": f"n{i}", "title": f"Galactic Rebels {i} (2026)", "genres": "Sci-Fi"} for i in range(3)]
    read.clear()
    rec.add_items(films[:1])
    assert len(read) == 1683  # the first add reads every item once, and keeps the counts
    read.clear()
    rec.add_items(films[1:])
    assert len(read) == 2  # later adds read only their own items
    whole = CandidateGenerator(rec.dataset.catalog, rec.dataset.interactions)
    _same_text_index(rec.generator.index, whole.index)
    assert rec.generator.index.n_docs == 1685 and rec.generator.index.counts is not None
    assert rec.matcher.match("galactic rebels 2").index == 1684  # and the title search with it
