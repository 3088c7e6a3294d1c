"""Check an LLM's reason against the data, and replace what does not hold with the evidence.

A small model writes reasons that sound right and are not: sequels that do not exist, genres an item
does not have, template text echoed back. A reason is kept only when it names no title but the item's
own and the user's picks, claims no genre the item lacks, is not the prompt's own wording, and rests
on at least one counted fact (a history title, a shared genre, a matched word). Anything else is
flagged, and the item gets a plain sentence written from its evidence instead: no item leaves
without a true reason.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from .data import Catalog, Item
from .evidence import CoPicked, Fact, MatchedTerms, SharedGenres, genres_of, item_genres, sentence
from .parsing import _TitleIndex, _words


class ReasonFlag(str, Enum):
    EMPTY = "empty"  # no reason at all
    OTHER_TITLE = "names_other_title"  # names a title that is neither this item nor one of the user's picks
    WRONG_GENRE = "wrong_genre"  # claims a genre the item does not have
    PLACEHOLDER = "placeholder"  # the prompt's own format text echoed back ("[number] title - reason")
    WRONG_NUMBER = "wrong_number"  # a count or share that the item's facts do not hold
    ONLY_NAMES = "only_names"  # nothing but titles and genres: "Lord of Illusions," is not a reason
    UNGROUNDED = "ungrounded"  # rests on nothing counted: no pick, shared genre or matched word named


class ReasonSource(str, Enum):
    LLM = "llm"
    EVIDENCE = "evidence"
    NONE = "none"  # reasons were not asked for


_PLACEHOLDER = re.compile(r"\[\s*(number|n|id)\s*\]|\bone short reason\b|\btitle\s*-\s*reason\b|^\s*reason\s*$",
                          re.IGNORECASE)


@dataclass(frozen=True)
class CheckedReason:
    text: str
    source: ReasonSource
    flags: tuple[ReasonFlag, ...] = ()
    llm_text: str = ""  # what the model wrote, kept when it was replaced


class ReasonChecker:
    """Built once per catalog: every title a reason might name, and every genre it might claim."""

    def __init__(self, catalog: Catalog, title_forms: tuple[Sequence[str], Sequence[str]] | None = None,
                 genres: Iterable[str] | None = None):
        """``title_forms``: each title's normalised forms where title search holds them
        (``TitleMatcher.title_forms``), else made here. ``genres``: every genre of the catalog where a
        genre index holds them (``GenreIndex.names``), else read off every item here (0.15 s at 1M
        items, 0.6 s before ``Item.genre_text`` lost its generator)."""
        self.n_items = len(catalog)  # what it was built over: a catalog that grew needs a new one
        self.titles = _TitleIndex([it.title for it in catalog.items], title_forms)
        # one pattern per genre, by its lower case: the check matches genres in any case, and
        # "Comedy" beside "COMEDY" is one genre to look for, not two
        self.genre_words: dict[str, re.Pattern] = {}
        if genres is None:
            self._add_genres(catalog.items)
        else:
            self._add_genre_names(genres)

    def _add_genres(self, items: Sequence[Item]) -> None:
        texts = set(map(Item.genre_text, items))  # a few thousand among a million items: each split once
        self._add_genre_names(g for text in texts for g in genres_of(text))

    def _add_genre_names(self, genres: Iterable[str]) -> None:
        for genre in {g.lower() for g in genres} - self.genre_words.keys():
            self.genre_words[genre] = re.compile(rf"\b{re.escape(genre)}s?\b")

    def with_items(self, items: Sequence[Item]) -> ReasonChecker:
        """This checker with ``items`` in the rows after its own, as one made over the grown catalog
        would check (made aside, before they are appended to the catalog): new items' titles and
        genres are read, not every item's again (1.5-1.8 s at 1M items). This one is left as it is."""
        other = copy.copy(self)
        other.n_items = self.n_items + len(items)
        other.titles = self.titles.with_titles([it.title for it in items])
        other.genre_words = dict(self.genre_words)
        other._add_genres(items)
        return other

    def flags(self, reason: str, item: Item, history: Sequence[Item], facts: Sequence[Fact]) -> list[ReasonFlag]:
        text = (reason or "").strip()
        if not text:
            return [ReasonFlag.EMPTY]
        out: list[ReasonFlag] = []
        if _PLACEHOLDER.search(text):
            out.append(ReasonFlag.PLACEHOLDER)
        allowed = {_words(item.title, keep_year=False)} | {_words(h.title, keep_year=False) for h in history}
        for _, _, idx in self.titles.find_all(text):
            named = self.titles.titles[idx]
            key = _words(named, keep_year=False)
            if key in allowed or _too_common(key, text, named):
                continue
            out.append(ReasonFlag.OTHER_TITLE)
            break
        if facts and not _numbers_hold(text, item, history, facts):  # without facts (a ranker with no
            out.append(ReasonFlag.WRONG_NUMBER)  # evidence index) numbers and grounding cannot be checked
        lowered = text.lower()
        own = {g.lower() for g in item_genres(item)}
        if any(rx.search(lowered) and g not in own for g, rx in self.genre_words.items()):
            out.append(ReasonFlag.WRONG_GENRE)
        if facts and not _grounded(lowered, history, facts):
            out.append(ReasonFlag.UNGROUNDED)
        if not _says_something(text, item, history, self.genre_words):
            out.append(ReasonFlag.ONLY_NAMES)
        return out

    def check(self, reason: str, item: Item, history: Sequence[Item], facts: Sequence[Fact]) -> CheckedReason:
        reason = _FACTS_LABEL.sub("", reason or "").strip()
        flags = self.flags(reason, item, history, facts)
        if not flags:
            return CheckedReason(reason, ReasonSource.LLM)
        return CheckedReason(sentence(facts), ReasonSource.EVIDENCE, tuple(flags), (reason or "").strip())


_FACTS_LABEL = re.compile(r"^\s*facts?\s*:\s*", re.IGNORECASE)  # the prompt's "- facts: ..." echoed
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _numbers_hold(text: str, item: Item, history: Sequence[Item], facts: Sequence[Fact]) -> bool:
    """Every number the reason states is one the facts state (years inside titles aside): a small
    model copies "73% (120 of 164)" as "73% (12 of 164)"."""
    stripped = text
    for title in [item.title, *(h.title for h in history)]:
        stripped = stripped.replace(title, " ")
    stated = set(_NUMBER.findall(re.sub(r"\(\d{4}\)", " ", stripped)))  # "(1983)": a title's year
    if not stated:
        return True
    known = set()
    for f in facts:
        title = f.with_title if isinstance(f, CoPicked) else ""  # its year is no stated number
        known.update(_NUMBER.findall(f.text.replace(title, " ") if title else f.text))
    return stated <= known


_FILLER = frozenset("the a an and or of in on to it its is was with for from like your my you this that".split())


def _says_something(text: str, item: Item, history: Sequence[Item], genre_words: dict) -> bool:
    """At least one word that is not part of a title, a genre or filler."""
    rest = f" {_words(text)} "
    for title in [item.title, *(h.title for h in history)]:
        for key in (_words(title), _words(title, keep_year=False)):
            if key:
                rest = rest.replace(f" {key} ", " ")
    rest = re.sub(r"\b\d+\b", " ", rest)
    for rx in genre_words.values():
        rest = rx.sub(" ", rest)
    return any(len(w) > 2 and w not in _FILLER for w in re.findall(r"[a-z']+", rest))


def _too_common(key: str, text: str, title: str) -> bool:
    """A one-word title such as "Heat" or "Big" inside running prose is a word, not a title, unless
    it is written with its year."""
    return len(key.split()) < 2 and _words(title) not in _words(text)


def _grounded(lowered: str, history: Sequence[Item], facts: Sequence[Fact]) -> bool:
    words = set(re.findall(r"[a-z0-9']+", lowered))
    normalized = _words(lowered, keep_year=False)
    for f in facts:
        if isinstance(f, SharedGenres) and any(g.lower() in lowered for g in f.genres):
            return True
        if isinstance(f, MatchedTerms) and words & set(f.terms):
            return True
        if isinstance(f, CoPicked) and _words(f.with_title, keep_year=False) in normalized:
            return True
    return any(_words(h.title, keep_year=False) in normalized for h in history)
