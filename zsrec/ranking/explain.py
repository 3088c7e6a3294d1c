"""Reasons for a ranking already made: one generation per user over its top k, in the template's
"explain" mode, with the counted facts beside each pick. Used where the order does not come from a
generation that wrote reasons with it: label scoring, and an order fused with (or taken from) the
shortlist's."""

from __future__ import annotations

import time
from collections.abc import Sequence

from ..backends.base import LLMBackend
from ..parsing import parse_ranking
from ..repairs import Repair, RepairKind
from .generation import generate_each
from .method import Job, MethodContext, MethodOutput


def explain_top(backend: LLMBackend, jobs: Sequence[Job], outputs: Sequence[MethodOutput], k: int,
                context: MethodContext) -> None:
    """Fill each output's reasons for its top k in one batched generation; the order is fixed, so
    whatever this says or fails to say only fills in reasons (a failure is a repair, not a fallback).
    Outputs with an error (their ranking fell back) are left as they are."""
    t0 = time.perf_counter()
    prompts, owners = [], []
    for i, (job, out) in enumerate(zip(jobs, outputs)):
        if out.error:
            continue
        top = out.parsed.order[:k]
        history = job.history[len(job.history) - job.prompt.history_used:]
        said = [job.evidence[p] for p in top] if job.evidence is not None else None
        prompts.append(context.template.render(history, [job.candidates[p] for p in top], k, context.item_noun,
                                               mode="explain", evidence=said))
        owners.append(i)
    if not prompts:
        return
    for i, (gen, err) in zip(owners, generate_each(backend, prompts, context.generation)):
        out = outputs[i]
        out.generation = gen
        if gen is None:
            out.parsed.repairs.append(Repair(RepairKind.NO_REASONS, f"no reasons: {err}"))
            continue
        top = out.parsed.order[:k]
        said = parse_ranking(gen.text, [jobs[i].candidates[p].title for p in top])
        out.parsed.reasons = {top[j]: r for j, r in said.reasons.items()}
    per_user = (time.perf_counter() - t0) / max(1, len(owners))
    for i in owners:
        jobs[i].timings["explain"] = per_user
