"""An events file in JSON Lines read a block of lines at a time, to the columns the row reader gives.

Logs exported as JSON Lines (Amazon's reviews, an analytics tool's events, a message queue's dump)
came to ``load_table`` a line at a time: each object parsed, each value made text, then read as a
CSV row is, about 5 us an event (50 s for 10M). Here a block's lines are parsed together (as one
JSON array where each is a flat object, else by json's C scanner in one ``map``), and each column is
taken from the objects at once: 29 s for 10M events, 1.8 s for 1M against 4.8 s
(benchmarks/load_own_logs.py). json's own parse stays about half of what is left.

Only a file the row reader would take without one complaint goes this way, and it gives the same
columns, bit for bit:
- every non-blank line is one JSON object, as ``json.loads`` reads it, in an encoding Python decodes
  (Windows line ends too);
- the ids are strings (stripped, as the rows strip them; none empty) or integers, every item id in
  the catalog;
- the time is a number (integer or float, finite) or an ISO 8601 string in a shape
  zsrec/iso_times.py reads, in every object, or absent (null) in every object, each line's number
  then its clock, as in the rows;
- the rating is a number (finite) or absent (null: no rating) in each object.
Anything else returns None, and the rows are read, which name the bad line or count it as before.
"""

from __future__ import annotations

import codecs
import itertools
import json
import operator
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np

from .data import Catalog, Interactions
from .iso_times import iso_seconds_of

BLOCK_CHARS = 1 << 20  # about 10k events a block: their objects are let go block by block
_NUMBER_TYPES = {int, float}
_ID_TYPES = {str, int}
_FIRST, _SECOND = operator.itemgetter(0), operator.itemgetter(1)


def read_json_events(path: Path, cols: Mapping[str, str], catalog: Catalog, encoding: str) -> Interactions | None:
    """The events in the JSON Lines file ``path``, their keys named by ``cols`` (zsrec's names to the
    file's), or None where a line or a value is not as above."""
    columns = _Columns(catalog, cols)
    try:
        for lines, first_line in line_blocks(path, encoding):
            if not columns.add(lines, first_line):
                return None
    except NOT_PLAIN:
        return None  # the rows name the line that does not decode, the encoding Python does not know, the missing file
    return columns.joined()


class _Columns:
    """The events read so far: each user as a code (the first string of each kept, as the rows keep
    it), each item as its catalog row, times and ratings, block by block."""

    def __init__(self, catalog: Catalog, cols: Mapping[str, str]):
        self.catalog, self.cols = catalog, cols
        self.scan = json.JSONDecoder().scan_once  # what json.loads runs, less its Python wrapper
        self.user_codes: defaultdict = defaultdict(itertools.count().__next__)
        self.row_of: dict[str, int] = {}
        self.users: list[np.ndarray] = []
        self.items: list[np.ndarray] = []
        self.times: list[np.ndarray] = []
        self.ratings: list[np.ndarray] = []
        self.timed: bool | None = None

    def add(self, lines: list[str], first_line: int) -> bool:
        """A block's lines (the first is line ``first_line``) read; False where one is not as above.
        As in ``objects_of``, each pass over the objects is one ``map`` run in C."""
        parsed = objects_of(lines, self.scan)
        if parsed is None:
            return False
        objects, kept = parsed
        if not objects:
            return True
        cols = self.cols
        user_ids, item_ids = _ids(values_of(objects, cols["user_id"])), _ids(values_of(objects, cols["item_id"]))
        if user_ids is None or item_ids is None:
            return False
        fresh = set(item_ids) - self.row_of.keys()
        if fresh:
            found = self.catalog.rows_of(fresh)
            if found is None:
                return False
            self.row_of.update(zip(fresh, found.tolist()))
        stamps = _times(values_of(objects, cols["timestamp"]))
        rated = _ratings(values_of(objects, cols["rating"]))
        if stamps is False or rated is None or self.timed not in (None, stamps is not None):
            return False  # a time in some objects and not in others: the rows' clock would mix both
        self.timed = stamps is not None
        n = len(objects)
        self.users.append(np.fromiter(map(self.user_codes.__getitem__, user_ids), dtype=np.int64, count=n))
        self.items.append(np.fromiter(map(self.row_of.__getitem__, item_ids), dtype=np.int64, count=n))
        if stamps is None:  # each line's number its clock
            stamps = np.arange(n, dtype=np.float64) if kept is None else np.array(kept, dtype=np.float64)
            stamps += first_line
        self.times.append(stamps)
        self.ratings.append(rated)
        return True

    def joined(self) -> Interactions | None:
        if not self.users:
            return None  # no events: the rows say so
        texts = np.empty(len(self.user_codes), dtype=object)
        texts[:] = list(self.user_codes)
        return Interactions(users=texts[np.concatenate(self.users)], items=np.concatenate(self.items),
                            timestamps=np.concatenate(self.times), ratings=np.concatenate(self.ratings),
                            timed=bool(self.timed))


def objects_of(lines: list[str], scan: Callable) -> tuple[list[dict], list[int] | None] | None:
    """A block's lines as JSON objects, blank lines skipped as the rows skip them, with the places
    of the lines kept where one was blank (else None); None where a line is not one JSON object.
    ``scan`` is a decoder's ``scan_once``. Each pass over the block is one ``map`` run in C: a
    Python loop over the objects cost as much as the rows' own reading."""
    texts = list(map(str.strip, lines, itertools.repeat(" \t\n\r")))  # JSON's white space, which json.loads allows
    kept = None
    if "" in texts:  # (one blank only to str.strip, a no-break space, is no JSON: None)
        kept = [k for k, text in enumerate(texts) if text]
        texts = [texts[k] for k in kept]
        if not texts:
            return [], kept
    objects = _flat_objects(texts) if _all_flat(texts) else _scanned(texts, scan)
    if objects is None or set(map(type, objects)) != {dict}:
        return None
    return objects, kept


def _scanned(texts: list[str], scan: Callable) -> list | None:
    """Each line's JSON value, parsed one line at a time; None where one is not one whole value."""
    try:
        parsed = list(map(scan, texts, itertools.repeat(0)))
    except (ValueError, RecursionError):
        return None
    # scan raises StopIteration where no value starts, which ends the map early
    if len(parsed) != len(texts) or list(map(_SECOND, parsed)) != list(map(len, texts)):
        return None  # a line that is not one whole value
    return list(map(_FIRST, parsed))


class NotPlain(Exception):
    """A carriage return alone, which the rows read as a line end inside a line, or an encoding
    Python does not know (the rows say so)."""


# what stops a bulk read of a JSON Lines file, leaving it to the rows: that carriage return or an
# encoding Python does not know (NotPlain), text that does not decode, a missing file
NOT_PLAIN = (NotPlain, UnicodeDecodeError, OSError)


def line_blocks(path: Path, encoding: str) -> Iterator[tuple[list[str], int]]:
    """The file's lines, decoded as the rows decode them (a byte-order mark dropped, Windows line ends
    read as one), about BLOCK_CHARS at a time, each block with its first line's number."""
    try:
        decoder = codecs.getincrementaldecoder(encoding)()
    except LookupError:  # (caught here, not around the read: an IndexError or KeyError there is a bug)
        raise NotPlain from None
    with open(path, "rb") as f:
        rest, line_number, first = "", 1, True
        while True:
            chunk = f.read(BLOCK_CHARS)
            text = rest + decoder.decode(chunk, final=not chunk)
            if first and text:  # the mark's bytes may take more than one read
                text, first = text.removeprefix("\ufeff"), False
            if "\r" in text:
                text = text.replace("\r\n", "\n")
                if "\r" in text.rstrip("\r"):  # one at the end meets its "\n" next, or ends the file (a line end there)
                    raise NotPlain
            cut = text.rfind("\n") + 1 if chunk else len(text)
            block, rest = text[:cut], text[cut:]
            if block:
                lines = block.split("\n")
                if block.endswith("\n"):
                    lines.pop()
                yield lines, line_number
                line_number += len(lines)
            if not chunk:
                return


def _all_flat(texts: list[str]) -> bool:
    """Whether every line is one object holding no other: ``{`` first, ``}`` last, and no other ``{``
    in the block, not even in a string (lists are fine)."""
    return (all(map(str.startswith, texts, itertools.repeat("{"))) and all(map(str.endswith, texts, itertools.repeat("}")))
            and "".join(texts).count("{") == len(texts))


def _flat_objects(texts: list[str]) -> list | None:
    """Lines of one flat object each (``_all_flat``) parsed as one JSON array, 2.3x faster than a call
    a line (json's scanner takes about 1.5 us a call to set up). The same values as line by line: a
    string holds no line end (the lines are joined at line ends), so a line's last ``}`` is no
    string's and closes what is open there, which must be the object its ``{`` opened (no other
    object is opened in it): each element is one line's object. Where one line is no JSON, neither
    is the array (None)."""
    try:
        objects = json.loads("[" + ",\n".join(texts) + "]")
    except (ValueError, RecursionError):
        return None
    return objects if len(objects) == len(texts) else None


def values_of(objects: list[dict], key: str) -> list:
    """Each dict's value of ``key`` (None where it has none): a column of objects, in C."""
    return list(map(dict.get, objects, itertools.repeat(key)))  # 3x faster than a methodcaller


def _ids(values: list) -> list | None:
    """Ids as the rows read them: a string stripped, an integer as ``str`` writes it; None where one
    is missing, empty or of another type."""
    kinds = set(map(type, values))
    if kinds == {str}:
        values = list(map(str.strip, values))
    elif kinds <= _ID_TYPES:
        values = [v.strip() if type(v) is str else str(v) for v in values]
    else:
        return None
    return None if "" in values else values


def _times(values: list) -> np.ndarray | None | bool:
    """Times in seconds; None where none is given; False where they are not all numbers, nor all ISO
    8601 strings read in bulk, nor all missing, or one is not finite."""
    kinds = set(map(type, values))
    if kinds == {type(None)}:
        return None
    if kinds <= _NUMBER_TYPES:
        return _finite(values)
    if kinds == {str}:
        read = iso_seconds_of(values)
        return False if read is None else read
    return False


def _ratings(values: list) -> np.ndarray | None:
    """Ratings, NaN where there is none (the NaN the rows store); None where one is not a number or
    not finite."""
    kinds = set(map(type, values))
    if not kinds <= _NUMBER_TYPES | {type(None)}:
        return None
    if type(None) not in kinds:
        read = _finite(values)
        return None if read is False else read
    missing = np.fromiter(map(operator.is_, values, itertools.repeat(None)), dtype=bool, count=len(values))
    read = _finite([0 if v is None else v for v in values])
    if read is False:
        return None
    read[missing] = np.nan
    return read


def _finite(values: list) -> np.ndarray | bool:
    """Numbers as float64, each the double ``float(str(v))`` gives; False where one is not finite or
    past a double's range."""
    try:
        read = np.array(values, dtype=np.float64)
    except OverflowError:
        return False
    return read if np.isfinite(read).all() else False
