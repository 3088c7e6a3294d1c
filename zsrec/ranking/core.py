"""The ranking core: candidate rows in, positions and provenance out, whatever the LLM does.

Prompts are rendered here (once per user, fitted to the model's context), the method picked by the
config ranks them, the order is fused with the shortlist's at the config's weight (``fusion``), the
LLM writes reasons for the final top k if its method did not, and each answer becomes a ``Ranking``.
Raising, timing out, answering nonsense or failing to load: every request still gets a full order,
the shown one, flagged with the reason.
Callers map rows to titles and ids (``Ranker``, ``Recommender``) or score positions directly (the
evaluation).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ..backends.base import Ability, LLMBackend, MissingAbilityError, missing_ability_message
from ..data import Catalog
from ..parsing import ParsedRanking, parse_ranking
from ..prompts import Prompt, PromptTemplate
from .backend_handle import BackendHandle
from .config import RankerConfig, RankingMode
from .explain import explain_top
from .fusion import fuse
from .label_scoring import LabelScoring
from .listwise import ListwiseGeneration
from .method import Job, MethodContext, MethodOutput, RankingMethod
from .outcome import NOT_CALLED, Ranking, RankRequest, RenderedPrompt

SHORTLIST_ONLY = "ranked by the shortlist alone (fusion weight 0): the LLM was not asked"
REASONS_ONLY = "ranked by the shortlist alone (fusion weight 0): the LLM was asked only for reasons"
METHODS: dict[RankingMode, type] = {RankingMode.GENERATE: ListwiseGeneration, RankingMode.SCORE: LabelScoring}


class RankingCore:
    def __init__(self, catalog: Catalog, backend: BackendHandle, template: PromptTemplate, config: RankerConfig):
        self.catalog = catalog
        self.backend = backend
        self.template = template
        self.config = config
        self.method: RankingMethod = METHODS[RankingMode(config.mode)]()
        self.context = MethodContext(template, config.generation, config.item_noun, config.explain, config.guided)

    def needed_abilities(self) -> frozenset[Ability]:
        if not self.config.llm_ranks:  # the shortlist's order: at most reasons, which any backend writes
            return frozenset()
        wanted = set(self.method.needs)
        if self.config.guided and isinstance(self.method, ListwiseGeneration):
            wanted.add(Ability.CONSTRAINED_DECODING)
        return frozenset(wanted)

    def check_abilities(self) -> None:
        """Before any load: the backend must declare what this ranking needs."""
        for ability in sorted(self.needed_abilities() - self.backend.abilities, key=lambda a: a.value):
            raise MissingAbilityError(missing_ability_message(self.backend, ability))

    def check(self, request: RankRequest, k: int) -> RenderedPrompt:
        """Render the prompt without a model, so a broken template fails before a slow model load;
        the text comes back for ``RankRequest.rendered``."""
        self.check_abilities()
        if not self.config.asks_llm:
            return RenderedPrompt(self._render_key(k), "")  # no prompt is ever sent
        return RenderedPrompt(self._render_key(k), self._job(request, k, None).prompt.text)

    def _render_key(self, k: int) -> tuple:
        return (id(self.template), self.method.prompt_mode, k, self.config.item_noun)

    def _job(self, request: RankRequest, k: int, backend: LLMBackend | None) -> Job:
        t0 = time.perf_counter()
        items = self.catalog.items
        history = [items[int(i)] for i in request.history]
        candidates = [items[int(i)] for i in request.candidates]
        if not self.config.asks_llm:  # the shortlist's order and no reasons from the LLM: nothing to render
            return Job(history, candidates, Prompt("", len(history), 0, None), request.evidence,
                       {"prompt": time.perf_counter() - t0})
        mode = self.method.prompt_mode
        done = request.rendered
        rendered = done.text if done is not None and done.key == self._render_key(k) else None
        if backend is not None:
            budget = backend.context_length - self.config.generation.max_new_tokens - self.config.context_margin
            prompt = self.template.build(history, candidates, k, self.config.item_noun, backend.count_tokens, budget,
                                         mode=mode, rendered=rendered)
        else:
            prompt = self.template.build(history, candidates, k, self.config.item_noun, mode=mode, rendered=rendered)
        return Job(history, candidates, prompt, request.evidence, {"prompt": time.perf_counter() - t0})

    def rank(self, requests: Sequence[RankRequest], k: int) -> list[Ranking]:
        """One ranking per request, in order, with one batched LLM call for all that need one."""
        needs_model = self.config.asks_llm and any(len(r.candidates) > 1 for r in requests)
        if needs_model:
            self.check_abilities()
        backend = self.backend.try_get() if needs_model else None
        jobs = [self._job(r, k, backend) for r in requests]
        results: list[Ranking | None] = [None] * len(jobs)
        todo = []
        for i, job in enumerate(jobs):
            n = len(job.candidates)
            if n <= 1:  # nothing to order: no LLM time spent on it
                note = f"{n} candidate{'s' if n != 1 else ''}: nothing to rank, the LLM was not asked"
                results[i] = self._ranking(job, _shown(n), note=note)
            elif not self.config.asks_llm:
                results[i] = self._ranking(job, _shown(n), note=SHORTLIST_ONLY)
            elif backend is None:
                nothing = parse_ranking("", [c.title for c in job.candidates])
                results[i] = self._ranking(job, MethodOutput(nothing, error=self.backend.load_error))
            else:
                todo.append(i)
        if todo and backend is not None:
            asked = [jobs[i] for i in todo]
            if self.config.llm_ranks:
                outputs = self.method.rank(backend, asked, k, self.context)
            else:  # the shortlist's order; the LLM only writes reasons for it
                outputs = [_shown(len(j.candidates)) for j in asked]
            llm_orders = [self._fuse(out) for out in outputs]
            if self.config.explain and (not self.config.llm_ranks or not self.method.writes_reasons):
                explain_top(backend, asked, outputs, k, self.context)
            for i, output, llm_order in zip(todo, outputs, llm_orders, strict=True):
                note = "" if self.config.llm_ranks else REASONS_ONLY
                results[i] = self._ranking(jobs[i], output, note=note, llm_order=llm_order)
        return [r for r in results if r is not None]

    def _fuse(self, out: MethodOutput) -> list[int] | None:
        """Put the fused order in ``out`` (positions: the shortlist's order is 0, 1, 2, ...) and return
        the LLM's own; None where nothing was fused (weight 1 or 0, or the LLM's order fell back)."""
        weight = self.config.fusion_weight
        if weight in (0.0, 1.0) or out.error or out.parsed.fallback:
            return None
        own = list(out.parsed.order)
        out.parsed.order = fuse(own, range(len(own)), weight)
        return own

    def shown_order(self, request: RankRequest, k: int, reason: str) -> Ranking:
        """The shortlist's own order, flagged with ``reason``: what a caller answers with when it
        cannot wait for the LLM (a service past its deadline), so the user still gets a ranking."""
        job = self._job(request, k, None)
        ranking = self._ranking(job, MethodOutput(parse_ranking("", [c.title for c in job.candidates]), error=reason))
        ranking.finish_reason = NOT_CALLED
        return ranking

    def _ranking(self, job: Job, out: MethodOutput, note: str = "", llm_order: list[int] | None = None) -> Ranking:
        parsed, gen, error = out.parsed, out.generation, out.error
        text = gen.text if gen is not None else ""
        fallback_reason = error
        if not error and parsed.fallback and not note:
            finish = gen.finish_reason if gen is not None else ""
            if finish == "timeout":
                fallback_reason = "LLM timed out before naming a candidate"
            elif not text.strip():
                fallback_reason = "LLM returned empty output"
            else:
                fallback_reason = "LLM output named no candidate"
        scored = self.config.mode is RankingMode.SCORE
        if gen is not None:
            finish_reason = gen.finish_reason
        elif note and note != REASONS_ONLY:  # the LLM was not asked at all
            finish_reason = NOT_CALLED
        elif scored and not error and not note:
            finish_reason = "scored"
        else:  # a failed call, or a failed reasons generation at weight 0
            finish_reason = "error"
        return Ranking(
            order=list(parsed.order), from_llm=parsed.from_llm, reasons=dict(parsed.reasons), logprobs=out.logprobs,
            repairs=list(parsed.repairs), fallback=(parsed.fallback and not note) or bool(error),
            fallback_reason=fallback_reason, note=note, finish_reason=finish_reason,
            llm_order=llm_order,
            prompt_tokens=gen.prompt_tokens if gen else (job.prompt.n_tokens or 0),
            completion_tokens=gen.completion_tokens if gen else 0,
            history_used=job.prompt.history_used, history_cut=job.prompt.history_cut, raw_output=text,
            timings=dict(job.timings))


def _shown(n: int) -> MethodOutput:
    """The shortlist's own order of n candidates, nothing from the model."""
    return MethodOutput(ParsedRanking(list(range(n))))
