"""Generation for a batch of prompts where one bad prompt must not sink the others."""

from __future__ import annotations

from collections.abc import Sequence

from ..backends.base import AnswerFormat, Generation, GenerationConfig, LLMBackend
from ..errors import ZsrecError
from .backend_handle import describe


def generate_each(backend: LLMBackend, prompts: Sequence[str], config: GenerationConfig,
                  formats: Sequence[AnswerFormat] | None = None) -> list[tuple[Generation | None, str]]:
    """A generation or an error per prompt. A batch that raises is retried one prompt at a time, so
    one bad prompt (or a batch too big for memory) does not sink the others; a timeout is not
    retried, since it would only spend the time again."""
    try:
        if formats is not None:
            gens = list(backend.generate(prompts, config, formats=formats))
        else:
            gens = list(backend.generate(prompts, config))
        if len(gens) != len(prompts):
            raise RuntimeError(f"backend returned {len(gens)} outputs for {len(prompts)} prompts")
    except ZsrecError:
        raise
    except Exception as e:  # noqa: BLE001 (any model failure becomes a flagged fallback)
        if len(prompts) > 1 and not isinstance(e, TimeoutError):
            return [out for i, p in enumerate(prompts)
                    for out in generate_each(backend, [p], config, None if formats is None else [formats[i]])]
        return [(None, f"LLM call failed: {describe(e)}")] * len(prompts)
    return [(g, f"LLM call failed: {g.error}" if g.error else "") for g in gens]
