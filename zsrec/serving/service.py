"""What the HTTP layer asks of zsrec: check a request, rank a batch, answer past a deadline.

Requests may choose their own ranking mode, reasons and fusion weight; each choice is a
``Recommender`` that shares the data, shortlist, evidence and the one loaded model, and requests
with the same choice share a backend call.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from ..choices import RankingMode, ReasonsMode
from ..errors import EmptyHistoryError, OptionError, PromptTooLongError, ZsrecError
from ..recommender import PreparedUser, Recommender
from ..result import RankedResult


@dataclass(frozen=True)
class Variant:
    """How a request wants ranking done; requests with one variant are batched together."""

    mode: RankingMode
    reasons: ReasonsMode
    fusion_weight: float = 1.0


KEPT_VARIANTS = 64  # a client sending a new weight each time must not grow the service without end


def settle_objects() -> None:
    """Collect what is garbage now, then leave every object still held out of the collector's later
    passes (``gc.freeze``). A service holds millions of Python objects that live as long as it does
    (an item each, its title words, ...), and Python's full collection walks every one with all
    threads stopped: at 1M items each such pass stalled every request for up to 1.8 s
    (``benchmarks/add_interactions.py``). Left out, they are still freed once nothing refers to
    them; only a reference cycle among them would be kept."""
    gc.collect()
    gc.freeze()  # (not gc.get_freeze_count(): it walks every frozen object, 0.2 s at 1M items)


class RecommendService:
    def __init__(self, recommender: Recommender, max_history: int = 50, settle: bool = False, warm: bool = False):
        """``settle``: leave the objects held after start and after each add out of the garbage
        collector's passes (``settle_objects``): what ``zsrec serve`` does, a process of its own. Off
        by default, since it changes the whole process's collector. ``warm``: make what requests
        would make on first need before the first one (``Recommender.warm_up``; its seconds in
        ``warmed``): what ``zsrec serve`` does unless told ``--no-warm``."""
        self.base = recommender
        self.warmed = recommender.warm_up() if warm else {}
        self.settle = settle
        self.max_history = max_history
        config = recommender.ranker.config
        self.default = Variant(RankingMode(config.mode), ReasonsMode(config.reasons), config.fusion_weight)
        self._variants: dict[Variant, Recommender] = {self.default: recommender}
        self._lock = threading.Lock()
        self.ready = threading.Event()
        self.model_error = ""  # the model named cannot be used: see load()
        if settle:
            settle_objects()

    # ------------------------------------------------------------ the model

    @property
    def needs_model(self) -> bool:
        return self.base.ranker.needs_model

    @property
    def load_error(self) -> str:
        """Why the model is not there to rank with ("" while it loads, and once it has)."""
        return self.base.ranker.load_error or self.model_error

    def load(self) -> None:
        """Load the model once, on the model's thread, so that batches queue behind the load. ``ready``
        is set even when the load fails. Where the model could not be brought up (out of memory, a server down), the service
        answers in the shortlist's order, and /readyz says why. Where the model named is wrong (no
        such path, say), ``model_error`` says so, /readyz too, and ``zsrec serve`` stops with it."""
        try:
            if self.needs_model:
                self.base.ranker.try_backend()
        except ZsrecError as e:
            self.model_error = str(e)
        finally:
            self.ready.set()

    # ------------------------------------------------------------ requests

    def recommender(self, variant: Variant) -> Recommender:
        with self._lock:
            found = self._variants.get(variant)
            if found is None:  # a shallow copy with its own config: cheap, but kept only up to a bound
                found = self.base.with_settings(mode=variant.mode, reasons=variant.reasons,
                                                fusion_weight=variant.fusion_weight)
                if len(self._variants) < KEPT_VARIANTS:
                    self._variants[variant] = found
            return found

    def prepare(self, variant: Variant, history: Sequence[str], k: int | None, exclude: Sequence[str],
                allow_unknown_titles: bool, allow_empty: bool, user: str | None, n_history: int,
                only: Sequence[str] = (), only_genres: Sequence[str] = ()) -> PreparedUser:
        """Every check that needs no model, in the caller's thread: unknown titles or ids, an empty
        history, k against the shortlist, the history's length, the filter."""
        if len(history) > self.max_history:
            raise OptionError(f"the history has {len(history)} entries; this service takes at most "
                              f"{self.max_history} (the most recent ones matter most)")
        rec = self.recommender(variant)
        if user is not None:
            if history:
                raise OptionError("give a history or a user, not both")
            return rec.prepare_user(user, min(n_history, self.max_history), k, exclude, only, only_genres)
        if not history and not allow_empty:
            raise EmptyHistoryError("no history: send at least one title or item id, "
                                    "or allow_empty for the most popular items")
        prepared = rec.prepare(history, k, allow_unmatched=allow_unknown_titles, exclude=exclude, only=only,
                               only_genres=only_genres)
        if not prepared.prepared.history and history and not allow_empty:
            raise EmptyHistoryError("none of the history titles matched the catalog")
        return prepared

    def rank_batch(self, variant: Variant, users: Sequence[PreparedUser]) -> list[RankedResult | Exception]:
        """One backend call for the batch; a prompt that cannot fit is that user's error alone."""
        rec = self.recommender(variant)
        try:
            return list(rec.rank_prepared(users))
        except PromptTooLongError:
            out: list[RankedResult | Exception] = []
            for user in users:
                try:
                    out.append(rec.rank_prepared([user])[0])
                except PromptTooLongError as e:
                    out.append(e)
            return out

    def shown_order(self, variant: Variant, user: PreparedUser, reason: str) -> RankedResult:
        return self.recommender(variant).shown_order([user], reason)[0]

    def add_interactions(self, picks: Sequence[dict]) -> dict:
        """New picks counted into the one data and index every variant reads (see
        ``Recommender.add_interactions``): counted while requests go on, then put in place in one
        short step they wait for."""
        return self._settled(self.base.add_interactions(picks).to_dict())

    def add_items(self, items: Sequence[dict]) -> dict:
        """New items put in the one catalog and index every variant reads (see ``Recommender.add_items``)."""
        return self._settled(self.base.add_items(items).to_dict())

    def _settled(self, answer: dict) -> dict:
        """An add leaves new objects held (its indexes, new items): settled too, where the service settles."""
        if self.settle:
            settle_objects()
        return answer

    def hide_items(self, item_ids: Sequence[str]) -> dict:
        """Items never recommended from now on, by every variant (see ``Recommender.hide_items``)."""
        return self.base.hide_items(item_ids).to_dict()

    def show_items(self, item_ids: Sequence[str]) -> dict:
        return self.base.show_items(item_ids).to_dict()

    def hidden_items(self) -> list[str]:
        return self.base.hidden_items()

    def genres(self) -> list[dict]:
        return [{"name": name, "items": n} for name, n in self.base.genres().items()]

    def search(self, query: str, limit: int) -> list[dict]:
        catalog, counts = self.base.dataset.catalog, self.base.generator.popularity_counts
        return [{"item_id": catalog.items[i].id, "title": catalog.items[i].title,
                 "interactions": int(counts[i]) if counts is not None else 0}
                for i in self.base.matcher.search(query, limit)]
