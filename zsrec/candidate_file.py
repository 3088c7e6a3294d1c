"""A generator's indexes saved in one file and read back: the text index, and every index counted
from the interactions, with what they were built from (the catalog's and the interactions' digests),
so a later start takes only what still holds and counts the rest again. Part of
``CandidateGenerator`` (``zsrec.candidates``)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

import numpy as np

from .bm25 import SparseBM25
from .candidate_types import CandidateConfig
from .cooccurrence import CoOccurrenceIndex
from .data import Catalog, Interactions
from .errors import DataError, OptionError
from .npz_files import REBUILD, read_npz
from .sittings import SittingIndex

Generator = TypeVar("Generator", bound="SavedIndex")


class SavedIndex:
    """``CandidateGenerator``'s index file: ``save_index`` writes it, ``with_saved_index`` starts a
    generator from it."""

    index_file_rebuilt: tuple[str, ...]
    index: SparseBM25 | None
    cooccurrence: CoOccurrenceIndex | None
    first_picks: dict[int, CoOccurrenceIndex]
    session: CoOccurrenceIndex | None
    sittings: SittingIndex | None

    @property
    def index_file_stale(self) -> bool:
        """Whether a start from the file made an index again (``index_file_rebuilt``): worth saving again."""
        return bool(self.index_file_rebuilt)

    def save_index(self, path: str | Path, extra: Mapping[str, np.ndarray] | None = None) -> None:
        """Save the text index and the co-occurrence neighbours (each index of users' first picks
        too) in one file (popularity is recomputed from the interactions on load: it is cheap).
        ``extra``: arrays kept in the same file, named apart from these (a Recommender's title
        search, ``TitleMatcher.arrays``)."""
        if self.index is None:
            raise OptionError("only the sparse retriever's index can be saved")
        extra = dict(extra or {})
        if self.cooccurrence is not None:
            extra.update(self.cooccurrence.arrays())
        for k, early in self.first_picks.items():
            extra.update(early.arrays(prefix=f"first{k}_co_"))
        if self.session is not None:
            extra.update(self.session.arrays(prefix="session_co_"))
        if self.sittings is not None:
            extra.update(self.sittings.arrays(prefix="sit_"))
        # the catalog and the interactions the indexes came from, so a later load can tell they are these
        self.index.meta["catalog"] = self.catalog.fingerprint(self.config.skip_fields)
        self.index.meta.pop("interactions", None)
        if self.counted_from is not None:
            self.index.meta["interactions"] = self.counted_from.fingerprint()
        path = Path(path)
        try:  # a new folder is made, as for any output file; what cannot be written is said in one line
            path.parent.mkdir(parents=True, exist_ok=True)
            self.index.save(path, extra or None)
        except (FileExistsError, NotADirectoryError):
            raise DataError("cannot write the index there: a file stands where a folder is needed", str(path)) from None
        except OSError as e:
            raise DataError(f"cannot write the index there ({e.strerror or e})", str(path)) from None

    @classmethod
    def with_saved_index(cls: type[Generator], path: str | Path, catalog: Catalog,
                         interactions: Interactions | None = None, config: CandidateConfig | None = None,
                         **kwargs) -> Generator:
        """A generator from the file at ``path``, taking each index that fits ``catalog``,
        ``interactions`` and ``config``, and making the rest here: ``index_file_rebuilt`` names each
        one made again and why (``zsrec index`` prints it), ``index_file_stale`` says whether any was."""
        config = config or CandidateConfig()
        cooc = None
        early: dict[int, CoOccurrenceIndex] = {}
        session = None
        sittings = None
        with read_npz(path, remedy=REBUILD) as f:
            held = set(f.files)
            index = SparseBM25.from_arrays(f)
            if "co_config" in f.files:
                cooc = CoOccurrenceIndex.from_arrays(f)
            if config.uses_session and "session_co_config" in f.files:
                session = CoOccurrenceIndex.from_arrays(f, prefix="session_co_")
            if config.uses_sittings and "sit_shape" in f.files:
                sittings = SittingIndex.from_arrays(f, prefix="sit_")
            for k in config.first_picks_counts:
                if f"first{k}_co_config" in f.files:
                    early[k] = CoOccurrenceIndex.from_arrays(f, prefix=f"first{k}_co_")
        grown = (index.n_docs < len(catalog) and index.meta.get("skip_fields") == list(config.skip_fields)
                 and index.meta.get("catalog") == catalog.fingerprint(config.skip_fields, upto=index.n_docs))
        if grown:  # items added since (Recommender.add_items, kept in a picks log): the same catalog, grown
            extra = len(catalog) - index.n_docs
            added = "the catalog's last item was" if extra == 1 else f"the catalog's last {extra} items were"
            warnings.warn(f"the index file {path} was built before {added} added; its indexes are "
                          "built again over every item (and the file written again by --index or index=)",
                          stacklevel=2)
            index = None  # every index, sized for the smaller catalog, is built again from these
            cooc, early, session, sittings = None, {}, None, None
        other_picks = (not grown and interactions is not None and cooc is not None
                       and index.meta.get("interactions") != interactions.fingerprint())
        if other_picks:
            # counted from other interactions (new events since, or a file from before fingerprints):
            # everything counted is counted again from these; the text index only needs the catalog
            warnings.warn(f"the index file {path} was counted from other interactions than these; its "
                          "co-occurrence is counted again from them (and the file written again by --index or index=)",
                          stacklevel=2)
            cooc, early, session, sittings = None, {}, None, None
        if cooc is not None and (cooc.config != config.cooccurrence or cooc.n_items != len(catalog)):
            cooc = None  # saved with other co-occurrence settings: rebuilt from the interactions
        # the same for each index of users' first picks
        early = {k: e for k, e in early.items()
                 if cooc is not None and e.config == config.first_picks_config(k) and e.n_items == len(catalog)}
        if session is not None and (cooc is None or session.config != config.session_config
                                    or session.n_items != len(catalog)):
            session = None
        if sittings is not None and (cooc is None or sittings.seconds != config.session_seconds
                                     or sittings.n_items != len(catalog)):
            sittings = None
        gen = cls(catalog, interactions, config, index=index, cooccurrence=cooc, first_picks=early, session=session,
                  sittings=sittings, **kwargs)
        # what this config needs and the file did not hold (or held for other data or settings) was
        # counted afresh: worth saving again, and worth saying which
        saved = {"data": index, "co_config": cooc, "session_co_config": session, "sit_shape": sittings,
                 **{f"first{k}_co_config": e for k, e in early.items()}}
        gen.index_file_rebuilt = () if gen.index is None else tuple(
            f"{name} ({_why(key, grown, other_picks, key in held, cooc is None and 'co_config' in held)})"
            for name, key, _ in gen.saved_parts() if saved.get(key) is None)
        return gen

    def saved_parts(self) -> list[tuple[str, str, object]]:
        """The indexes ``save_index`` writes, each with its name in words, the file's array that holds
        it, and the index."""
        parts = [("text index", "data", self.index), ("co-occurrence", "co_config", self.cooccurrence),
                 *((f"co-occurrence of first {k} picks", f"first{k}_co_config", self.first_picks[k])
                   for k in sorted(self.first_picks)),
                 ("sitting co-occurrence", "session_co_config", self.session),
                 ("similar sittings", "sit_shape", self.sittings)]
        return [(name, key, made) for name, key, made in parts if made is not None]


def _why(key: str, grown: bool, other_picks: bool, held: bool, cooc_again: bool) -> str:
    """Why a start from the file made an index again, in the words ``zsrec index`` prints."""
    if grown:
        return "the catalog grew since"
    if other_picks:
        return "counted from other interactions"
    if not held:
        return "not in the file"
    if cooc_again and key != "co_config":  # counted from the same pairs: made again with the co-occurrence
        return "made again with the co-occurrence"
    return "other settings"
