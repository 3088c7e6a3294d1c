"""What the ranking core takes and gives: catalog rows in, positions and provenance out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..repairs import Repair


@dataclass(frozen=True)
class RankRequest:
    """One user's ranking task: their history and the candidates in the order shown (catalog rows).
    ``evidence`` is one line of counted facts per candidate, for prompts that show them.
    ``rendered``: the prompt as the check rendered it (whole history), reused when ranking so each
    prompt is rendered once; kept with what it was rendered for, and ignored if that differs."""

    history: Sequence[int]
    candidates: Sequence[int]
    evidence: Sequence[str] | None = None
    rendered: RenderedPrompt | None = None


@dataclass(frozen=True)
class RenderedPrompt:
    key: tuple  # (template, prompt mode, k, item noun) it was rendered with
    text: str


NOT_CALLED = "not-called"  # the finish reason of a ranking the LLM was not asked for


@dataclass
class Ranking:
    """The order of one request's candidates (positions into ``RankRequest.candidates``, best first)
    and how it was made. The model placed ``from_llm`` candidates itself. Unfused (weight 1), they
    are the first ``from_llm`` positions and the rest follow in shown order; fused, ``llm_order`` is
    the model's own order, which ``order`` blends with the shown one at the config's fusion weight."""

    order: list[int]
    from_llm: int = 0
    llm_order: list[int] | None = None
    reasons: dict[int, str] = field(default_factory=dict)  # position -> the model's words
    logprobs: list[float] | None = None  # label scoring: each candidate's label log-probability
    repairs: list[Repair] = field(default_factory=list)
    fallback: bool = False  # True: the shown order, the LLM gave nothing usable
    fallback_reason: str = ""
    note: str = ""  # why the LLM was not asked at all
    finish_reason: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    history_used: int = 0
    history_cut: int = 0
    raw_output: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def llm_asked(self) -> bool:
        """False where the LLM was never asked (a shortlist of at most one item, the shortlist's order
        alone, an answer past a service's deadline): no reason of its was written, nor failed."""
        return self.finish_reason != NOT_CALLED
