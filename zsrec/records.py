"""Data already in Python (pandas DataFrames, or any iterable of dicts: a database cursor's rows, an
API's JSON) read by the rules the files are: ``load_records`` for a whole dataset, ``read_events`` and
``read_items`` for new picks and new items sent to a running recommender, taken whole or not at all."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np

from .bulk_frames import epoch_seconds, read_frame_events
from .bulk_items import read_items_dicts, read_items_frame
from .columns import (DEFAULT_COLUMNS, EPOCH_UNITS, Place, check_columns, item_of_row, needed_columns,
                      rows_to_dataset, time_and_rating)
from .data import Dataset, Item
from .errors import DataError
from .row_reading import RowSink


def _missing(value: object) -> bool:
    """None, NaN, and pandas' NaT / NA: an empty cell, as an empty CSV field is."""
    if value is None:
        return True
    if type(value).__name__ in ("NaTType", "NAType"):
        return True
    if isinstance(value, np.datetime64):
        return bool(np.isnat(value))
    try:
        return isinstance(value, (float, np.floating)) and math.isnan(value)
    except TypeError:
        return False


def _value_text(value: object, list_sep: str = " ") -> str:
    """A Python value as the text a file would hold: dates as ISO 8601 (read back exactly, a naive one
    as UTC), lists (tags, genres) as their words, missing values as empty."""
    kind = type(value)  # the common cells first: this runs once a cell
    if kind is str:
        return value
    if kind is int:
        return str(value)
    if kind is float:
        return "" if math.isnan(value) else repr(value)
    if _missing(value):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):  # as seconds: what the loader would parse the ISO text back to
        return repr((value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp())
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value))
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        return list_sep.join(_value_text(v) for v in value if not _missing(v))
    return str(value)


_FRAME_CHUNK = 65536


def _frame_values(column) -> list:
    """A DataFrame column's cells as Python values; a date-time column as epoch seconds (NaN for
    NaT), converted at once rather than a Timestamp a cell."""
    if getattr(column.dtype, "kind", "") != "M":
        return column.tolist()
    return epoch_seconds(column).tolist()


def _frame(records: object, needed: Mapping[str, str]):
    """``records`` as a DataFrame whose columns hold every ``needed`` one it has (ids kept as the
    frame's index, ``set_index("sku")``, made columns), or None where it is not a DataFrame."""
    frame_columns = getattr(records, "columns", None)
    if frame_columns is None or not hasattr(records, "itertuples"):
        return None
    index_names = [str(n) for n in getattr(records.index, "names", []) if n is not None]
    if set(needed.values()) & set(index_names) - {str(c) for c in frame_columns}:
        return records.reset_index()
    return records


def _record_rows(records: object, what: str, needed: Mapping[str, str], sink: RowSink,
                 piped: str | None = None) -> Iterator[tuple[Place, dict[str, str]]]:
    """Rows of a pandas DataFrame (by its columns) or of any iterable of mappings, each placed as
    ``what[i]`` (its position, as the caller would index it). The first row's columns are checked
    as a file's header is: a column the mapping names that is not there is one clear error."""
    if isinstance(records, (str, bytes, Path)):
        raise DataError(f"{what}: expected records (a list of dicts or a DataFrame), got a "
                        f"{type(records).__name__}; for files use load_table")
    if isinstance(records, Mapping):  # its keys would be read as the records
        raise DataError(f"{what}: expected records (a list of dicts or a DataFrame), got one dict; pass [{what}]")
    frame = _frame(records, needed)
    if frame is not None:
        records, frame_columns = frame, frame.columns
        names = [str(c) for c in frame_columns]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:  # each row would be read as one dict, and a column of the name would be two
            raise DataError(f"{what}: more than one column named {', '.join(map(repr, twice))}; rename them")
        _check_needed(names, needed, what)
        for start in range(0, len(records), _FRAME_CHUNK):  # a chunk of Python values at a time, not the whole frame
            chunk = records.iloc[start:start + _FRAME_CHUNK]
            for i, values in enumerate(zip(*(_frame_values(chunk[c]) for c in frame_columns)), start=start):
                yield (f"{what}[{i}]", None), {n: _value_text(v, "|" if n == piped else " ") for n, v in zip(names, values)}
        return
    try:
        rows = iter(records)  # type: ignore[call-overload]
    except TypeError:
        raise DataError(f"{what}: expected records (a list of dicts or a DataFrame), got a "
                        f"{type(records).__name__}") from None
    checked = False
    for i, record in enumerate(rows):
        if not isinstance(record, Mapping):
            sink.bad(f"not a mapping of column to value (a {type(record).__name__})", f"{what}[{i}]", None)
            continue
        if not checked:
            _check_needed([str(k) for k in record], needed, f"{what}[{i}]")
            checked = True
        yield (f"{what}[{i}]", None), {str(k): _value_text(v, "|" if k == piped else " ") for k, v in record.items()}


def _check_needed(names: list[str], needed: Mapping[str, str], where: str) -> None:
    for key, column in needed.items():
        if column not in names:
            raise DataError(f"no column {column!r} for {key} (columns: {', '.join(names) or 'none'}); "
                            f"name it with columns={{'{key}': NAME}}", where)


def load_records(items: object, interactions: object, columns: Mapping[str, str] | None = None,
                 name: str = "records", skip_bad_rows: bool = False) -> Dataset:
    """A dataset from data already in Python: pandas DataFrames, or any iterable of dicts (rows from
    a database cursor, an API's JSON). The same rules as ``load_table``, without writing files:
    ``columns`` maps zsrec's names to yours, every other item column is text for the retriever and
    prompts, and a timestamp may be a number (epoch seconds, or milliseconds and finer, read in their
    unit), a ``datetime``/``date``/pandas ``Timestamp`` (naive ones read as UTC) or an ISO 8601 string.
    A bad row is named by its position (``interactions[41]``) and raises, or is counted and dropped
    with ``skip_bad_rows``."""
    cols = {**DEFAULT_COLUMNS, **(columns or {})}
    item_needs, event_needs = needed_columns(cols, check_columns(columns))
    sink = RowSink(skip_bad_rows)
    frame = _frame(interactions, event_needs)
    in_bulk = None if frame is None else (lambda catalog: read_frame_events(frame, cols, event_needs.values(), catalog))
    events = interactions if frame is None else frame  # its index already made columns: not again for the rows
    item_frame = _frame(items, item_needs)
    items_in_bulk = ((lambda: read_items_frame(item_frame, cols, item_needs)) if item_frame is not None
                     else (lambda: read_items_dicts(items, cols, item_needs)) if isinstance(items, (list, tuple))
                     else None)  # an iterator is read once, by the rows
    return rows_to_dataset(_record_rows(items if item_frame is None else item_frame, "items", item_needs, sink,
                                        piped=cols["genres"]),
                            _record_rows(events, "interactions", event_needs, sink), cols, sink,
                            "items", "interactions", name, f"{name} (Python records)", in_bulk, items_in_bulk)


class _StrictSink(RowSink):
    """New events are all taken or none: a bad one is an error naming it, never skipped."""

    def __init__(self) -> None:
        super().__init__(skip_bad_rows=False)

    def bad(self, message: str, path: str | Path, line: int | None) -> None:
        raise DataError(message, str(path), line)


@dataclass(frozen=True)
class Event:
    """One new pick, as read from a caller's records: the item still as given (an id or a title)."""

    where: str  # "interactions[3]": the record's position, for errors
    user: str
    item: str
    timestamp: float | None  # seconds since 1970 (None: not given)
    rating: float | None


def read_events(records: object, columns: Mapping[str, str] | None = None) -> list[Event]:
    """New picks from a DataFrame or any iterable of dicts (an HTTP body, a queue's messages), by the
    column names ``load_records`` takes: ``user_id`` and ``item_id`` (an id or a title), optional
    ``timestamp`` (epoch seconds, or milliseconds and finer, read in their unit; ISO 8601; a
    ``datetime``) and ``rating``. Every record is read before any is used, and a bad one raises
    (``interactions[3]: ...``), so a caller's batch is taken whole or not at all."""
    cols = {**DEFAULT_COLUMNS, **(columns or {})}
    check_columns(columns)
    sink = _StrictSink()
    needed = {"user_id": cols["user_id"], "item_id": cols["item_id"]}
    events = []
    for (where, line), row in _record_rows(records, "interactions", needed, sink):
        user, item = row.get(cols["user_id"], "").strip(), row.get(cols["item_id"], "").strip()
        if not user:
            sink.bad(f"no user id (column {cols['user_id']!r})", where, line)
        if not item:
            sink.bad(f"no item id or title (column {cols['item_id']!r})", where, line)
        ts, rating = time_and_rating(row, cols, where, line, sink)  # a strict sink raises on a bad one
        for bound, per_second, _ in EPOCH_UNITS:  # one stamp at a time, by the loaders' bounds
            if ts is not None and ts >= bound:
                ts /= per_second
                break
        events.append(Event(str(where), user, item, ts, rating))
    return events


def read_items(records: object, columns: Mapping[str, str] | None = None) -> list[tuple[str, Item]]:
    """New catalog items from a DataFrame or any iterable of dicts, by the rules ``load_records``
    reads items with: ``item_id``, ``title`` (the id where empty), ``genres`` (or the column
    ``columns`` names), every other column a text field. Each comes with its place
    (``items[3]``) for errors; every record is read before any is used, and a bad one raises."""
    cols = {**DEFAULT_COLUMNS, **(columns or {})}
    check_columns(columns)
    sink = _StrictSink()
    read = []
    for place, row in _record_rows(records, "items", {"item_id": cols["item_id"]}, sink, piped=cols["genres"]):
        item = item_of_row(row, cols, place, sink)  # a strict sink raises on a row without an id
        assert item is not None
        read.append((str(place[0]), item))
    return read
