"""The Python front door: a dataset and a model in, recommendations for a new user out.

    rec = Recommender.from_dataset("ml-100k")
    result = rec.recommend(["Toy Story (1995)", "Fargo (1996)"], k=10)

The model is loaded on the first call that needs it, so building a Recommender is cheap and bad
input (unknown titles, an unknown user, a broken template) is reported before any model load. What can
be told of the model without loading it (a path that is not there) is said before the data is read.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .backends import BackendSpec
from .backends.base import LLMBackend
from .batch import BatchReport, UserOutcome, UserRequest, as_requests
from .built_once import BuiltOnce
from .candidates import CandidateConfig, CandidateGenerator
from .choices import ReasonsMode
from .data import Dataset, Interactions
from .errors import DataError, EmptyHistoryError, OptionError, PromptTooLongError, UnknownItemError, ZsrecError
from .evidence import EvidenceIndex, Scope
from .index_file import IndexReport, title_search_unfit
from .item_filter import Allowed, GenreIndex, describe, scope_name
from . import picks_log as logged
from . import saved_lookup
from .loaders import load_dataset, read_events, read_items
from .prompts import DEFAULT_TEMPLATE, PromptTemplate
from .ranker import Prepared, Ranker, RankerConfig
from .result import RankedResult
from .titles import TitleMatcher


def _keys(values: Sequence[object], what: str) -> list[str]:
    """Titles and item ids as text: an int id (MovieLens', a DataFrame's) is its digits, as the
    loaders keep ids; anything else is a mistake to name, not a crash deep in title matching."""
    keys = []
    for value in values:
        if isinstance(value, str):
            keys.append(value)
        elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            keys.append(str(int(value)))
        else:
            raise TypeError(f"{what} holds titles or item ids (str or int), not {type(value).__name__} {value!r}")
    return keys


ALLOWED_KEPT = 64  # filters kept resolved: a run or a service asks for the same few for every user


def _item_noun(dataset_name: str) -> str:
    return "movie" if dataset_name.lower().startswith("ml-") else "item"


@dataclass(frozen=True)
class AddedInteractions:
    """What ``Recommender.add_interactions`` counted in."""

    added: int  # picks
    users: int  # users who made them
    new_users: int  # of those, users the data did not hold before
    interactions: int  # the data's picks now
    seconds: float  # to count them into every index

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class AddedItems:
    """What ``Recommender.add_items`` put in the catalog."""

    added: int  # items
    items: int  # the catalog's items now
    seconds: float  # to index them

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class HiddenItems:
    """What ``Recommender.hide_items`` or ``show_items`` changed."""

    changed: int  # items hidden (or shown) that were not already
    hidden: int  # items hidden now

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class _SharedEvidence:
    """Builds the evidence index once, on first use, for every variant of a Recommender (other
    settings, another template): new picks are then counted into the one index all of them read."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self.index: EvidenceIndex | None = None
        # held while the index is built, and by an add while it puts new data and this index in place:
        # an index is built from the data before an add (and ``take`` counts the add into it) or after
        self.lock = threading.RLock()

    def __call__(self) -> EvidenceIndex:
        with self.lock:
            if self.index is None:
                catalog, picks = self.dataset.catalog, self.dataset.interactions
                # counted picks, not the shortlist's popularity: with a half-life those are decayed
                # weights, and "(507 picks)" must be a count
                self.index = EvidenceIndex(catalog, picks, picks.item_counts(len(catalog)))
            return self.index

    def take(self, before: EvidenceIndex | None, added: EvidenceIndex | None,
             add: Callable[[EvidenceIndex], EvidenceIndex]) -> None:
        """Put ``added`` (new picks or items counted aside into ``before``, the index then in use) in
        place. An index first built while they were counted was built without them: ``add`` counts
        them into it now."""
        with self.lock:
            self.index = added if self.index is before else add(self.index)


@dataclass
class PreparedUser:
    """One user's checked input: catalog rows and shortlist, and how their typed titles matched."""

    prepared: Prepared
    typed: list[str] = field(default_factory=list)  # what the user typed for each history row
    missing: list[str] = field(default_factory=list)  # typed titles that matched nothing
    user_id: str | None = None


class Recommender:
    def __init__(self, dataset: Dataset, backend: BackendSpec | LLMBackend | None = None,
                 template: str | Path = DEFAULT_TEMPLATE, config: RankerConfig | None = None,
                 candidates: CandidateConfig | None = None, generator: CandidateGenerator | None = None,
                 index: str | Path | None = None, picks_log: str | Path | None = None, **settings: Any):
        """``backend``: a ``BackendSpec`` (loaded on first use; default: transformers with the embedded
        model) or a loaded backend. ``config`` or keyword ``settings`` (any ``RankerConfig`` field: k,
        mode, reasons, guided, generation, item_noun) set how it ranks; ``candidates`` sets the
        shortlist, ``generator`` lends one already built. ``index``: a file (.npz) of the shortlist's
        indexes, as ``zsrec rank --index``: read if it is there (what no longer fits these data or
        settings is counted again), else built and written, so that only the first process pays for
        the build. ``picks_log``: a JSON-lines file that keeps the picks ``add_interactions`` is sent
        and the items ``add_items`` is sent (``zsrec.picks_log``): those already in it join the data
        before anything is counted, and each accepted batch is written there before it is counted, so
        a restart loses none. The Recommender adds to a catalog and picks of its own (the arrays are
        shared, not copied): the caller's ``dataset``, and another Recommender made from it, do not
        change. A lent ``generator`` shares the dataset's catalog as given.

        Where the settings will need the model, what its backend can tell without loading it (a model
        path or GGUF file that is not there, vLLM not installed, a base URL without http://) raises
        ``ModelLoadError`` here, before the indexes are built, not at the first ranking."""
        cand_cfg = _shortlist_settings(candidates, generator)
        backend = backend if backend is not None else BackendSpec()
        ranker_config = _checked_config(dataset.name, backend, config, cand_cfg, settings)
        if generator is not None and index is not None:
            raise OptionError("pass generator or index, not both: a lent generator is already built")
        if generator is not None and picks_log is not None:
            raise OptionError("pass generator or picks_log, not both: a lent generator was counted without the log")
        self.picks_log = Path(picks_log) if picks_log is not None else None
        if generator is None:  # a catalog and picks of its own: what add_items / add_interactions add stay here,
            # and another Recommender made from the same dataset is not handed items its indexes lack
            dataset = replace(dataset, catalog=dataset.catalog.copy(), interactions=dataset.interactions.copy())
        hidden: list[str] = []
        if self.picks_log is not None and self.picks_log.exists():
            log = logged.read(self.picks_log, dataset.catalog)
            dataset = logged.joined(dataset, self.picks_log, log)
            hidden = list(log.hidden)
        self.dataset = dataset
        from_file = index is not None and Path(index).is_file()
        if from_file:
            generator = CandidateGenerator.with_saved_index(index, dataset.catalog, dataset.interactions, cand_cfg)
        self.generator = generator or CandidateGenerator(dataset.catalog, dataset.interactions, cand_cfg)
        popularity = self.generator.popularity_counts
        # title search is kept in the file too (most of a start at 1M titles when made from every title);
        # made, it makes the catalog's title groups too: ``same_title`` reads them, and no request waits for them
        saved = TitleMatcher.from_file(index, dataset.catalog, popularity) if from_file else None
        self.matcher = saved or TitleMatcher(dataset.catalog, popularity)
        # so is the per-user lookup, made on first need from what the file holds (2 s at 10M picks otherwise)
        lookup_unfit = saved_lookup.read(index, dataset.interactions) if from_file else None
        self.index_report: IndexReport | None = None  # what the index file gave, and whether it was written
        if index is not None:
            rebuilt = (*self.generator.index_file_rebuilt,
                       *([f"title search ({title_search_unfit(index, dataset.catalog)})"] if saved is None else []),
                       *([f"user lookup ({lookup_unfit})"] if lookup_unfit else [])) if from_file else ()
            written = not from_file or bool(rebuilt)
            if written:
                self.generator.save_index(index, extra={**self.matcher.arrays(),
                                                        **saved_lookup.lookup_arrays(dataset.interactions)})
            self.index_report = IndexReport(str(index), read=from_file, rebuilt=rebuilt, written=written)
        catalog = dataset.catalog  # (the one the copies of this Recommender share, grown in place by add_items)
        # for only_genres: made on first use, or by warm_up, and shared by every variant
        self._genres: BuiltOnce[GenreIndex] = BuiltOnce(lambda: GenreIndex(catalog),
                                                        lambda made: made.n_items != len(catalog))
        self._allowed: dict[tuple, Allowed] = {}  # filters asked for (at most ALLOWED_KEPT)
        # rows never recommended (hide_items), in the order hidden: one dict every variant shares; the
        # generator keeps them as a mask, so a request costs nothing per hidden item
        self._hidden: dict[int, None] = dict.fromkeys(dataset.catalog.index_of(i) for i in hidden)
        if self._hidden:
            self.generator.hide_rows(list(self._hidden))
        # Held while a user is prepared and while new picks or items, counted aside, are put in place
        # (shared by every variant): a shortlist never reads an index half-updated.
        self._counting = threading.RLock()
        # add_interactions, add_items, hide_items: one at a time, each counted from the one before (shared too)
        self._changing_catalog = threading.Lock()
        self._evidence = _SharedEvidence(dataset)
        self.ranker = Ranker(
            dataset.catalog, self.generator, backend, PromptTemplate(template), ranker_config,
            evidence=self._evidence, title_forms=self.matcher.title_forms, genres=self._made_genres,
        )

    @classmethod
    def from_dataset(cls, name: str = "ml-100k", data_path: str | Path | None = None,
                     skip_bad_rows: bool = False, **kwargs: Any) -> Recommender:
        """Load a dataset by name or folder (see ``zsrec.loaders.load_dataset``) and wrap it. The
        settings and the model are checked first, as the constructor checks them: a typo in a model
        path is said before the data is read."""
        named = inspect.signature(cls.__init__).parameters
        backend = kwargs.get("backend")
        _checked_config(name, backend if backend is not None else BackendSpec(), kwargs.get("config"),
                        _shortlist_settings(kwargs.get("candidates"), kwargs.get("generator")),
                        {k: v for k, v in kwargs.items() if k not in named})
        return cls(load_dataset(name, data_path, skip_bad_rows=skip_bad_rows), **kwargs)

    def resolve_history(self, history: Sequence[str],
                        allow_unmatched: bool = False) -> tuple[list[int], list[str], list[str]]:
        """Catalog rows for titles (or ids) in the order given (oldest first), the text typed for each
        row, and what matched nothing. A film typed twice counts once, at its first place."""
        if isinstance(history, (str, bytes)):  # it would be read a letter at a time, each a "title"
            raise TypeError(f"history is a list of titles or item ids, oldest first, not one string: "
                            f"pass [{history!r}]")
        matches, missing = self.matcher.match_all(_keys(history, "history"), allow_unmatched=allow_unmatched)
        rows: list[int] = []
        typed: list[str] = []
        for m in matches:
            if m.index not in rows:
                rows.append(m.index)
                typed.append(m.query)
        return rows, typed, missing

    # ------------------------------------------------------------ checked input (no model needed)

    def prepare(self, history: Sequence[str], k: int | None = None, allow_unmatched: bool = False,
                allow_empty: bool = True, exclude: Sequence[str] = (), only: Sequence[str] = (),
                only_genres: Sequence[str] = ()) -> PreparedUser:
        """A new user's titles (or item ids), oldest first, matched and checked once: unknown titles,
        an empty history, ``k``, the template. The history, ``exclude`` and items of the same titles
        (a film listed twice) are not recommended; ``only`` and ``only_genres`` filter what may be
        (see ``allowed``). Rank it with ``rank_prepared``."""
        rows, typed, missing = self.resolve_history(history, allow_unmatched)
        if not rows and not allow_empty:
            raise EmptyHistoryError("no history to recommend from: give at least one title the catalog knows")
        with self._counting:
            allowed = self.allowed(only, only_genres)
            return PreparedUser(self.ranker.prepare(rows, self._excluded(rows, exclude), k, allowed), typed, missing)

    def prepare_user(self, user_id: str, n_history: int | None = 10, k: int | None = None,
                     exclude: Sequence[str] = (), only: Sequence[str] = (),
                     only_genres: Sequence[str] = ()) -> PreparedUser:
        """A known user as if new: their ``n_history`` most recent picks form the history, and
        everything they ever picked, the item ids in ``exclude`` (out of stock, say), and any item of
        the same title as one of these (a film listed twice) are excluded from the candidates;
        ``only`` and ``only_genres`` filter what may be recommended (see ``allowed``)."""
        with self._counting:
            history, seen = self.user_split(user_id, n_history)
            allowed = self.allowed(only, only_genres)
            return PreparedUser(self.ranker.prepare(history, self._excluded(history, exclude, seen), k, allowed),
                                user_id=str(user_id))

    def allowed(self, only: Sequence[str] = (), only_genres: Sequence[str] = ()) -> Allowed | None:
        """The items a shortlist may hold: those in ``only`` (item ids, or titles matched as
        ``exclude`` matches them, never fuzzily) that have any of ``only_genres`` (case-insensitive);
        either may be empty, both empty is no filter. The shortlist is then drawn from these items
        alone, each scored as without the filter, so it holds fewer than ``n_candidates`` only when
        fewer are left unseen."""
        for value, what in ((only, "only"), (only_genres, "only_genres")):
            if isinstance(value, (str, bytes)):  # it would be read a letter at a time
                raise TypeError(f"{what} is a list, not one string: pass [{value!r}]")
        if len(only) == 0 and len(only_genres) == 0:  # len, not truth: a numpy array or Series of ids has none
            return None
        key = (tuple(_keys(only, "only")), tuple(str(g) for g in only_genres))
        found = self._allowed.get(key)
        if found is not None:  # a run's or a service's filter, asked for every user
            return found
        rows = np.unique(np.asarray(self.item_rows(key[0], "only"), dtype=np.int64)) if key[0] else None
        genres = list(key[1])
        if genres:
            in_genres = self._genre_index().rows(genres)
            rows = in_genres if rows is None else np.intersect1d(rows, in_genres)
            genres = self._genre_index().spelled(genres)
        assert rows is not None
        rows.flags.writeable = False  # shared by every user of this filter
        if len(self._allowed) >= ALLOWED_KEPT:  # many filters: start again (one step, safe across threads)
            self._allowed.clear()
        found = self._allowed[key] = Allowed(Scope(rows, scope_name(key[0], genres)),
                                             describe(len(rows), len(self.dataset.catalog), key[0], genres))
        return found

    def warm_up(self) -> dict[str, float]:
        """Make now what requests would otherwise make on first need, and return each part's seconds:
        the per-user lookup (which a second known user waits for), the evidence's counts (which the
        first requests with a history wait for), the genre filter's index, and, where the LLM writes
        the reasons, the checker every reason goes through (after the genre index, whose genres it
        then reads rather than every item's). What ``zsrec serve`` does before it listens: at 1M
        items, starting from the index file, a service's first request took 2.6-3.0 s, its second
        1.8 s and its first genre filter 0.6-0.7 s without it, each on the thread that answers every
        request, and none more than 44 ms after its 3.4-4.0 s (``benchmarks/first_requests.py``,
        two runs). Every variant (``with_settings``) shares what is made here."""
        seconds: dict[str, float] = {}
        parts: list[tuple[str, Callable[[], object]]] = [
            ("user_lookup", self.dataset.interactions.index_users),  # first: the evidence reads its users off it
            ("evidence", lambda: self._evidence().picks),
            ("genres", self._genres.get),
        ]
        if self.ranker.config.reasons == ReasonsMode.LLM and self.ranker.needs_model:
            parts.append(("reason_checker", lambda: self.ranker.checker))
        for name, make in parts:
            t0 = time.perf_counter()
            make()
            seconds[name] = time.perf_counter() - t0
        return seconds

    def genres(self) -> dict[str, int]:
        """The catalog's genres (what ``only_genres`` takes), each with its number of items."""
        return self._genre_index().counts()

    def _genre_index(self) -> GenreIndex:
        return self._genres.get()

    def _made_genres(self) -> Iterable[str] | None:
        """The catalog's genres (lower case) where the genre index is made and fits the catalog, for the
        reason checker: it then need not read every item's (the warm-up makes the index first)."""
        index = self._genres.fresh()
        return index.names.keys() if index is not None else None

    def _excluded(self, history: list[int], exclude: Sequence[str], seen: Sequence[int] = ()) -> list[int]:
        """Catalog rows not to recommend beside the history: what a known user ``seen``, the item ids in
        ``exclude``, and any item of the same title as one of these or the history, since a film listed
        twice (MovieLens has such) is not new to someone who saw it under its other id. (Hidden items
        are left out by the generator, ``hide_rows``.)"""
        rows = list(seen) + self.exclude_rows(exclude)
        return rows + self.dataset.catalog.same_title(history + rows)

    def exclude_rows(self, exclude: Sequence[str]) -> list[int]:
        """Catalog rows of ``exclude``: item ids, or titles as the history takes them (see ``item_rows``)."""
        return self.item_rows(exclude, "exclude")

    def item_rows(self, keys: Sequence[str], what: str) -> list[int]:
        """Catalog rows of item ids, or titles as the history takes them (exact, or case- and
        punctuation-insensitive), since a person types titles where a system passes ids. Never a
        fuzzy match: excluding (or filtering by) a near miss would get the meant item wrong without a
        word. ``what`` names the list in errors."""
        if isinstance(keys, (str, bytes)):  # it would be read a letter at a time, each an id
            raise TypeError(f"{what} is a list of item ids or titles, not one string: pass [{keys!r}]")
        catalog = self.dataset.catalog
        rows, missing = [], []
        for key in _keys(keys, what):
            if key in catalog:
                rows.append(catalog.index_of(key))
                continue
            match = self.matcher.match(key, fuzzy=False)
            if match is None:
                missing.append(key)
            else:
                rows.append(match.index)
        if missing:
            details = "; ".join(f"{q!r} (closest: {', '.join(self.matcher.suggestions(q)) or 'none'})" for q in missing)
            raise UnknownItemError(f"{what}: no item id or title is {details}", missing)
        return rows

    def add_interactions(self, interactions: object, columns: Mapping[str, str] | None = None) -> AddedInteractions:
        """Count new picks in while the Recommender runs, without a rebuild: what users picked since
        the data was loaded (a service's click log, a shop's orders). ``interactions``: a DataFrame or
        any iterable of dicts with ``user_id`` and ``item_id`` (an id, or a title matched as ``exclude``
        matches it), optionally ``timestamp`` and ``rating`` (``columns`` maps other names, as for
        ``load_records``). From the next request on, the shortlist's popularity and co-occurrence (with
        the session signal and sittings), the reasons' counts and a known user's history hold them;
        a user the data did not hold becomes a known user.

        A pick without a timestamp is stamped now (data without timestamps: after the last pick, in the
        order given). Each user's new picks must be no older than the ones the data holds for them, since
        every index pairs a pick with the ones before it; older events need the data loaded again. The
        batch is read and checked whole before anything is counted: a bad record (an unknown item, an
        unreadable time) raises, naming it, and nothing is added. Counting changes the rows of the items
        the picks touch and copies the rest of each index, a cost that grows with the catalog more
        than with the batch (``benchmarks/add_interactions.py``), so add picks in batches rather than
        one call each. The picks are counted into copies of the indexes while requests go on reading
        the old ones, and put in place in one short step under the lock that shortlists take; adds
        (and item adds, and hiding) run one at a time. Title search follows the new popularity (which
        film an ambiguous title means, the search box's order), as a restart would. With a
        ``picks_log`` the batch is written there first (and a write that fails adds nothing); without
        one nothing is written, and a restart knows only the data it loads."""
        t0 = time.perf_counter()
        self._generator_can("add_interactions(interactions, rows)", "count new picks")
        events = read_events(interactions, columns)
        with self._changing_catalog:  # one change at a time: each is counted from the one before
            data = self.dataset.interactions
            if not events:
                return AddedInteractions(0, 0, 0, len(data), time.perf_counter() - t0)
            items = self.item_rows([e.item for e in events], "interactions")
            if data.timed:
                now = time.time()
                stamps = [e.timestamp if e.timestamp is not None else now for e in events]
            else:
                given = next((e for e in events if e.timestamp is not None), None)
                if given is not None:
                    raise DataError("the data has no timestamps (its picks keep file order), so a new pick "
                                    "cannot be placed by one: send picks without a timestamp, oldest first",
                                    given.where)
                last = float(data.timestamps.max()) if len(data) else 0.0
                stamps = [last + 1.0 + i for i in range(len(events))]
            order = sorted(range(len(events)), key=lambda i: stamps[i])  # stable: equal times keep the batch's order
            latest: dict[str, float | None] = {}
            for i in order:
                user = events[i].user
                if user not in latest:
                    latest[user] = data.latest_time(user)
                before = latest[user]
                if before is not None and stamps[i] < before:
                    raise DataError(f"user {user!r}'s pick at {stamps[i]:g} is older than their latest one in the "
                                    f"data ({before:g}): new picks are counted in time order; load the data again "
                                    "to add older ones", events[i].where)
            users = [events[i].user for i in order]
            rows_of, times = [items[i] for i in order], [stamps[i] for i in order]
            ratings = [events[i].rating if events[i].rating is not None else np.nan for i in order]
            if self.picks_log is not None:  # on disk before it is counted: a restart loses nothing it was told
                catalog = self.dataset.catalog
                logged.append(self.picks_log, users, [catalog.items[r].id for r in rows_of], times, ratings)
            grown = data.copy()  # the picks so far, shared, and the new ones appended in a container of its own
            rows = grown.extend(users, rows_of, times, ratings)
            self._count_aside(grown, users, rows)
            return AddedInteractions(len(rows), len(latest), sum(v is None for v in latest.values()), len(grown),
                                     time.perf_counter() - t0)

    def _count_aside(self, grown: Interactions, users: list[str], rows: np.ndarray) -> None:
        """Count the new ``rows`` of ``grown`` (the data with them appended) into copies of every index
        while requests go on reading the old ones, then put them all in place in one short step under
        the lock shortlists take: at 1M items the counting takes seconds, the step milliseconds. A
        lent generator without ``count_picks`` counts under the lock, in place."""
        evidence = self._evidence.index  # None: counted from the data, these picks too, on first use
        counted = self.generator.count_picks(grown, rows) if callable(getattr(self.generator, "count_picks", None)) \
            else None
        picked = grown.items[rows]

        def with_picks(index: EvidenceIndex) -> EvidenceIndex:  # its counts and these picks': no pass over the data
            counts = index.pop_counts + np.bincount(picked, minlength=len(index.pop_counts))
            return index.with_picks(users, picked, counts)

        added = with_picks(evidence) if evidence is not None else None
        # title search under the new popularity: which film an ambiguous title means, search's order
        matcher = self.matcher.with_popularity(counted.popularity_counts) if counted is not None else None
        with self._counting, self._evidence.lock:
            if counted is not None:
                self.generator.take_picks(counted)
            else:
                self.generator.add_interactions(grown, rows)
                matcher = self.matcher.with_popularity(self.generator.popularity_counts)
            self.dataset.interactions = grown
            self._evidence.take(evidence, added, with_picks)
            replaced = self.matcher.adopt(matcher, self.dataset.catalog)
            self._allowed.clear()  # a filter ranks popularity among its items by the counts it was resolved with
        del replaced  # the old tables freed after the lock

    def add_items(self, items: object, columns: Mapping[str, str] | None = None) -> AddedItems:
        """Put new items in the catalog while the Recommender runs, without a restart: a shop's new
        products, this week's films. ``items``: a DataFrame or any iterable of dicts read as
        ``load_records`` reads items (``item_id``, ``title``, ``genres`` or the column ``columns``
        names, every other column text the retriever and the prompt use). From the next request on a
        new item can be typed as a title, picked (``add_interactions``), filtered to, and shortlisted:
        by its text at once (BM25), by co-occurrence once people pick it. No one has picked it yet, so
        its evidence says so ("not picked by anyone yet").

        The batch is read and checked whole first: an id the catalog (or the batch) already holds, or a
        record without an id, raises naming it, and nothing is added. The text index and title search
        are grown from what they keep (BM25's weights all move with a new document: they are computed
        again from the term counts, and only the new items' text is read), which costs a small fraction
        of a restart (``benchmarks/add_interactions.py``). They, the evidence, a genre filter's index
        and the counted indexes (grown by empty rows, with popularity's order over every item made
        again) are made aside while requests go on, and put in place with the new rows in one short
        step under the lock that shortlists take; the catalog's titles held twice grow with its rows.
        So no request after an add reads every item again.
        With a ``picks_log`` the items are written there first, and a restart puts them back in the
        catalog."""
        t0 = time.perf_counter()
        self._generator_can("add_items(rows)", "take new items")
        catalog = self.dataset.catalog
        if self.generator.catalog is not catalog:
            raise OptionError("the lent shortlist generator holds a catalog of its own, not this Recommender's: "
                              "new items would reach one and not the other")
        read = read_items(items, columns)
        with self._changing_catalog:  # one batch of items at a time: each is checked against the ones before
            given: dict[str, str] = {}
            for where, item in read:
                if item.id in catalog:
                    raise DataError(f"item id {item.id!r} is already in the catalog ({catalog.get(item.id).title!r}); "
                                    "nothing was added", where)
                if item.id in given:
                    raise DataError(f"item id {item.id!r} is given twice (also at {given[item.id]}); nothing was "
                                    "added", where)
                given[item.id] = where
            new = [item for _, item in read]
            if not new:
                return AddedItems(0, len(catalog), time.perf_counter() - t0)
            # the slow part, built aside while requests go on: the evidence, text index and title search
            def with_items(index: EvidenceIndex) -> EvidenceIndex:
                return index.with_items(new, np.concatenate([index.pop_counts, np.zeros(len(new))]))

            evidence = self._evidence.index  # None: counted over the grown catalog on first use
            added = with_items(evidence) if evidence is not None else None
            text_index = self.generator.text_index_with(new)
            room = self.generator.count_items(len(catalog) + len(new)) \
                if callable(getattr(self.generator, "count_items", None)) else None  # a lent one's makes it below
            matcher = self.matcher.with_items(catalog.with_items(new), np.concatenate([self.generator.popularity_counts,
                                                                                     np.zeros(len(new))]))
            # a genre filter's index and the reasons' checker, grown (not made again over every item by a request)
            genres, checker = self._genres.fresh(), self.ranker.checker_slot.fresh()
            grown_genres = genres.with_items(new) if genres is not None else None
            grown_checker = checker.with_items(new) if checker is not None else None
            if self.picks_log is not None:  # on disk before it is used: a restart loses nothing it was told
                logged.append_items(self.picks_log, new)
            with self._counting, self._evidence.lock, self._genres.lock, self.ranker.checker_slot.lock:
                rows = catalog.extend(new)
                if room is not None:
                    self.generator.add_items(rows, text_index, room)
                else:
                    self.generator.add_items(rows, text_index)
                self._evidence.take(evidence, added, with_items)
                # the old tables are freed on return, after the lock: freeing 1M titles' takes a while
                replaced = self.matcher.adopt(matcher, catalog)
                self._genres.value, self.ranker.checker_slot.value = grown_genres, grown_checker
                self._allowed.clear()  # filters were resolved over the catalog without these
            del replaced
            return AddedItems(len(rows), len(catalog), time.perf_counter() - t0)

    def hide_items(self, items: Sequence[str]) -> HiddenItems:
        """Never recommend these items again, to anyone, from the next request on: a product
        discontinued or out of stock for good, a film withdrawn. ``items``: ids, or titles matched as
        ``exclude`` matches them (never fuzzily). They stay in the catalog: a history may still name
        them, their picks still count (what people picked with a retired product still tells what
        goes together) and the reasons still cite them. ``show_items`` undoes it. With a
        ``picks_log`` the change is written there first and holds after a restart."""
        return self._set_hidden(items, hidden=True)

    def show_items(self, items: Sequence[str]) -> HiddenItems:
        """Recommend items hidden by ``hide_items`` again (others are left as they are)."""
        return self._set_hidden(items, hidden=False)

    def hidden_items(self) -> list[str]:
        """The ids of the hidden items, in the order they were hidden."""
        items = self.dataset.catalog.items
        return [items[row].id for row in list(self._hidden)]

    def _generator_can(self, method: str, doing: str) -> None:
        """A lent generator (a caller's own) that lacks ``method`` is named before anything changes."""
        if not callable(getattr(self.generator, method.split("(")[0], None)):
            raise OptionError(f"the lent shortlist generator ({type(self.generator).__name__}) cannot {doing}: "
                              f"it has no {method}")

    def _set_hidden(self, items: Sequence[str], hidden: bool) -> HiddenItems:
        self._generator_can("hide_rows(rows)", "hide items")
        with self._changing_catalog:  # one catalog change at a time, and the log in the order they happen
            rows = list(dict.fromkeys(self.item_rows(items, "hide" if hidden else "show")))
            changed = [r for r in rows if (r in self._hidden) != hidden]
            if changed and self.picks_log is not None:  # on disk first, as picks and items are
                logged.append_hidden(self.picks_log, [self.dataset.catalog.items[r].id for r in changed], hidden)
            with self._counting:
                for row in changed:
                    if hidden:
                        self._hidden[row] = None
                    else:
                        del self._hidden[row]
                self.generator.hide_rows(list(self._hidden))
            return HiddenItems(len(changed), len(self._hidden))

    def rank_prepared(self, users: Sequence[PreparedUser]) -> list[RankedResult]:
        """Rank checked users in one batched LLM call (the model is loaded here, on first use)."""
        return _with_users(users, self.ranker.rank_prepared([u.prepared for u in users]))

    def shown_order(self, users: Sequence[PreparedUser], reason: str) -> list[RankedResult]:
        """Checked users' shortlists in the generator's order, no LLM, each flagged with ``reason``."""
        return _with_users(users, self.ranker.shown_order([u.prepared for u in users], reason))

    def recommend(self, history: Sequence[str], k: int | None = None, allow_unmatched: bool = False,
                  allow_empty: bool = True, exclude: Sequence[str] = (), only: Sequence[str] = (),
                  only_genres: Sequence[str] = ()) -> RankedResult:
        """Recommend for a new user given the titles (or item ids) they picked, oldest first.

        An empty history gives popularity candidates ranked by the LLM (the cold-start branch) unless
        ``allow_empty`` is False. Titles that match nothing raise ``UnknownItemError`` listing them,
        or with ``allow_unmatched`` are left out and listed in ``result.unmatched_history``.
        ``exclude``: items never to recommend; ``only`` / ``only_genres``: recommend only these items,
        or items of these genres (see ``allowed``).
        """
        return self.rank_prepared([self.prepare(history, k, allow_unmatched, allow_empty, exclude,
                                                only, only_genres)])[0]

    def user_split(self, user_id: str, n_history: int | None = 10) -> tuple[list[int], list[int]]:
        """A known user's ``n_history`` most recent picks (oldest first) and the rest of what they saw;
        ``None``: all of them."""
        _check_n_history(n_history)
        rows = [int(i) for i in self.dataset.interactions.user_history(str(user_id))]
        history = rows[-n_history:] if n_history else rows
        return history, sorted(set(rows) - set(history))

    def recommend_for_user(self, user_id: str, n_history: int | None = 10, k: int | None = None,
                           exclude: Sequence[str] = (), only: Sequence[str] = (),
                           only_genres: Sequence[str] = ()) -> RankedResult:
        """Recommend for a known user as if they were new (see ``prepare_user``)."""
        return self.rank_prepared([self.prepare_user(user_id, n_history, k, exclude, only, only_genres)])[0]

    def recommend_many(self, users: Iterable[UserRequest | str], n_history: int | None = 10,
                       k: int | None = None, batch_size: int = 8, allow_unmatched: bool = False,
                       report: BatchReport | None = None, allow_empty: bool = True) -> Iterator[UserOutcome]:
        """Rank many users, ``batch_size`` per LLM call, yielding each outcome in input order as it is
        ready. Users given by id rank from their own recent picks (as ``recommend_for_user``); users
        given with a typed history rank as ``recommend``. A user with bad input (unknown id, titles
        that match nothing, with ``allow_empty`` False an empty history) gets an outcome with the error
        and the run goes on; ``report``, if given, counts rankings, fallbacks and errors as they come."""
        _check_n_history(n_history)  # run-wide settings: one error, not one per user
        if k is not None:
            replace(self.ranker.config, k=k)  # the config's own checks of k
        requests = as_requests(users)
        t0 = time.perf_counter()
        for start in range(0, len(requests), max(1, batch_size)):
            chunk = requests[start:start + max(1, batch_size)]
            outcomes = self._rank_chunk(chunk, n_history, k, allow_unmatched, allow_empty)
            for outcome in outcomes:
                if report is not None:
                    report.add(outcome)
                    report.seconds = time.perf_counter() - t0
                yield outcome

    def _rank_chunk(self, chunk: list[UserRequest], n_history: int | None, k: int | None,
                    allow_unmatched: bool, allow_empty: bool) -> list[UserOutcome]:
        outcomes = [UserOutcome(r.user_id) for r in chunk]
        ready: list[tuple[int, PreparedUser]] = []
        for pos, request in enumerate(chunk):
            try:
                if request.history is None:
                    user = self.prepare_user(request.user_id, n_history, k, request.exclude, request.only,
                                             request.only_genres)
                else:
                    user = self.prepare(request.history, k, allow_unmatched, allow_empty, request.exclude,
                                        request.only, request.only_genres)
                    user.user_id = request.user_id
            except ZsrecError as e:
                outcomes[pos].error = str(e)
                continue
            ready.append((pos, user))
        try:
            results: list[RankedResult | None] = list(self.rank_prepared([u for _, u in ready]))
        except PromptTooLongError:  # one user's prompt cannot fit: rank one at a time to find who
            results = []
            for pos, user in ready:
                try:
                    results.append(self.rank_prepared([user])[0])
                except PromptTooLongError as e:
                    results.append(None)
                    outcomes[pos].error = str(e)
        for (pos, _), result in zip(ready, results, strict=True):
            outcomes[pos].result = result
        return outcomes

    def with_settings(self, **settings: Any) -> Recommender:
        """Same data, shortlist, evidence and (loaded) model, other ``RankerConfig`` settings (mode,
        reasons, k ...): a service answers each request's own choice without a second model. Where
        these settings need the model and this Recommender's did not (so it was never checked), it is
        checked as the constructor checks it."""
        _check_settings(settings)
        config = replace(self.ranker.config, **settings)
        if config.needs_model and not self.ranker.needs_model:
            self.ranker.handle.check_model()
        other = copy.copy(self)
        other.ranker = self.ranker.with_config(config)
        return other

    def with_template(self, template: str | Path) -> Recommender:
        """Same data, shortlist and (loaded) model, another prompt template."""
        other = copy.copy(self)
        other.ranker = self.ranker.with_template(PromptTemplate(template))
        return other


def _shortlist_settings(candidates: CandidateConfig | None, generator: CandidateGenerator | None) -> CandidateConfig:
    """The shortlist's settings: those given, else a lent generator's, else the defaults."""
    return candidates or (generator.config if generator is not None else CandidateConfig())


def _checked_config(dataset_name: str, backend: BackendSpec | LLMBackend, config: RankerConfig | None,
                    candidates: CandidateConfig, settings: dict[str, Any]) -> RankerConfig:
    """The ranker's settings, with the model checked where they will need it: a model that cannot be
    used fails before the data is read and the indexes are built (seconds to minutes on a big
    catalog), not at the first ranking. A loaded backend was checked by its load."""
    _check_settings(settings)
    base = config or RankerConfig(item_noun=_item_noun(dataset_name), n_candidates=candidates.n_candidates,
                                  k=settings.get("k", min(10, candidates.n_candidates)))
    out = replace(base, n_candidates=candidates.n_candidates, **settings)
    if out.needs_model and isinstance(backend, BackendSpec):
        backend.check_model()
    return out


def _check_settings(settings: dict[str, Any]) -> None:
    fields = {f.name for f in dataclasses.fields(RankerConfig)}
    unknown = sorted(set(settings) - fields)
    if unknown:
        raise OptionError(f"unknown Recommender setting {', '.join(unknown)}; settings: {', '.join(sorted(fields))}")


def _check_n_history(n_history: int | None) -> None:
    """A known user's history is their last ``n_history`` picks: 0 or less would slice to every pick
    (``rows[-0:]``) or to all but the first few (``rows[3:]`` for -3), not to what was asked."""
    if n_history is not None and n_history < 1:
        raise OptionError(f"n_history must be at least 1 (or None for every pick), got {n_history}")


def _with_users(users: Sequence[PreparedUser], results: list[RankedResult]) -> list[RankedResult]:
    """Each result names its user and says what they typed for each history entry."""
    for user, result in zip(users, results, strict=True):
        result.user_id = user.user_id
        if user.typed or user.missing:
            _annotate(result, user.typed, user.missing)
    return results


def _annotate(result: RankedResult, typed: list[str], missing: list[str]) -> RankedResult:
    """Add what the user typed for each history entry, and what matched nothing."""
    result.unmatched_history = missing
    for entry, query in zip(result.history, typed, strict=True):
        entry["query"] = query
    return result
