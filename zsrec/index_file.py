"""A Recommender's index file as a whole (the shortlist's indexes, title search, the per-user lookup):
what a start took from it (``IndexReport``), and whether a start would take all of it, found without
building anything (``check_index_file``, ``zsrec index --check``).

A deploy that must not write, or that wants to know before a half-minute build at 1M items
whether one is due, asks the second: it reads the data and the file's settings and digests, not
its indexes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import picks_log as logged
from . import saved_lookup
from .candidate_types import CandidateConfig
from .candidates import CandidateGenerator
from .data import Catalog, Dataset
from .npz_files import REBUILD, read_npz
from .titles import saved_titles_unfit


@dataclass(frozen=True)
class IndexReport:
    """What a Recommender's ``index=`` file gave it: whether the file was there and read, which of its
    parts were made again (held for other data or settings, or not held: each with why), and whether
    the file was written (when it was not there, or a part was made again)."""

    path: str
    read: bool
    rebuilt: tuple[str, ...]
    written: bool

    @property
    def current(self) -> bool:
        """Read whole: nothing made again, nothing written."""
        return self.read and not self.rebuilt

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "rebuilt": list(self.rebuilt), "current": self.current}


@dataclass(frozen=True)
class IndexCheck:
    """Whether a start with these data and settings would read the index file whole: ``stale`` names
    each part it would make again, and why, in ``IndexReport.rebuilt``'s words. Nothing was built or
    written to find out."""

    path: str
    exists: bool
    stale: tuple[str, ...]
    items: int  # the catalog it was checked against (the picks log's items joined)
    picks: int  # and the picks (the log's joined)
    users: int

    @property
    def current(self) -> bool:
        """There, and every part fits: a start reads it and writes nothing."""
        return self.exists and not self.stale

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "stale": list(self.stale), "current": self.current}


def check_index_file(path: str | Path, dataset: Dataset, candidates: CandidateConfig | None = None,
                     picks_log: str | Path | None = None) -> IndexCheck:
    """What ``Recommender(dataset, candidates=candidates, index=path, picks_log=picks_log)`` would
    make again from the file at ``path``, found from the file's settings and digests: the indexes
    themselves are neither read nor built, and nothing is written. The picks log joins the data
    first, as the Recommender joins it. A file that cannot be read, or one built for another catalog,
    is the ``DataError`` the Recommender would raise."""
    config = candidates or CandidateConfig()
    path = Path(path)
    if picks_log is not None and Path(picks_log).exists():
        dataset = logged.joined(dataset, picks_log)
    catalog, picks = dataset.catalog, dataset.interactions
    sizes = {"items": len(catalog), "picks": len(picks), "users": len(picks.user_ids)}
    if not path.is_file():
        return IndexCheck(str(path), exists=False, stale=(), **sizes)
    with read_npz(path, remedy=REBUILD) as f:
        stale = (*CandidateGenerator.stale_parts(f, catalog, picks, config),
                 *_named("title search", saved_titles_unfit(f, catalog)),
                 *_named("user lookup", saved_lookup.unfit(f, picks)))
    return IndexCheck(str(path), exists=True, stale=stale, **sizes)


def title_search_unfit(path: str | Path, catalog: Catalog) -> str:
    """Why the file's title search was not taken (a start that made it again says so)."""
    with read_npz(path, remedy=REBUILD) as f:
        return saved_titles_unfit(f, catalog) or "other titles"


def _named(part: str, why: str | None) -> tuple[str, ...]:
    return () if why is None else (f"{part} ({why})",)
