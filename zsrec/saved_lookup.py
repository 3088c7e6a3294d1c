"""The per-user lookup (each known user's rows, by time) kept in the index file.

A service asks about many known users, so it makes the lookup of every user's rows: 1.9-2.4 s at
10M picks (``zsrec.data._rows_by_user``), spent again by every start from the index file, before
the service listens (``Recommender.warm_up``) or on its second request. The lookup depends on the
picks alone, and the index file already says which picks it was counted from, so it is kept there:
the ids in the lookup's order, each one's number of rows, and the rows one user after another.
Read back (0.08 s), the lookup is made from them on first need, in 0.25-0.31 s at 10M picks
(``benchmarks/start_up.py``; 46 MB more in the file there). A start that asks
about one user (``zsrec rank --user U``) still finds that user by a scan and never makes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from .data import Interactions
from .npz_files import REBUILD, read_npz

PREFIX = "users_"


def lookup_arrays(interactions: Interactions) -> dict[str, np.ndarray]:
    """The lookup of ``interactions`` (made now where it is not made) as arrays for the index file,
    with the digest of the picks it came from (``Interactions.fingerprint``)."""
    interactions.index_users()
    grouped = interactions.picks_by_user()
    assert grouped is not None  # made just above
    ids, rows, sizes = grouped
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    small = len(rows) < 1 << 31  # row numbers fit 4 bytes: half the file space
    return {PREFIX + "digest": np.array(interactions.fingerprint()),
            PREFIX + "text": np.frombuffer("".join(ids).encode(), dtype=np.uint8),
            PREFIX + "ends": np.cumsum(lengths), PREFIX + "sizes": sizes,
            PREFIX + "rows": rows.astype(np.int32) if small else rows}


def unfit(arrays: Mapping[str, np.ndarray], interactions: Interactions) -> str | None:
    """Why the lookup saved in ``arrays`` cannot serve ``interactions`` ("not in the file", "other
    picks"), or None where it can: its digest alone is read."""
    if PREFIX + "digest" not in arrays:
        return "not in the file"
    return None if str(arrays[PREFIX + "digest"]) == interactions.fingerprint() else "other picks"


def saved_lookup(arrays: Mapping[str, np.ndarray], interactions: Interactions) -> Callable[[], dict[str, np.ndarray]] | None:
    """What makes the lookup ``lookup_arrays`` saved (to give ``Interactions.adopt_lookup``), read
    and checked now; None where the file holds none, or one of other picks than ``interactions``
    (new events since: it is made again from these). Arrays that do not fit together raise
    ``ValueError`` (``read_npz`` turns it into a ``DataError`` naming the file)."""
    if unfit(arrays, interactions) is not None:
        return None
    text = np.asarray(arrays[PREFIX + "text"], dtype=np.uint8).tobytes().decode()
    ends = np.asarray(arrays[PREFIX + "ends"], dtype=np.int64)
    sizes = np.asarray(arrays[PREFIX + "sizes"], dtype=np.int64)
    rows = np.asarray(arrays[PREFIX + "rows"])
    n = len(interactions)
    if (len(ends) != len(sizes) or (len(ends) and (ends[-1] != len(text) or np.any(np.diff(ends) < 0) or ends[0] < 0))
            or int(sizes.sum()) != n or np.any(sizes < 0) or len(rows) != n
            or (n and (int(rows.min()) < 0 or int(rows.max()) >= n))):
        raise ValueError("the saved per-user lookup does not fit the picks it was saved for")
    starts = np.concatenate([[0], ends[:-1]]).tolist()
    ids = list(map(text.__getitem__, map(slice, starts, ends.tolist())))
    del text, starts

    def make() -> dict[str, np.ndarray]:
        held = rows.astype(np.int64)  # the lookup's own type: each user's rows are views of it
        return dict(zip(ids, np.split(held, np.cumsum(sizes)[:-1]))) if len(ids) else {}

    return make


def read(path: str | Path, interactions: Interactions) -> str | None:
    """Hand ``interactions`` the lookup the index file at ``path`` holds for them, and return None;
    where it holds none for these picks, return why (``unfit``: the file is then written again with
    one). An unreadable or inconsistent one is a ``DataError`` naming the file."""
    with read_npz(path, remedy=REBUILD) as f:
        make = saved_lookup(f, interactions)
        if make is None:  # asked again only to say why
            return unfit(f, interactions)
    interactions.adopt_lookup(make)
    return None
