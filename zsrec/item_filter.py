"""Which items a user's shortlist may hold: a caller's filter (what is in stock, one shelf, comedies
only). The filter picks the items that compete; it never changes how an item scores, so a filtered
shortlist is the unfiltered order with the other items left out (``CandidateGenerator._restricted``)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .data import Catalog, Item
from .errors import OptionError
from .evidence import Scope, genres_of

LISTED_GENRES = 40  # an error lists every genre of a catalog with at most this many


@dataclass(frozen=True)
class Allowed:
    """A resolved filter: its items (``scope``, as the evidence ranks popularity among them) and the
    filter in words for the result."""

    scope: Scope
    described: str

    @property
    def rows(self) -> np.ndarray:
        """The catalog rows a shortlist may be drawn from, sorted."""
        return self.scope.rows


class GenreIndex:
    """Each genre's items, counted once per catalog. Genres are matched case-insensitively, as the
    evidence reads them (``item_genres``): "comedy" is MovieLens' "Comedy"."""

    def __init__(self, catalog: Catalog):
        self.n_items = 0  # what it was built over: a catalog that grew needs a new one (or ``with_items``)
        self.names: dict[str, str] = {}  # lower-case -> as the catalog spells it (its first spelling)
        self._rows: dict[str, np.ndarray] = {}
        self._add(catalog.items)

    def with_items(self, items: Sequence[Item]) -> GenreIndex:
        """This index with ``items`` in the rows after its own, equal to one built over the grown catalog,
        reading only ``items`` (a request filtering by genre after an item add would otherwise wait
        for every item to be read: seconds at 1M items). This one is left as it is."""
        other = GenreIndex.__new__(GenreIndex)
        other.n_items, other.names, other._rows = self.n_items, dict(self.names), dict(self._rows)
        other._add(items)
        return other

    def _add(self, items: Sequence[Item]) -> None:
        """Items grouped by their genre text first, each text split once: a million items hold a few
        thousand texts. The texts are numbered in C (``dict.fromkeys``, a lookup per item through
        ``map``) and the rows grouped by one stable sort, where a list append per item made the
        index 1.0-1.5 s of a warm-up at 1M items. The same rows as splitting each item's."""
        texts = list(map(Item.genre_text, items))
        distinct = dict.fromkeys(texts)  # in the order first seen, as the first spellings are kept
        number = dict(zip(distinct, range(len(distinct))))
        codes = np.fromiter(map(number.__getitem__, texts), dtype=np.int64, count=len(texts))
        grouped = np.argsort(codes, kind="stable") + self.n_items  # each text's rows together, in order
        ends = np.cumsum(np.bincount(codes, minlength=len(distinct))).tolist()
        parts: dict[str, list[np.ndarray]] = {}  # each genre's rows, a block per text, in the texts' first-seen order
        for code, text in enumerate(distinct):
            genres = genres_of(text)
            if genres:
                at = grouped[(ends[code - 1] if code else 0):ends[code]]
                for genre in genres:
                    key = genre.lower()
                    self.names.setdefault(key, genre)
                    parts.setdefault(key, []).append(at)
        for key, blocks in parts.items():
            new = blocks[0] if len(blocks) == 1 else np.sort(np.concatenate(blocks))
            self._rows[key] = np.concatenate([self._rows[key], new]) if key in self._rows else new
        self.n_items += len(items)

    def rows(self, genres: Sequence[str]) -> np.ndarray:
        """Sorted rows of the items with any of ``genres``; a genre no item has is an error that names
        the closest ones, since a typo would otherwise leave nothing to recommend without a word."""
        if not self.names:
            raise OptionError("these items have no genres to filter by (zsrec reads a genres, genre or class "
                              "column; --column genres=NAME names another)")
        unknown = [g for g in genres if g.strip().lower() not in self._rows]
        if unknown:
            raise OptionError("; ".join(f"no item has the genre {g!r}{self._hint(g)}" for g in unknown))
        return np.unique(np.concatenate([self._rows[g.strip().lower()] for g in genres]))

    def counts(self) -> dict[str, int]:
        """Every genre, as the catalog spells it, with its number of items, by name."""
        return {self.names[key]: len(self._rows[key]) for key in sorted(self.names, key=lambda g: self.names[g].lower())}

    def spelled(self, genres: Sequence[str]) -> list[str]:
        """``genres`` as the catalog spells them (known ones only)."""
        return [self.names[g.strip().lower()] for g in genres]

    def _hint(self, genre: str) -> str:
        if len(self.names) <= LISTED_GENRES:
            return f" (genres: {', '.join(sorted(self.names.values(), key=str.lower))})"
        close = difflib.get_close_matches(genre.strip().lower(), list(self.names), n=3, cutoff=0.6)
        return f" (closest: {', '.join(self.names[c] for c in close)})" if close else ""


def scope_name(only: Sequence[str], genres: Sequence[str]) -> str:
    """What a filter's items are called in a popularity fact: "Western items", "items listed",
    "Action items listed"."""
    kinds = " or ".join(genres) + " items" if genres else "items"
    return f"{kinds} listed" if only else kinds


def describe(n_allowed: int, n_items: int, only: Sequence[str], genres: Sequence[str]) -> str:
    """The filter in words, for the result: what was asked and how many items it leaves."""
    parts = []
    if only:
        parts.append(f"the {len(only)} item{'s' if len(only) != 1 else ''} listed")
    if genres:
        parts.append(f"genre{'s' if len(genres) != 1 else ''} " + " or ".join(genres))
    return f"{' with '.join(parts)}: {n_allowed:,} of {n_items:,} items"
