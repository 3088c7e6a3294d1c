"""A ratings file of plain numbers read in blocks with numpy, to the same columns the row reader gives.

MovieLens' ratings (``u.data``, ``ratings.dat``, ``ratings.csv``, RecBole's ``.inter``) are rows of four
unsigned numbers, and so are many logs people export (a CSV/TSV of user id, item id and epoch time,
read by ``load_table``). The row reader checks and converts each row in Python, about 2.2 us a
rating: 22 s for 10M ratings, most of the 29 s a ``zsrec rank --index`` took there after its index
file was written (benchmarks/load_data.py). Here a block of rows is checked and converted at once: 3.4 s.

Only a file the row reader would take without one complaint goes this way, and it gives the same
columns, bit for bit:
- every byte is a digit, the separator, a point or a line end (so no space to strip, no quote, sign,
  exponent, Windows line end or other text), and every row has the header's number of fields (four
  without one), none empty;
- ids are digits without a leading zero, so ``str(int(id))`` is the id as written;
- a number has at most 15 digits and one point, so ``digits / 10**places`` is exactly the double
  ``float(text)`` gives (both are the correctly rounded value: the digits and the power of ten are
  exact doubles);
- every item id is in the catalog.
Anything else returns None, and the caller reads the file row by row, which names the bad line or
counts the skipped rows exactly as before. Blank lines are skipped, as the row reader skips them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from .data import Catalog, Interactions

ROLES = ("user", "item", "rating", "timestamp")
# 1 MB of text a block (about 40k ratings): its temporaries stay small; 8 MB blocks were no faster
# (10M ratings: 3.1-3.6 s against 3.9 s) and peaked 24-33 MB higher.
BLOCK_BYTES = 1 << 20
MAX_DIGITS = 15  # below 2**53, so the digits are an exact double
DENSE_IDS = 1 << 26  # ids below this map through a table indexed by the id (8 bytes an id)


def read_ratings(path: Path, sep: str, roles: Sequence[str | None], catalog: Catalog,
                 skip_header: bool = False) -> Interactions | None:
    """The ratings in ``path`` as ``Interactions``, or None when the file is not plain (see above).

    ``sep`` is one character, or one repeated (``::``). ``roles`` names each column in file order:
    "user" and "item" once each, "rating" and "timestamp" at most once (a file without times keeps
    file order, each row's line number its clock, as the row reader does), None for a column the
    row reader passes over (it must hold numbers all the same). ``skip_header`` passes over the
    first line, which the caller has read (``header``)."""
    named = [role for role in roles if role is not None]
    if (len(named) != len(set(named)) or not {"user", "item"} <= set(named) or not set(named) <= set(ROLES)
            or not sep.isascii() or len(set(sep)) != 1 or sep[0].isdigit() or sep[0] in ".\n\r"
            or not path.is_file()):
        return None
    columns: dict[str, list[np.ndarray]] = {role: [] for role in named}
    item_rows = _ItemRows(catalog)
    lines_before = 1 if skip_header else 0  # physical lines, blank ones too: the clock of a file without times
    for block in _blocks(path, skip_header):
        found = _fields(block, sep.encode("ascii"), len(roles))
        if found is None:
            return None
        fields, line_of_row, lines = found
        for role, (starts, ends) in zip(roles, fields):
            if role is not None:
                value = _column(block, starts, ends, role, item_rows)
                if value is None:
                    return None
                columns[role].append(value)
        if "timestamp" not in columns:
            columns.setdefault("line", []).append((lines_before + 1 + line_of_row).astype(np.float64))
        lines_before += lines
    if not columns["user"]:
        return None  # no rows: the row reader says what is wrong

    def joined(role: str) -> np.ndarray:  # the blocks let go as each column is joined: a lower peak
        return np.concatenate(columns.pop(role))

    users, items = _user_ids(joined("user")), joined("item")
    timed = "timestamp" in columns
    times = joined("timestamp" if timed else "line")
    ratings = joined("rating") if "rating" in columns else np.full(len(items), np.nan)
    return Interactions(users=users, items=items, timestamps=times, ratings=ratings, timed=timed)


def read_with_header(path: Path, sep: str, roles: Mapping[str, str], required: Collection[str], catalog: Catalog,
                     encoding: str, name_of: Callable[[str], str] = str.strip) -> Interactions | None:
    """A ratings file whose header names its columns, read in bulk: ``roles`` gives the role of each
    column name it knows (a name not in it is a column the row reader passes over), ``required`` the
    names the row reader requires, and ``name_of`` makes a name from the header's text as the row
    reader does. None where a required name is missing (the row reader says so), a role's name is
    repeated (``read_ratings`` hands those back), or the rows are not plain numbers."""
    first = header(path, encoding)
    if first is None:
        return None
    names = [name_of(column) for column in first.split(sep)]
    if not set(required) <= set(names):
        return None
    return read_ratings(path, sep, [roles.get(name) for name in names], catalog, skip_header=True)


def header(path: Path, encoding: str) -> str | None:
    """The file's first line (without a byte-order mark or line end), or None where it is blank or
    does not decode: a header the bulk read may skip only when it is the line the row reader takes."""
    try:
        with open(path, "rb") as f:
            line = f.readline().decode(encoding).removeprefix("\ufeff").rstrip("\n")
    except (OSError, UnicodeDecodeError, LookupError):
        return None
    return line if line.strip() else None


def _column(block: np.ndarray, starts: np.ndarray, ends: np.ndarray, role: str,
            item_rows: _ItemRows) -> np.ndarray | None:
    """One column of a block: catalog rows for items, int64 for users, float64 for numbers."""
    parsed = _digits(block, starts, ends)
    if parsed is None:
        return None
    value, places = parsed
    if role in ("user", "item"):
        if places is not None or np.any((block[starts] == 48) & (ends - starts > 1)):
            return None  # "1.0" or "01" would not read back as the id written
        return item_rows.rows(value) if role == "item" else value
    return value.astype(np.float64) if places is None else value / 10.0 ** places


def _blocks(path: Path, skip_header: bool) -> Iterator[np.ndarray]:
    """Whole lines, about BLOCK_BYTES at a time; a last line without its line end gets one."""
    with open(path, "rb") as f:
        if skip_header:
            f.readline()
        rest = b""
        while True:
            chunk = f.read(BLOCK_BYTES)
            if not chunk:
                break
            chunk = rest + chunk
            cut = chunk.rfind(b"\n") + 1
            rest = chunk[cut:]
            if cut:
                yield np.frombuffer(chunk, dtype=np.uint8, count=cut)
        if rest:
            yield np.frombuffer(rest + b"\n", dtype=np.uint8)


def _fields(b: np.ndarray, sep: bytes, n_fields: int
            ) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray, int] | None:
    """Where each row's fields start and end in a block of lines, each row's line within the block
    (from 0, blank lines counted) and the block's lines; None when a byte is not a digit, point,
    separator or line end, a row has other than ``n_fields`` fields, or a field is empty."""
    line_ends = b == 10
    at_sep = b == sep[0]
    if not np.all(((b - np.uint8(48)) < 10) | line_ends | at_sep | (b == 46)):
        return None
    ends = np.flatnonzero(line_ends)
    lines = len(ends)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    line_of_row = np.arange(lines)
    if np.any(ends == starts):  # blank lines, skipped as the row reader skips them
        keep = ends > starts
        ends, starts, line_of_row = ends[keep], starts[keep], line_of_row[keep]
        if not len(ends):
            return [], line_of_row, lines
    seps = np.flatnonzero(at_sep)
    width = len(sep)
    if width > 1:  # a separator's bytes one after another: a lone ":" or a ":::" is not one
        if len(seps) % width:
            return None
        seps = seps.reshape(-1, width)
        if not np.all(seps == seps[:, :1] + np.arange(width)):
            return None
        seps = seps[:, 0]
    per_row = n_fields - 1
    if len(seps) != per_row * len(ends):
        return None
    seps = seps.reshape(-1, per_row)
    # With per_row separators a row in all, each row's lying after its start and before its end means
    # exactly per_row in each; and each field ends after it starts.
    field_starts = [starts] + [seps[:, k] + width for k in range(per_row)]
    field_ends = [seps[:, k] for k in range(per_row)] + [ends]
    fields = list(zip(field_starts, field_ends))
    if not all(np.all(e > a) for a, e in fields):
        return None
    return fields, line_of_row, lines


def _digits(b: np.ndarray, a: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The fields ``b[a:e]`` (digits and at most one point each) as their digits' value and, where the
    column has a point, each field's digits after it (0 for a field without). None past 15 digits
    or with no digit."""
    length = e - a
    shortest, longest = int(length.min()), int(length.max())
    if longest > MAX_DIGITS + 1:
        return None
    # Horner's rule on the raw bytes, each field's k-th byte from its end at a time; a field shorter
    # than the longest reads as leading "0"s, and the "0"s' code (48) is taken off each place at the end.
    value = np.zeros(len(a), dtype=np.int64)
    places: np.ndarray | None = None  # digits after the point; -1: none
    for k in range(longest, 0, -1):
        at = e - k
        c = b[at] if k <= shortest else np.where(at >= a, b[np.maximum(at, 0)], np.uint8(48))
        point = c == 46
        if point.any():
            if places is None:
                places = np.full(len(a), -1, dtype=np.int64)
            elif np.any(point & (places >= 0)):
                return None  # two points
            places[point] = k - 1
            value = np.where(point, value, value * 10 + c)
        else:
            value *= 10
            value += c
    if places is None:
        if longest > MAX_DIGITS:
            return None
        value -= 48 * int("1" * longest)
        return value, None
    has_point = places >= 0
    digits = length - has_point
    if np.any(digits > MAX_DIGITS) or np.any(digits < 1):
        return None
    value -= np.where(has_point, 48 * int("0" + "1" * (longest - 1)), 48 * int("1" * longest))
    return value, np.maximum(places, 0)


class _ItemRows:
    """Item ids (as numbers) to catalog rows, each id looked up in the catalog once; a table indexed
    by the id where the ids are small (MovieLens': under 300k), else a sorted search."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.table = np.full(0, -1, dtype=np.int64)  # id -> row; -1: not looked up yet

    def rows(self, ids: np.ndarray) -> np.ndarray | None:
        top = int(ids.max())
        if top >= DENSE_IDS:
            return self._looked_up(np.unique(ids), ids)
        if top >= len(self.table):
            grown = np.full(top + 1, -1, dtype=np.int64)
            grown[:len(self.table)] = self.table
            self.table = grown
        rows = self.table[ids]
        new = rows < 0
        if new.any():
            fresh = np.unique(ids[new])
            looked = self._rows_of(fresh)
            if looked is None:
                return None
            self.table[fresh] = looked
            rows = self.table[ids]
        return rows

    def _looked_up(self, distinct: np.ndarray, ids: np.ndarray) -> np.ndarray | None:
        rows = self._rows_of(distinct)
        return None if rows is None else rows[np.searchsorted(distinct, ids)]

    def _rows_of(self, distinct: np.ndarray) -> np.ndarray | None:
        rows = np.empty(len(distinct), dtype=np.int64)
        for k, item_id in enumerate(distinct.tolist()):
            text = str(item_id)
            if text not in self.catalog:
                return None  # the row reader names the line, or counts it as skipped
            rows[k] = self.catalog.index_of(text)
        return rows


def _user_ids(ids: np.ndarray) -> np.ndarray:
    """User ids as the row reader keeps them: text, one string object a user."""
    if len(ids) and int(ids.max()) < DENSE_IDS:
        seen = np.zeros(int(ids.max()) + 1, dtype=bool)
        seen[ids] = True
        distinct = np.flatnonzero(seen)
        code = np.zeros(len(seen), dtype=np.int64)
        code[distinct] = np.arange(len(distinct))
        codes = code[ids]
    else:
        distinct, codes = np.unique(ids, return_inverse=True)
    texts = np.empty(len(distinct), dtype=object)
    texts[:] = [str(u) for u in distinct.tolist()]
    return texts[codes]
