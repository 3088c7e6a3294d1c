"""The picks a running Recommender was sent, kept in a JSON-lines file so that a restart loses none.

A service counts new picks into its indexes as they come (``Recommender.add_interactions``); this log
is what makes them outlive the process. Each accepted pick is one line, written before it is counted:
``{"user_id": "ann", "item_id": "100", "timestamp": 1796464800.0, "rating": null}``, the item as its
catalog id and the time as it was stamped, so a replay needs no title matching and gives the same
data. On start the logged picks join the loaded ones before any index is built: the counts are then
exactly a rebuild's, which adding them one batch at a time would not give (the neighbour pruning).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from .data import Dataset, Interactions
from .errors import DataError


def read(path: str | Path, dataset: Dataset) -> tuple[list[str], list[int], list[float], list[float]]:
    """(users, catalog rows, timestamps, ratings) of the logged picks, in file order. A line cut off
    mid-write (a process that died while writing it, or one still writing as this reads) is left out
    with a warning, and the file is never changed here (``zsrec rank`` may read a running service's
    log); any other bad line, or an item the catalog no longer has, is an error naming the line."""
    path = Path(path)
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
    except OSError as e:
        raise DataError(f"cannot read the picks log ({e.strerror or e})", str(path)) from None
    except UnicodeDecodeError as e:
        raise DataError(f"the picks log is not UTF-8 text ({e.reason} at byte {e.start})", str(path)) from None
    users: list[str] = []
    rows: list[int] = []
    stamps: list[float] = []
    ratings: list[float] = []
    catalog = dataset.catalog
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            pick = json.loads(line)
            user, item, ts = str(pick["user_id"]), str(pick["item_id"]), float(pick["timestamp"])
            rating = pick.get("rating")
            rating = math.nan if rating is None else float(rating)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            if not line.rstrip().endswith("}"):  # every written pick ends so: this one was cut off
                warnings.warn(f"{path}:{lineno}: this line is cut off (a process stopped while writing it?); "
                              "that pick is left out", stacklevel=3)
                continue
            raise DataError(f"not a logged pick ({type(e).__name__}: {e})", str(path), lineno) from None
        if item not in catalog:
            raise DataError(f"item id {item!r} is not in the catalog (was the log written for other data?)",
                            str(path), lineno)
        users.append(user)
        rows.append(catalog.index_of(item))
        stamps.append(ts)
        ratings.append(rating)
    return users, rows, stamps, ratings


def joined(dataset: Dataset, path: str | Path) -> Dataset:
    """The dataset with the logged picks joined to its interactions (a new object: the caller's is
    left as it was). Untimed data keeps its picks' order: the log holds the order numbers it gave."""
    users, rows, stamps, ratings = read(path, dataset)
    if not users:
        return dataset
    inter = dataset.interactions
    both = Interactions(users=inter.users, items=inter.items, timestamps=inter.timestamps, ratings=inter.ratings,
                        timed=inter.timed)  # extended, not the caller's: its arrays are joined into new ones
    both.extend(users, rows, stamps, ratings)
    return replace(dataset, interactions=both, source=f"{dataset.source} + {len(users):,} picks from {path}")


def append(path: str | Path, users: Sequence[str], item_ids: Sequence[str], stamps: Sequence[float],
           ratings: Sequence[float]) -> None:
    """Write picks to the log and make them durable (flushed and synced) before they are counted: a
    pick a client was told is taken is on disk. What cannot be written is an error, and then nothing is
    counted."""
    text = "".join(json.dumps({"user_id": u, "item_id": i, "timestamp": t, "rating": None if math.isnan(r) else r})
                   + "\n" for u, i, t, r in zip(users, item_ids, stamps, ratings, strict=True))
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
        raise DataError(f"cannot write the picks log ({e.strerror or e}); nothing was added", str(path)) from None


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1)
