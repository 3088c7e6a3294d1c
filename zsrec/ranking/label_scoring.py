"""Label scoring: candidates shown as [A] ... [T] are ranked by the log-probability of their label
as the answer's first token, one forward step per user, so the ranking always parses. Reasons, if
asked for, come after (``explain_top``), once the order is final: fused with the shortlist's or not."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

from ..backends.base import Ability, LLMBackend
from ..errors import ZsrecError
from ..parsing import ParsedRanking
from ..prompts import SCORE_LABELS
from ..repairs import Repair, RepairKind
from .backend_handle import describe
from .method import Job, MethodContext, MethodOutput


class LabelScoring:
    prompt_mode: ClassVar[str] = "score"
    writes_reasons: ClassVar[bool] = False  # the core asks for reasons once the order is final
    needs: ClassVar[frozenset[Ability]] = frozenset({Ability.LABEL_SCORING})

    def rank(self, backend: LLMBackend, jobs: Sequence[Job], k: int, context: MethodContext) -> list[MethodOutput]:
        t0 = time.perf_counter()
        rows = self._score(backend, jobs)
        per_user = (time.perf_counter() - t0) / max(1, len(jobs))
        outputs = []
        for job, (row, error) in zip(jobs, rows):
            job.timings["llm"] = per_user
            outputs.append(_order(len(job.candidates), row, error))
        return outputs

    def _score(self, backend: LLMBackend, jobs: Sequence[Job]) -> list[tuple[list[float] | None, str]]:
        """One scoring call per shortlist length (the label set differs)."""
        by_size: dict[int, list[int]] = {}
        for i, job in enumerate(jobs):
            by_size.setdefault(len(job.candidates), []).append(i)
        out: list[tuple[list[float] | None, str]] = [(None, "")] * len(jobs)
        for n, members in by_size.items():
            try:
                got = backend.score([jobs[i].prompt.text for i in members], list(SCORE_LABELS[:n]))
                for i, row in zip(members, got, strict=True):
                    out[i] = (list(row), "")
            except ZsrecError:
                raise
            except Exception as e:  # noqa: BLE001 (a scoring failure falls back like a generation failure)
                for i in members:
                    out[i] = (None, f"LLM scoring failed: {describe(e)}")
        return out


def _order(n: int, row: list[float] | None, error: str) -> MethodOutput:
    """Candidates by label log-probability, ties and unscored labels in shown order."""
    if row is None:
        return MethodOutput(ParsedRanking(list(range(n)), repairs=[
            Repair(RepairKind.SCORING_FAILED, "scoring failed; kept generator order")]), error=error)
    clean = [x if x == x and x != float("inf") else float("-inf") for x in row]  # NaN -> -inf
    order = sorted(range(n), key=lambda i: (-clean[i], i))
    scored = sum(x != float("-inf") for x in clean)
    repairs = [] if scored == n else [Repair(RepairKind.NO_LOGPROB,
                                             f"{n - scored} candidates had no log-probability; kept in generator order")]
    return MethodOutput(ParsedRanking(order, from_llm=scored, repairs=repairs),
                        error="" if scored else "LLM gave no candidate label a probability", logprobs=clean)
