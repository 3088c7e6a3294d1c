import pytest

from zsrec.errors import UnknownItemError
from zsrec.titles import TitleMatcher, normalize_title


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
