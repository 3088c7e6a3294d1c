"""A generator's indexes saved in one file and read back: the text index, and every index counted
from the interactions, with what they were built from (the catalog's and the interactions' digests),
so a later start takes only what still holds and counts the rest again. Part of
``CandidateGenerator`` (``zsrec.candidates``)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from .bm25 import SparseBM25
from .candidate_types import CandidateConfig
from .cooccurrence import CoOccurrenceConfig, CoOccurrenceIndex
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
        one made again and why (``zsrec index`` prints it), ``index_file_stale`` says whether any was.
        Only the indexes taken are read from the file."""
        config = config or CandidateConfig()
        with read_npz(path, remedy=REBUILD) as f:
            fit = FileFit.of(f, catalog, interactions, config)
            index = None if fit.grown else SparseBM25.from_arrays(f)
            cooc = CoOccurrenceIndex.from_arrays(f) if "co_config" in fit.taken else None
            session = CoOccurrenceIndex.from_arrays(f, prefix="session_co_") if "session_co_config" in fit.taken else None
            sittings = SittingIndex.from_arrays(f, prefix="sit_") if "sit_shape" in fit.taken else None
            early = {k: CoOccurrenceIndex.from_arrays(f, prefix=f"first{k}_co_") for k in config.first_picks_counts
                     if f"first{k}_co_config" in fit.taken}
        if fit.grown:  # items added since (Recommender.add_items, kept in a picks log): the same catalog, grown
            extra = len(catalog) - fit.text_items
            added = "the catalog's last item was" if extra == 1 else f"the catalog's last {extra} items were"
            warnings.warn(f"the index file {path} was built before {added} added; its indexes are "
                          "built again over every item (and the file written again by --index or index=)",
                          stacklevel=2)
        if fit.other_picks:
            warnings.warn(f"the index file {path} was counted from other interactions than these; its "
                          "co-occurrence is counted again from them (and the file written again by --index or index=)",
                          stacklevel=2)
        gen = cls(catalog, interactions, config, index=index, cooccurrence=cooc, first_picks=early, session=session,
                  sittings=sittings, **kwargs)
        # what this config needs and the file did not hold (or held for other data or settings) was
        # counted afresh: worth saving again, and worth saying which
        gen.index_file_rebuilt = () if gen.index is None else tuple(
            f"{name} ({fit.why(key)})" for name, key, _ in gen.saved_parts() if key not in fit.taken)
        return gen

    @staticmethod
    def stale_parts(f: Mapping[str, np.ndarray], catalog: Catalog, interactions: Interactions,
                    config: CandidateConfig) -> tuple[str, ...]:
        """What ``with_saved_index`` over the open index file ``f`` would make again, in the words of
        ``index_file_rebuilt``, found from the file's settings and digests alone: nothing is built,
        and no index is read (``zsrec index --check``)."""
        if config.retriever != "sparse":
            raise OptionError("only the sparse retriever's index can be saved")
        fit = FileFit.of(f, catalog, interactions, config)
        if not fit.grown:  # another catalog: the error a start from the file raises
            check_text_index(fit.text_items, fit.meta, catalog, config)
        return tuple(f"{name} ({fit.why(key)})" for name, key in parts_for(config, interactions) if key not in fit.taken)

    def saved_parts(self) -> list[tuple[str, str, object]]:
        """The indexes ``save_index`` writes, each with its name in words, the file's array that holds
        it, and the index."""
        return _parts(self.index, self.cooccurrence, self.first_picks, self.session, self.sittings)


def _parts(text: object, cooccurrence: object, first_picks: Mapping[int, object], session: object,
           sittings: object) -> list[tuple[str, str, object]]:
    """Each part given (not None), with its name in words and the file's array that holds it, in the
    order ``save_index`` writes them: one list of names for ``saved_parts`` and ``parts_for``."""
    parts = [("text index", "data", text), ("co-occurrence", "co_config", cooccurrence),
             *((f"co-occurrence of first {k} picks", f"first{k}_co_config", first_picks[k]) for k in sorted(first_picks)),
             ("sitting co-occurrence", "session_co_config", session), ("similar sittings", "sit_shape", sittings)]
    return [(name, key, made) for name, key, made in parts if made is not None]


def parts_for(config: CandidateConfig, interactions: Interactions) -> list[tuple[str, str]]:
    """The indexes (each as ``saved_parts`` names it, and its array in the file) that a generator
    counted from ``interactions`` with ``config`` holds: what a start from the file needs."""
    timed = interactions.timed  # the session signal and sittings stay off without timestamps

    def held(wanted: bool) -> bool | None:
        return True if wanted else None

    return [(name, key) for name, key, _ in _parts(True, held(config.uses_cooccurrence),
                                                   dict.fromkeys(config.first_picks_counts, True),
                                                   held(timed and config.uses_session),
                                                   held(timed and config.uses_sittings))]


@dataclass(frozen=True)
class FileFit:
    """Which of an index file's parts a generator over these data and settings takes, read from the
    file's settings, sizes and digests alone (each part's own arrays are read only when taken)."""

    held: frozenset[str]  # the file's arrays
    meta: Mapping  # what the text index was built from (its catalog's digest, the fields skipped, ...)
    taken: frozenset[str]  # the arrays naming each part taken: "data" (the text index), "co_config", ...
    text_items: int  # the items the text index was built over
    grown: bool  # the catalog grew since: every part is made again
    other_picks: bool  # counted from other interactions (new events since, or a file from before their
    # digest was kept): every counted part is made again

    @classmethod
    def of(cls, f: Mapping[str, np.ndarray], catalog: Catalog, interactions: Interactions | None,
           config: CandidateConfig) -> FileFit:
        held = frozenset(f.files if hasattr(f, "files") else f)
        meta = json.loads(str(f["meta"]))
        text_items = int(f["shape"][1])  # terms x items
        grown = (text_items < len(catalog) and meta.get("skip_fields") == list(config.skip_fields)
                 and meta.get("catalog") == catalog.fingerprint(config.skip_fields, upto=text_items))
        if grown:
            return cls(held, meta, frozenset(), text_items, True, False)
        # (a text index of another catalog is the generator's error, as for any index lent it: it takes
        # a digest of every item's text, 1.1-1.4 s at 1M items, so a start from the file takes it once)
        other_picks = (interactions is not None and "co_config" in held
                       and meta.get("interactions") != interactions.fingerprint())
        taken = {"data"}
        if not other_picks and "co_config" in held and _fits(f, "co_", config.cooccurrence, len(catalog)):
            taken.add("co_config")  # else saved with other co-occurrence settings: rebuilt from the interactions
            # the same for each index of users' first picks, and the sittings' two, counted from the same pairs
            taken.update(f"first{k}_co_config" for k in config.first_picks_counts
                         if f"first{k}_co_config" in held and _fits(f, f"first{k}_co_", config.first_picks_config(k),
                                                                    len(catalog)))
            if config.uses_session and "session_co_config" in held and _fits(f, "session_co_", config.session_config,
                                                                           len(catalog)):
                taken.add("session_co_config")
            if config.uses_sittings and "sit_shape" in held:
                seconds, _ = f["sit_settings"]
                if float(seconds) == config.session_seconds and int(f["sit_shape"][1]) == len(catalog):
                    taken.add("sit_shape")
        return cls(held, meta, frozenset(taken), text_items, False, other_picks)

    def why(self, key: str) -> str:
        """Why a start from the file made the part ``key`` again, in the words ``zsrec index`` prints."""
        if self.grown:
            return "the catalog grew since"
        if self.other_picks:
            return "counted from other interactions"
        if key not in self.held:
            return "not in the file"
        if key != "co_config" and "co_config" in self.held and "co_config" not in self.taken:
            return "made again with the co-occurrence"  # counted from the same pairs
        return "other settings"


def _fits(f: Mapping[str, np.ndarray], prefix: str, config: CoOccurrenceConfig, n_items: int) -> bool:
    """Whether the file's co-occurrence index at ``prefix`` was counted with these settings over this many items."""
    return (CoOccurrenceConfig(**json.loads(str(f[f"{prefix}config"]))) == config
            and len(f[f"{prefix}item_counts"]) == n_items)


def check_text_index(n_docs: int, meta: Mapping, catalog: Catalog, config: CandidateConfig) -> None:
    """A saved text index built for another catalog (other items, or other fields skipped) is an error
    naming the remedy: its rows would name other items."""
    if n_docs != len(catalog) or meta.get("skip_fields") != list(config.skip_fields):
        raise DataError(f"the saved index was built for another catalog or settings ({n_docs} items, "
                        f"fields skipped {meta.get('skip_fields')}); this catalog has {len(catalog)} "
                        f"items, skipping {list(config.skip_fields)}: {REBUILD}")
    built_for = meta.get("catalog")  # files saved before fingerprints were kept have none
    if built_for is not None and built_for != catalog.fingerprint(config.skip_fields):
        raise DataError(f"the saved index was built for another catalog of {len(catalog)} items (their ids "
                        f"or texts differ from these): {REBUILD}")
