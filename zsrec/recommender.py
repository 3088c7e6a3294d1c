"""The Python front door: a dataset and a model in, recommendations for a new user out.

    rec = Recommender.from_dataset("ml-100k")
    result = rec.recommend(["Toy Story (1995)", "Fargo (1996)"], k=10)

The model is loaded on the first call that needs it, so building a Recommender is cheap and bad
input (unknown titles, an unknown user, a broken template) is reported before any model load.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from .backends import load_backend
from .backends.base import GenerationConfig, LLMBackend
from .candidates import CandidateConfig, CandidateGenerator
from .data import Dataset
from .batch import BatchReport, UserOutcome, UserRequest, as_requests
from .errors import EmptyHistoryError, PromptTooLongError, ZsrecError
from .evidence import EvidenceIndex
from .loaders import load_dataset
from .models import DEFAULT_MODEL
from .prompts import DEFAULT_TEMPLATE, PromptTemplate
from .ranker import Ranker, RankerConfig
from .result import RankedResult
from .titles import TitleMatcher


def _item_noun(dataset_name: str) -> str:
    return "movie" if dataset_name.lower().startswith("ml-") else "item"


class Recommender:
    def __init__(self, dataset: Dataset, backend: LLMBackend | Callable[[], LLMBackend] | None = None,
                 template: str | Path = DEFAULT_TEMPLATE, candidates: CandidateConfig | None = None,
                 k: int = 10, generation: GenerationConfig | None = None, item_noun: str | None = None,
                 model: str | None = None, backend_name: str = "transformers",
                 backend_options: dict[str, Any] | None = None, mode: str = "generate",
                 reasons: str | bool = "llm",
                 guided: bool = False, index: str | Path | None = None):
        self.dataset = dataset
        cand_cfg = candidates or CandidateConfig()
        if index is not None and Path(index).is_file():  # a saved text index: no rebuild per run
            self.generator = CandidateGenerator.with_saved_index(index, dataset.catalog, dataset.interactions, cand_cfg)
        else:
            self.generator = CandidateGenerator(dataset.catalog, dataset.interactions, cand_cfg)
            if index is not None:
                self.generator.save_index(index)
        self.matcher = TitleMatcher(dataset.catalog, self.generator.popularity_counts)
        if backend is None:
            opts = dict(backend_options or {})
            backend = lambda: load_backend(backend_name, model=model, **opts)  # noqa: E731 (lazy)
        self.ranker = Ranker(
            dataset.catalog, self.generator, backend, PromptTemplate(template),
            RankerConfig(k=k, n_candidates=cand_cfg.n_candidates,
                         item_noun=item_noun or _item_noun(dataset.name),
                         generation=generation or GenerationConfig(), mode=mode, reasons=reasons,
                         guided=guided),
            names=(backend_name, model or DEFAULT_MODEL),
            evidence=lambda: EvidenceIndex(dataset.catalog, dataset.interactions, self.generator.popularity_counts),
        )

    @classmethod
    def from_dataset(cls, name: str = "ml-100k", data_path: str | Path | None = None,
                     skip_bad_rows: bool = False, **kwargs: Any) -> Recommender:
        """Load a dataset by name or folder (see ``zsrec.loaders.load_dataset``) and wrap it."""
        return cls(load_dataset(name, data_path, skip_bad_rows=skip_bad_rows), **kwargs)

    def resolve_history(self, history: Sequence[str],
                        allow_unmatched: bool = False) -> tuple[list[int], list[str], list[str]]:
        """Catalog rows for titles (or ids) in the order given (oldest first), the text typed for each
        row, and what matched nothing. A film typed twice counts once, at its first place."""
        matches, missing = self.matcher.match_all(list(history), allow_unmatched=allow_unmatched)
        rows: list[int] = []
        typed: list[str] = []
        for m in matches:
            if m.index not in rows:
                rows.append(m.index)
                typed.append(m.query)
        return rows, typed, missing

    def recommend(self, history: Sequence[str], k: int | None = None, allow_unmatched: bool = False,
                  allow_empty: bool = True, exclude: Sequence[str] = ()) -> RankedResult:
        """Recommend for a new user given the titles (or item ids) they picked, oldest first.

        An empty history gives popularity candidates ranked by the LLM (the cold-start branch) unless
        ``allow_empty`` is False. Titles that match nothing raise ``UnknownItemError`` listing them,
        or with ``allow_unmatched`` are left out and listed in ``result.unmatched_history``.
        """
        rows, typed, missing = self.resolve_history(history, allow_unmatched)
        if not rows and not allow_empty:
            raise EmptyHistoryError("no history to recommend from: give at least one title the catalog knows")
        excluded = [self.dataset.catalog.index_of(i) for i in exclude]
        self.ranker.check_inputs(rows, excluded, k)
        return _annotate(self.ranker.rank(rows, excluded, k), typed, missing)

    def user_split(self, user_id: str, n_history: int | None = 10) -> tuple[list[int], list[int]]:
        """A known user's ``n_history`` most recent picks (oldest first) and the rest of what they saw."""
        rows = [int(i) for i in self.dataset.interactions.user_history(str(user_id))]
        history = rows[-n_history:] if n_history else rows
        return history, sorted(set(rows) - set(history))

    def recommend_for_user(self, user_id: str, n_history: int | None = 10, k: int | None = None) -> RankedResult:
        """Recommend for a known user as if they were new: their ``n_history`` most recent picks form the
        history, and everything they ever picked is excluded from the candidates."""
        history, exclude = self.user_split(user_id, n_history)
        self.ranker.check_inputs(history, exclude, k)
        result = self.ranker.rank(history, exclude, k)
        result.user_id = str(user_id)
        return result

    def recommend_many(self, users: Iterable[UserRequest | str], n_history: int | None = 10,
                       k: int | None = None, batch_size: int = 8, allow_unmatched: bool = False,
                       report: BatchReport | None = None) -> Iterator[UserOutcome]:
        """Rank many users, ``batch_size`` per LLM call, yielding each outcome in input order as it is
        ready. Users given by id rank from their own recent picks (as ``recommend_for_user``); users
        given with a typed history rank as ``recommend``. A user with bad input (unknown id, titles
        that match nothing) gets an outcome with the error and the run goes on; ``report``, if given,
        counts rankings, fallbacks and errors as they come."""
        requests = as_requests(users)
        t0 = time.perf_counter()
        for start in range(0, len(requests), max(1, batch_size)):
            chunk = requests[start:start + max(1, batch_size)]
            outcomes = self._rank_chunk(chunk, n_history, k, allow_unmatched)
            for outcome in outcomes:
                if report is not None:
                    report.add(outcome)
                    report.seconds = time.perf_counter() - t0
                yield outcome

    def _rank_chunk(self, chunk: list[UserRequest], n_history: int | None, k: int | None,
                    allow_unmatched: bool) -> list[UserOutcome]:
        outcomes = [UserOutcome(r.user_id) for r in chunk]
        jobs: list[tuple[int, list[int], list[int], list[str], list[str]]] = []
        for pos, request in enumerate(chunk):
            try:
                if request.history is None:
                    history, exclude = self.user_split(request.user_id, n_history)
                    typed, missing = [], []
                else:
                    history, typed, missing = self.resolve_history(request.history, allow_unmatched)
                    exclude = []
            except ZsrecError as e:
                outcomes[pos].error = str(e)
                continue
            jobs.append((pos, history, exclude, typed, missing))
        try:
            results = self.ranker.rank_many([j[1] for j in jobs], [j[2] for j in jobs], k)
        except PromptTooLongError:  # one user's prompt cannot fit: rank one at a time to find who
            results = []
            for job in jobs:
                try:
                    results.append(self.ranker.rank(job[1], job[2], k))
                except PromptTooLongError as e:
                    results.append(None)
                    outcomes[job[0]].error = str(e)
        for (pos, _, _, typed, missing), result in zip(jobs, results):
            if result is not None:
                result.user_id = chunk[pos].user_id
                outcomes[pos].result = _annotate(result, typed, missing) if typed or missing else result
        return outcomes

    def with_template(self, template: str | Path) -> Recommender:
        """Same data and (loaded) model, another prompt template."""
        other = object.__new__(Recommender)
        other.__dict__.update(self.__dict__)
        other.ranker = Ranker(self.ranker.catalog, self.generator, self.ranker._backend,
                              PromptTemplate(template), replace(self.ranker.config), self.ranker._names,
                              evidence=self.ranker._evidence)
        return other


def _annotate(result: RankedResult, typed: list[str], missing: list[str]) -> RankedResult:
    """Add what the user typed for each history entry, and what matched nothing."""
    result.unmatched_history = missing
    for entry, query in zip(result.history, typed, strict=True):
        entry["query"] = query
    return result
