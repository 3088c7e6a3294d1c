"""Every recommended item carries a true reason: facts counted from the data, an LLM reason only where
it passes the checks, and a sentence from the facts where it does not."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import ScriptedBackend, requires_default_model, without_lookup, write_ml100k
from zsrec.candidates import CandidateConfig
from zsrec.cli import app
from zsrec.data import Catalog, Item
from zsrec.errors import OptionError
from zsrec.evidence import CoPicked, EvidenceIndex, MatchedTerms, PopularityRank, SharedGenres, item_genres, sentence
from zsrec.loaders import load_dataset
from zsrec.reasons import ReasonChecker, ReasonFlag
from zsrec.recommender import Recommender


@pytest.fixture
def tiny(tmp_path):
    return load_dataset("ml-100k", write_ml100k(tmp_path / "ml"))


def test_co_picks_are_counted_from_the_interactions(tiny):
    """Tiny data: users 1 and 3 picked Star Wars (4); both picked Toy Story (1) too; user 2 did not."""
    index = EvidenceIndex(tiny.catalog, tiny.interactions)
    rows = {it.id: i for i, it in enumerate(tiny.catalog.items)}
    facts = index.facts([rows["4"]], [rows["1"], rows["5"]])
    toy, suspects = facts
    co = [f for f in toy if isinstance(f, CoPicked)][0]
    assert (co.with_item, co.count, co.base) == ("4", 2, 3) and co.share == pytest.approx(2 / 3)
    assert co.text == "picked by 67% (2 of 3) of those who picked Star Wars (1977)"
    assert not any(isinstance(f, CoPicked) for f in suspects)  # nobody picked both
    pop = toy[-1]
    assert isinstance(pop, PopularityRank) and pop.rank == 2 and pop.count == 2 and pop.of == 6


def test_counted_facts_match_a_brute_force_count(ml100k):
    index = EvidenceIndex(ml100k.catalog, ml100k.interactions)
    history, cands = [49, 99], [180, 171, 0, 1000]
    facts = index.facts(history, cands)
    by_user: dict[str, set[int]] = {}
    for u, i in zip(ml100k.interactions.users, ml100k.interactions.items):
        by_user.setdefault(str(u), set()).add(int(i))
    for c, fs in zip(cands, facts):
        best = max(((sum(1 for s in by_user.values() if h in s and c in s) / sum(1 for s in by_user.values() if h in s),
                     h) for h in history))
        co = [f for f in fs if isinstance(f, CoPicked)]
        if co:
            assert co[0].share == pytest.approx(best[0]) and co[0].with_item == ml100k.catalog.items[best[1]].id
        assert isinstance(fs[-1], PopularityRank)


@pytest.mark.parametrize("lookup", ["made", "not made", "counted on first need"])
def test_the_user_item_matrix_holds_each_users_distinct_picks_once(ml100k, lookup):
    """The matrix the co-picks are counted from: row u (the u-th id of ``users``) has a 1 at each item
    the user picked, once however often, and nothing else. Read off the per-user lookup where it is
    made (the ids sorted), counted from each pick's user where it is not (the ids in the order first
    seen), it must be the matrix a count of (user, item) pairs gives, in scipy's own canonical form."""
    from zsrec.data import Interactions

    rng = np.random.default_rng(3)
    n = 2000
    users = [f"u{int(u)}" for u in rng.integers(0, 60, n)]
    items = rng.integers(0, 40, n)  # many repeats of one item by one user
    inter = Interactions.from_rows([(u, int(i), float(t), np.nan) for u, i, t in zip(users, items, rng.integers(0, 9, n))])
    if lookup == "made":
        assert inter.user_ids  # what a start that builds the indexes makes
    catalog = ml100k.catalog  # any catalog of at least 40 items: only its size is read here
    if lookup == "counted on first need":  # given the counts to rank by, and no lookup: counted when first read
        index = EvidenceIndex(catalog, inter, inter.item_counts(len(catalog)))
        assert index._pending is not None
    else:
        index = EvidenceIndex(catalog, inter)
        assert index._pending is None
    assert index.users.tolist() == (sorted(set(users)) if lookup == "made" else list(dict.fromkeys(users)))
    want = {(u, int(i)) for u, i in zip(users, items)}
    picks = index.picks.tocoo()
    got = {(str(index.users[r]), int(c)) for r, c in zip(picks.row, picks.col)}
    assert got == want and len(picks.data) == len(want) and bool((picks.data == 1.0).all())
    assert index.picks.has_canonical_format and index.picks.shape == (60, len(catalog))
    assert index.pickers.tolist() == [len({u for u, i in want if i == c}) for c in range(len(catalog))]
    bad = Interactions.from_rows([("a", 1, 1.0, np.nan), ("b", len(catalog), 2.0, np.nan)])
    with pytest.raises(ValueError, match="catalog rows outside"):
        EvidenceIndex(catalog, bad)


def _picks_with_repeats(n_items: int = 40):
    """2,000 picks by 60 users of 40 items: most users pick some item more than once."""
    from zsrec.data import Interactions

    rng = np.random.default_rng(5)
    users, items, times = rng.integers(0, 60, 2000), rng.integers(0, n_items, 2000), rng.integers(0, 9, 2000)
    return Interactions.from_rows([(f"u{int(u)}", int(i), float(t), np.nan) for u, i, t in zip(users, items, times)])


@pytest.mark.parametrize("data", ["repeats", "ml-100k"])
def test_a_first_request_counts_only_its_columns_and_gets_the_facts_of_the_whole_matrix(ml100k, data):
    """``zsrec rank --index FILE --user U`` asks for one user's facts: before the matrix of every
    pick is counted, they are counted from the picks of the history's and candidates' items alone,
    and they are the facts the whole matrix gives, co-pick counts included. The next request counts
    the matrix."""
    catalog = ml100k.catalog
    inter = _picks_with_repeats() if data == "repeats" else ml100k.interactions
    counts = inter.item_counts(len(catalog))
    whole = EvidenceIndex(catalog, without_lookup(inter), counts)
    assert whole.picks.shape[1] == len(catalog) and whole._pending is None  # counted on that read
    rng = np.random.default_rng(11)
    top = 40 if data == "repeats" else len(catalog)
    for trial in range(30):
        hist = [int(i) for i in rng.integers(0, top, int(rng.integers(1, 9)))]  # repeats too
        cands = [int(i) for i in rng.choice(top, int(rng.integers(1, 26)), replace=False)]
        if trial % 3 == 0:
            cands[0] = hist[-1]  # an item in both
        alone = EvidenceIndex(catalog, without_lookup(inter), counts)
        co, base = alone._co_picks(list(dict.fromkeys(hist)), cands)
        want_co, want_base = whole._co_picks(list(dict.fromkeys(hist)), cands)
        assert np.array_equal(co, want_co) and np.array_equal(base, want_base)
        assert alone._pending is not None  # nothing else counted
        if data == "repeats":
            assert co.max() >= 2  # co-picks that make facts
        alone = EvidenceIndex(catalog, without_lookup(inter), counts)
        assert alone.facts(hist, cands) == whole.facts(hist, cands)
        assert alone._pending is not None
        assert alone.facts(cands[:3], hist) == whole.facts(cands[:3], hist)  # the next counts the matrix
        assert alone._pending is None and np.array_equal(alone.pickers, whole.pickers)
    cold = EvidenceIndex(catalog, without_lookup(inter), counts)
    assert cold.facts([], [0, 5]) == whole.facts([], [0, 5]) and cold._pending is not None  # a cold start counts nothing
    assert cold.facts([1], [0, 5]) == whole.facts([1], [0, 5]) and cold._pending is not None


def test_picks_added_before_the_matrix_is_counted_are_counted_into_it_and_its_copy_alone(ml100k):
    """An index that has not counted its matrix yet counts it from the picks it was made with, then
    the new ones: ``with_picks`` leaves it as it was, and the copy holds both, as for an index counted
    at once; so does ``add``, after the data grew in place (a Recommender's adds)."""
    catalog = ml100k.catalog
    inter = without_lookup(_picks_with_repeats())
    counts = inter.item_counts(len(catalog))
    at_once = EvidenceIndex(catalog, inter, None)
    later = EvidenceIndex(catalog, inter, counts)
    new_users, new_items = ["u3", "new", "new"], [7, 7, 39]
    grown_counts = counts.copy()
    np.add.at(grown_counts, new_items, 1)
    copy_now, copy_later = at_once.with_picks(new_users, new_items), later.with_picks(new_users, new_items, grown_counts)
    assert later._pending is None  # counted once, before the copy: both read it
    for a, b in ((at_once, later), (copy_now, copy_later)):
        assert a.users.tolist() == b.users.tolist() and (a.picks != b.picks).nnz == 0
        assert np.array_equal(a.pickers, b.pickers)
    assert copy_later.pickers[39] == later.pickers[39] + 1 and copy_later.users[-1] == "new"
    assert "new" not in later.users.tolist()
    again = EvidenceIndex(catalog, inter, counts)
    inter.extend(new_users, new_items, [20.0] * 3, [np.nan] * 3)  # the data grows before the matrix is counted
    again.add(new_users, new_items, grown_counts)
    assert again.users.tolist() == copy_now.users.tolist() and (again.picks != copy_now.picks).nnz == 0


def test_popularity_ranks_are_shared_by_equals_and_read_as_english(ml100k):
    """Two films with one pick each are not 1638th and 1639th: equals share a rank (1 + the items
    picked more), and the text says they are tied; "1 pick", and an item nobody picked gets no rank."""
    index = EvidenceIndex(ml100k.catalog, ml100k.interactions)
    counts = index.pop_counts
    rows = list(range(len(ml100k.catalog)))
    facts = [fs[-1] for fs in index.facts([], rows)]
    for row, fact in zip(rows, facts):
        assert fact.rank == 1 + int((counts > counts[row]).sum()) and fact.count == counts[row]
        assert fact.tied == (int((counts == counts[row]).sum()) > 1)
    by_text = {f.text for f in facts}
    assert "the most picked of 1682 (583 picks)" in by_text  # Star Wars
    assert "tied 1542nd most picked of 1682 (1 pick)" in by_text
    assert len({f.rank for f in facts if f.count == 1}) == 1
    assert PopularityRank(5, 5, 0, tied=True).text == "not picked by anyone yet (of 5)"
    assert PopularityRank(3, 9, 4).text == "the 3rd most picked of 9 (4 picks)"


def test_a_filtered_list_tells_popularity_among_the_filters_items(ml100k):
    """Someone who asked for westerns learns more from "the 3rd most picked of the 27 Western items"
    than from "tied 275th most picked of 1682": under a filter the popularity fact ranks among the
    filter's items (ties shared, as in the catalog); without one it is the catalog's, as before."""
    rec = Recommender(ml100k, backend=ScriptedBackend(lambda p: "[1]"), reasons="evidence", k=20)
    counts = rec.ranker.evidence.pop_counts
    westerns = [i for i, it in enumerate(ml100k.catalog) if "Western" in it.fields["genres"].split()]
    result = rec.recommend([], only_genres=["western"])
    assert len(result.items) == 20
    for item in result.items:
        fact = item.evidence[-1]
        row = ml100k.catalog.index_of(item.item_id)
        assert fact.kind == "popularity" and fact.of == 27 and fact.among == "Western items"
        assert fact.rank == 1 + sum(counts[w] > counts[row] for w in westerns)
        assert fact.tied == (sum(counts[w] == counts[row] for w in westerns) > 1)
    assert result.items[0].reason == "The most picked of the 27 Western items (256 picks)."  # Dances with Wolves
    plain = rec.recommend([]).items[0]
    assert plain.reason == "The most picked of 1682 (583 picks)." and plain.evidence[-1].among == ""
    listed = rec.recommend(["Toy Story (1995)"], only=["181", "174", "50"], only_genres=["action"]).items
    assert {it.item_id: it.evidence[-1].text for it in listed} == {  # Star Wars, Return of the Jedi, Raiders
        "50": "the most picked of the 3 Action items listed (583 picks)",
        "181": "the 2nd most picked of the 3 Action items listed (507 picks)",
        "174": "the 3rd most picked of the 3 Action items listed (420 picks)"}
    one = rec.recommend(["Toy Story (1995)"], only=["181"]).items[0].evidence[-1]
    assert one.among == "" and one.of == 1682  # the first of one item says nothing: the catalog's rank
    assert PopularityRank(3, 51, 121, True, "Film-Noir or Western items").text == (
        "tied 3rd most picked of the 51 Film-Noir or Western items (121 picks)")
    assert PopularityRank(4, 4, 0, True, "items listed").text == "not picked by anyone yet (of the 4 items listed)"


def test_the_picks_a_reason_counts_are_picks_even_when_popularity_decays(ml100k):
    """With a popularity half-life the shortlist's popularity is decayed weights; the evidence said
    "(0 picks)" of items people picked long ago. Its counts are counted picks, whatever the shortlist weighs."""
    decayed = CandidateConfig(popularity_half_life=30 * 86400.0)
    result = Recommender(ml100k, backend=ScriptedBackend(lambda p: "[1]"), candidates=decayed,
                         reasons="evidence").recommend(["Star Wars (1977)", "Fargo (1996)"])
    counts = ml100k.interactions.item_counts(len(ml100k.catalog))
    for item in result.items:
        pop = [f for f in item.evidence if isinstance(f, PopularityRank)][0]
        assert pop.count == counts[ml100k.catalog.index_of(item.item_id)] > 0
        assert pop.rank == 1 + int((counts > pop.count).sum())


def test_shared_genres_and_matched_title_words():
    items = [Item("1", "Star Wars (1977)", {"genres": "Action Sci-Fi"}),
             Item("2", "Star Trek: Generations (1994)", {"genres": "Action|Sci-Fi|Adventure"}),
             Item("3", "Fargo (1996)", {"genres": "Crime, Drama"})]
    assert item_genres(items[1]) == ("Action", "Sci-Fi", "Adventure") and item_genres(items[2]) == ("Crime", "Drama")
    from zsrec.data import Catalog, Interactions

    inter = Interactions.from_rows([("u", 0, 1.0, np.nan), ("u", 1, 2.0, np.nan), ("v", 2, 1.0, np.nan)])
    facts = EvidenceIndex(Catalog(items), inter).facts([0], [1, 2])
    assert SharedGenres(("Action", "Sci-Fi")) in facts[0] and MatchedTerms(("star",)) in facts[0]
    assert not any(isinstance(f, (SharedGenres, MatchedTerms)) for f in facts[1])


def test_genres_and_title_words_are_read_per_item_on_first_use(ml100k, monkeypatch):
    """An index reads the genres and title words of the items a request's facts need, not the whole
    catalog's when it is built (4.7 s at 1M items); what it reads is what reading every item gives,
    and an index grown by items (or its copy) reads theirs as well without touching the one it came from."""
    from zsrec import evidence

    read = []
    real = evidence.item_genres
    monkeypatch.setattr(evidence, "item_genres", lambda item: read.append(item.id) or real(item))
    index = EvidenceIndex(ml100k.catalog, ml100k.interactions)
    assert read == []
    history, cands = [49, 99], [180, 171, 0]
    facts = index.facts(history, cands)
    assert sorted(read) == sorted(ml100k.catalog.items[r].id for r in history + cands)
    assert index.facts(history, cands) == facts and len(read) == 5  # kept once read
    items = ml100k.catalog.items
    assert list(index.genres) == [real(it) for it in items]
    assert list(index.terms) == [evidence._title_terms(it) for it in items] and index.terms[-1] == index.terms[len(items) - 1]
    new = Item("new", "Star Wars Redux (2026)", {"genres": "Sci-Fi|Western"})
    grown = index.with_items([new])
    assert len(index.genres) == len(items) and len(grown.genres) == len(items) + 1
    assert grown.genres[-1] == ("Sci-Fi", "Western") and grown.terms[-1] == {"star", "wars", "redux"}
    assert grown.genres[:len(items)] == list(index.genres)
    # rows count from its own end, not its catalog's list of items, which an item add grows in place
    some = list(items[:3])
    per = evidence.PerItem(real, some)
    some.append(new)
    assert len(per) == 3 and per[-1] == real(items[2]) and list(per) == [real(it) for it in items[:3]]
    with pytest.raises(IndexError):
        per[3]


def test_a_category_with_spaces_is_one_genre():
    """A shop's "Running Shoes" was two genres ("Running and Shoes, like your picks"): space-joined
    genres are MovieLens' form only, and only MovieLens' genre words are split on spaces."""
    def genres(text, field="genres"):
        return item_genres(Item("1", "x", {field: text}))

    assert genres("Running Shoes") == ("Running Shoes",)
    assert genres("Outdoor Jackets|Rain") == ("Outdoor Jackets", "Rain")
    assert genres("Animation Children's Comedy") == ("Animation", "Children's", "Comedy")  # ML-100K as loaded
    assert genres("Film-Noir Sci-Fi IMAX") == ("Film-Noir", "Sci-Fi", "IMAX")
    assert genres("Action Figures") == ("Action Figures",)  # not every word a MovieLens genre
    assert genres("Board Games", field="class") == ("Board Games",)
    from zsrec import load_dataset

    for item in load_dataset("ml-100k").catalog:  # every ML-100K film keeps the genres it had
        assert item_genres(item) == tuple(g for g in item.fields["genres"].split() if g != "unknown"), item


@pytest.mark.parametrize("reason, flags", [
    ("", [ReasonFlag.EMPTY]),
    ("A sequel to the original Star Wars trilogy, like Return of the Jedi (1983)", [ReasonFlag.OTHER_TITLE]),
    ("A great comedy for Star Wars fans", [ReasonFlag.WRONG_GENRE]),
    ("[number] title - reason", [ReasonFlag.PLACEHOLDER, ReasonFlag.UNGROUNDED]),
    ("The (Title) of the Day", [ReasonFlag.UNGROUNDED]),
    ("More space adventure for people who liked Star Wars", []),
    ("Action and sci-fi, like your picks", []),
    ("picked by 12% of those who picked Star Wars (1977)", [ReasonFlag.WRONG_NUMBER]),
    ("Empire Strikes Back, The (1980) (Drama)", [ReasonFlag.ONLY_NAMES]),
    ("Fargo (1996),", [ReasonFlag.ONLY_NAMES]),
])
def test_reason_checks(ml100k, reason, flags):
    checker = ReasonChecker(ml100k.catalog)
    items = ml100k.catalog.items
    item, history = items[171], [items[49], items[99]]  # Empire Strikes Back; Star Wars, Fargo
    facts = EvidenceIndex(ml100k.catalog, ml100k.interactions).facts([49, 99], [171])[0]
    assert checker.flags(reason, item, history, facts) == flags
    checked = checker.check(reason, item, history, facts)
    if flags:
        assert checked.source.value == "evidence" and checked.text == sentence(facts) and checked.llm_text == reason
    else:
        assert checked.source.value == "llm" and checked.text == reason


def test_a_checker_grown_by_new_items_checks_as_one_made_over_them(ml100k):
    """What an item add puts in place (``with_items``): new titles and genres are flagged as a
    checker made over the grown catalog flags them; the checker it came from is left as it was."""
    items = ml100k.catalog.items
    new = [Item("n1", "Galactic Rebels (2026)", {"genres": "Sci-Fi|Space Opera"}),
           Item("n2", "Quiet Harbour, The (2026)", {"genres": "Drama"})]
    old = ReasonChecker(Catalog(items))
    grown = old.with_items(new)
    whole = ReasonChecker(Catalog([*items, *new]))
    assert grown.n_items == whole.n_items == 1684 and old.n_items == 1682
    assert grown.titles._keys == whole.titles._keys and set(grown.genre_words) == set(whole.genre_words)
    item, history = items[171], [items[49]]
    for reason in ["Like Galactic Rebels, a space opera.", "As quiet as The Quiet Harbour", "Quiet Harbour, The fans",
                   "A space opera, like Star Wars", "Because you liked Fargo (1996)", "A drama"]:
        assert grown.flags(reason, item, history, []) == whole.flags(reason, item, history, []), reason
    assert ReasonFlag.OTHER_TITLE in grown.flags("Like Galactic Rebels", item, history, [])
    assert old.flags("Like Galactic Rebels, a space opera", item, history, []) == []  # unknown to the old one


def test_a_checker_given_the_genre_indexs_genres_checks_as_one_that_reads_every_item(ml100k):
    """A warmed service's checker takes the catalog's genres from the genre index (``GenreIndex.names``)
    rather than read every item's again: the same words, one pattern per genre in any case
    ("Comedy" beside "COMEDY" is one genre to look for), and the same flags."""
    from zsrec.item_filter import GenreIndex

    odd = [Item("o1", "Loud Night (2026)", {"genres": "Comedy|COMEDY|Space Opera"}),
           Item("o2", "Quiet Day (2026)", {"genres": "space opera| Film-Noir"})]
    catalog = Catalog([*ml100k.catalog.items, *odd])
    index = GenreIndex(catalog)
    read, given = ReasonChecker(catalog), ReasonChecker(catalog, genres=index.names.keys())
    assert list(read.genre_words) != [] and sorted(read.genre_words) == sorted(given.genre_words) == sorted(index.names)
    assert {g: rx.pattern for g, rx in read.genre_words.items()} == {g: rx.pattern for g, rx in given.genre_words.items()}
    assert read.genre_words["comedy"].pattern == r"\bcomedys?\b" and "COMEDY" not in read.genre_words
    items = catalog.items
    item, history = items[-2], [items[49]]
    for reason in ["A COMEDY, like Star Wars (1977)", "Space operas fans love", "a film-noir you will like",
                   "A western like your picks", "Comedies like your picks", "A drama"]:
        flags = read.flags(reason, item, history, [])
        assert given.flags(reason, item, history, []) == flags, reason
    assert ReasonFlag.WRONG_GENRE in read.flags("A western", item, history, [])
    assert ReasonFlag.WRONG_GENRE not in read.flags("A COMEDY about space operas", item, history, [])


def test_numbers_must_be_the_facts_numbers(ml100k):
    checker = ReasonChecker(ml100k.catalog)
    items = ml100k.catalog.items
    facts = EvidenceIndex(ml100k.catalog, ml100k.interactions).facts([49], [171])[0]
    co = facts[0]
    true = f"facts: picked by {co.share:.0%} ({co.count} of {co.base}) of those who picked Star Wars (1977)"
    checked = checker.check(true, items[171], [items[49]], facts)
    assert checked.source.value == "llm" and checked.text.startswith("picked by")  # the echoed label is dropped
    wrong = true.replace(f"({co.count} of", f"({co.count // 10} of")
    assert checker.flags(wrong, items[171], [items[49]], facts) == [ReasonFlag.WRONG_NUMBER]


def test_every_item_leaves_with_a_reason(ml100k):
    """A model whose reasons are all invented: every one is flagged and replaced by the evidence."""
    invented = lambda p: "\n".join(f"[{i}] - a sequel to Return of the Jedi (1983)" for i in range(1, 11))  # noqa: E731
    r = Recommender(ml100k, backend=ScriptedBackend(invented)).recommend(["Toy Story (1995)", "Fargo (1996)"])
    assert all(it.reason and it.reason_source == "evidence" for it in r.items)
    assert all("names_other_title" in it.reason_flags for it in r.items
               if it.source == "llm" and it.title != "Return of the Jedi (1983)")
    assert all(it.evidence and it.evidence[-1].kind == "popularity" for it in r.items)
    kept = lambda p: "[1] - a Fargo fan's kind of crime story\n[2] - fun"  # noqa: E731
    r = Recommender(ml100k, backend=ScriptedBackend(kept)).recommend(["Fargo (1996)"])
    first = r.items[0]
    crime = "Crime" in first.evidence[1].genres if first.evidence[1].kind == "shared_genres" else False
    if crime:  # a true claim about a crime film that names the user's own pick: kept as the model said it
        assert first.reason == "a Fargo fan's kind of crime story" and first.reason_source == "llm"
    else:
        assert "wrong_genre" in first.reason_flags
    assert r.items[1].reason_source == "evidence" and r.items[1].reason_flags == ["ungrounded"]


def test_evidence_reasons_need_no_generation_and_none_means_none(ml100k):
    backend = ScriptedBackend(lambda p: "[1]")
    r = Recommender(ml100k, backend=backend, reasons="evidence").recommend(["Fargo (1996)"])
    assert all(it.reason_source == "evidence" and it.reason for it in r.items)
    r = Recommender(ml100k, backend=backend, reasons="none").recommend(["Fargo (1996)"])
    assert all(it.reason == "" and it.reason_source == "none" for it in r.items)
    assert Recommender(ml100k, backend=backend, reasons=False).ranker.config.reasons.value == "none"
    with pytest.raises(OptionError, match="reasons must be one of"):
        Recommender(ml100k, backend=backend, reasons="maybe")


def test_explain_prompt_shows_the_evidence(ml100k):
    from conftest import ScoringBackend

    backend = ScoringBackend(lambda p: [float(-i) for i in range(20)], answer=lambda p: "")
    Recommender(ml100k, backend=backend, k=3, mode="score").recommend(["Star Wars (1977)"])
    explain = backend.calls[0][0]
    assert explain.count(" - facts: ") == 3 and "of those who picked Star Wars (1977)" in explain
    score_prompt = backend.score_calls[0][0][0]
    assert "facts:" not in score_prompt  # the ranking prompt is unchanged


def test_cli_reasons_flag(tmp_path):
    data = write_ml100k(tmp_path / "ml")
    args = ["rank", "--data-path", str(data), "-H", "Star Wars (1977)", "--k", "1", "--n-candidates", "1",
            "--format", "json"]
    for flag, source in ((["--reasons", "evidence"], "evidence"), (["--reasons", "none"], "none"),
                         (["--no-reasons"], "none")):
        result = CliRunner().invoke(app, args + flag)
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["items"][0]["reason_source"] == source
    result = CliRunner().invoke(app, args + ["--reasons", "maybe"])
    assert result.exit_code == 2


@requires_default_model
@pytest.mark.model
def test_real_model_cli_first_example(tmp_path):
    """The README's first example: log-prob ranking, reasons from the data, no fallback."""
    result = CliRunner().invoke(app, ["rank", "--dataset", "ml-100k", "-H", "Toy Story (1995)", "-H", "Fargo (1996)",
                                      "-H", "Star Wars (1977)", "--mode", "score", "--reasons", "evidence",
                                      "--format", "json"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert not out["info"]["fallback"] and out["info"]["parsed"] == 20
    assert all(it["reason"] and it["reason_source"] == "evidence" for it in out["items"])
    assert any(f["kind"] == "co_picked" for f in out["items"][0]["evidence"])


def test_batch_report_counts_reasons(ml100k):
    from zsrec.batch import BatchReport

    report = BatchReport()
    rec = Recommender(ml100k, backend=ScriptedBackend(lambda p: "[1] - more Fargo-style crime\n[2] -"), k=3)
    list(rec.recommend_many(["1", "2"], n_history=3, report=report))
    total = sum(report.reason_sources.values())
    assert total == 6 and report.reason_sources["evidence"] >= 4
    assert "written from the data" in report.summary() and report.to_dict()["reason_flags"]["empty"] >= 2


def test_a_genre_named_twice_is_one_genre_and_matches_in_any_case():
    """"Comedy|COMEDY" was two genres: the filter counted the item twice in its genre and the facts
    said "Comedy and COMEDY"; and "comedy" in the history shared nothing with a "Comedy" item, where
    the genre filter and the reason checker match genres in any case."""
    from zsrec.data import Interactions
    from zsrec.item_filter import GenreIndex

    items = [Item("1", "Alpha (2001)", {"genres": "Comedy|COMEDY|Drama| comedy"}),
             Item("2", "Beta (2002)", {"genres": "comedy"}), Item("3", "Gamma (2003)", {"genres": "Drama, drama"})]
    assert [item_genres(it) for it in items] == [("Comedy", "Drama"), ("comedy",), ("Drama",)]
    assert GenreIndex(Catalog(items)).counts() == {"Comedy": 2, "Drama": 2}
    inter = Interactions.from_rows([("u", 0, 1.0, np.nan), ("u", 1, 2.0, np.nan), ("v", 2, 1.0, np.nan)])
    facts = EvidenceIndex(Catalog(items), inter).facts([1], [0, 2])
    shared = [f for f in facts[0] if isinstance(f, SharedGenres)]
    assert shared == [SharedGenres(("Comedy",))] and shared[0].text == "Comedy, like your picks"
    assert not any(isinstance(f, SharedGenres) for f in facts[1])
