"""Events in a pandas DataFrame read a column at a time, to the columns the row reader gives.

``load_records`` reads a frame's events a row at a time: each cell made the text a file would hold,
then read as a file's row is, about 3.5 us an event (35 s for 10M). Where the frame's columns are
of plain types, each is converted whole here instead, to the same ``Interactions``, bit for bit
(10M events: 2.4 s with integer ids, 4.8 s with ids in text; benchmarks/load_own_logs.py):
- the ids: integers (each one's text as ``str`` writes it) or Python strings (stripped, as the rows
  strip them; none empty), no cell missing;
- the time: integers, floats or date-times (``datetime64``, with a zone or without: read as UTC, as
  the rows read them), or ISO 8601 text in a shape zsrec/iso_times.py reads (what ``pd.read_csv``
  gives for a column of dates it was not asked to parse), every one present and finite; with no
  time column, the events' order is their clock (``timed`` off), as in the rows;
- the rating: integers or floats, none infinite; a missing one (NaN) is no rating, as in the rows;
  with no rating column, none;
- every item id is in the catalog, and no two of the frame's columns share a name.
Anything else returns None, and the rows are read, which name the bad one or count it as before.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

from .data import Catalog, Interactions, first_seen_codes
from .iso_times import iso_seconds_of


def epoch_seconds(column) -> np.ndarray:
    """A date-time column as seconds since 1970 (NaN for NaT), at once: what the rows read each
    cell as (``zsrec.records``) and what this module reads the time column as."""
    if getattr(column.dt, "tz", None) is not None:
        column = column.dt.tz_convert("UTC").dt.tz_localize(None)
    stamps = column.to_numpy().astype("datetime64[us]")
    return np.where(np.isnat(stamps), np.nan, stamps.astype(np.int64) / 1e6)


def read_frame_events(frame, cols: Mapping[str, str], needed: Collection[str], catalog: Catalog
                      ) -> Interactions | None:
    """The events in ``frame`` (its columns named by ``cols``, zsrec's names to the frame's), or None
    where a column is not of the plain types above, or a ``needed`` one is missing (the rows are
    read then, and say so)."""
    names = [str(c) for c in frame.columns]
    if not len(frame) or len(set(names)) != len(names) or not set(needed) <= set(names):
        return None  # no events: the rows say so
    column = {name: frame.iloc[:, k] for k, name in enumerate(names)}
    if cols["user_id"] not in column or cols["item_id"] not in column:
        return None
    users, items = _ids(column[cols["user_id"]]), _ids(column[cols["item_id"]])
    if users is None or items is None:
        return None
    item_rows = catalog.rows_of(items[1])
    if item_rows is None:
        return None
    n = len(frame)
    times = _numbers(column[cols["timestamp"]], dates=True) if cols["timestamp"] in column else None
    ratings = _numbers(column[cols["rating"]], dates=False) if cols["rating"] in column else np.full(n, np.nan)
    if (cols["timestamp"] in column and (times is None or np.isnan(times).any())) or ratings is None:
        return None
    texts = np.empty(len(users[1]), dtype=object)
    texts[:] = users[1]
    return Interactions(users=texts[users[0]], items=item_rows[items[0]],
                        timestamps=times if times is not None else np.arange(n, dtype=np.float64),
                        ratings=ratings, timed=times is not None)


def _ids(series) -> tuple[np.ndarray, list[str]] | None:
    """Each cell's code and each code's id, as the rows would read the ids; None where they would
    not all be read (or not read so)."""
    kind = series.dtype.kind
    if kind not in "iuO" or series.isna().any():
        return None  # a missing id (pandas' nullable integers have them too): the rows name it
    if kind in "iu":
        codes, uniques = series.factorize()
        return codes, [str(u) for u in uniques.tolist()]
    codes, uniques = series.factorize()
    values = uniques.tolist()
    if not all(type(v) is str for v in values):
        return None
    texts = [v.strip() for v in values]
    if not all(texts):
        return None  # an empty id: the rows name it
    if len(set(texts)) != len(texts):  # " a" and "a": one id once stripped
        texts, merged = first_seen_codes(texts)
        codes = merged[codes]
    return codes, texts


def _numbers(series, dates: bool) -> np.ndarray | None:
    """A column of numbers (or, where ``dates``, date-times) as float64, NaN where a cell is
    missing; None for any other column, or one holding an infinity."""
    kind = series.dtype.kind
    if kind in "iuf":
        values = series.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)  # a copy: NaNs are set below
    elif kind == "M" and dates:
        values = epoch_seconds(series)
    elif kind == "O" and dates:  # text, as pandas reads a CSV's dates unless told to parse them
        texts = series.tolist()
        if set(map(type, texts)) != {str}:
            return None
        values = iso_seconds_of(texts)
        if values is None:
            return None
    else:
        return None
    if np.isinf(values).any():
        return None
    values[np.isnan(values)] = np.nan  # the one NaN the rows store for an empty cell, whatever the frame's was
    return values
