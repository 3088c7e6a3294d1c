import numpy as np
import pytest

from zsrec.errors import UnknownItemError
from zsrec.data import Catalog, Item
from zsrec.titles import TitleMatcher, normalize_title, title_names


def test_normalize_moves_trailing_article_and_keeps_year():
    assert normalize_title("Usual Suspects, The (1995)") == "the usual suspects 1995"
    assert normalize_title("The Usual Suspects", keep_year=False) == "the usual suspects"
    assert normalize_title("Amélie!") == "amelie"


@pytest.mark.parametrize("query,title,how", [
    ("Toy Story (1995)", "Toy Story (1995)", "exact"),
    ("toy story", "Toy Story (1995)", "normalized"),
    ("The Usual Suspects (1995)", "Usual Suspects, The (1995)", "normalized"),
    ("Star Wars", "Star Wars (1977)", "normalized"),
    ("Fargo 1996", "Fargo (1996)", "normalized"),
    ("Godfather, The", "Godfather, The (1972)", "normalized"),
    ("Shawshank Redemtion", "Shawshank Redemption, The (1994)", "fuzzy"),
    ("50", "Star Wars (1977)", "exact"),
    ("star warz", "Star Wars (1977)", "fuzzy"),
    ("Godfathr (1972)", "Godfather, The (1972)", "fuzzy"),  # an item id typed as-is
])
def test_matches(ml100k, query, title, how):
    m = TitleMatcher(ml100k.catalog, ml100k.interactions.item_counts(len(ml100k.catalog)))
    hit = m.match(query)
    assert hit is not None and ml100k.catalog.items[hit.index].title == title and hit.how == how


def test_ambiguous_title_goes_to_most_popular(ml100k):
    counts = ml100k.interactions.item_counts(len(ml100k.catalog))
    m = TitleMatcher(ml100k.catalog, counts)
    hit = m.match("Cape Fear")
    versions = [i for i, it in enumerate(ml100k.catalog.items) if it.title.startswith("Cape Fear (")]
    assert len(versions) > 1 and hit.index == max(versions, key=lambda i: counts[i])


def test_unmatched_are_reported_with_suggestions(ml100k):
    m = TitleMatcher(ml100k.catalog)
    with pytest.raises(UnknownItemError) as e:
        m.match_all(["Toy Story (1995)", "Qwzx Blorp", "zzzz 9999", "Zzyzx Qqq Road"])
    assert e.value.unmatched == ["Qwzx Blorp", "zzzz 9999", "Zzyzx Qqq Road"]
    assert "closest:" in str(e.value)
    matches, missing = m.match_all(["Toy Story (1995)", "Qwzx Blorp"], allow_unmatched=True)
    assert len(matches) == 1 and missing == ["Qwzx Blorp"]


@pytest.mark.parametrize("query,title", [
    ("Seven", "Seven (Se7en) (1995)"),
    ("Se7en (1995)", "Seven (Se7en) (1995)"),
    ("la femme nikita", "Nikita (La Femme Nikita) (1990)"),
    ("The Killer", "Die xue shuang xiong (Killer, The) (1989)"),
    ("La Haine", "Hate (Haine, La) (1995)"),
    ("Independence Day", "Independence Day (ID4) (1996)"),
    ("Ghost in the Shel", "Ghost in the Shell (Kokaku kidotai) (1995)"),  # a typo of one name
])
def test_a_film_is_found_by_each_of_its_names(ml100k, query, title):
    """MovieLens writes a film's other names in brackets; 81 ML-100K titles have them, and typing
    "Seven" found nothing."""
    m = TitleMatcher(ml100k.catalog, ml100k.interactions.item_counts(len(ml100k.catalog)))
    hit = m.match(query)
    assert hit is not None and ml100k.catalog.items[hit.index].title == title


def test_other_names_of_grouplens_current_titles():
    assert title_names("Toy Story (1995)") == [] and title_names("Sherlock (2010-2017)") == ["Sherlock"]  # years, not a name
    assert title_names("Léon: The Professional (a.k.a. The Professional) (Léon) (1994)") == [
        "Léon: The Professional (1994)", "The Professional (1994)", "Léon (1994)"]
    items = [Item("1", "Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)", {}),
             Item("2", "City of God (Cidade de Deus) (2002)", {}),
             Item("3", "Professional, The (2003)", {}),  # another film's own title beats an other name
             Item("4", "Léon: The Professional (a.k.a. The Professional) (Léon) (1994)", {})]
    m = TitleMatcher(Catalog(items), np.array([1.0, 1.0, 1.0, 50.0]))
    found = {q: items[m.match(q).index].id for q in ("amelie", "Le fabuleux destin d'Amelie Poulain", "City of God",
                                                       "cidade de deus (2002)", "The Professional", "Leon",
                                                       "The Professional (1994)")}
    assert found == {"amelie": "1", "Le fabuleux destin d'Amelie Poulain": "1", "City of God": "2",
                     "cidade de deus (2002)": "2", "The Professional": "3", "Leon": "4",
                     "The Professional (1994)": "4"}


def test_search_box_index_finds_what_a_scan_of_every_title_finds(ml100k, monkeypatch):
    """The search box reads a sorted index of title words instead of looking at every title per
    keystroke; for every prefix of every ML-100K title word (and two-word queries) it must give the
    titles the plain rule gives: each typed word starts a word of the title, most picked first."""
    from zsrec import titles

    pop = ml100k.interactions.item_counts(len(ml100k.catalog))
    matcher = TitleMatcher(ml100k.catalog, pop)
    words = [normalize_title(item.title).split() for item in ml100k.catalog]
    order = [int(i) for i in np.argsort(-pop, kind="stable")]

    def scan(query, limit):
        typed = normalize_title(query).split()
        return [i for i in order if all(any(w.startswith(q) for w in words[i]) for q in typed)][:limit]

    queries = {w[:k] for row in words for w in row for k in range(1, len(w) + 1)}
    queries |= {f"{row[1][:2]} {row[0][:3]}" for row in words if len(row) > 1}
    checked = 0
    for q in sorted(queries):
        expected = scan(q, 10)
        if expected:  # an empty scan is a typo: fuzzy matching answers instead
            assert matcher.search(q, 10) == expected, q
            assert matcher.search(q, 1) == expected[:1], q
            checked += 1
    assert checked > 5000
    # a typo looks among the most picked titles only where the catalog is larger than that pool
    assert ml100k.catalog.items[matcher.search("godfathr", 1)[0]].title == "Godfather, The (1972)"
    assert titles._fuzzy_pool(matcher.__dict__) is matcher._choices_noyear  # every name: the list itself
    monkeypatch.setattr(titles, "FUZZY_SEARCH_TITLES", 50)
    small_pool = TitleMatcher(ml100k.catalog, pop)
    assert len({int(small_pool._name_row[name]) for name in titles._fuzzy_pool(small_pool.__dict__)}) == 50
    assert ml100k.catalog.items[small_pool.search("godfathr", 1)[0]].title == "Godfather, The (1972)"  # most picked
    for row in reversed(order):  # a rarely picked film, typed with one letter dropped from its first word
        name = ml100k.catalog.items[row].title.rsplit(" (", 1)[0]
        first = name.split()[0]
        typo = first[:2] + first[3:] + name[len(first):] if len(first) > 5 else ""
        if typo and not scan(typo, 1) and matcher.search(typo, 1) == [row]:
            break
    else:
        raise AssertionError("no rarely picked title found by its typo")
    assert row not in small_pool.search(typo, 10)  # outside the pool of the 50 most picked
    title = ml100k.catalog.items[row].title
    assert title in matcher.suggestions(typo) and title not in small_pool.suggestions(typo)  # errors' suggestions too


def _tables_by_the_rule(matcher, pop):
    """The three lookup tables as the rule reads, one key at a time: whole titles, most picked first
    (ties to the lower row), then every other name the same way; each key keeps the first row."""
    order = [int(i) for i in np.argsort(-np.asarray(pop), kind="stable")]
    exact, norm, noyear = {}, {}, {}
    names = [[item.title, *title_names(item.title)] for item in matcher.catalog.items]
    for i in order:
        exact.setdefault(names[i][0], i)
        norm.setdefault(normalize_title(names[i][0]), i)
        noyear.setdefault(normalize_title(names[i][0], keep_year=False), i)
    for i in order:
        for name in names[i][1:]:
            norm.setdefault(normalize_title(name), i)
            noyear.setdefault(normalize_title(name, keep_year=False), i)
    return exact, norm, noyear


def _tables(matcher):
    """A matcher's three lookup tables as rows (the normalised ones map a key to a name)."""
    def rows(table):
        return {key: int(matcher._name_row[name]) for key, name in table.items()}
    return matcher._exact, rows(matcher._norm), rows(matcher._norm_noyear)


def test_a_matcher_grown_by_new_items_is_the_one_built_over_them(ml100k):
    items = ml100k.catalog.items
    pop = np.random.default_rng(0).integers(0, 3, len(items)).astype(float)  # many ties
    built = TitleMatcher(ml100k.catalog, pop)
    assert _tables(built) == _tables_by_the_rule(built, pop)
    seven = next(i for i, it in enumerate(items) if it.title.startswith("Seven (Se7en)"))
    new = [Item("n1", "Se7en (1995)", {}), Item("n2", "Seven (Se7en) (1995)", {}), Item("n3", "Brand New Film (2026)", {})]
    grown_pop = np.concatenate([pop, np.zeros(len(new))])
    for cut in (1, 1000, len(items)):
        small = TitleMatcher(Catalog(items[:cut]), pop[:cut] + 1)  # other counts then: the tables follow these
        grown = small.with_items(Catalog(items).with_items(new), grown_pop)
        whole = TitleMatcher(Catalog(items).with_items(new), grown_pop)
        assert _tables(grown) == _tables_by_the_rule(whole, grown_pop)
        for table in ("_exact", "_norm", "_norm_noyear", "_vocab"):
            assert getattr(grown, table) == getattr(whole, table), table
        for table in ("_choices", "_choices_noyear"):  # fuzzy matching reads these in order
            assert getattr(grown, table) == getattr(whole, table), table
        for array in ("_posting", "_offsets", "_order"):
            assert np.array_equal(getattr(grown, array), getattr(whole, array)), array
    # a new item's own title wins over an older film's other name; the older film keeps its own title
    assert grown.match("se7en 1995").index == len(items) and grown.match("Seven (Se7en) (1995)").index == seven
    assert grown.search("brand new", 5) == [len(items) + 2]
    with pytest.raises(ValueError, match="this matcher's items and then new ones"):
        built.with_items(Catalog(items[1:]).with_items(new))


def _shared_titles(rng, n, start=0):
    """Titles from a handful of words, so most keys are shared: the same title in other years or none,
    other names in brackets (some another title's own name), a trailing article."""
    words = ["red", "river", "night", "seven", "se7en", "blue", "city", "god"]
    items = []
    for i in range(start, start + n):
        name = " ".join(rng.choice(words, rng.integers(1, 3))).title()
        if rng.random() < 0.3:
            name = f"{name} ({' '.join(rng.choice(words, rng.integers(1, 3))).title()})"
        if rng.random() < 0.1:
            name = f"{name}, The"
        year = f" ({rng.integers(1990, 1994)})" if rng.random() < 0.8 else ""
        items.append(Item(f"i{i}", name + year, {}))
    return items


def test_shared_keys_follow_popularity_through_grows_and_each_matcher_keeps_its_own():
    """A grow orders only the names of shared keys again: after each of several grows (new items
    sharing keys with old ones and with each other, popularity changed each time, ties and all) the
    tables are the rule's, equal to a whole build, and the matcher grown from is left as it was."""
    rng = np.random.default_rng(3)
    items = _shared_titles(rng, 300)
    pop = rng.integers(0, 4, len(items)).astype(float)
    matchers = [(TitleMatcher(Catalog(items), pop), pop)]
    for batch in (1, 2, 40, 1, 120):
        items = items + _shared_titles(rng, batch, start=len(items))
        pop = np.concatenate([matchers[-1][1], np.zeros(batch)])
        pop[rng.choice(len(pop), 30)] += rng.integers(1, 4, 30)  # picks since: a new order
        grown = matchers[-1][0].with_items(Catalog(items), pop)
        whole = TitleMatcher(Catalog(items), pop)
        assert _tables(grown) == _tables(whole) == _tables_by_the_rule(whole, pop)
        assert grown._vocab == whole._vocab
        for array in ("_posting", "_offsets", "_order", "_name_row"):
            assert np.array_equal(getattr(grown, array), getattr(whole, array)), array
        for before, its_pop in matchers:  # every matcher grown from answers as before
            assert _tables(before) == _tables_by_the_rule(before, its_pop)
        matchers.append((grown, pop))
    shared = grown._keys_noyear
    assert len(shared.keys) > 20 and len(shared.members) > 200  # the case this test is about
    top = int(np.argmax(pop))  # the most picked item wins its title as typed, and its normalised title
    assert grown.match(items[top].title).index == top
    assert pop[grown.match(normalize_title(items[top].title)).index] == pop[top]


def test_a_matcher_under_new_popularity_is_the_one_built_with_it(monkeypatch):
    """Picks move popularity: ``with_popularity`` orders the shared keys, the search box and the typo
    pool again without reading a title, equal to a build with that popularity, and leaves the matcher
    it came from (which requests read until it is put in place) as it was."""
    from zsrec import titles

    monkeypatch.setattr(titles, "FUZZY_SEARCH_TITLES", 60)  # the typo pool: the 60 most picked of 300
    rng = np.random.default_rng(5)
    catalog = Catalog(_shared_titles(rng, 300))
    pop = rng.integers(0, 4, len(catalog)).astype(float)
    matchers = [(TitleMatcher(catalog, pop), pop)]
    queries = ["red", "river ni", "seven 1991", "god", "blu cit", "se7en", "rivr"]  # the last a typo
    for _ in range(6):
        pop = matchers[-1][1].copy()
        pop[rng.choice(len(pop), 30)] += rng.integers(1, 6, 30)  # picks since: a new order
        moved = matchers[-1][0].with_popularity(pop)
        whole = TitleMatcher(catalog, pop)
        assert _tables(moved) == _tables(whole) == _tables_by_the_rule(whole, pop)
        for array in ("_posting", "_offsets", "_order", "_name_row"):
            assert np.array_equal(getattr(moved, array), getattr(whole, array)), array
        for query in queries:
            assert moved.search(query, 10) == whole.search(query, 10), query
            assert moved.suggestions(query) == whole.suggestions(query), query
        top = set(np.argsort(-pop, kind="stable")[:60].tolist())  # the pool: every name of those rows, in row order
        assert list(titles._fuzzy_pool(moved.__dict__).items()) == [
            (name, text) for name, text in enumerate(whole._choices_noyear) if whole._name_row[name] in top]
        for before, its_pop in matchers:  # every matcher it came from answers as before
            assert _tables(before) == _tables_by_the_rule(before, its_pop)
            assert before._order.tolist() == np.argsort(-its_pop, kind="stable").tolist()
        matchers.append((moved, pop))
    first = matchers[0][0]  # what popularity does not order is not made again
    assert moved._choices is first._choices and moved._vocab is first._vocab and moved._name_row is first._name_row
    # popularity that moves no shared key's first name copies no lookup
    same = moved.with_popularity(pop + 0.5)
    assert same._keys_norm is moved._keys_norm and same._norm is moved._norm
    assert same._pool is moved._pool is not None  # the same most picked rows: the typo pool is kept
    with pytest.raises(ValueError, match="one count per item"):
        moved.with_popularity(pop[:-1])


ODD_TITLES = [
    "Usual Suspects, The (1995)", "Seven (Se7en) (1995)", "City of God (Cidade de Deus) (2002)",
    "Léon (a.k.a. The Professional) (1994)", "Amélie (2001)", "The Thing", "A Man, A Plan (1999)", "Se7en",
    "An Affair (TV) (1990)", "Sherlock (2010-2017)", "Seven (Se7en)", "x (y) (z) (2003)", "(1999)", "1999",
    "!!!", "", "   ", "the", "a a a", "Anne, An (1990)", "Les Misérables, Les (1998)", "Crème brûlée ()",
    "Ｆｕｌｌ Ｗｉｄｔｈ （１９９９）", "Tab\tTitle (2001)  ", "Star Wars (1977)", "Star Wars (1977)", "Ant-Man (2015)",
    "Trailing Year (2001) ", "Two Years (1990) (2001)", "Line\nBreak (2000)", "Comma, Then, The",
]


@pytest.mark.parametrize("chunk", [7, 1 << 15])
def test_every_title_is_read_once_into_the_forms_of_each_of_its_names(chunk, monkeypatch):
    """A start reads each title's names in one pass with one year search (most titles are ASCII and
    hold no other name); the lists must be what normalising each name on its own gives, titles with
    other names, accents, no year or odd spacing included, and so must the title words and their rows,
    numbered a chunk of titles at a time (words shared across chunks too)."""
    from zsrec import titles as module
    from zsrec.titles import both_forms, _Names, _without_articles, strip_leading_article

    monkeypatch.setattr(module, "WORDS_CHUNK", chunk)

    rng = np.random.default_rng(5)
    titles = ODD_TITLES + [item.title for item in _shared_titles(rng, 300)]
    names = _Names([Item(str(i), t, {}) for i, t in enumerate(titles)])
    expected = [[both_forms(name) for name in [t, *title_names(t)]] for t in titles]
    assert [len(e) for e in expected] == np.diff(names.start).tolist()
    assert list(zip(names.with_year, names.without)) == [form for e in expected for form in e]
    every_name = [name for t in titles for name in [t, *title_names(t)]]  # and normalize_title's, one by one
    assert names.with_year == [normalize_title(n) for n in every_name]
    assert names.without == [normalize_title(n, keep_year=False) for n in every_name]
    assert any(len(e) > 1 for e in expected) and any(not t.isascii() for t in titles)
    for listed in (names.with_year, names.without, ["the", "thee", "a", "an ", "another", "a  b", "an an"]):
        assert _without_articles(listed) == [strip_leading_article(n) for n in listed]

    matcher = TitleMatcher(Catalog([Item(str(i), t, {}) for i, t in enumerate(titles)]))
    words = [normalize_title(t).split() for t in titles]  # the title words (year kept), each with its rows
    vocab = sorted({w for row in words for w in row})
    assert matcher._vocab == vocab
    for k, w in enumerate(vocab):
        rows = matcher._grouped[matcher._offsets[k]:matcher._offsets[k + 1]].tolist()
        assert rows == [i for i, row in enumerate(words) for x in row if x == w], w


def test_the_whole_titles_table_comes_from_the_catalogs_groups_kept_through_extends():
    """A matcher's table of whole titles is made from the groups the catalog keeps of its titles (held
    twice or more), not by reading every title again: over a catalog grouped, then extended by items
    sharing titles with old ones and with each other, it must be the table made from the titles."""
    from zsrec.titles import _FirstEntries

    rng = np.random.default_rng(9)
    items = _shared_titles(rng, 200)
    extended = Catalog(items[:120])
    extended.same_title(())  # the groups made now, then kept up to date by each extend
    extended.extend(items[120:160])
    extended.extend(items[160:])
    pop = rng.integers(0, 4, len(items)).astype(float)  # ties and all
    for catalog in (extended, Catalog(items)):
        titles = [item.title for item in catalog.items]
        made, read = _FirstEntries.of_titles(catalog), _FirstEntries(titles, list(range(len(titles))))
        assert made.lookup == read.lookup and made.keys == read.keys and made.group == read.group
        for array in ("members", "winners", "member_group"):
            assert np.array_equal(getattr(made, array), getattr(read, array)), array
        assert len(made.keys) > 20 and made.lookup is not catalog.title_groups()[0]  # a lookup of its own
        matcher = TitleMatcher(catalog, pop)
        assert _tables(matcher) == _tables_by_the_rule(matcher, pop)
        assert catalog.title_groups()[0] == {t: titles.index(t) for t in titles}  # the catalog's own: unchanged
    fresh = Catalog(items)
    assert fresh._twins is None
    TitleMatcher(fresh)  # a start's matcher makes the groups: no request waits for them (``same_title``)
    assert fresh._twins is not None and fresh.same_title([0]) == [i for i in range(1, 200) if items[i].title == items[0].title]


def _same_matcher(read, built):
    """Every table two matchers hold is equal: what title matching, the search box and typos read,
    and what grows and new popularity start from."""
    for name, value in built.__dict__.items():
        other = read.__dict__[name]
        if isinstance(value, np.ndarray):
            assert np.array_equal(other, value) and other.dtype == value.dtype, name
        elif name.startswith("_keys_"):
            assert (other.lookup, other.keys, other.group) == (value.lookup, value.keys, value.group), name
            for array in ("members", "winners", "member_group"):
                assert np.array_equal(getattr(other, array), getattr(value, array)), (name, array)
        elif name == "_names":
            assert (other.with_year, other.without) == (value.with_year, value.without)
            assert np.array_equal(other.start, value.start)
        elif name == "catalog":
            assert other is value
        else:
            assert other == value, name
    assert read.__dict__.keys() == built.__dict__.keys()


def test_a_matcher_read_from_its_arrays_is_the_one_built_with_that_popularity(tmp_path):
    """A start from the index file reads title search's tables (names in both forms, title words,
    shared keys' names) where it made them from every title: under any popularity, after grows and
    new popularity, over odd titles (no year, other names, accents, empty) too, what is read must
    be the matcher built over the catalog with that popularity, table for table."""
    from zsrec.npz_files import write_npz

    rng = np.random.default_rng(11)
    items = [Item(f"o{i}", t, {}) for i, t in enumerate(ODD_TITLES)] + _shared_titles(rng, 300)
    pop = rng.integers(0, 4, len(items)).astype(float)
    matcher = TitleMatcher(Catalog(items), pop)
    grown_items = items + _shared_titles(rng, 60, start=len(items))
    grown_pop = np.concatenate([pop, np.zeros(60)])
    grown_pop[rng.choice(len(grown_pop), 40)] += 3
    grown = matcher.with_items(Catalog(grown_items), grown_pop).with_popularity(grown_pop + rng.integers(0, 2, len(grown_pop)))
    assert grown._keys_norm.winners.tolist() != sorted(grown._keys_norm.winners.tolist())  # groups numbered by grows
    for saved, catalog in ((matcher, Catalog(items)), (grown, Catalog(grown_items))):
        arrays = saved.arrays()
        assert all(key.startswith("title_") for key in arrays)
        for later_pop in (None, rng.integers(0, 5, len(catalog)).astype(float)):
            read = TitleMatcher.from_arrays(arrays, catalog, later_pop)
            built = TitleMatcher(catalog, later_pop)
            _same_matcher(read, built)
            assert _tables(read) == _tables_by_the_rule(read, later_pop if later_pop is not None else np.zeros(len(catalog)))
            assert read.search("seven", 10) == built.search("seven", 10) and read.match("rivr").index == built.match("rivr").index
        write_npz(tmp_path / "index.npz", arrays)
        _same_matcher(TitleMatcher.from_file(tmp_path / "index.npz", catalog, later_pop), built)
    assert len(grown._keys_noyear.members) > 200 and any(name.startswith("the ") for name in grown._names.without)
    nothing = Catalog([])
    empty = TitleMatcher(nothing)
    _same_matcher(TitleMatcher.from_arrays(empty.arrays(), nothing), empty)


def test_a_matchers_arrays_for_other_titles_are_not_read_and_broken_ones_are_an_error(tmp_path):
    from zsrec.errors import DataError
    from zsrec.npz_files import write_npz

    items = _shared_titles(np.random.default_rng(2), 100)
    catalog = Catalog(items)
    arrays = TitleMatcher(catalog).arrays()
    assert TitleMatcher.from_arrays({}, catalog) is None  # a file saved before title search was kept
    other = [*items[:50], Item(items[50].id, items[50].title + " II", {}), *items[51:]]
    assert TitleMatcher.from_arrays(arrays, Catalog(other)) is None  # one title differs
    split = [Item("a", "a\x1eb", {}), Item("b", "c", {})]  # the same text joined, another split
    assert TitleMatcher.from_arrays(TitleMatcher(Catalog(split)).arrays(), Catalog(
        [Item("a", "a", {}), Item("b", "b\x1ec", {})])) is None
    assert TitleMatcher.from_arrays(arrays, Catalog(items[:99])) is None
    broken = {
        "title_start": arrays["title_start"][:-1],
        "title_with_year": arrays["title_with_year"][:arrays["title_with_year"].tolist().index(10)],  # one name
        "title_without": np.concatenate([arrays["title_without"], np.frombuffer(b"\nextra", dtype=np.uint8)]),
        "title_grouped": arrays["title_grouped"] + 100,
        "title_offsets": arrays["title_offsets"][::-1],
        "title_article_with": np.array([10 ** 6]),
        "title_norm_heads": arrays["title_norm_heads"] + 10 ** 6,
        "title_noyear_members": arrays["title_noyear_members"][:-1],
    }
    assert len(arrays["title_noyear_members"]) and len(arrays["title_article_with"]) < len(arrays["title_start"])
    for key, value in broken.items():
        with pytest.raises(ValueError):
            TitleMatcher.from_arrays({**arrays, key: value}, catalog)
        write_npz(tmp_path / "index.npz", {**arrays, key: value})
        with pytest.raises(DataError, match="cannot read index"):
            TitleMatcher.from_file(tmp_path / "index.npz", catalog)
