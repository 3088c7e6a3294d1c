"""The pipeline, top to bottom: candidates -> prompt -> LLM -> parse -> ranked result.

The ranker owns no model state of its own: it is handed a candidate generator, a template and a
backend (or a factory for one, so that input errors surface before a model is loaded). Whatever the
LLM does, raising, timing out or answering nonsense, every user gets a full ranking: the generator's
order, marked as a fallback with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .backends.base import Generation, GenerationConfig, LLMBackend
from .candidates import CandidateGenerator, Candidates
from .data import Catalog
from .errors import ZsrecError
from .parsing import ParsedRanking, parse_ranking
from .prompts import Prompt, PromptTemplate
from .result import RankedResult, RecommendedItem, RunInfo


@dataclass(frozen=True)
class RankerConfig:
    k: int = 10
    n_candidates: int = 20
    item_noun: str = "item"
    generation: GenerationConfig = GenerationConfig()
    context_margin: int = 16  # tokens kept free beside max_new_tokens

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError("k must be at least 1")
        if self.n_candidates < 1:
            raise ValueError("n_candidates must be at least 1")


@dataclass
class _Job:
    history: list[int]
    candidates: Candidates
    prompt: Prompt
    timings: dict[str, float]


class Ranker:
    def __init__(self, catalog: Catalog, generator: CandidateGenerator,
                 backend: LLMBackend | Callable[[], LLMBackend], template: PromptTemplate,
                 config: RankerConfig | None = None):
        self.catalog = catalog
        self.generator = generator
        self._backend = backend
        self.template = template
        self.config = config or RankerConfig()
        self.model_load_seconds = 0.0

    @property
    def backend(self) -> LLMBackend:
        if not isinstance(self._backend, LLMBackend):
            t0 = time.perf_counter()
            self._backend = self._backend()
            self.model_load_seconds = time.perf_counter() - t0
        return self._backend

    def _prepare(self, history: Sequence[int], exclude: Sequence[int], k: int, check_context: bool) -> _Job:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        cands = self.generator.generate(list(history), exclude, self.config.n_candidates)
        timings["candidates"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        items = self.catalog.items
        h_items = [items[i] for i in history]
        c_items = [items[i] for i in cands.indices]
        if check_context:
            b = self.backend
            budget = b.context_length - self.config.generation.max_new_tokens - self.config.context_margin
            prompt = self.template.build(h_items, c_items, k, self.config.item_noun, b.count_tokens, budget)
        else:
            prompt = self.template.build(h_items, c_items, k, self.config.item_noun)
        timings["prompt"] = time.perf_counter() - t0
        return _Job(list(history), cands, prompt, timings)

    def check_inputs(self, history: Sequence[int], exclude: Sequence[int] = (), k: int | None = None) -> None:
        """Render the prompt without a model, so a broken template fails before a slow model load."""
        self._prepare(history, exclude, k or self.config.k, check_context=False)

    def rank(self, history: Sequence[int], exclude: Sequence[int] = (), k: int | None = None) -> RankedResult:
        return self.rank_many([history], [exclude], k)[0]

    def rank_many(self, histories: Sequence[Sequence[int]], excludes: Sequence[Sequence[int]] | None = None,
                  k: int | None = None) -> list[RankedResult]:
        """Rank for many users with one batched LLM call; a failing LLM call falls back for that batch."""
        k = k or self.config.k
        excludes = excludes if excludes is not None else [()] * len(histories)
        backend = self.backend
        jobs = [self._prepare(h, e, k, check_context=True) for h, e in zip(histories, excludes)]
        t0 = time.perf_counter()
        error = ""
        try:
            gens: list[Generation | None] = list(backend.generate([j.prompt.text for j in jobs],
                                                                  self.config.generation))
            if len(gens) != len(jobs):
                raise RuntimeError(f"backend returned {len(gens)} outputs for {len(jobs)} prompts")
        except ZsrecError:
            raise
        except Exception as e:  # any model failure becomes a flagged fallback, never a lost result
            error = f"LLM call failed: {type(e).__name__}: {str(e).strip()[:300]}"
            gens = [None] * len(jobs)
        llm_seconds = (time.perf_counter() - t0) / max(1, len(jobs))
        results = []
        for job, gen in zip(jobs, gens):
            job.timings["llm"] = llm_seconds
            results.append(self._finish(job, gen, error, k, backend))
        return results

    def _finish(self, job: _Job, gen: Generation | None, error: str, k: int, backend: LLMBackend) -> RankedResult:
        t0 = time.perf_counter()
        titles = [self.catalog.items[i].title for i in job.candidates.indices]
        text = gen.text if gen is not None else ""
        parsed: ParsedRanking = parse_ranking(text, titles)
        job.timings["parse"] = time.perf_counter() - t0
        if self.model_load_seconds:
            job.timings["model_load"] = self.model_load_seconds
        job.timings["total"] = sum(v for key, v in job.timings.items() if key != "model_load")
        fallback_reason = error
        if not error and parsed.fallback:
            finish = gen.finish_reason if gen is not None else ""
            fallback_reason = ("LLM timed out before naming a candidate" if finish == "timeout"
                               else "LLM output named no candidate")
        n = len(titles)
        items = []
        for rank, pos in enumerate(parsed.order[:k], start=1):
            idx = int(job.candidates.indices[pos])
            item = self.catalog.items[idx]
            items.append(RecommendedItem(
                rank=rank, item_id=item.id, title=item.title,
                score=round((n - rank + 1) / n, 4),
                reason=parsed.reasons.get(pos, ""),
                source="llm" if rank <= parsed.from_llm else "generator",
                generator_rank=pos + 1,
                generator_score=round(float(job.candidates.scores[pos]), 4),
            ))
        info = RunInfo(
            model=backend.model_name, backend=backend.name, template=self.template.name,
            n_candidates=n, history_used=job.prompt.history_used, history_cut=job.prompt.history_cut,
            parsed=parsed.from_llm, fallback=parsed.fallback, fallback_reason=fallback_reason,
            repairs=parsed.repairs,
            prompt_tokens=gen.prompt_tokens if gen else (job.prompt.n_tokens or 0),
            completion_tokens=gen.completion_tokens if gen else 0,
            finish_reason=gen.finish_reason if gen else "error",
            timings={key: round(v, 4) for key, v in job.timings.items()},
            raw_output=text,
        )
        history = [{"item_id": self.catalog.items[i].id, "title": self.catalog.items[i].title}
                   for i in np.asarray(job.history, dtype=np.int64)]
        return RankedResult(items=items, history=history, info=info)
