"""Listwise generation: the LLM writes the ranked list (with reasons), the parser reads it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

from ..backends.base import Ability, AnswerFormat, LLMBackend, require
from ..parsing import parse_ranking
from .generation import generate_each
from .method import Job, MethodContext, MethodOutput


class ListwiseGeneration:
    prompt_mode: ClassVar[str] = "generate"
    writes_reasons: ClassVar[bool] = True  # its answer holds the reasons beside the order
    needs: ClassVar[frozenset[Ability]] = frozenset()

    def rank(self, backend: LLMBackend, jobs: Sequence[Job], k: int, context: MethodContext) -> list[MethodOutput]:
        formats = None
        if context.guided:
            require(backend, Ability.CONSTRAINED_DECODING)
            formats = [AnswerFormat(len(j.candidates), k) for j in jobs]
        t0 = time.perf_counter()
        outcomes = generate_each(backend, [j.prompt.text for j in jobs], context.generation, formats)
        per_user = (time.perf_counter() - t0) / max(1, len(jobs))
        out = []
        for job, (gen, error) in zip(jobs, outcomes):
            job.timings["llm"] = per_user
            t1 = time.perf_counter()
            cut = gen is not None and gen.finish_reason in ("timeout", "length")
            parsed = parse_ranking(gen.text if gen is not None else "", [c.title for c in job.candidates], cut=cut)
            job.timings["parse"] = time.perf_counter() - t1
            out.append(MethodOutput(parsed, gen, error))
        return out
