"""The pipeline on catalog rows, top to bottom: candidates -> evidence -> prompt -> LLM -> parse ->
reasons -> ranked result.

The ranker owns no model state of its own: it is handed a candidate generator, a template and a
backend (a ``BackendSpec`` to load on first use, so that input errors surface before a model is
loaded, or a loaded backend). The ranking itself is the core's (``zsrec.ranking``); this adds the
shortlist, the counted evidence and the checked reasons, and maps positions back to items.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .backends import BackendSpec
from .backends.base import LLMBackend
from .built_once import BuiltOnce
from .candidates import CandidateGenerator, Candidates
from .choices import ReasonsMode
from .data import Catalog
from .evidence import EvidenceIndex, Fact, Scope
from .evidence import sentence as evidence_sentence
from .evidence import summary as evidence_summary
from .item_filter import Allowed
from .prompts import PromptTemplate
from .ranking import BackendHandle, RankerConfig, Ranking, RankingCore, RankingMode, RankRequest, RenderedPrompt
from .reasons import CheckedReason, ReasonChecker, ReasonSource
from .result import RankedResult, RecommendedItem, RunInfo

__all__ = ["Prepared", "Ranker", "RankerConfig", "RankingMode"]


@dataclass
class Prepared:
    """A user's ranking input, checked: the history, their shortlist and its evidence. Made once per
    user, before any model load, and ranked later."""

    history: list[int]
    candidates: Candidates
    facts: list[list[Fact]] | None
    k: int
    timings: dict[str, float]
    prompt: RenderedPrompt | None = None  # rendered by the check; ranking reuses it
    filter: str = ""  # the caller's filter in words ("genre Comedy: 505 of 1,682 items"), "" for none


class Ranker:
    def __init__(self, catalog: Catalog, generator: CandidateGenerator,
                 backend: BackendSpec | LLMBackend | BackendHandle, template: PromptTemplate,
                 config: RankerConfig | None = None,
                 evidence: EvidenceIndex | Callable[[], EvidenceIndex] | None = None,
                 title_forms: Callable[[], tuple[list[str], list[str]]] | None = None,
                 genres: Callable[[], Iterable[str] | None] | None = None):
        """``evidence`` (an index or a factory for one) gives every item facts counted from the data
        and lets reasons be checked against them; without it, items carry no evidence.
        ``title_forms``: where the reason checker may read the titles' normalised forms
        (``TitleMatcher.title_forms``) rather than make them. ``genres``: where it may read the
        catalog's genres, when a genre index holds them already (None when none does)."""
        self.catalog = catalog
        self.generator = generator
        self.handle = backend if isinstance(backend, BackendHandle) else BackendHandle(backend)
        self.template = template
        self.config = config or RankerConfig()
        self.core = RankingCore(catalog, self.handle, template, self.config)
        self._evidence = evidence
        # made on first use, shared by this ranker's copies (``with_config``, ``with_template``); a
        # Recommender grows it with the catalog (``add_items``) rather than have a request make it again
        self.checker_slot: BuiltOnce[ReasonChecker] = BuiltOnce(
            lambda: ReasonChecker(catalog, title_forms() if title_forms is not None else None,
                                  genres() if genres is not None else None),
            lambda made: made.n_items != len(catalog))

    @property
    def evidence(self) -> EvidenceIndex | None:
        """The index in use now: a shared one (``Recommender``) is asked each time, since new picks
        put a new index in its place."""
        if self._evidence is not None and not isinstance(self._evidence, EvidenceIndex):
            return self._evidence()
        return self._evidence

    @property
    def checker(self) -> ReasonChecker:
        """Every title and genre a reason may name (made again after new items, unless grown with them)."""
        return self.checker_slot.get()

    @property
    def load_error(self) -> str:
        return self.handle.load_error

    @property
    def model_load_seconds(self) -> float:
        return self.handle.load_seconds

    def try_backend(self) -> LLMBackend | None:
        return self.handle.try_get()

    @property
    def needs_model(self) -> bool:
        return self.config.needs_model

    def with_template(self, template: PromptTemplate) -> Ranker:
        """Same shortlist, evidence and (loaded) backend, another prompt template."""
        ranker = Ranker(self.catalog, self.generator, self.handle, template, replace(self.config), evidence=self._evidence)
        ranker.checker_slot = self.checker_slot
        return ranker

    def with_config(self, config: RankerConfig) -> Ranker:
        """Same shortlist, evidence, template and (loaded) backend, another way of ranking."""
        ranker = Ranker(self.catalog, self.generator, self.handle, self.template, config, evidence=self._evidence)
        ranker.checker_slot = self.checker_slot
        return ranker

    # ------------------------------------------------------------ input, checked once

    def prepare(self, history: Sequence[int], exclude: Sequence[int] = (), k: int | None = None,
                allowed: Allowed | None = None) -> Prepared:
        """The shortlist and its evidence, with every check that needs no model: ``k`` against the
        shortlist, what the backend can do, and the template rendering for this user. ``allowed``:
        the only items the shortlist may hold (a filter)."""
        k = self.config.k if k is None else k  # k=0 is a mistake to report, not "the default"
        replace(self.config, k=k)  # the config's own checks, for a k given per call
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        n = self.config.n_candidates
        # a lent generator need not know filters (or new-item slots, which end at the k shown) until used
        slots = getattr(getattr(self.generator, "config", None), "new_item_slots", 0)
        extra = {"shown": k} if slots else {}
        cands = self.generator.generate(list(history), exclude, n, **extra) if allowed is None else \
            self.generator.generate(list(history), exclude, n, allowed=allowed.rows, **extra)
        timings["candidates"] = time.perf_counter() - t0
        facts = self._facts(history, cands.indices, timings, allowed.scope if allowed is not None else None)
        prepared = Prepared(list(history), cands, facts, k, timings,
                            filter=allowed.described if allowed is not None else "")
        prepared.prompt = self.core.check(self._request(prepared), k)
        return prepared

    def _facts(self, history: Sequence[int], rows: np.ndarray, timings: dict[str, float],
               scope: Scope | None = None) -> list[list[Fact]] | None:
        t0 = time.perf_counter()  # a shared index is made on first use: that request's time holds it
        evidence = self.evidence
        if evidence is None:
            return None
        facts = evidence.facts(history, [int(i) for i in rows], scope)
        timings["evidence"] = time.perf_counter() - t0
        return facts

    def _request(self, p: Prepared) -> RankRequest:
        said = [evidence_summary(f) for f in p.facts] if p.facts is not None else None
        return RankRequest(p.history, [int(i) for i in p.candidates.indices], said, p.prompt)

    # ------------------------------------------------------------ ranking

    def rank(self, history: Sequence[int], exclude: Sequence[int] = (), k: int | None = None) -> RankedResult:
        return self.rank_many([history], [exclude], k)[0]

    def rank_many(self, histories: Sequence[Sequence[int]], excludes: Sequence[Sequence[int]] | None = None,
                  k: int | None = None) -> list[RankedResult]:
        """Rank for many users with one batched LLM call. Whatever fails (the load, the batch, one
        prompt), the users it touches get the generator order, flagged with the reason."""
        excludes = excludes if excludes is not None else [()] * len(histories)
        return self.rank_prepared([self.prepare(h, e, k) for h, e in zip(histories, excludes, strict=True)])

    def rank_prepared(self, prepared: Sequence[Prepared]) -> list[RankedResult]:
        by_k: dict[int, list[int]] = {}
        for i, p in enumerate(prepared):
            by_k.setdefault(p.k, []).append(i)
        results: list[RankedResult | None] = [None] * len(prepared)
        for k, members in by_k.items():
            rankings = self.core.rank([self._request(prepared[i]) for i in members], k)
            for i, ranking in zip(members, rankings, strict=True):
                results[i] = self._result(prepared[i], ranking)
        return [r for r in results if r is not None]

    def shown_order(self, prepared: Sequence[Prepared], reason: str) -> list[RankedResult]:
        """Each user's shortlist in the generator's order, without the LLM, flagged with ``reason``;
        items still carry their evidence and (from it) their reasons."""
        return [self._result(p, self.core.shown_order(self._request(p), p.k, reason)) for p in prepared]

    # ------------------------------------------------------------ positions -> items

    def _reason(self, said: str, item, history: list, facts: list[Fact], asked: bool) -> CheckedReason:
        """The item's reason as the config asks: checked LLM words, evidence, or none. Where the LLM was
        not asked (a shortlist of one, an answer past a service's deadline), the evidence's, unflagged:
        no reason of the LLM's failed a check, and none is said to have."""
        mode = self.config.reasons
        if mode is ReasonsMode.NONE:
            return CheckedReason("", ReasonSource.NONE)
        if mode is ReasonsMode.EVIDENCE or not asked:
            return CheckedReason(evidence_sentence(facts), ReasonSource.EVIDENCE)
        return self.checker.check(said, item, history, facts)

    def _result(self, p: Prepared, ranking: Ranking) -> RankedResult:
        items_by_row = self.catalog.items
        rows = p.candidates.indices
        n = len(rows)
        timings = {**p.timings, **ranking.timings}
        t0 = time.perf_counter()
        history_items = [items_by_row[i] for i in p.history]
        own = ranking.llm_order if ranking.llm_order is not None else ranking.order
        llm_rank = {pos: i for i, pos in enumerate(own[:ranking.from_llm], start=1)}  # where the model put it
        items = []
        slotted = p.candidates.new_item_slot
        for rank, pos in enumerate(ranking.order[:p.k], start=1):
            item = items_by_row[int(rows[pos])]
            facts = p.facts[pos] if p.facts is not None else []
            why = self._reason(ranking.reasons.get(pos, ""), item, history_items, facts, ranking.llm_asked)
            items.append(RecommendedItem(
                rank=rank, item_id=item.id, title=item.title,
                score=round((n - rank + 1) / n, 4),
                reason=why.text, reason_source=why.source.value,
                reason_flags=[f.value for f in why.flags], llm_reason=why.llm_text, evidence=list(facts),
                source="fused" if ranking.llm_order is not None else "llm" if rank <= ranking.from_llm else "generator",
                llm_rank=llm_rank.get(pos),
                generator_rank=pos + 1,
                generator_score=round(float(p.candidates.scores[pos]), 4),
                new_item_slot=bool(slotted is not None and slotted[pos]),
                logprob=_finite(ranking.logprobs[pos]) if ranking.logprobs is not None else None,
            ))
        timings["reasons"] = time.perf_counter() - t0  # each checked (and the checker, where this request made it)
        if self.handle.load_seconds:
            timings["model_load"] = self.handle.load_seconds
        timings["total"] = sum(v for key, v in timings.items() if key != "model_load")
        info = RunInfo(
            model=self.handle.model, backend=self.handle.name, template=self.template.name,
            n_candidates=n, history_used=ranking.history_used, history_cut=ranking.history_cut,
            parsed=ranking.from_llm, fallback=ranking.fallback, fallback_reason=ranking.fallback_reason,
            repairs=ranking.repairs, prompt_tokens=ranking.prompt_tokens,
            completion_tokens=ranking.completion_tokens, finish_reason=ranking.finish_reason,
            mode=RankingMode(self.config.mode).value, timings={key: round(v, 4) for key, v in timings.items()},
            raw_output=ranking.raw_output, note=ranking.note, filter=p.filter, fusion_weight=self.config.fusion_weight,
        )
        history = [{"item_id": items_by_row[i].id, "title": items_by_row[i].title} for i in p.history]
        return RankedResult(items=items, history=history, info=info)


def _finite(x: float) -> float | None:
    """A log-probability for JSON: a label the model gave no probability has none (not -inf)."""
    return round(float(x), 4) if np.isfinite(x) else None
