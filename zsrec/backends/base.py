"""The small contract every LLM backend meets: count tokens, and generate for a batch of prompts.

Prompts are user messages; each backend applies its model's chat template, so one prompt template
serves every model. Batches are the unit because every fast backend (padded transformers batches,
vLLM's scheduler, concurrent server requests) wants many prompts at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..errors import ZsrecError


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


def ranking_regex(n_candidates: int, k: int, reason_chars: int = 160) -> str:
    """A regular expression for ``k`` answer lines ``[i] free text``, with ``i`` one of the candidate
    ids: handed to a server's guided decoding, the answer always names real candidates (the reasons
    stay free text). Repeats are not excluded; the parser drops them."""
    ids = "|".join(str(i) for i in range(n_candidates, 0, -1))  # longest first: "12" before "1"
    k = max(1, min(k, n_candidates))
    return rf"(\[({ids})\][^\n\[\]]{{0,{reason_chars}}}\n){{{k}}}"


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


@runtime_checkable
class LLMBackend(Protocol):
    name: str
    model_name: str
    context_length: int

    def count_tokens(self, prompt: str) -> int:
        """Tokens the prompt takes once wrapped in the chat template."""
        ...

    def generate(self, prompts: Sequence[str], config: GenerationConfig) -> list[Generation]:
        """One generation per prompt, in order. Backends that can constrain the answer also take
        ``regexes=`` (one per prompt, see ``ranking_regex``) and set ``supports_regex = True``;
        backends that can score take ``score(prompts, options, prefix)`` (log-prob mode)."""
        ...
