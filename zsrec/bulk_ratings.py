"""A ratings file read in blocks with numpy, to the same columns the row reader gives.

MovieLens' ratings (``u.data``, ``ratings.dat``, ``ratings.csv``, RecBole's ``.inter``) are rows of four
unsigned numbers, and so are many logs people export (a CSV/TSV of user id, item id and epoch time,
read by ``load_table``); others name users and items in text ("A3R5OBKS7OM2IR", "sku-1042"). The row
reader checks and converts each row in Python, about 2.2 us a rating: 22 s for 10M ratings, most of
the 29 s a ``zsrec rank --index`` took there after its index file was written
(benchmarks/load_data.py). Here a block of rows is checked and converted at once: 3.4 s. A log of
10M ratings with ids in text took 28.7-29.8 s row by row, and takes 6.3-7.0 s here
(benchmarks/load_own_logs.py; zsrec/text_ids.py numbers its ids).

Only a file the row reader would take without one complaint goes this way, and it gives the same
columns, bit for bit:
- every byte is a printable ASCII character other than a double quote, the separator or a line end
  (so no quoting, no Windows line end, no text outside ASCII, whose decoding the row reader does),
  and every row has the header's number of fields (four without one), none empty; a space only
  inside a date-time (no space to strip);
- every number (rating, time, a column zsrec passes over) is digits with at most one point, at most
  15 digits, so ``digits / 10**places`` is exactly the double ``float(text)`` gives (both are the
  correctly rounded value: the digits and the power of ten are exact doubles); no sign or exponent;
- a time may instead be an ISO 8601 date or date-time (``2024-03-01 10:00:00``,
  ``2024-03-01T10:00:00.123Z``) where the row reader reads those (your own files, RecBole's):
  zsrec/iso_times.py reads the shapes such tools write, to the seconds ``fromisoformat`` gives
  (10M events: 8.4 s, against 50 s row by row);
- an id is its text as written: where a block's ids are digits without a leading zero they are read
  as numbers (``str(int(id))`` is the id as written), and otherwise as bytes, each distinct one
  decoded once (printable ASCII reads the same in any encoding the file may be in that keeps ASCII
  as it is);
- every item id is in the catalog.
Anything else returns None, and the caller reads the file row by row, which names the bad line or
counts the skipped rows exactly as before. Blank lines are skipped, as the row reader skips them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from .data import Catalog, Interactions
from .iso_times import LONGEST, iso_seconds
from .text_ids import TextIds

ROLES = ("user", "item", "rating", "timestamp")
# 1 MB of text a block (about 40k ratings): its temporaries stay small; 8 MB blocks were no faster
# (10M ratings: 3.1-3.6 s against 3.9 s) and peaked 24-33 MB higher.
BLOCK_BYTES = 1 << 20
MAX_DIGITS = 15  # below 2**53, so the digits are an exact double
DENSE_IDS = 1 << 26  # ids below this map through a table indexed by the id (8 bytes an id)
MAX_ID_BYTES = 128  # an id in text longer than this: the file goes row by row (a block's ids are a table that wide)


def read_ratings(path: Path, sep: str, roles: Sequence[str | None], catalog: Catalog,
                 skip_header: bool = False, encoding: str = "latin-1", iso_times: bool = False) -> Interactions | None:
    """The ratings in ``path`` as ``Interactions``, or None when the file is not plain (see above).

    ``sep`` is one character, or one repeated (``::``). ``roles`` names each column in file order:
    "user" and "item" once each, "rating" and "timestamp" at most once (a file without times keeps
    file order, each row's line number its clock, as the row reader does), None for a column the
    row reader passes over. ``skip_header`` passes over the first line, which the caller has read
    (``header``). ``encoding`` is the row reader's: ids in text are read in bulk only where it reads
    printable ASCII as ASCII. ``iso_times``: the row reader reads a time that is no number as an ISO
    8601 date-time (zsrec.row_reading.parse_timestamp), and so does this read (zsrec/iso_times.py)."""
    named = [role for role in roles if role is not None]
    if (len(named) != len(set(named)) or not {"user", "item"} <= set(named) or not set(named) <= set(ROLES)
            or not sep.isascii() or len(set(sep)) != 1 or sep[0].isdigit() or sep[0] in ".\n\r"
            or not path.is_file()):
        return None
    text = _keeps_ascii(encoding)
    columns: dict[str, list[np.ndarray]] = {role: [] for role in named if role != "user"}
    users = _UserIds()
    item_rows = _ItemRows(catalog)
    lines_before = 1 if skip_header else 0  # physical lines, blank ones too: the clock of a file without times
    time_column = roles.index("timestamp") if iso_times and "timestamp" in roles else None
    for block in _blocks(path, skip_header):
        found = _fields(block, sep.encode("ascii"), len(roles), text)
        if found is None:
            return None
        fields, in_text, spaced, line_of_row, lines = found
        if spaced - {time_column}:
            return None  # a space around an id the row reader strips; one inside, it keeps
        for k, (role, (starts, ends)) in enumerate(zip(roles, fields)):
            if role is None:
                continue  # passed over, as the row reader passes over it
            if k == time_column and k in in_text:
                table = _table(block, starts, ends, LONGEST)
                value = None if table is None else iso_seconds(table, ends - starts)
                if value is None:
                    return None
                columns[role].append(value)
                continue
            if role in ("user", "item"):
                ids = _ids(block, starts, ends, k in in_text)
                if ids is None:
                    return None
                if role == "user":
                    users.add(ids)
                    continue
                value = item_rows.rows(ids)
            else:
                value = None if k in in_text else _number(block, starts, ends)
            if value is None:
                return None
            columns[role].append(value)
        if "timestamp" not in columns:
            columns.setdefault("line", []).append((lines_before + 1 + line_of_row).astype(np.float64))
        lines_before += lines
    if not columns["item"]:
        return None  # no rows: the row reader says what is wrong

    def joined(role: str) -> np.ndarray:  # the blocks let go as each column is joined: a lower peak
        return np.concatenate(columns.pop(role))

    user_ids, items = users.joined(), joined("item")
    timed = "timestamp" in columns
    times = joined("timestamp" if timed else "line")
    ratings = joined("rating") if "rating" in columns else np.full(len(items), np.nan)
    return Interactions(users=user_ids, items=items, timestamps=times, ratings=ratings, timed=timed)


def read_with_header(path: Path, sep: str, roles: Mapping[str, str], required: Collection[str], catalog: Catalog,
                     encoding: str, name_of: Callable[[str], str] = str.strip,
                     iso_times: bool = False) -> Interactions | None:
    """A ratings file whose header names its columns, read in bulk: ``roles`` gives the role of each
    column name it knows (a name not in it is a column the row reader passes over), ``required`` the
    names the row reader requires, and ``name_of`` makes a name from the header's text as the row
    reader does. None where a required name is missing (the row reader says so), a role's name is
    repeated (``read_ratings`` hands those back), or the rows are not plain. ``iso_times`` as for
    ``read_ratings``."""
    first = header(path, encoding)
    if first is None:
        return None
    names = [name_of(column) for column in first.split(sep)]
    if not set(required) <= set(names):
        return None
    return read_ratings(path, sep, [roles.get(name) for name in names], catalog, skip_header=True,
                        encoding=encoding, iso_times=iso_times)


def header(path: Path, encoding: str) -> str | None:
    """The file's first line (without a byte-order mark or line end), or None where it is blank or
    does not decode: a header the bulk read may skip only when it is the line the row reader takes."""
    try:
        with open(path, "rb") as f:
            line = f.readline().decode(encoding).removeprefix("\ufeff").rstrip("\n")
    except (OSError, UnicodeDecodeError, LookupError):
        return None
    return line if line.strip() else None


def _keeps_ascii(encoding: str) -> bool:
    """Whether ``encoding`` reads printable ASCII as ASCII (UTF-8, Latin-1, cp1252 do; UTF-16 does not)."""
    printable = bytes(range(32, 127)) + b"\t\n"
    try:
        return printable.decode(encoding) == printable.decode("ascii")
    except (LookupError, UnicodeError):
        return False


def _ids(block: np.ndarray, starts: np.ndarray, ends: np.ndarray, in_text: bool) -> np.ndarray | None:
    """A block's ids: numbers (int64) where they are all digits without a leading zero, else their
    bytes as written (a numpy bytes array); None where one is longer than MAX_ID_BYTES."""
    if not in_text and not np.any((block[starts] == 48) & (ends - starts > 1)):
        parsed = _digits(block, starts, ends)
        if parsed is not None and parsed[1] is None:
            return parsed[0]
    return _texts(block, starts, ends)  # "01", "1.0" and ids past 15 digits are text as written too


def _number(block: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray | None:
    """A column of numbers as float64, as ``float(text)`` reads each."""
    parsed = _digits(block, starts, ends)
    if parsed is None:
        return None
    value, places = parsed
    return value.astype(np.float64) if places is None else value / 10.0 ** places


def _texts(block: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray | None:
    """The fields ``block[a:e]`` as one bytes array: each field's bytes in a row of a table as wide as
    the longest, the rest zeros (a numpy bytes value ends at its first trailing zero, and no field
    holds one)."""
    table = _table(block, starts, ends, MAX_ID_BYTES)
    return None if table is None else table.view(f"S{table.shape[1]}").ravel()


def _table(block: np.ndarray, starts: np.ndarray, ends: np.ndarray, widest: int) -> np.ndarray | None:
    """The fields ``block[a:e]`` as rows of a uint8 table as wide as the longest, zeros past each
    field's end; None where one is longer than ``widest``."""
    length = ends - starts
    width = int(length.max())
    if width > widest:
        return None
    padded = np.concatenate([block, np.zeros(width, dtype=np.uint8)])
    table = np.lib.stride_tricks.sliding_window_view(padded, width)[starts]  # a copy of each field's window
    table[np.arange(width) >= length[:, None]] = 0
    return table


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


def _fields(b: np.ndarray, sep: bytes, n_fields: int, text: bool
            ) -> tuple[list[tuple[np.ndarray, np.ndarray]], set[int], set[int], np.ndarray, int] | None:
    """Where each row's fields start and end in a block of lines, which fields (by place in the row)
    hold a byte that is not a number's, which hold a space, each row's line within the block (from 0,
    blank lines counted) and the block's lines; None when a byte is not a digit, point, separator or
    line end, nor (where ``text``) other printable ASCII but a double quote, a row has other than
    ``n_fields`` fields, or a field is empty."""
    line_ends = b == 10
    at_sep = b == sep[0]
    numbers = ((b - np.uint8(48)) < 10) | line_ends | at_sep | (b == 46)
    not_number: np.ndarray | None = None
    if not numbers.all():  # the check a file of numbers makes, alone: a table lookup of every byte took twice as long
        not_number = ~numbers
        if not text or not np.all(numbers | (((b - np.uint8(32)) < 95) & (b != 34))):  # 32-126, no '"'
            return None
    del numbers
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
            return [], set(), set(), line_of_row, lines
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
    in_text: set[int] = set()
    spaced: set[int] = set()
    if not_number is not None:  # each field's bytes up to the next field's start (its separator, a line end: numbers')
        cuts = np.stack(field_starts, axis=1).ravel()
        in_text = _held(not_number, cuts, n_fields)
        at_space = b == 32
        if at_space.any():
            spaced = _held(at_space, cuts, n_fields)
    return fields, in_text, spaced, line_of_row, lines


def _held(marked: np.ndarray, cuts: np.ndarray, n_fields: int) -> set[int]:
    """The fields (by place in the row) where some row has a ``marked`` byte, the fields cut at ``cuts``."""
    held = np.logical_or.reduceat(marked, cuts)
    return set(np.flatnonzero(held.reshape(-1, n_fields).any(axis=0)).tolist())


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
    """Item ids to catalog rows, each id looked up in the catalog once: ids as numbers through a table
    indexed by the id where they are small (MovieLens': under 300k), else a sorted search; ids in
    text by their codes (``TextIds``), each code's row in a table."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.table = np.full(0, -1, dtype=np.int64)  # id -> row; -1: not looked up yet
        self.text_ids = TextIds()
        self.row_of_code = np.zeros(0, dtype=np.int64)

    def rows(self, ids: np.ndarray) -> np.ndarray | None:
        if ids.dtype.kind == "S":
            codes, fresh = self.text_ids.codes(ids)
            if len(fresh):
                rows = self.catalog.rows_of(key.decode("ascii") for key in fresh.tolist())
                if rows is None:
                    return None
                self.row_of_code = np.concatenate([self.row_of_code, rows])
            return self.row_of_code[codes]
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
            looked = self.catalog.rows_of(map(str, fresh.tolist()))
            if looked is None:
                return None
            self.table[fresh] = looked
            rows = self.table[ids]
        return rows

    def _looked_up(self, distinct: np.ndarray, ids: np.ndarray) -> np.ndarray | None:
        rows = self.catalog.rows_of(map(str, distinct.tolist()))
        return None if rows is None else rows[np.searchsorted(distinct, ids)]


class _UserIds:
    """A file's user ids, block by block, made one string object a user at the end as the row reader
    keeps them. Blocks of numbers stay numbers (``_user_ids`` makes their text at once); a block in
    text is coded at once (``TextIds``), so that only the codes are held; where any block was in
    text, the number blocks are coded the same way at the end (a number's text is its bytes: no
    leading zero), and "42" in text and 42 as a number are one user."""

    def __init__(self) -> None:
        self.blocks: list[tuple[bool, np.ndarray]] = []  # (in text: codes, else the numbers)
        self.text_ids = TextIds()

    def add(self, ids: np.ndarray) -> None:
        in_text = ids.dtype.kind == "S"
        self.blocks.append((in_text, self.text_ids.codes(ids)[0] if in_text else ids))

    def joined(self) -> np.ndarray:
        if not any(in_text for in_text, _ in self.blocks):
            return _user_ids(np.concatenate([ids for _, ids in self.blocks]))
        codes = []
        while self.blocks:  # each block let go as it is coded: a lower peak
            in_text, ids = self.blocks.pop(0)
            if not in_text:
                distinct, inverse = np.unique(ids, return_inverse=True)
                ids = self.text_ids.codes(distinct.astype("S"))[0][inverse]
            codes.append(ids)
        held, self.text_ids = self.text_ids.texts(), TextIds()  # the table let go before the strings are made
        texts = np.empty(len(held), dtype=object)
        texts[:] = [key.decode("ascii") for key in held.tolist()]
        del held
        return texts[np.concatenate(codes)]


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
