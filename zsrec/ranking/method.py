"""The interface every ranking method meets, and what each one works on.

A method gets jobs whose prompts are already rendered for it and a loaded backend, and returns one
parsed order per job. It never sees catalog rows or result objects: those are the core's and the
adapters' business, so a new method (pairwise, setwise, a reranker model) is one class here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from ..backends.base import Ability, Generation, GenerationConfig, LLMBackend
from ..data import Item
from ..parsing import ParsedRanking
from ..prompts import Prompt, PromptTemplate


@dataclass
class Job:
    history: list[Item]  # the whole history given, oldest first (the prompt may hold only the latest)
    candidates: list[Item]  # in shown order
    prompt: Prompt
    evidence: Sequence[str] | None = None  # one line of facts per candidate, for prompts that show them
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class MethodOutput:
    parsed: ParsedRanking
    generation: Generation | None = None  # the text the order (or its reasons) came from
    error: str = ""  # why the model's answer could not be used, "" otherwise
    logprobs: list[float] | None = None


@dataclass(frozen=True)
class MethodContext:
    template: PromptTemplate
    generation: GenerationConfig
    item_noun: str
    explain: bool  # ask the model for reasons
    guided: bool  # constrain the answer's format


class RankingMethod(Protocol):
    prompt_mode: ClassVar[str]  # the template mode its prompts are rendered in
    needs: ClassVar[frozenset[Ability]]  # what the backend must be able to do
    writes_reasons: ClassVar[bool]  # its answer holds reasons; if not, the core asks for them after

    def rank(self, backend: LLMBackend, jobs: Sequence[Job], k: int, context: MethodContext) -> list[MethodOutput]:
        ...
