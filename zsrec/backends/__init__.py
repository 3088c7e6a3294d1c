"""Backends by name, loaded lazily so that importing zsrec never imports torch or vLLM.

Third-party backends register under the ``zsrec.backends`` entry-point group (``name = module:Class``);
the class is called with ``model=`` and the backend's own keyword options.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from ..errors import ZsrecError
from .base import Generation, GenerationConfig, LLMBackend

BUILTIN: dict[str, str] = {
    "transformers": "zsrec.backends.transformers_backend:TransformersBackend",
    "openai": "zsrec.backends.openai_backend:OpenAIBackend",
    "vllm": "zsrec.backends.vllm_backend:VLLMBackend",
}


def available_backends() -> list[str]:
    names = set(BUILTIN)
    names.update(ep.name for ep in entry_points(group="zsrec.backends"))
    return sorted(names)


def load_backend(name: str, model: str | None = None, **options: Any) -> LLMBackend:
    target = BUILTIN.get(name)
    if target is None:
        eps = [ep for ep in entry_points(group="zsrec.backends") if ep.name == name]
        if not eps:
            raise ZsrecError(f"unknown backend {name!r}; available: {', '.join(available_backends())}")
        cls = eps[0].load()
    else:
        module, _, attr = target.partition(":")
        cls = getattr(importlib.import_module(module), attr)
    return cls(model=model, **options)


__all__ = ["Generation", "GenerationConfig", "LLMBackend", "available_backends", "load_backend"]
