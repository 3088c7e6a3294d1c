"""Rows given as {column: text}, from files or Python records alike, made into a ``Dataset``:
zsrec's column names mapped to the caller's, each item row made an ``Item``, each event row's
timestamp and rating read, and epoch numbers read in the unit they were written in."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np

from .data import Catalog, Dataset, Interactions, Item
from .errors import DataError
from .row_reading import InteractionBuilder, RowSink, build_catalog, collector_paused, parse_number, parse_timestamp

DEFAULT_COLUMNS: dict[str, str] = {
    "item_id": "item_id", "title": "title", "user_id": "user_id", "timestamp": "timestamp", "rating": "rating",
    "genres": "genres",  # an item's genres or category: what prompts show and reasons share with the history
}


# Epoch numbers past these are no seconds (1e11 s is the year 5138): logs written by JavaScript, Java or
# Kafka stamp milliseconds, some databases micro- or nanoseconds.
EPOCH_UNITS = ((1e17, 1e9, "nanoseconds"), (1e14, 1e6, "microseconds"), (1e11, 1e3, "milliseconds"))


def to_seconds(interactions: Interactions, label: str) -> None:
    """Read a file's epoch numbers in the unit they were written in: the session signal and similar
    sittings count seconds, and milliseconds read as seconds put two picks a minute apart 17 hours
    apart, so that no sitting would hold two."""
    if not interactions.timed or not len(interactions):
        return
    typical = float(np.median(interactions.timestamps))
    for bound, per_second, unit in EPOCH_UNITS:
        if typical >= bound:
            interactions.timestamps /= per_second
            warnings.warn(f"{label}: timestamps read as {unit} since 1970 (as seconds they would fall "
                          "after the year 5000)", stacklevel=4)
            return


def check_columns(columns: Mapping[str, str] | None) -> set[str]:
    """The zsrec names the caller mapped, each one zsrec knows."""
    unknown = set(columns or {}) - set(DEFAULT_COLUMNS)
    if unknown:
        raise DataError(f"unknown column mapping keys {sorted(unknown)}; known: {sorted(DEFAULT_COLUMNS)}")
    return set(columns or {})


def needed_columns(cols: Mapping[str, str], given: set[str]) -> tuple[dict[str, str], dict[str, str]]:
    """The columns items and events must have: the ids, and every column the caller named (the other
    defaults are optional)."""
    item_needs = {key: cols[key] for key in ("item_id", "title", "genres") if key == "item_id" or key in given}
    event_needs = {key: cols[key] for key in ("user_id", "item_id", "timestamp", "rating")
                   if key in ("user_id", "item_id") or key in given}
    return item_needs, event_needs


Place = tuple[str | Path, int | None]  # where a row came from: (file, line) or ("items[3]", None)


def time_and_rating(row: dict[str, str], cols: Mapping[str, str], where: str | Path, line: int | None,
                     sink: RowSink) -> tuple[float | None, float | None] | None:
    """An event row's timestamp and rating (None where the row leaves one empty), or None when the
    sink let a bad one pass (``skip_bad_rows``): the row is then dropped."""
    ts_text, rating_text = row.get(cols["timestamp"], "").strip(), row.get(cols["rating"], "").strip()
    ts = parse_timestamp(ts_text, where, line, sink) if ts_text else None
    rating = parse_number(rating_text, "rating", where, line, sink) if rating_text else None
    if (ts_text and ts is None) or (rating_text and rating is None):
        return None
    return ts, rating


def item_of_row(row: dict[str, str], cols: Mapping[str, str], place: Place, sink: RowSink) -> Item | None:
    """An item row as an ``Item`` (None when the sink let a row without an id pass): the title, or
    the id where it has none; every other column a text field, a named category column the genres."""
    item_id = row.get(cols["item_id"], "").strip()
    if not item_id:
        sink.bad(f"no item id (column {cols['item_id']!r})", *place)
        return None
    title = row.get(cols["title"], "").strip() or item_id
    fields = {k: v.strip() for k, v in row.items() if k not in (cols["item_id"], cols["title"]) and v.strip()}
    if cols["genres"] != "genres" and cols["genres"] in fields:
        fields["genres"] = fields.pop(cols["genres"])
    return Item(item_id, title, fields)


def rows_to_dataset(item_rows: Iterator[tuple[Place, dict[str, str]]],
                     event_rows: Iterator[tuple[Place, dict[str, str]]], cols: Mapping[str, str],
                     sink: RowSink, items_label: str | Path, events_label: str | Path,
                     name: str, source: str,
                     events_in_bulk: Callable[[Catalog], Interactions | None] | None = None,
                     items_in_bulk: Callable[[], Catalog | None] | None = None) -> Dataset:
    """Items and events given as {column: text} rows, from files or from Python records alike.
    ``items_in_bulk`` and ``events_in_bulk`` read a plain file in blocks (zsrec/bulk_items.py,
    zsrec/bulk_ratings.py), to the catalog and the columns the rows would give; where one returns
    None, its rows are read."""
    with collector_paused():
        catalog = items_in_bulk() if items_in_bulk is not None else None
        if catalog is None:
            items, places = [], []
            for place, row in item_rows:
                item = item_of_row(row, cols, place, sink)
                if item is not None:
                    items.append(item)
                    places.append(place)
            catalog = build_catalog(items, sink, items_label, [line for _, line in places],
                                     [where for where, _ in places])
    interactions = events_in_bulk(catalog) if events_in_bulk is not None else None
    if interactions is None:
        builder = InteractionBuilder(catalog, sink)
        user_col, item_col = cols["user_id"], cols["item_id"]
        for (where, line), row in event_rows:
            read = time_and_rating(row, cols, where, line, sink)
            if read is None:
                continue
            builder.add(row.get(user_col, "").strip(), row.get(item_col, "").strip(), *read, where, line)
        interactions = builder.build(events_label)
    to_seconds(interactions, Path(events_label).name if isinstance(events_label, Path) else events_label)
    return Dataset(name, catalog, interactions, source=source, skipped_rows=sink.skipped)
