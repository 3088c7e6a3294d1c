"""The small contract every LLM backend meets: count tokens, generate for a batch of prompts, and
declare which optional abilities (constrained decoding, label scoring) it has.

Prompts are user messages; each backend applies its model's chat template, so one prompt template
serves every model. Batches are the unit because every fast backend (padded transformers batches,
vLLM's scheduler, concurrent server requests) wants many prompts at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol, runtime_checkable

from ..errors import OptionError, ZsrecError


@dataclass(frozen=True)
class GenerationConfig:
    max_new_tokens: int = 320
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int = 0
    timeout: float | None = None  # seconds per batch; the backend stops generating after it

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1")
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0")


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" | "length" | "timeout" | "error"
    error: str = ""  # why this one prompt failed, where a backend reports failures per prompt


@dataclass(frozen=True)
class AnswerFormat:
    """The shape a ranking answer must take: ``k`` lines ``[i] free text``, ``i`` one of the candidate
    numbers. A backend that can constrain decoding turns it into its engine's own form (a regex for
    vLLM, a grammar for llama.cpp's server), so the answer always names real candidates; the reasons
    stay free text. Repeats are not excluded; the parser drops them."""

    n_candidates: int
    k: int
    reason_chars: int = 160

    def _ids(self) -> list[str]:
        return [str(i) for i in range(self.n_candidates, 0, -1)]  # longest first: "12" before "1"

    @property
    def lines(self) -> int:
        return max(1, min(self.k, self.n_candidates))

    def regex(self) -> str:
        return rf"(\[({'|'.join(self._ids())})\][^\n\[\]]{{0,{self.reason_chars}}}\n){{{self.lines}}}"

    def grammar(self) -> str:
        """The same format as a GBNF grammar (llama.cpp)."""
        ids = " | ".join(f'"{i}"' for i in self._ids())
        return (f"root ::= line{{{self.lines}}}\n"
                f'line ::= "[" id "]" [^\\n\\[\\]]{{0,{self.reason_chars}}} "\\n"\n'
                f"id ::= {ids}\n")


def option_token_ids(tokenizer, options: Sequence[str], prefix: str) -> list[int]:
    """The one token each option starts with right after ``prefix``; options must differ in it."""
    base = tokenizer.encode(prefix, add_special_tokens=False)
    ids = []
    for opt in options:
        full = tokenizer.encode(prefix + opt, add_special_tokens=False)
        if full[: len(base)] != base or len(full) <= len(base):
            raise ZsrecError(f"the tokenizer merges {prefix!r} with {opt!r}; log-prob scoring cannot read it")
        ids.append(full[len(base)])
    if len(set(ids)) != len(ids):
        raise ZsrecError("candidate labels share their first token; log-prob scoring cannot tell them apart")
    return ids


class Ability(str, Enum):
    """What a backend can do beyond plain generation; each backend declares its own in ``abilities``,
    and the ranker checks them where they are used."""

    CONSTRAINED_DECODING = "constrained decoding"  # generate(..., formats=) obeys an AnswerFormat
    LABEL_SCORING = "label scoring"  # score(): the log-probability of each option label


class MissingAbilityError(OptionError):
    """A ranking asked for something its backend cannot do (``--guided`` on a backend without
    constrained decoding, ``--mode score`` on one that cannot score labels)."""


@runtime_checkable
class LLMBackend(Protocol):
    """The contract every backend meets. ``abilities`` declares the optional parts: ``formats``
    is honoured only with ``CONSTRAINED_DECODING``, ``score`` works only with ``LABEL_SCORING``."""

    name: str
    model_name: str
    context_length: int
    abilities: frozenset[Ability]

    def count_tokens(self, prompt: str) -> int:
        """Tokens the prompt takes once wrapped in the chat template."""
        ...

    def generate(self, prompts: Sequence[str], config: GenerationConfig,
                 formats: Sequence[AnswerFormat] | None = None) -> list[Generation]:
        """One generation per prompt, in order; ``formats`` (one per prompt) constrain the answers."""
        ...

    def score(self, prompts: Sequence[str], options: Sequence[str], prefix: str = "[") -> list[list[float]]:
        """For each prompt, the log-probability of each option as the answer's first token after
        ``prefix`` (-inf where the backend cannot tell)."""
        ...


class Backend:
    """A base for backends (plugins included): no optional abilities until a subclass declares
    them, and a ``score`` that says so."""

    name: str = "backend"
    model_name: str = ""
    context_length: int = 4096
    abilities: frozenset[Ability] = frozenset()

    @classmethod
    def check_model(cls, model: str | None, **options: Any) -> None:
        """Raise what loading would raise about ``model`` and ``options`` themselves, where that is
        known without a load (a model path that is not there, a missing extra): so that a run that
        will need the model fails at once, rather than after reading its data. Nothing by default."""

    def score(self, prompts: Sequence[str], options: Sequence[str], prefix: str = "[") -> list[list[float]]:
        raise MissingAbilityError(missing_ability_message(self, Ability.LABEL_SCORING))


def missing_ability_message(backend: object, ability: Ability) -> str:
    name = getattr(backend, "name", type(backend).__name__)
    hint = {Ability.LABEL_SCORING: "use --mode generate",
            Ability.CONSTRAINED_DECODING: "leave out --guided"}[ability]
    return f"backend {name!r} cannot do {ability.value}; {hint}"


def require(backend: LLMBackend, ability: Ability) -> None:
    """Raise a clear error when ``backend`` lacks ``ability``."""
    if ability not in backend.abilities:
        raise MissingAbilityError(missing_ability_message(backend, ability))
