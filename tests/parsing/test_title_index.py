"""Titles found in running text (``_TitleIndex``: what the parser reads titles off and the reason
checker reads named films off) by looking up runs of the text's words: the same mentions as scanning
the text for every title's every form, longest first, which took 0.75 s a reason at 1M titles."""

import random

import pytest

from zsrec.data import Catalog, Item
from zsrec.parsing import _TitleIndex, _words
from zsrec.titles import TitleMatcher, normalize_title

FILLERS = ["like", "because", "you", "loved", "the", "a", "and", ",", "The", "(1995)", "Star", "Wars", "II", ":",
           "-", "of", "Return", "Jedi", "fans", "of", "an", "A"]


def _scan(titles):
    """What a scan for every key finds: every title's four forms, longest key first (ties in the
    order keys were met), each key at its first place that no key before it took."""
    keys = {}
    for i, t in enumerate(titles):
        for key in (normalize_title(t), normalize_title(t, keep_year=False), _words(t), _words(t, keep_year=False)):
            if key and key not in keys:
                keys[key] = i
    ordered = sorted(keys.items(), key=lambda kv: -len(kv[0]))

    def scanned(text):
        norm = f" {_words(text)} "
        taken = []
        for key, idx in ordered:
            start = norm.find(f" {key} ")
            while start != -1:
                first, end = start, start + len(key)
                if all(end <= s or first >= e for s, e, _ in taken):
                    taken.append((first, end, idx))
                    break
                start = norm.find(f" {key} ", start + 1)
        return sorted(taken)
    return scanned


def _texts(titles, n, seed):
    rng = random.Random(seed)
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(0, 9)):
            if rng.random() < 0.4:
                t = rng.choice(titles)
                if rng.random() < 0.3:
                    t = t.rsplit(" (", 1)[0]  # without its year
                if rng.random() < 0.3:
                    t = " ".join(t.split()[: rng.randint(1, 4)])  # its first words only
                if rng.random() < 0.2:
                    t = t.upper()
                parts.append(t)
            else:
                parts.append(rng.choice(FILLERS))
        yield " ".join(parts)


def test_the_mentions_are_a_scan_for_every_title(ml100k):
    titles = [it.title for it in ml100k.catalog.items]
    index, scanned = _TitleIndex(titles), _scan(titles)
    found = 0
    for text in _texts(titles, 2000, seed=0):
        mentions = index.find_all(text)
        assert mentions == scanned(text), text
        found += bool(mentions)
    assert found > 1000  # most texts name a film: the comparison is not of empty lists


@pytest.mark.parametrize("text, expected", [
    ("Star Wars Episode I fans will like it", ["Star Wars Episode I (1999)"]),  # the longer key wins
    ("Heat, Fargo and Star Wars", ["Heat (1995)", "Fargo (1996)", "Star Wars (1977)"]),  # side by side
    # each key once: the title's two forms are two mentions
    ("like Usual Suspects, The and The Usual Suspects, The", ["Usual Suspects, The (1995)"] * 2),
    ("a A (2000) film", ["A (2000)", "A (2000)"]),
    ("", []), ("  ,;: -- ", []), ("nothing here", []),
])
def test_mentions_in_small_cases(text, expected):
    titles = ["Heat (1995)", "Fargo (1996)", "Usual Suspects, The (1995)", "Star Wars (1977)",
              "Star Wars Episode I (1999)", "A (2000)", "", "Heat (1995)"]
    found = _TitleIndex(titles).find_all(text)
    assert [titles[i] for _, _, i in found] == expected
    assert found == _scan(titles)(text)


def test_an_index_grown_by_new_titles_is_one_made_over_all(ml100k):
    titles = [it.title for it in ml100k.catalog.items]
    small = _TitleIndex(titles[:1000])
    grown, whole = small.with_titles(titles[1000:]), _TitleIndex(titles)
    assert (grown.titles, grown._keys, grown._lengths, grown.short) == (whole.titles, whole._keys, whole._lengths,
                                                                        whole.short)
    assert len(small.titles) == 1000 and len(small._keys) < len(whole._keys)  # left as it was
    for text in _texts(titles[900:], 500, seed=1):
        assert grown.find_all(text) == whole.find_all(text)


def test_forms_read_from_title_search_make_the_same_index(ml100k):
    """The reason checker reads the titles' normalised forms from title search (built, or from the
    index file) rather than making them: the same keys in the same order, odd titles included."""
    odd = [Item(f"x{i}", t) for i, t in enumerate(["Seven (Se7en) (1995)", "Amélie (Le Fabuleux destin) (2001)",
                                                   "City of Lost Children, The (1995)", "(500) Days of Summer (2009)",
                                                   "1995", "", "A, The (2000)", "Sherlock (2010-2017)"])]
    catalog = Catalog([*ml100k.catalog.items, *odd])
    titles = [it.title for it in catalog.items]
    matcher = TitleMatcher(catalog)
    forms = matcher.title_forms()
    assert forms == ([normalize_title(t) for t in titles], [normalize_title(t, keep_year=False) for t in titles])
    given, made = _TitleIndex(titles, forms), _TitleIndex(titles)
    assert list(given._keys.items()) == list(made._keys.items()) and given._lengths == made._lengths
    grown = matcher.with_items(Catalog([*catalog.items, Item("n1", "Galactic Rebels, The (2026)")]))
    assert grown.title_forms()[1][-1] == "the galactic rebels"


def _first_met(titles, start=0, keys=None):
    """Every key's value read title by title, as the index was made before it was made in C: 4 x the
    first title that has the key + which of its forms it is, a key held already keeping its own."""
    keys = {} if keys is None else dict(keys)
    for i, title in enumerate(titles, start=start):
        for pos, key in enumerate((normalize_title(title), normalize_title(title, keep_year=False), _words(title),
                                   _words(title, keep_year=False))):
            if key and key not in keys:
                keys[key] = 4 * i + pos
    return keys


ODD = ["Seven (Se7en) (1995)", "Amélie (Le Fabuleux destin) (2001)", "City of Lost Children, The (1995)",
       "(500) Days of Summer (2009)", "1995", "", "A, The (2000)", "Sherlock (2010-2017)", "Usual Suspects, The",
       "The Usual Suspects (1995)", "Usual Suspects, The (1995)", "Heat (1995)", "Heat (1995)", "Heat",
       "Umbrellas of Cherbourg, The (Parapluies de Cherbourg, Les) (1964)", "An American in Paris (1951)",
       "American in Paris, An (1951)", "Big, Bad, and the Ugly, A (1990)"]


@pytest.mark.parametrize("split", [0, 1, 7, 1000, 1682])
def test_each_key_holds_its_first_title_and_form(ml100k, split):
    """Made in C (the forms of every title at once, the last first so that the first stays), each
    key's value is the one a title-by-title pass gives: the first title that has it, and which of
    its four forms, with titles held twice, titles with ", The" in their forms' order, an empty
    title and a year alone. Grown by more titles, keys held already keep theirs."""
    rng = random.Random(split)
    titles = [it.title for it in ml100k.catalog.items] + ODD
    titles = titles[:split] + rng.sample(ODD, len(ODD)) + titles[split:]
    whole = _TitleIndex(titles)
    assert whole._keys == _first_met(titles)
    assert whole._lengths == sorted({key.count(" ") + 1 for key in whole._keys})
    grown = _TitleIndex(titles[:split]).with_titles(titles[split:])
    assert grown._keys == _first_met(titles[split:], split, _first_met(titles[:split])) == whole._keys
    assert grown._lengths == whole._lengths
