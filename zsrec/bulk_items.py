"""A catalog read a block of columns at a time, to the same ``Catalog`` the row reader gives.

A shop's catalog is an id, a title and a few text columns, a million rows of it. The row reader
takes each row through ``csv`` (or json), makes it a {column: text} dict and then an ``Item``:
6.0-6.7 s for 1M items as a CSV of id, title and genres before the catalog was made with the
garbage collector paused (``row_reading.collector_paused``), 3.7-4.2 s after, more than 10M events
of numbers take to load. Here a block's columns are made text and stripped at once and the items
made from the columns: 2.0-2.2 s (benchmarks/load_catalog.py). Four shapes are read so:
- a CSV/TSV file (``read_items_table``), split by ``csv`` from the same lines the rows hand it
  (quoted fields, across lines too, read alike), with a header naming every needed column, each name
  once, every row of the header's width and no field over csv's limit (the rows' error);
- a JSON Lines file (``read_items_json``) whose objects hold the same keys in the same order (each
  item's fields keep its own object's order), parsed by zsrec/bulk_json.py's block reader;
- a DataFrame (``read_items_frame``) or a list of dicts (``read_items_dicts``) whose cells are text,
  integers, floats, bools, lists of text or missing (None, NaN), made text as the rows make them.
In all four every item has an id, and no id is repeated. Anything else returns None and the caller
reads the rows, which name the bad line or count the skipped rows exactly as before. A CSV's lines
are the rows' own (``row_reading.read_lines``); a JSON Lines file's are decoded as the rows decode
them, blank lines skipped as the rows skip them.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import json
from collections.abc import Mapping
from operator import itemgetter
from pathlib import Path

from . import bulk_json
from .data import Catalog, Item
from .errors import DataError
from .row_reading import read_lines

CHUNK_ROWS = 65536  # rows made items a chunk at a time
_CELL_TYPES = {str, int, float, bool, list, type(None)}


def read_items_table(path: Path, delimiter: str, cols: Mapping[str, str], needed: Mapping[str, str],
                     encoding: str) -> Catalog | None:
    """The catalog in the CSV/TSV ``path`` (``cols`` maps zsrec's names to the file's; ``needed``
    are the columns the header must have), or None where the row reader must read it (see above)."""
    try:
        codecs.lookup(encoding)
    except LookupError:  # the rows say so
        return None
    # csv is handed the rows' own lines (row_reading.read_lines: non-blank, without their line ends),
    # so that it splits and unquotes them alike, a quoted field across lines included
    rows = csv.reader(map(itemgetter(1), read_lines(path, encoding)), delimiter=delimiter)
    try:
        first = next(rows, None)
        if first is None:
            return None
        header = [name.strip() for name in first]
        items = _ItemColumns(header, cols, needed)
        while block := list(itertools.islice(rows, CHUNK_ROWS)):
            if set(map(len, block)) != {len(header)} or not items.add(list(zip(*block))):
                return None
    except (DataError, csv.Error):  # no file, no text, text that does not decode, a field over csv's limit: the rows' errors
        return None
    return items.catalog()


def read_items_json(path: Path, cols: Mapping[str, str], needed: Mapping[str, str], encoding: str) -> Catalog | None:
    """The catalog in the JSON Lines file ``path``, or None where the rows must read it: a line that
    is not one JSON object (one JSON array, ``.json``, goes that way), objects whose keys differ
    in name or order (each item's fields keep its own object's order), or anything ``zsrec/bulk_json.py``
    leaves to the rows. Each value is made text as the rows make it: null empty, a list's values
    joined by spaces (by "|" in the genres column), anything else as ``str`` writes it."""
    scan, keys, items = json.JSONDecoder().scan_once, None, None
    try:
        for lines, _ in bulk_json.line_blocks(path, encoding):
            parsed = bulk_json.objects_of(lines, scan)
            if parsed is None:
                return None
            objects = parsed[0]
            if not objects:
                continue
            if keys is None:
                keys = tuple(objects[0])
                items = _ItemColumns(list(keys), cols, needed)
            if set(map(tuple, objects)) != {keys}:
                return None
            columns = [_json_texts(bulk_json.values_of(objects, key), _list_sep(key, cols))
                       for key in keys]
            if not items.add(columns):
                return None
    except bulk_json.NOT_PLAIN:
        return None
    return items.catalog() if items is not None else None


def _list_sep(column: str, cols: Mapping[str, str]) -> str:
    """What a list in ``column`` is joined by, as the rows join it: "|" in the genres column (what
    ``item_genres`` splits), a space elsewhere."""
    return "|" if column == cols["genres"] else " "


def _json_texts(values: list, list_sep: str) -> list[str]:
    """JSON values as ``table_files._json_fields`` makes them text."""
    if set(map(type, values)) <= {str}:
        return values
    return ["" if v is None else list_sep.join(map(str, v)) if type(v) is list else str(v) for v in values]


def read_items_frame(frame, cols: Mapping[str, str], needed: Mapping[str, str]) -> Catalog | None:
    """The catalog in a pandas DataFrame (its index already made columns where it holds a needed
    one), or None where its rows must be read: a column of anything but text, integers, floats,
    bools, lists of text or missing cells (None, NaN) goes row by row, as do repeated column names."""
    header = [str(c) for c in frame.columns]
    items = _ItemColumns(header, cols, needed)
    for start in range(0, len(frame), CHUNK_ROWS):  # a chunk of Python values at a time, as the rows take them
        chunk = frame.iloc[start:start + CHUNK_ROWS]
        columns = []
        for at in range(len(header)):
            texts = _texts(chunk.iloc[:, at].tolist(), _list_sep(header[at], cols))
            if texts is None:
                return None
            columns.append(texts)
        if not items.add(columns):
            return None
    return items.catalog()


def read_items_dicts(records: list | tuple, cols: Mapping[str, str], needed: Mapping[str, str]) -> Catalog | None:
    """The catalog in a list of dicts (an API's JSON, rows fetched from a database), or None where the
    rows must read it: a record that is not a dict, keys that are not text or differ in name or order
    from the first record's (each item's fields keep its own record's order), or a cell ``_texts``
    does not take."""
    if not records or set(map(type, records)) != {dict}:
        return None
    keys = tuple(records[0])
    if not keys or set(map(type, keys)) != {str} or set(map(tuple, records)) != {keys}:
        return None
    items = _ItemColumns(list(keys), cols, needed)
    for start in range(0, len(records), CHUNK_ROWS):
        chunk = records[start:start + CHUNK_ROWS]
        columns = [_texts(bulk_json.values_of(chunk, key), _list_sep(key, cols)) for key in keys]
        if None in columns or not items.add(columns):
            return None
    return items.catalog()


def _texts(values: list, list_sep: str) -> list[str] | None:
    """Cells as the rows make them text (``records._value_text``): a string as it is, an integer as
    ``str``, a float or a bool as ``repr``, None and NaN empty, a list of strings joined by
    ``list_sep``; None where any cell is of another type (a date-time, a list of anything else,
    numpy's or pandas' own scalars: the rows convert those)."""
    kinds = set(map(type, values))
    if kinds <= {str}:
        return values
    if not kinds <= _CELL_TYPES:
        return None
    if list in kinds and any(type(v) is list and set(map(type, v)) - {str} for v in values):
        return None
    return [v if type(v) is str else "" if v is None or v != v else str(v) if type(v) is int
            else list_sep.join(v) if type(v) is list else repr(v) for v in values]


class _ItemColumns:
    """Items made from columns of text, a block at a time, as ``columns.item_of_row`` makes each: the
    id and title stripped (the title the id where empty), every other non-empty column a field, in
    the header's order, the named category column renamed "genres" and moved last."""

    def __init__(self, header: list[str], cols: Mapping[str, str], needed: Mapping[str, str]):
        self.usable = len(set(header)) == len(header) and all(column in header for column in needed.values())
        self.items: list[Item] = []
        if not self.usable:
            return
        self.id_at = header.index(cols["item_id"])
        self.title_at = header.index(cols["title"]) if cols["title"] in header else None
        self.others = [at for at, name in enumerate(header) if name not in (cols["item_id"], cols["title"])]
        self.names = [header[at] for at in self.others]
        self.renamed = cols["genres"] if cols["genres"] != "genres" and cols["genres"] in self.names else None

    def add(self, columns: list) -> bool:
        """One block's columns (each a sequence of text, in the header's order); False where a row
        has no id, or the header was not usable."""
        if not self.usable:
            return False
        ids = list(map(str.strip, columns[self.id_at]))
        if not all(ids):
            return False
        titles = ids if self.title_at is None else [t or i for t, i in zip(map(str.strip, columns[self.title_at]), ids)]
        values = [list(map(str.strip, columns[at])) for at in self.others]
        names = self.names
        if len(values) == 1:
            name = names[0]
            fields = [{name: v} if v else {} for v in values[0]]
        elif values:
            fields = [{k: v for k, v in zip(names, row) if v} for row in zip(*values)]
        else:
            fields = [{} for _ in ids]
        renamed = self.renamed
        if renamed is not None:
            for f in fields:
                if renamed in f:
                    f["genres"] = f.pop(renamed)
        self.items.extend(map(Item, ids, titles, fields))
        return True

    def catalog(self) -> Catalog | None:
        """The items as a catalog, or None where there are none or an id is held twice (the rows name
        the repeat, or skip it)."""
        if not self.usable or not self.items:
            return None
        try:
            return Catalog(self.items)
        except ValueError:
            return None
