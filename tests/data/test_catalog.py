"""A catalog's own lookups (ids, titles held twice) and the genre index kept up to date as items arrive."""

import numpy as np
import pytest

from zsrec.data import Catalog, Item
from zsrec.item_filter import GenreIndex


def _twins_of_every_row(catalog):
    return [catalog.same_title([row]) for row in range(len(catalog))]


@pytest.mark.parametrize("made_first", [True, False])
def test_titles_held_twice_are_kept_up_to_date_by_extend_and_copies_keep_their_own(ml100k, made_first):
    """same_title's groups are made once and then updated by each add: a new item under an old single
    title, under a title two rows hold already, two new items under one new title in one batch, and
    one under a title an earlier batch brought. After each, every row's twins are what a catalog built
    over the same items gives; a copy, and a catalog ``with_items`` was made from, keep their own."""
    catalog = Catalog(ml100k.catalog.items)
    titles = [item.title for item in catalog.items]
    snatchers = [i for i, t in enumerate(titles) if t == "Body Snatchers (1993)"]
    if made_first:
        assert catalog.same_title([snatchers[0]]) == [snatchers[1]]
    batches = [[Item("n1", titles[0], {})],
               [Item("n2", "Body Snatchers (1993)", {}), Item("n3", "Brand New (2026)", {}),
                Item("n4", "Brand New (2026)", {})],
               [Item("n5", "Brand New (2026)", {}), Item("n6", titles[0], {}), Item("n7", "Alone (2026)", {})]]
    copies = []
    for batch in batches:
        before = _twins_of_every_row(catalog) if made_first else None
        larger = catalog.with_items(batch)
        if made_first:
            assert _twins_of_every_row(catalog) == before  # with_items left it as it was
        copies.append((catalog.copy(), len(catalog)))
        rows = catalog.extend(batch)
        whole = Catalog(catalog.items)
        assert _twins_of_every_row(catalog) == _twins_of_every_row(whole) == _twins_of_every_row(larger)
        assert catalog.ids == whole.ids and [catalog.index_of(it.id) for it in batch] == rows.tolist()
    n = len(ml100k.catalog)
    assert catalog.same_title([0]) == [n, n + 5]
    assert catalog.same_title([snatchers[0]]) == [snatchers[1], n + 1]
    assert catalog.same_title([n + 2]) == [n + 3, n + 4] and catalog.same_title([n + 6]) == []
    for copy, size in copies:  # each copy holds the catalog as it was when copied
        assert len(copy) == size and _twins_of_every_row(copy) == _twins_of_every_row(Catalog(copy.items))
    with pytest.raises(ValueError, match="duplicate item id 'n1'"):
        catalog.with_items([Item("n1", "Again (2026)", {})])


def test_a_genre_index_grown_by_new_items_is_the_one_built_over_them(ml100k):
    catalog = Catalog(ml100k.catalog.items)
    built = GenreIndex(catalog)
    counts = built.counts()
    new = [Item("g1", "A (2026)", {"genres": "Comedy|Space Opera"}), Item("g2", "B (2026)", {"genres": "comedy"}),
           Item("g3", "C (2026)", {})]
    grown = built.with_items(new)
    catalog.extend(new)
    whole = GenreIndex(catalog)
    assert grown.n_items == whole.n_items == len(catalog) and grown.names == whole.names
    assert grown.counts() == whole.counts() and grown.counts()["Space Opera"] == 1
    assert grown._rows.keys() == whole._rows.keys()
    for key in whole._rows:
        assert np.array_equal(grown._rows[key], whole._rows[key]), key
    assert built.counts() == counts and built.n_items == len(ml100k.catalog)  # the one grown from is as it was


def test_an_items_genre_text_is_its_first_genre_field_that_holds_text():
    """What the genre index, the checker, the evidence and the prompts read: "genres", then "genre",
    then "class", an empty one passed over, "" where none holds text."""
    assert Item("1", "x", {"genre": "Drama", "genres": "Comedy", "class": "Toys"}).genre_text() == "Comedy"
    assert Item("1", "x", {"genres": "", "class": "Toys", "genre": "Drama"}).genre_text() == "Drama"
    assert Item("1", "x", {"genres": "", "genre": "", "class": "Toys"}).genre_text() == "Toys"
    assert Item("1", "x", {"genres": "", "description": "Comedy"}).genre_text() == ""
    assert Item("1", "x").genre_text() == ""


def test_a_genre_index_over_no_items_or_no_genres_is_empty_and_grows():
    """The rows are grouped by one sort of the texts' numbers: no items, and items of no genre, give
    an index of nothing, which grows as one built over the items would."""
    empty = GenreIndex(Catalog([]))
    assert (empty.n_items, empty.names, empty._rows) == (0, {}, {})
    plain = [Item(str(i), f"t{i}", {"genres": g}) for i, g in enumerate(["", "unknown", "(no genres listed)"])]
    none = empty.with_items(plain)
    assert (none.n_items, none.names, none._rows) == (3, {}, {})
    grown = none.with_items([Item("9", "t9", {"genres": "Comedy"}), Item("10", "t10", {"genres": "comedy|Drama"})])
    assert grown.counts() == {"Comedy": 2, "Drama": 1} and grown._rows["comedy"].tolist() == [3, 4]
