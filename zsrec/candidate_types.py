"""What a shortlist is asked for (``CandidateConfig``) and what it gives (``Candidates``), kept apart
from the generator that makes one (``zsrec.candidates``) so that each of its parts, and the tuners and
the CLI that only build a config, can import them alone."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .choices import Retriever
from .cooccurrence import CoOccurrenceConfig
from .defaults import (SHORTLIST_BM25_WEIGHT, SHORTLIST_BY_LENGTH, SHORTLIST_COOCCURRENCE_WEIGHT,
                       SHORTLIST_NEW_ITEM_QUERY, SHORTLIST_POPULARITY_WEIGHT, SHORTLIST_SESSION_DECAY,
                       SHORTLIST_SESSION_SECONDS, SHORTLIST_SESSION_SHARE, SHORTLIST_SITTINGS_NEIGHBOURS,
                       SHORTLIST_SITTINGS_SHARE)
from .errors import OptionError
from .length_weights import LengthWeights, check_weights, parse_by_length


@dataclass(frozen=True)
class CandidateConfig:
    n_candidates: int = 20
    bm25_weight: float = SHORTLIST_BM25_WEIGHT  # see zsrec/defaults.py for how these were chosen
    popularity_weight: float = SHORTLIST_POPULARITY_WEIGHT
    popularity_half_life: float | None = None  # in timestamp units; None counts every interaction alike
    recency_decay: float = 0.8  # weight of each older history item relative to the next one in the query
    # Years match across unrelated items ("1977" links Star Wars to Annie Hall), so they stay out of BM25.
    skip_fields: tuple[str, ...] = ("year",)
    # "sparse": BM25 as a sparse matrix (zsrec.bm25), fast on large catalogs; "rank-bm25": the reference
    # library, one Python pass over the catalog per query word. Both give the same scores.
    retriever: str = "sparse"
    # What the catalog's users picked together with the history (zsrec.cooccurrence); 0 turns it off.
    cooccurrence_weight: float = SHORTLIST_COOCCURRENCE_WEIGHT
    cooccurrence: CoOccurrenceConfig = CoOccurrenceConfig()
    # Other weights (and co-occurrence damping) for short histories, shortest first (zsrec.length_weights);
    # longer histories than every entry use the weights above. None ("auto"): the tuned entries when the
    # weights above are the tuned defaults, none when they were set, so weights one sets hold at every
    # length unless one also sets these.
    by_length: tuple[LengthWeights, ...] | None = None
    # What users picked within ``session_seconds`` of each other (one sitting), blended into the
    # co-occurrence part with this share for histories of two or more picks (0: off), its history
    # weighted by ``session_decay`` per older pick. On by default at the setting chosen on validation
    # users (benchmarks/session_signal.py); it needs the picks' timestamps, and the generator leaves
    # it off, with a warning, where there are none.
    session_share: float = SHORTLIST_SESSION_SHARE
    session_seconds: float = SHORTLIST_SESSION_SECONDS
    session_decay: float = SHORTLIST_SESSION_DECAY
    # The ``sittings_neighbours`` sittings (runs of picks at most ``session_seconds`` apart) most like the
    # history's latest picks (weighted by ``session_decay``) vote for their other items (zsrec.sittings),
    # blended into the co-occurrence part with this share, after the session signal, for histories of
    # two or more picks (0: off). Chosen on validation users (benchmarks/similar_sittings.py); it needs
    # timestamps too.
    sittings_share: float = SHORTLIST_SITTINGS_SHARE
    sittings_neighbours: int = SHORTLIST_SITTINGS_NEIGHBOURS
    # Up to this many of the last places shown (``generate_many``'s ``shown``: the k a Ranker shows; the
    # whole list by default) go to new items: items with fewer than ``new_item_picks`` picks, which
    # co-occurrence and popularity never bring up (0: off, the default).
    # They are the new items whose text best matches the history read after the shortlist's best
    # ``new_item_query`` items (its best last, nearest the history), newest first where that ties; new
    # items that earned a place on their own count toward the slots and keep it (``_with_new_items``;
    # measured by benchmarks/new_items.py).
    new_item_slots: int = 0
    new_item_picks: int = 1
    new_item_query: int = SHORTLIST_NEW_ITEM_QUERY

    def __post_init__(self) -> None:
        entries = self.by_length
        if entries is None or (isinstance(entries, str) and entries.strip().lower() == "auto"):
            shared = (self.bm25_weight, self.popularity_weight, self.cooccurrence_weight)
            tuned = (SHORTLIST_BM25_WEIGHT, SHORTLIST_POPULARITY_WEIGHT, SHORTLIST_COOCCURRENCE_WEIGHT)
            entries = SHORTLIST_BY_LENGTH if shared == tuned else ()
        object.__setattr__(self, "by_length", parse_by_length(entries))
        if self.n_candidates < 1:
            raise OptionError("n_candidates must be at least 1")
        check_weights(self.bm25_weight, self.popularity_weight, self.cooccurrence_weight)
        if not 0 < self.recency_decay <= 1:
            raise OptionError("recency_decay must be in (0, 1]")
        if not 0 <= self.session_share <= 1:
            raise OptionError("session_share must lie in [0, 1] (0 turns the session signal off)")
        if not self.session_seconds > 0:
            raise OptionError("session_seconds must be more than 0")
        if not 0 < self.session_decay <= 1:
            raise OptionError("session_decay must be in (0, 1]")
        if not 0 <= self.sittings_share <= 1:
            raise OptionError("sittings_share must lie in [0, 1] (0 turns similar sittings off)")
        if self.sittings_neighbours < 1:
            raise OptionError("sittings_neighbours must be at least 1")
        for name in ("new_item_slots", "new_item_picks", "new_item_query"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise OptionError(f"{name} is a whole number of at least 0, got {value!r}")
        if self.new_item_slots > self.n_candidates:
            raise OptionError(f"new_item_slots ({self.new_item_slots}) cannot exceed n_candidates "
                              f"({self.n_candidates}): they are places in the shortlist")
        if self.new_item_slots and self.new_item_picks < 1:
            raise OptionError("new_item_picks must be at least 1: an item is new while it has fewer picks than this")
        try:
            object.__setattr__(self, "retriever", Retriever(self.retriever).value)
        except ValueError:
            raise OptionError(f"retriever must be 'sparse' or 'rank-bm25', got {self.retriever!r}") from None

    @property
    def uses_cooccurrence(self) -> bool:
        """Whether any history length gives co-occurrence a weight (so its index is needed)."""
        return self.cooccurrence_weight > 0 or any(e.cooccurrence_weight > 0 for e in self.by_length)

    @property
    def first_picks_counts(self) -> tuple[int, ...]:
        """The K of every short-history entry that counts co-occurrence from users' first K picks."""
        return tuple(sorted({e.first_picks for e in self.by_length if e.first_picks and e.cooccurrence_weight > 0}))

    @property
    def tuned_by_length(self) -> bool:
        """Whether the short-history entries are the shipped ones (chosen for you, not by you)."""
        return self.by_length == parse_by_length(SHORTLIST_BY_LENGTH)

    @property
    def uses_session(self) -> bool:
        """Whether the session signal is on (so its index, counted from timestamps, is needed)."""
        return self.session_share > 0 and self.uses_cooccurrence

    @property
    def uses_sittings(self) -> bool:
        """Whether similar sittings are on (so the sittings, cut from timestamps, are needed)."""
        return self.sittings_share > 0 and self.uses_cooccurrence

    @property
    def session_config(self) -> CoOccurrenceConfig:
        """The settings of the index of pairs picked within ``session_seconds``: the co-occurrence
        settings otherwise, over each user's last picks."""
        return replace(self.cooccurrence, seconds=self.session_seconds, first_picks=None)

    def first_picks_config(self, k: int) -> CoOccurrenceConfig:
        """The co-occurrence settings of the index counted from each user's first ``k`` picks."""
        return replace(self.cooccurrence, first_picks=k)


@dataclass(frozen=True)
class Candidates:
    """A shortlist in generator order (best first) with the scores that produced it."""

    indices: np.ndarray  # catalog rows
    scores: np.ndarray  # fused score
    bm25: np.ndarray  # scaled BM25 part
    popularity: np.ndarray  # scaled popularity part
    cooccurrence: np.ndarray | None = None  # scaled co-occurrence part (None: the signal is off)
    # per position: whether a new-item slot put it there (None: no slot was filled)
    new_item_slot: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.indices)
