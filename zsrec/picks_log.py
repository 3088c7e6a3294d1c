"""The picks (and new and hidden items) a running Recommender was sent, kept in a JSON-lines file so
that a restart loses none.

A service counts new picks into its indexes as they come (``Recommender.add_interactions``), and new
items into its catalog (``Recommender.add_items``); this log is what makes them outlive the process.
Each accepted pick is one line, written before it is counted:
``{"user_id": "ann", "item_id": "100", "timestamp": 1796464800.0, "rating": null}``, the item as its
catalog id and the time as it was stamped, so a replay needs no title matching and gives the same
data. Each new item is one line too: ``{"item": {"item_id": "sku-9", "title": "Trail Shoe", "fields":
{"genres": "Running"}}}``. Items hidden from recommendations and shown again
(``Recommender.hide_items``, ``show_items``) are a line per call: ``{"hide": ["sku-2"]}``,
``{"show": ["sku-2"]}``. On start the logged items join the loaded catalog and the logged picks the
loaded ones, before any index is built: the counts are then exactly a rebuild's, which adding them one
batch at a time would not give (the neighbour pruning).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .data import Catalog, Dataset, Item
from .errors import DataError


@dataclass
class Logged:
    """What a log holds, in file order: new items, and picks (their items as catalog ids); and the
    items hidden at its end (hidden and not shown again since), in the order they were hidden."""

    items: list[Item] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    item_ids: list[str] = field(default_factory=list)
    stamps: list[float] = field(default_factory=list)
    ratings: list[float] = field(default_factory=list)
    hidden: dict[str, None] = field(default_factory=dict)


def _item(entry: object) -> Item:
    if not isinstance(entry, dict):
        raise TypeError(f"an item is an object, not {type(entry).__name__}")
    fields = entry.get("fields") or {}
    if not isinstance(fields, dict):
        raise TypeError("an item's fields are an object")
    item_id, title = str(entry["item_id"]), str(entry.get("title") or entry["item_id"])
    if not item_id.strip():
        raise ValueError("an item needs an id")
    return Item(item_id, title, {str(k): str(v) for k, v in fields.items()})


def read(path: str | Path, catalog: Catalog) -> Logged:
    """The logged items and picks, in file order. A line cut off mid-write (a process that died
    while writing it, or one still writing as this reads) is left out with a warning, and the file
    is never changed here (``zsrec rank`` may read a running service's log); any other bad line, an
    item logged twice or already in the catalog, or a pick of an item neither the catalog nor the
    log holds, is an error naming the line."""
    path = Path(path)
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
    except OSError as e:
        raise DataError(f"cannot read the picks log ({e.strerror or e})", str(path)) from None
    except UnicodeDecodeError as e:
        raise DataError(f"the picks log is not UTF-8 text ({e.reason} at byte {e.start})", str(path)) from None
    out = Logged()
    new_ids: set[str] = set()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            ids: list[str] | None = None
            if isinstance(entry, dict) and ("hide" in entry or "show" in entry):
                item, ids = None, entry.get("hide", entry.get("show"))
                if not isinstance(ids, list):
                    raise TypeError("hidden or shown items are a list of ids")
                ids = [str(i) for i in ids]
            elif isinstance(entry, dict) and "item" in entry:
                item = _item(entry["item"])
            else:
                item = None
                user, item_id, ts = str(entry["user_id"]), str(entry["item_id"]), float(entry["timestamp"])
                rating = entry.get("rating")
                rating = math.nan if rating is None else float(rating)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            if not line.rstrip().endswith("}"):  # every written line ends so: this one was cut off
                warnings.warn(f"{path}:{lineno}: this line is cut off (a process stopped while writing it?); "
                              "what it held is left out", stacklevel=3)
                continue
            raise DataError(f"not a logged pick or item ({type(e).__name__}: {e})", str(path), lineno) from None
        if ids is not None:
            unknown = [i for i in ids if i not in catalog and i not in new_ids]
            if unknown:
                raise DataError(f"item id {unknown[0]!r} is not in the catalog (was the log written for other data?)",
                                str(path), lineno)
            for i in ids:
                if "hide" in entry:
                    out.hidden[i] = None
                else:
                    out.hidden.pop(i, None)
            continue
        if item is not None:
            if item.id in catalog or item.id in new_ids:
                raise DataError(f"item id {item.id!r} is logged as new, but the catalog already holds it (was the "
                                "log's catalog saved with it since?)", str(path), lineno)
            new_ids.add(item.id)
            out.items.append(item)
            continue
        if item_id not in catalog and item_id not in new_ids:
            raise DataError(f"item id {item_id!r} is not in the catalog (was the log written for other data?)",
                            str(path), lineno)
        out.users.append(user)
        out.item_ids.append(item_id)
        out.stamps.append(ts)
        out.ratings.append(rating)
    return out


def joined(dataset: Dataset, path: str | Path, log: Logged | None = None) -> Dataset:
    """The dataset with the logged items joined to its catalog and the logged picks to its
    interactions (a new object: the caller's is left as it was). Untimed data keeps its picks'
    order: the log holds the order numbers it gave. ``log``: what ``read`` gave, if read already."""
    log = log if log is not None else read(path, dataset.catalog)
    if not log.items and not log.users:
        return dataset
    catalog = dataset.catalog.with_items(log.items) if log.items else dataset.catalog
    inter = dataset.interactions
    both = inter.copy()  # extended, not the caller's
    if log.users:
        both.extend(log.users, [catalog.index_of(i) for i in log.item_ids], log.stamps, log.ratings)
    what = [f"{n:,} {noun} " for n, noun in ((len(log.items), "items"), (len(log.users), "picks")) if n]
    return replace(dataset, catalog=catalog, interactions=both,
                   source=f"{dataset.source} + {'and '.join(what)}from {path}")


def append(path: str | Path, users: Sequence[str], item_ids: Sequence[str], stamps: Sequence[float],
           ratings: Sequence[float]) -> None:
    """Write picks to the log and make them durable (flushed and synced) before they are counted: a
    pick a client was told is taken is on disk. What cannot be written is an error, and then nothing is
    counted."""
    _write(path, "".join(json.dumps({"user_id": u, "item_id": i, "timestamp": t,
                                     "rating": None if math.isnan(r) else r}) + "\n"
                         for u, i, t, r in zip(users, item_ids, stamps, ratings, strict=True)))


def append_items(path: str | Path, items: Sequence[Item]) -> None:
    """Write new items to the log, durable before they join the catalog, as ``append`` writes picks."""
    _write(path, "".join(json.dumps({"item": {"item_id": it.id, "title": it.title, "fields": it.fields}}) + "\n"
                         for it in items))


def append_hidden(path: str | Path, item_ids: Sequence[str], hidden: bool) -> None:
    """Write items hidden (or shown again) to the log, durable before the change takes effect."""
    _write(path, json.dumps({"hide" if hidden else "show": list(item_ids)}) + "\n")


def _write(path: str | Path, text: str) -> None:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as f:
            if f.tell() and _last_byte(path) != b"\n":  # after a cut-off line: start a line of our own
                text = "\n" + text
            f.write(text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise DataError(f"cannot write the picks log ({e.strerror or e}); nothing was changed", str(path)) from None


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1)
