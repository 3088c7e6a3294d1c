"""What requests would make on first need, made before the first one (``Recommender.warm_up``, what
``zsrec serve`` does), and shared by every variant of a Recommender: after it no request makes an
index, and every answer is the one a Recommender that made them on the way gives."""

import dataclasses
import re
import threading
import time

import numpy as np
import pytest

from conftest import ScriptedBackend, own_copy, without_lookup
from zsrec import data as data_module
from zsrec import evidence as evidence_module
from zsrec.built_once import BuiltOnce
from zsrec.data import Catalog, Item
from zsrec.evidence import item_genres
from zsrec.item_filter import GenreIndex
from zsrec.reasons import ReasonChecker
from zsrec.recommender import Recommender


def _answer(prompt: str) -> str:
    """Every candidate in reverse, each with a reason naming a genre or a film (some of them wrong)."""
    numbers = sorted({int(n) for n in re.findall(r"^\[(\d+)\]", prompt, flags=re.MULTILINE)}, reverse=True)
    reasons = ["a comedy you will like", "like Star Wars (1977)", "picked by fans of your films", "a western"]
    return "\n".join(f"[{n}] - {reasons[n % len(reasons)]}" for n in numbers)


def _started_from_file(ml100k, tmp_path):
    """A Recommender as a restart has it: from the index file, its picks without the per-user lookup."""
    index = tmp_path / "index.npz"
    Recommender(own_copy(ml100k), backend=ScriptedBackend(_answer), index=index)
    data = dataclasses.replace(own_copy(ml100k), interactions=without_lookup(ml100k.interactions))
    return Recommender(data, backend=ScriptedBackend(_answer), index=index)


def _requests(rec):
    """Known users, typed titles and genre filters, through variants of other settings too."""
    users = [str(u) for u in dict.fromkeys(rec.dataset.interactions.users[::9973])]
    out = []
    for variant in (rec, rec.with_settings(k=5), rec.with_settings(reasons="evidence")):
        for user in users[:4]:
            out.append(variant.recommend_for_user(user, n_history=5))
        out.append(variant.recommend(["Star Wars (1977)", "Fargo (1996)"], only_genres=["comedy", "drama"]))
        out.append(variant.recommend(["Toy Story (1995)"]))
    return [[(it.item_id, it.reason, it.reason_source, it.reason_flags) for it in r.items] for r in out]


def test_after_a_warm_up_no_request_makes_an_index_and_every_answer_is_the_same(ml100k, tmp_path, monkeypatch):
    cold = _requests(_started_from_file(ml100k, tmp_path))
    rec = _started_from_file(ml100k, tmp_path)
    assert rec.dataset.interactions._by_user is None and rec._evidence.index is None  # nothing made yet
    seconds = rec.warm_up()
    assert list(seconds) == ["user_lookup", "evidence", "genres", "reason_checker"]
    assert all(s >= 0 for s in seconds.values())
    # the checker read the titles' forms from title search (here, the index file's): as one made from the titles
    assert list(rec.ranker.checker.titles._keys.items()) == list(ReasonChecker(rec.dataset.catalog).titles._keys.items())

    def refused(*args, **kwargs):
        raise AssertionError("made by a request after the warm-up")
    for owner, name in [(data_module, "_rows_by_user"), (data_module, "_rows_by_user_sorting"),
                        (evidence_module, "_who_picked_what"), (evidence_module, "_some_columns"),
                        (GenreIndex, "__init__"), (ReasonChecker, "__init__")]:
        monkeypatch.setattr(owner, name, refused)
    assert _requests(rec) == cold
    assert any(flags for r in cold for _, _, _, flags in r) and any(src == "llm" for r in cold for _, _, src, _ in r)


def test_a_warm_up_leaves_out_the_checker_where_no_reason_comes_from_the_llm(ml100k):
    rec = Recommender(own_copy(ml100k), backend=ScriptedBackend(_answer), reasons="evidence")
    assert list(rec.warm_up()) == ["user_lookup", "evidence", "genres"]
    assert rec.ranker.checker_slot.value is None


def test_variants_share_one_genre_index_and_one_checker(ml100k, monkeypatch):
    made = []
    for cls in (GenreIndex, ReasonChecker):
        original = cls.__init__

        def counted(self, *args, _original=original, **kwargs):
            made.append(type(self).__name__)
            _original(self, *args, **kwargs)
        monkeypatch.setattr(cls, "__init__", counted)
    rec = Recommender(own_copy(ml100k), backend=ScriptedBackend(_answer))
    variants = [rec.with_settings(k=5), rec.with_settings(reasons="evidence"), rec.with_template("listwise")]
    for v in variants + [rec]:
        v.recommend(["Star Wars (1977)"], only_genres=["sci-fi"])
    assert sorted(made) == ["GenreIndex", "ReasonChecker"]  # one each, whichever variant asked first
    assert all(v.ranker.checker is rec.ranker.checker and v._genre_index() is rec._genre_index() for v in variants)
    # an item add grows both, for every variant, and nothing is made again
    variants[0].add_items([{"item_id": "n1", "title": "Galactic Rebels (2026)", "genres": "Sci-Fi|Space Opera"}])
    assert rec.genres()["Space Opera"] == 1 and variants[1].genres()["Space Opera"] == 1
    assert all(v.ranker.checker.n_items == 1683 for v in variants + [rec])
    assert sorted(made) == ["GenreIndex", "ReasonChecker"]


def test_the_warm_ups_checker_reads_the_genres_off_the_genre_index_it_made_first(ml100k, monkeypatch):
    """The warm-up makes the genre index before the checker, which then takes the genres from it
    rather than read every item's genres a second time (0.15-0.6 s at 1M items). A checker made
    before any genre index, or after the catalog outgrew it, reads the items' own."""
    read = []
    original = ReasonChecker._add_genres

    def recorded(self, items):
        read.append(len(items))
        original(self, items)
    monkeypatch.setattr(ReasonChecker, "_add_genres", recorded)
    rec = Recommender(own_copy(ml100k), backend=ScriptedBackend(_answer))
    rec.warm_up()
    assert read == [] and rec._genres.value is not None
    warmed = rec.ranker.checker.genre_words
    assert {g: rx.pattern for g, rx in warmed.items()} == {
        g: rx.pattern for g, rx in ReasonChecker(rec.dataset.catalog).genre_words.items()} and read == [1682]
    cold = Recommender(own_copy(ml100k), backend=ScriptedBackend(_answer))
    cold.recommend(["Star Wars (1977)"])  # the checker first, no genre index made
    assert read == [1682, 1682] and cold._genres.value is None
    # an index the catalog outgrew is not read: its genres may lack the new items'
    rec._genres.value = GenreIndex(Catalog(rec.dataset.catalog.items[:10]))
    rec.ranker.checker_slot.value = None
    assert rec._made_genres() is None and rec.ranker.checker.genre_words.keys() == warmed.keys()
    assert read == [1682, 1682, 1682]


def test_requests_at_once_wait_for_one_making():
    size = [3]
    made = []

    def make():
        made.append(1)
        time.sleep(0.05)
        return list(range(size[0]))
    once = BuiltOnce(make, lambda value: len(value) != size[0])
    assert once.fresh() is None and made == []  # nothing made, and asking does not make it
    got = []
    threads = [threading.Thread(target=lambda: got.append(once.get())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and all(g is got[0] for g in got) and once.fresh() is got[0]
    size[0] = 4  # the data grew: made again on next use, once
    assert once.fresh() is None and len(made) == 1  # what was made no longer fits, and is not made again here
    assert once.get() == [0, 1, 2, 3] and once.get() is once.get() and len(made) == 2


@pytest.mark.parametrize("seed", range(3))
def test_the_genre_index_holds_each_items_genres(seed):
    """Grouped by genre text, it is each item's genres read one by one: repeats within a text,
    spellings, empty and unknown genres included."""
    rng = np.random.default_rng(seed)
    texts = ["Comedy", "Comedy|Drama", "comedy|COMEDY", "Action Thriller", "unknown", "", "Running Shoes", "A, B; c",
             "Drama|Comedy", "(no genres listed)", "Sci-Fi|Children", "drama"]
    items = [Item(str(i), f"t{i}", {"genres": texts[rng.integers(len(texts))]}) for i in range(300)]
    expected_rows, names = {}, {}
    for row, item in enumerate(items):
        for genre in item_genres(item):
            names.setdefault(genre.lower(), genre)
            expected_rows.setdefault(genre.lower(), []).append(row)
    index = GenreIndex(Catalog(items[:200])).with_items(items[200:])
    whole = GenreIndex(Catalog(items))
    for built in (index, whole):
        assert list(built.names.items()) == list(names.items()) and list(built._rows) == list(expected_rows)
        assert all(built._rows[g].tolist() == rows for g, rows in expected_rows.items())
