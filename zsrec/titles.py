"""Match titles people type to catalog items: exact, then normalised, then fuzzy above a threshold.

Normalisation handles the ways the same film is written: case, punctuation, MovieLens' trailing
article ("Usual Suspects, The (1995)"), and a missing year. MovieLens adds a film's other names in
brackets ("Seven (Se7en) (1995)", "City of God (Cidade de Deus) (2002)", "... (a.k.a. The
Professional)"): each name alone matches too, so "Seven" finds the film. Where a title fits several
items, the most popular wins, since that is the one a person most likely means; a whole title wins
over another film's other name.
"""

from __future__ import annotations

import bisect
import copy
import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

from .data import Catalog
from .errors import UnknownItemError
from .npz_files import REBUILD, read_npz
from .repeats import first_places, repeated

# A search box's typo fallback, and the closest titles an error suggests, score titles one by one: at
# 1M titles that is most of a second a keystroke (1.5 s a suggestion), so both look among the most
# picked (a person searching most likely means one of those).
FUZZY_SEARCH_TITLES = 100_000

# Title words are numbered this many titles at a time (``TitleMatcher._read``): a few MB of words at once.
WORDS_CHUNK = 1 << 15

_YEAR = re.compile(r"\s*\((\d{4})\)\s*$")
_LEADING_ARTICLE = re.compile(r"^(?:the|a|an) ")
_TRAILING_ARTICLE = re.compile(r"^(.*),\s*(the|a|an|les|la|le|il|el|das|der|die)$", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+")


def _words_and_year(title: str) -> tuple[list[str], str]:
    """A title's lower-case words (accents off, leading article restored) and its year ("" if none)."""
    if not title.isascii():  # accents off ("Amélie" is "amelie"); ASCII has none, and most titles are ASCII
        title = unicodedata.normalize("NFKD", title)
        title = "".join(c for c in title if not unicodedata.combining(c))
    body, year = _split_year(title)
    return _body_words(body), year


def _split_year(title: str) -> tuple[str, str]:
    """A title without its trailing "(1995)", and that year ("" if none). The pattern needs a ")",
    tested first: most names searched have none."""
    m = _YEAR.search(title) if ")" in title else None
    return (title[: m.start()], m.group(1)) if m else (title, "")


def _body_words(body: str) -> list[str]:
    """The words of a title whose year is off (``_words_and_year`` after the year)."""
    m = _TRAILING_ARTICLE.match(body.strip()) if "," in body else None
    if m:
        body = f"{m.group(2)} {m.group(1)}"
    return _WORD.findall(body.lower())


def normalize_title(title: str, keep_year: bool = True) -> str:
    """Lower-case words only, leading article restored, year kept as a bare token (or dropped)."""
    words, year = _words_and_year(title)
    return " ".join([*words, year] if keep_year and year else words)


def both_forms(title: str) -> tuple[str, str]:
    """``normalize_title`` with the year and without it, from one pass over the title."""
    return _joined(*_words_and_year(title))


def _joined(words: list[str], year: str) -> tuple[str, str]:
    """A title's words joined with its year ("" if none) and without it: ``normalize_title``'s two forms."""
    without = " ".join(words)
    return (f"{without} {year}" if without and year else without or year), without


def _forms_of_titles(titles: Sequence[str], with_year: list[str], without: list[str]) -> list[int]:
    """Each title's names (itself, then ``title_names``) in both forms, appended to the two lists;
    returns where each title's names end. What ``both_forms`` over every name gives, with one year
    search per title where it can: most titles are ASCII and hold no other name. At 1M titles, the
    name search's own year search and a call per name made this 2.2-2.5 s of a start (now 1.4-1.7 s)."""
    ends = []
    add_with, add_without = with_year.append, without.append
    for title in titles:
        if title.isascii():  # accents would be taken off before the year search: the general path
            body, year = _split_year(title)
            if ")" not in body:  # no other name (``title_names`` needs a ")" before the year)
                a, b = _joined(_body_words(body), year)
                add_with(a)
                add_without(b)
                ends.append(len(with_year))
                continue
        for name in [title, *title_names(title)]:
            a, b = both_forms(name)
            add_with(a)
            add_without(b)
        ends.append(len(with_year))
    return ends


_OTHER_NAME = re.compile(r"\s*\(([^()]+)\)\s*$")
_AKA = re.compile(r"^a\.?k\.?a\.?\s+", re.IGNORECASE)


def title_names(title: str) -> list[str]:
    """The names a MovieLens title holds beside itself, each with the title's year: "Seven (Se7en)
    (1995)" -> ["Seven (1995)", "Se7en (1995)"]. Empty for a title without bracketed names."""
    rest, year = _split_year(title)
    year = f" ({year})" if year else ""
    if ")" not in rest:  # no other name (most titles): the pattern below needs one
        return []
    others = []
    while (o := _OTHER_NAME.search(rest)) is not None and o.start() > 0:
        others.append(_AKA.sub("", o.group(1).strip()))
        rest = rest[: o.start()]
    if not others:
        return []
    # a name needs a letter and three characters: "Sherlock (2010-2017)" has a span of years, and
    # "(TV)" says what the item is, neither another name
    return [name + year for name in [rest.strip(), *reversed(others)]
            if re.search(r"[^\W\d_]", name) and len(normalize_title(name)) >= 3]


def strip_leading_article(normalized: str) -> str:
    """Drop a leading "the/a/an" from a normalised title, so fuzzy scores compare the words that matter."""
    return _LEADING_ARTICLE.sub("", normalized)


_ARTICLES = ("the ", "a ", "an ")  # what ``_LEADING_ARTICLE`` matches, tested first


def _without_articles(names: list[str]) -> list[str]:
    """``strip_leading_article`` of each name, the pattern run only on names that start with an article."""
    return [strip_leading_article(name) if name.startswith(_ARTICLES) else name for name in names]


def _fuzzy_key(title: str, keep_year: bool) -> str:
    return strip_leading_article(normalize_title(title, keep_year))


@dataclass(frozen=True)
class TitleMatch:
    query: str
    index: int  # catalog row
    how: str  # "exact" | "normalized" | "fuzzy"
    score: float  # 100 for exact and normalised matches


class _Names:
    """Every row's names normalised, with the year and without it, in flat lists (the title at
    ``start[row]``, its other names after it): what every table of a matcher is made from, kept so
    that a matcher over a grown catalog normalises only the new titles. Flat lists of strings the
    tables share, not a list per row: a million titles' containers would cost more than the text."""

    def __init__(self, items: Sequence, before: _Names | None = None):
        with_year = list(before.with_year) if before is not None else []
        without = list(before.without) if before is not None else []
        starts = [len(with_year), *_forms_of_titles([item.title for item in items], with_year, without)]
        self.with_year, self.without = with_year, without
        self.start = (np.concatenate([before.start[:-1], np.asarray(starts, dtype=np.int64)])
                      if before is not None else np.asarray(starts, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.start) - 1

    def rows(self) -> np.ndarray:
        """Each name's row."""
        return np.repeat(np.arange(len(self)), np.diff(self.start))


class _FirstEntries:
    """A lookup from a key to the first entry (name) that holds it by popularity (whole titles before other
    names, then the row's place), kept so that new popularity or new items reorder only the keys
    several names share. Most keys belong to one name, and so to one row whatever the popularity:
    only the shared ones (remakes, "Hamlet", one-word titles) need ordering. Building every table
    again took 2.2 s of an item add at 1M titles; this orders the shared keys' names with a few
    array passes.

    Entries are the names the table is made from, numbered in a fixed order (a row's title, then its
    other names); ``lookup`` maps a key to an entry, the rest lists the shared keys' entries."""

    def __init__(self, keys: list[str], numbers: list[int]):
        """``numbers``: ``list(range(len(keys)))`` or longer, its ints shared by the tables' lookups."""
        lookup = first_places(keys, numbers)
        self._shared(lookup, *repeated(keys, lookup), keys.__getitem__)

    @classmethod
    def of_titles(cls, catalog: Catalog) -> _FirstEntries:
        """The table of a catalog's whole titles (entries are rows), from the groups the catalog keeps
        of them (``Catalog.title_groups``, which a start makes anyway): what ``__init__`` over the
        titles gives, without finding each title's first row again (0.5 s of a start at 1M titles)."""
        first, groups = catalog.title_groups()
        members = np.fromiter(sorted(groups), dtype=np.int64, count=len(groups))
        heads = np.fromiter((groups[m][0] for m in members.tolist()), dtype=np.int64, count=len(members))
        table = cls.__new__(cls)
        items = catalog.items
        table._shared(dict(first), members, heads, lambda row: items[row].title)  # a lookup of its own
        return table

    @classmethod
    def of_saved(cls, keys: list[str], numbers: list[int], members: np.ndarray, heads: np.ndarray) -> _FirstEntries:
        """The table ``__init__`` makes over ``keys``, from its shared keys' entries and their first
        entries as ``unordered`` gave them: only the lookup is made again (a dict of every key)."""
        if len(members) != len(heads) or (len(members) and not (
                0 <= heads.min() and members.max() < len(keys) and np.all(heads <= members))):
            raise ValueError("saved title keys do not fit the names saved")
        table = cls.__new__(cls)
        table._shared(first_places(keys, numbers), members, heads, keys.__getitem__)
        return table

    def unordered(self) -> tuple[np.ndarray, np.ndarray]:
        """The shared keys' entries, ascending, and each one's key's first entry (``repeated``'s two
        arrays over the keys): what this table is made from before popularity orders it, whatever
        popularity or grows (which number new groups after the old) did since."""
        first = np.full(len(self.keys), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, self.member_group, self.members)
        by_entry = np.argsort(self.members, kind="stable")
        return self.members[by_entry], first[self.member_group[by_entry]]

    def _shared(self, lookup: dict[str, int], members: np.ndarray, heads: np.ndarray,
                key_of: Callable[[int], str]) -> None:
        """Set the table from each key's first entry and the entries of keys held more than once, each
        with its key's first entry (``repeated``); ``key_of``: an entry's key."""
        self.lookup: dict[str, int] = lookup  # each key's first entry
        self.members = members  # the shared keys' entries ...
        self.winners = np.unique(heads)  # each group's entry in ``lookup``
        self.member_group = np.searchsorted(self.winners, heads)  # ... and their groups
        self.keys: list[str] = [key_of(i) for i in self.winners.tolist()]  # shared keys, numbered as groups
        self.group: dict[str, int] = dict(zip(self.keys, range(len(self.keys))))

    def grown(self, keys: list[str], first: int) -> _FirstEntries:
        """A copy holding entries ``first``, ``first + 1``, ... with these ``keys`` too. A key new to
        the table goes to its entry until ``ordered`` says otherwise; this table is left as it is."""
        other = _FirstEntries.__new__(_FirstEntries)
        other.lookup, other.keys, other.group = dict(self.lookup), list(self.keys), dict(self.group)
        members, groups, winners = [], [], []
        for entry, key in enumerate(keys, start=first):
            g = other.group.get(key)
            if g is None:
                held = other.lookup.get(key)
                if held is None:  # a key no name had
                    other.lookup[key] = entry
                    continue
                g = len(other.keys)  # a key one name had: shared now
                other.keys.append(key)
                other.group[key] = g
                members.append(held)
                groups.append(g)
                winners.append(held)
            members.append(entry)
            groups.append(g)
        other.members = np.concatenate([self.members, np.asarray(members, dtype=np.int64)])
        other.member_group = np.concatenate([self.member_group, np.asarray(groups, dtype=np.int64)])
        other.winners = np.concatenate([self.winners, np.asarray(winners, dtype=np.int64)])
        return other

    def _first(self, place: np.ndarray, entry_rows: np.ndarray, later: np.ndarray | None) -> np.ndarray:
        """Each shared key's first entry by (``later``: 1 for other names; the ``place`` of its row;
        the entry)."""
        n, m = len(place), len(entry_rows)
        rank = place[entry_rows[self.members]]
        if later is not None:
            rank = later[self.members] * n + rank
        best = np.full(len(self.keys), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(best, self.member_group, rank * m + self.members)
        return best % m

    def _take(self, winners: np.ndarray) -> None:
        """Point the shared keys whose first entry moved at their new one, in this lookup."""
        moved = np.flatnonzero(winners != self.winners)
        self.lookup.update(zip([self.keys[g] for g in moved.tolist()], winners[moved].tolist()))
        self.winners = winners

    def ordered(self, place: np.ndarray, entry_rows: np.ndarray, later: np.ndarray | None) -> None:
        """Give each shared key its first entry (``_first``), in place: call it on a table no lookup
        reads yet."""
        if self.keys:
            self._take(self._first(place, entry_rows, later))

    def reordered(self, place: np.ndarray, entry_rows: np.ndarray, later: np.ndarray | None) -> _FirstEntries:
        """This table under a new popularity order, leaving this one as it is (lookups may be reading
        it): itself when no shared key's first entry moved, else a copy whose lookup alone is copied."""
        if not self.keys:
            return self
        winners = self._first(place, entry_rows, later)
        if np.array_equal(winners, self.winners):
            return self
        other = copy.copy(self)  # the groups are shared: only ``grown`` makes new ones, in a copy
        other.lookup = dict(self.lookup)
        other._take(winners)
        return other


class TitleMatcher:
    """Built once per catalog, and grown with it (``with_items``); ``match`` is cheap."""

    def __init__(self, catalog: Catalog, popularity: np.ndarray | None = None, fuzzy_threshold: float = 85.0):
        self.catalog = catalog
        self.threshold = fuzzy_threshold
        self._names = _Names(catalog.items)
        # Fuzzy matching compares whole titles and their other names (leading article dropped), with
        # the year only when the query has one: partial-string scorers match any query sharing one
        # word with a long title. One per name, in the names' order (a match's place is its name; its
        # row is ``_name_row`` there): flat lists, since a key object per name took 2.8 s of a start
        # at 1M titles.
        self._choices: list[str] = []
        self._choices_noyear: list[str] = []
        # title words sorted, and every title word's row grouped by word (rows in order within one)
        self._vocab: list[str] = []
        self._grouped = np.zeros(0, dtype=np.int64)
        self._offsets = np.zeros(1, dtype=np.int64)
        names = self._names
        numbers = list(range(len(names.with_year)))
        self._keys_norm = _FirstEntries(names.with_year, numbers)  # these two's are names
        self._keys_noyear = _FirstEntries(names.without, numbers)
        self._read(0)
        # its entries are rows; made last (made first, with the catalog's groups, the build peaked 100 MB higher)
        self._keys_exact = _FirstEntries.of_titles(catalog)
        self._tables(popularity)

    def with_items(self, catalog: Catalog, popularity: np.ndarray | None = None) -> TitleMatcher:
        """A matcher over ``catalog``, which holds this one's items and then new ones (``Catalog.with_items``),
        equal to one built over it with this popularity, made without normalising the old titles
        again or ordering every title: only the names the new titles share a key with, and those
        shared before, are ordered by popularity. This one is left as it is."""
        n = len(self.catalog)
        if len(catalog) < n or any(catalog.items[r].title != self.catalog.items[r].title for r in {0, n - 1} if n):
            raise ValueError("with_items() takes a catalog of this matcher's items and then new ones")
        other = TitleMatcher.__new__(TitleMatcher)
        other.catalog, other.threshold = catalog, self.threshold
        names = other._names = _Names(catalog.items[n:], before=self._names)
        other._choices, other._choices_noyear = self._choices, self._choices_noyear  # ``_read`` makes new lists
        other._vocab, other._grouped, other._offsets = self._vocab, self._grouped, self._offsets
        first = int(names.start[n])
        other._keys_exact = self._keys_exact.grown([item.title for item in catalog.items[n:]], n)
        other._keys_norm = self._keys_norm.grown(names.with_year[first:], first)
        other._keys_noyear = self._keys_noyear.grown(names.without[first:], first)
        other._read(n)
        other._tables(popularity)
        return other

    def title_forms(self) -> tuple[list[str], list[str]]:
        """Each row's title normalised with its year and without (``normalize_title``'s two forms), as
        this matcher keeps them (built, or read from the index file): what the reason checker finds
        titles by, read here rather than made again (a checker at 1M titles: 1.8 s against 3.9 s)."""
        names = self._names  # (one read: ``adopt`` puts a grown matcher's in place in one step)
        starts = names.start[:-1].tolist()
        return list(map(names.with_year.__getitem__, starts)), list(map(names.without.__getitem__, starts))

    def arrays(self, prefix: str = "title_") -> dict[str, np.ndarray]:
        """What this matcher holds that popularity does not order, for the index file (``from_arrays``
        reads it back): each name's two forms, the title words with their rows, which names start
        with an article, and the entries of keys several names share; with a digest of the titles
        they came from. Text as one UTF-8 array per list, one name a line (normalised names and
        words are letters, digits and spaces)."""
        names = self._names
        saved = {"digest": np.array(_titles_digest(self.catalog)),
                 "with_year": _text_array(names.with_year), "without": _text_array(names.without),
                 "start": names.start, "vocab": _text_array(self._vocab), "grouped": self._grouped,
                 "offsets": self._offsets, "article_with": _article_places(names.with_year),
                 "article_without": _article_places(names.without)}
        for label, table in (("norm", self._keys_norm), ("noyear", self._keys_noyear)):
            saved[f"{label}_members"], saved[f"{label}_heads"] = table.unordered()
        return {prefix + key: value for key, value in saved.items()}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], catalog: Catalog, popularity: np.ndarray | None = None,
                    prefix: str = "title_", fuzzy_threshold: float = 85.0) -> TitleMatcher | None:
        """The matcher built over ``catalog`` with this popularity, read from ``arrays`` (``arrays()``)
        rather than made from every title: at 1M titles that build is 4-5 s of Python a start, the
        read 1.7-1.9 s. None where the arrays are missing or were saved for other titles; arrays that
        do not fit together raise ``ValueError``. Only the lookups (a dict of every key) and
        popularity's order are made."""
        if saved_titles_unfit(arrays, catalog, prefix) is not None:
            return None
        start = np.asarray(arrays[prefix + "start"], dtype=np.int64)
        if start.shape != (len(catalog) + 1,) or (len(catalog) and (start[0] != 0 or np.any(np.diff(start) < 1))):
            raise ValueError("saved title names do not fit the catalog's rows")
        count = int(start[-1])
        matcher = cls.__new__(cls)
        matcher.catalog, matcher.threshold = catalog, fuzzy_threshold
        names = matcher._names = _Names.__new__(_Names)
        names.with_year = _text_list(arrays[prefix + "with_year"], count)
        names.without = _text_list(arrays[prefix + "without"], count)
        names.start = start
        matcher._choices = _articles_off(names.with_year, arrays[prefix + "article_with"])
        matcher._choices_noyear = _articles_off(names.without, arrays[prefix + "article_without"])
        offsets = np.asarray(arrays[prefix + "offsets"], dtype=np.int64)
        grouped = np.asarray(arrays[prefix + "grouped"], dtype=np.int64)
        matcher._vocab = _text_list(arrays[prefix + "vocab"], len(offsets) - 1)
        if (offsets[0] != 0 or np.any(np.diff(offsets) < 0) or offsets[-1] != len(grouped)
                or (len(grouped) and not 0 <= grouped.min() <= grouped.max() < len(catalog))):
            raise ValueError("saved title words do not fit the catalog's rows")
        matcher._grouped, matcher._offsets = grouped, offsets
        numbers = list(range(count))
        matcher._keys_norm, matcher._keys_noyear = [
            _FirstEntries.of_saved(keys, numbers, np.asarray(arrays[f"{prefix}{label}_members"], dtype=np.int64),
                                   np.asarray(arrays[f"{prefix}{label}_heads"], dtype=np.int64))
            for keys, label in ((names.with_year, "norm"), (names.without, "noyear"))]
        matcher._keys_exact = _FirstEntries.of_titles(catalog)
        matcher._tables(popularity)
        return matcher

    @classmethod
    def from_file(cls, path: str | Path, catalog: Catalog, popularity: np.ndarray | None = None) -> TitleMatcher | None:
        """``from_arrays`` over an index file (``CandidateGenerator.save_index(path, extra=matcher.arrays())``,
        as a Recommender with ``index=`` writes it); an unreadable file is a ``DataError``."""
        with read_npz(path, remedy=REBUILD) as f:
            return cls.from_arrays(f, catalog, popularity)

    def _read(self, first: int) -> None:
        """What does not depend on popularity, for rows ``first`` on (added to what is kept)."""
        names = self._names
        at = int(names.start[first])
        self._choices = self._choices + _without_articles(names.with_year[at:])
        self._choices_noyear = self._choices_noyear + _without_articles(names.without[at:])
        # Each title's words, numbered by the distinct words in the order they come: a split of many
        # titles at once and dicts made in C, where a dict call per word made this part (the names
        # without their articles included) 2.5-2.7 s of a start at 1M titles (now 1.7-2.1 s). A chunk
        # of titles at a time: the words of every title at once held 5M strings at 1M titles (and
        # left the process 20-30 MB larger).
        titles = [names.with_year[s] for s in names.start[first:-1].tolist()]
        number: dict[str, int] = {}
        words = []
        for chunk in range(0, len(titles), WORDS_CHUNK):
            flat = " ".join(titles[chunk:chunk + WORDS_CHUNK]).split()
            new = [w for w in dict.fromkeys(flat) if w not in number]
            number.update(zip(new, range(len(number), len(number) + len(new))))
            words.append(np.fromiter(map(number.__getitem__, flat), dtype=np.int64, count=len(flat)))
        if number:
            counts = np.fromiter(map(len, map(str.split, titles)), dtype=np.int64, count=len(titles))
            self._add_words(list(number), np.concatenate(words),
                            np.repeat(np.arange(first, len(names), dtype=np.int64), counts))

    def _add_words(self, seen: list[str], words: np.ndarray, rows: np.ndarray) -> None:
        """Group new rows' title words (``words``: places in ``seen``) with the rest, in new arrays:
        the vocabulary grows by the words it lacked, each old word keeps its rows and the new rows go
        after them (rows ascending within a word, as grouping every row at once gives)."""
        vocab = self._vocab
        fresh = sorted(set(seen).difference(vocab) if vocab else seen)
        if fresh:
            at = np.asarray([bisect.bisect_left(vocab, w) for w in fresh], dtype=np.int64)
            moved = np.arange(len(vocab)) + np.searchsorted(at, np.arange(len(vocab)), side="right")
            vocab = sorted(vocab + fresh)  # two sorted runs: one merge
        else:
            moved = np.arange(len(vocab))
        place = {w: i for i, w in enumerate(vocab)} if len(seen) > len(vocab) // 16 else None
        ids = np.fromiter(map(place.__getitem__, seen) if place is not None else
                          (bisect.bisect_left(vocab, w) for w in seen), dtype=np.int64, count=len(seen))[words]
        span = int(rows[-1]) + 1  # rows come ascending: sorting (word, row) as one integer keeps them so
        if len(vocab) < np.iinfo(np.int64).max // span:  # (0.2-0.3 s less than a stable sort at 1M titles)
            ids, rows = np.divmod(np.sort(ids * span + rows), span)
        else:
            by_word = np.argsort(ids, kind="stable")
            ids, rows = ids[by_word], rows[by_word]
        if len(self._grouped):
            old_ids = np.repeat(moved, np.diff(self._offsets))  # the kept rows' words, in the new numbering
            self._grouped = np.insert(self._grouped, np.searchsorted(old_ids, ids, side="right"), rows)
            ids = np.concatenate([old_ids, ids])
        else:
            self._grouped = rows
        counts = np.bincount(ids, minlength=len(vocab))
        self._offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._vocab = vocab

    def with_popularity(self, popularity: np.ndarray) -> TitleMatcher:
        """This matcher under new popularity (picks came in), equal to one built with it, made without
        reading a title: the order, search's popularity places, and the first name of each key several
        names share (a lookup is copied only where one moved). So which film an ambiguous title means,
        and the search box's order, follow the picks as a restart would. This one is left as it is:
        requests read it until ``adopt`` puts the new one in place."""
        if len(popularity) != len(self.catalog):
            raise ValueError(f"with_popularity() takes one count per item ({len(self.catalog)}), not {len(popularity)}")
        other = TitleMatcher.__new__(TitleMatcher)
        other.__dict__.update(self.__dict__)  # the tables popularity does not order are shared
        other._tables(popularity, fresh=False)
        top = FUZZY_SEARCH_TITLES  # the typo pool holds the same names while the most picked rows stay so
        if len(self.catalog) <= top or np.array_equal(np.sort(self._order[:top]), np.sort(other._order[:top])):
            other._pool = self._pool
        return other

    def _tables(self, popularity: np.ndarray | None, fresh: bool = True) -> None:
        """The tables popularity orders: which row an ambiguous title means, and search's order.
        ``fresh``: the key tables are this matcher's own, read by no lookup yet, and ordered in place."""
        names = self._names
        n = len(names)
        pop = popularity if popularity is not None else np.zeros(n)
        order = np.argsort(-pop, kind="stable")
        place = np.empty(n, dtype=np.int64)
        place[order] = np.arange(n)
        self._order = order.astype(np.int64)  # place -> row
        # Each key goes to the first row that has it in this order: whole titles, most popular first,
        # then other names the same way, so the most likely item wins an ambiguous key and one
        # film's other name never takes another film's own title.
        row_of = names.rows() if fresh else self._name_row  # each name's row: new names only with new items
        other_name = (np.arange(len(row_of)) != names.start[row_of]).astype(np.int64)
        orders = [(self._keys_exact, np.arange(n), None), (self._keys_norm, row_of, other_name),
                  (self._keys_noyear, row_of, other_name)]
        if fresh:
            for table, entry_rows, later in orders:
                table.ordered(place, entry_rows, later)
        else:
            self._keys_exact, self._keys_norm, self._keys_noyear = [
                table.reordered(place, entry_rows, later) for table, entry_rows, later in orders]
        self._exact = self._keys_exact.lookup  # title -> row
        self._norm = self._keys_norm.lookup  # normalised name -> name (its row: ``_name_row``)
        self._norm_noyear = self._keys_noyear.lookup
        self._name_row = row_of
        # Title words, each with the popularity places of the rows that hold it: the rows of every
        # word that starts with a typed prefix are one contiguous slice, so a search box does not
        # scan the catalog on each keystroke (about 2 s a keystroke at 1M titles, before;
        # benchmarks/title_search.py).
        self._posting = place[self._grouped]
        self._pool: list[str] | dict[int, str] | None = None  # typos' and suggestions' names, made on first use

    def adopt(self, other: TitleMatcher, catalog: Catalog) -> dict[str, Any]:
        """Take ``other``'s tables (built aside over a catalog with new items, ``Catalog.with_items``),
        answering with rows of ``catalog`` (grown to hold those items by now): put in place in one
        step, so a lookup running meanwhile reads the old tables or the new ones, never a mix. Returns
        the old tables: whoever holds a lock while adopting can free them once it is released."""
        if len(other.catalog) != len(catalog):
            raise ValueError("adopt() takes a matcher built over a catalog of this one's items")
        tables = dict(other.__dict__)
        tables["catalog"] = catalog
        old, self.__dict__ = self.__dict__, tables
        return old

    def match(self, query: str, fuzzy: bool = True) -> TitleMatch | None:
        """``fuzzy`` False: exact and normalised matches only (what ``exclude`` may use), without the
        fuzzy pass's cost."""
        q = query.strip()
        if q in self._exact:
            return TitleMatch(query, self._exact[q], "exact", 100.0)
        if q in self.catalog:  # an item id typed as-is
            return TitleMatch(query, self.catalog.index_of(q), "exact", 100.0)
        n = normalize_title(q)
        if not n:
            return None
        if n in self._norm:
            return TitleMatch(query, int(self._name_row[self._norm[n]]), "normalized", 100.0)
        if not _YEAR.search(q) and n in self._norm_noyear:
            return TitleMatch(query, int(self._name_row[self._norm_noyear[n]]), "normalized", 100.0)
        if not fuzzy:
            return None
        has_year = bool(_YEAR.search(q))
        tables = self.__dict__  # read once: an add may put new tables in place meanwhile
        best = process.extractOne(_fuzzy_key(q, has_year), tables["_choices" if has_year else "_choices_noyear"],
                                  scorer=fuzz.ratio, score_cutoff=self.threshold)
        if best is None:
            return None
        return TitleMatch(query, int(tables["_name_row"][best[2]]), "fuzzy", float(best[1]))

    def search(self, query: str, limit: int = 10) -> list[int]:
        """Catalog rows for a search box: titles whose words start with what was typed (every typed
        word, in any order), most popular first; fuzzy matches only when none does (a typo)."""
        words = normalize_title(query, keep_year=True).split()
        if not words or limit < 1:
            return []
        # One read of the tables: new picks or items put new ones in place (``adopt``) while a search
        # may be running, and popularity places from one must not be read with another's order.
        tables = self.__dict__
        vocab, posting, offsets, order = tables["_vocab"], tables["_posting"], tables["_offsets"], tables["_order"]
        every = np.ones(len(order), dtype=bool)  # by popularity place: holds every typed prefix
        for q in words:
            lo, hi = bisect.bisect_left(vocab, q), bisect.bisect_left(vocab, q + "\U0010ffff")
            this = np.zeros_like(every)
            this[posting[offsets[lo]:offsets[hi]]] = True
            every &= this
        hits = [int(i) for i in order[np.flatnonzero(every)[:limit]]]  # most popular first
        if not hits:  # a typo: the closest of the most picked titles (all of them up to FUZZY_SEARCH_TITLES)
            fuzzy = process.extract(_fuzzy_key(query, False), _fuzzy_pool(tables), scorer=fuzz.WRatio,
                                    limit=limit, score_cutoff=80)
            rows = tables["_name_row"]
            hits = list(dict.fromkeys(int(rows[name]) for _, _, name in fuzzy))
        return hits[:limit]

    def suggestions(self, query: str, limit: int = 3) -> list[str]:
        """The closest titles, for an error about one that matched nothing: among the most picked
        (all of them up to FUZZY_SEARCH_TITLES), since an HTTP request may hold 50 unknown titles and
        scoring a million titles takes 1.5 s each."""
        tables = self.__dict__
        hits = process.extract(_fuzzy_key(query, False), _fuzzy_pool(tables), scorer=fuzz.WRatio,
                               limit=limit * 3)
        items, rows = tables["catalog"].items, tables["_name_row"]
        titles = dict.fromkeys(items[int(rows[name])].title for _, _, name in hits)  # a title listed twice shows once
        return list(titles)[:limit]

    def match_all(self, queries: Sequence[str], allow_unmatched: bool = False) -> tuple[list[TitleMatch], list[str]]:
        """Matches in input order and the queries that matched nothing.

        Unless ``allow_unmatched``, any miss raises ``UnknownItemError`` listing every miss with the
        closest titles, so a typo is never silently dropped from a user's history.
        """
        matches, missing = [], []
        for q in queries:
            m = self.match(q)
            if m is None:
                missing.append(q)
            else:
                matches.append(m)
        if missing and not allow_unmatched:
            details = "; ".join(f"{q!r} (closest: {', '.join(self.suggestions(q)) or 'none'})" for q in missing)
            raise UnknownItemError(f"no catalog item matches {details}", missing)
        return matches, missing


def _fuzzy_pool(tables: dict[str, Any]) -> list[str] | dict[int, str]:
    """The names typos and suggestions are matched among, in the names' order: every name (the list
    itself, whose places are the names'), or those of the FUZZY_SEARCH_TITLES most picked rows, each
    under its place. Either way rapidfuzz answers a name's place. ``tables``: one matcher's tables,
    read once (``search``), where the pool is kept once made."""
    pool = tables["_pool"]
    if pool is None:
        pool = choices = tables["_choices_noyear"]
        if len(tables["catalog"]) > FUZZY_SEARCH_TITLES:
            top = np.zeros(len(tables["catalog"]), dtype=bool)
            top[tables["_order"][:FUZZY_SEARCH_TITLES]] = True
            pool = {int(name): choices[name] for name in np.flatnonzero(top[tables["_name_row"]])}
        tables["_pool"] = pool
    return pool


def saved_titles_unfit(arrays: Mapping[str, np.ndarray], catalog: Catalog, prefix: str = "title_") -> str | None:
    """Why the title search saved in ``arrays`` cannot serve ``catalog`` ("not in the file", "other
    titles"), or None where it can: its digest alone is read."""
    if prefix + "digest" not in arrays:
        return "not in the file"
    return None if str(arrays[prefix + "digest"]) == _titles_digest(catalog) else "other titles"


def _titles_digest(catalog: Catalog) -> str:
    """A digest of every title in order (each one's length too, so no split of the text collides):
    what a matcher's saved arrays were made from."""
    titles = [item.title for item in catalog.items]
    digest = hashlib.sha256("\x1e".join(titles).encode())
    digest.update(np.fromiter(map(len, titles), dtype=np.int64, count=len(titles)).tobytes())
    return digest.hexdigest()


def _text_array(strings: list[str]) -> np.ndarray:
    """Strings without a line break, one a line, as UTF-8 bytes: read back by ``_text_list`` with one
    split, where a NumPy array of strings is as wide as the longest."""
    return np.frombuffer("\n".join(strings).encode(), dtype=np.uint8)


def _text_list(array: np.ndarray, count: int) -> list[str]:
    """The ``count`` strings ``_text_array`` wrote."""
    strings = np.asarray(array, dtype=np.uint8).tobytes().decode().split("\n") if count else []
    if len(strings) != count:
        raise ValueError(f"saved title text holds {len(strings)} names, not {count}")
    return strings


def _article_places(names: list[str]) -> np.ndarray:
    """Where names start with an article (``_without_articles`` changes those alone)."""
    return np.fromiter((i for i, name in enumerate(names) if name.startswith(_ARTICLES)), dtype=np.int64)


def _articles_off(names: list[str], places: np.ndarray) -> list[str]:
    """``_without_articles(names)`` where ``places`` are the names that start with an article: the
    other names are the same objects, as there."""
    places = np.asarray(places, dtype=np.int64)
    if len(places) and not 0 <= places.min() <= places.max() < len(names):
        raise ValueError("saved title names with an article are not among the names saved")
    choices = list(names)
    for i in places.tolist():
        choices[i] = strip_leading_article(choices[i])
    return choices
