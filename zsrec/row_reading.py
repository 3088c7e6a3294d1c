"""What every data reader shares: lines streamed from a file with their numbers, rows split and
checked, numbers and timestamps parsed, and a bad row either raised, naming its file and line, or
counted and dropped (``skip_bad_rows``), never dropped silently. The interactions are collected as
columns and the catalog is checked for repeated ids here, so every format loads by the same rules."""

from __future__ import annotations

import gc
import math
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .data import Catalog, Interactions, Item
from .errors import DataError


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's garbage collector off while a reader makes a catalog: a million objects that all stay
    (an ``Item`` and its fields each), and every few thousand new ones the collector would walk those
    made so far: 2.9 of the 6.3 s a 1M-item CSV took row by row (benchmarks/load_catalog.py). Nothing
    a reader makes refers back to itself, so there is nothing for it to find; it is on again (where it
    was on) after."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


class RowSink:
    """Raise on a bad row, or count it when the caller asked to skip bad rows."""

    def __init__(self, skip_bad_rows: bool):
        self.skip = skip_bad_rows
        self.skipped = 0

    def bad(self, message: str, path: str | Path, line: int | None) -> None:
        if self.skip:
            self.skipped += 1
            return
        raise DataError(message + " (use skip_bad_rows / --skip-bad-rows to drop such rows)", str(path), line)


def read_lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """Non-blank lines with their numbers, streamed: a 25M-row ratings file is never held whole."""
    if not path.is_file():
        raise DataError("file not found", str(path))
    any_line = False
    try:
        with open(path, encoding=encoding, newline=None) as f:
            for i, line in enumerate(f, start=1):
                if i == 1:
                    line = line.removeprefix("\ufeff")  # a spreadsheet's byte-order mark would stick to a column name
                line = line.rstrip("\n")
                if line.strip():
                    any_line = True
                    yield i, line
    except UnicodeDecodeError:
        # Text files are decoded in chunks, so the error's offset is the chunk's: find the exact line.
        data = path.read_bytes()
        try:
            data.decode(encoding)
            start = len(data)
        except UnicodeDecodeError as e:
            start = e.start
        line_no = data[:start].count(b"\n") + 1
        raise DataError(f"not valid {encoding} text (byte {start}); pass the file's encoding", str(path),
                        line_no) from None
    if not any_line:
        raise DataError("file is empty", str(path))


def split_rows(path: Path, sep: str, n_fields: int, sink: RowSink, encoding: str,
                header: bool = False, min_fields: int | None = None) -> Iterator[tuple[int, list[str]]]:
    """Rows of exactly ``n_fields`` (or at least ``min_fields``) separated by ``sep``."""
    for lineno, line in read_lines(path, encoding):
        if header and lineno == 1:
            continue
        parts = line.split(sep)
        ok = len(parts) >= min_fields if min_fields is not None else len(parts) == n_fields
        if not ok:
            want = f"at least {min_fields}" if min_fields is not None else str(n_fields)
            sink.bad(f"expected {want} {sep!r}-separated fields, got {len(parts)}", path, lineno)
            continue
        yield lineno, parts


def parse_number(text: str, what: str, path: str | Path, lineno: int | None, sink: RowSink) -> float | None:
    try:
        value = float(text)
    except ValueError:
        sink.bad(f"{what} {text!r} is not a number", path, lineno)
        return None
    if math.isnan(value) or math.isinf(value):
        sink.bad(f"{what} {text!r} is not a finite number", path, lineno)
        return None
    return value


def parse_timestamp(text: str, path: str | Path, lineno: int | None, sink: RowSink) -> float | None:
    """Seconds since the epoch, from a number or an ISO 8601 date or date-time.

    Event logs exported from databases and analytics tools stamp events as ``2024-03-01T10:00:00Z``
    far more often than as epoch seconds; the session and sittings signals only need seconds. A time
    without a zone is read as UTC, so that one file is never read two ways."""
    try:
        value = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            sink.bad(f"timestamp {text!r} is neither a number (seconds since 1970) nor an ISO 8601 date "
                     "or date-time such as 2024-03-01T10:00:00Z", path, lineno)
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    if math.isnan(value) or math.isinf(value):
        sink.bad(f"timestamp {text!r} is not a finite number", path, lineno)
        return None
    return value


@dataclass
class InteractionBuilder:
    """Collects interaction rows, checking each item id against the catalog.

    Columns, not row tuples, and each user id string kept once: a loaded rating holds about 40 bytes
    (benchmarks/load_data.py, 10M ratings), a row tuple several times that, which is what lets a
    25M-row MovieLens file load on a laptop."""

    catalog: Catalog
    sink: RowSink

    def __post_init__(self) -> None:
        self.users: list[str] = []
        self._user_ids: dict[str, str] = {}
        self.items = array("q")
        self.times = array("d")
        self.ratings = array("d")
        self.untimed = 0  # rows that had no timestamp

    def add(self, user: str, item: str, ts: float | None, rating: float | None, path: str | Path,
            lineno: int | None) -> None:
        if not user:
            self.sink.bad("empty user id", path, lineno)
            return
        if item not in self.catalog:
            self.sink.bad(f"item id {item!r} is not in the catalog", path, lineno)
            return
        # Rows without a timestamp keep file order (the row number is a monotone clock; for records
        # with no line, the count so far is).
        if ts is None:
            self.untimed += 1
            ts = float(lineno if lineno is not None else len(self.items))
        self.users.append(self._user_ids.setdefault(user, user))
        self.items.append(self.catalog.index_of(item))
        self.times.append(ts)
        self.ratings.append(math.nan if rating is None else rating)

    def build(self, path: str | Path) -> Interactions:
        if not self.users:
            raise DataError("no usable interactions", str(path))
        users = np.empty(len(self.users), dtype=object)
        users[:] = self.users
        return Interactions(users=users, items=np.frombuffer(self.items, dtype=np.int64).copy(),
                            timestamps=np.frombuffer(self.times, dtype=np.float64).copy(),
                            ratings=np.frombuffer(self.ratings, dtype=np.float64).copy(), timed=not self.untimed)


def build_catalog(items: list[Item], sink: RowSink, path: str | Path, lines: list[int | None],
                   places: list[str | Path] | None = None) -> Catalog:
    """``places`` names each item's source where it is not ``path`` (records: ``items[3]``)."""
    if items:
        try:
            return Catalog(items)  # no id held twice, as in most catalogs: checked at once
        except ValueError:
            pass
    seen: set[str] = set()
    kept: list[Item] = []
    for k, (item, lineno) in enumerate(zip(items, lines)):
        if item.id in seen:
            sink.bad(f"duplicate item id {item.id!r}", places[k] if places else path, lineno)
            continue
        seen.add(item.id)
        kept.append(item)
    if not kept:
        raise DataError("no usable items", str(path))
    return Catalog(kept)
