"""The small contract every LLM backend meets: count tokens, and generate for a batch of prompts.

Prompts are user messages; each backend applies its model's chat template, so one prompt template
serves every model. Batches are the unit because every fast backend (padded transformers batches,
vLLM's scheduler, concurrent server requests) wants many prompts at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


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


@runtime_checkable
class LLMBackend(Protocol):
    name: str
    model_name: str
    context_length: int

    def count_tokens(self, prompt: str) -> int:
        """Tokens the prompt takes once wrapped in the chat template."""
        ...

    def generate(self, prompts: Sequence[str], config: GenerationConfig) -> list[Generation]:
        """One generation per prompt, in order."""
        ...
