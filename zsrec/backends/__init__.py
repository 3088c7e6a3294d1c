"""Backends by name, loaded lazily so that importing zsrec never imports torch or vLLM.

A backend is named by a ``BackendSpec`` (name, model, options) from the CLI or Python down to the model,
so every result can say which backend and model were asked for, even when the model never came up.
Third-party backends register under the ``zsrec.backends`` entry-point group (``name = module:Class``)
or with ``register_backend``; the class is called with ``model=`` and its own keyword options, and
its constructor's keyword parameters are the options it declares.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from ..errors import OptionError, ZsrecError
from .base import (Ability, AnswerFormat, Backend, Generation, GenerationConfig, LLMBackend, MissingAbilityError,
                   require)

BUILTIN: dict[str, str | type] = {
    "transformers": "zsrec.backends.transformers_backend:TransformersBackend",
    "openai": "zsrec.backends.openai_backend:OpenAIBackend",
    "vllm": "zsrec.backends.vllm_backend:VLLMBackend",
}
DEFAULT_MODEL_LABEL = "smollm2-135m"


def register_backend(name: str, cls: type) -> None:
    """Make ``cls`` available as backend ``name`` in this process (tests, notebooks, applications)."""
    BUILTIN[name] = cls


def available_backends() -> list[str]:
    names = set(BUILTIN)
    names.update(ep.name for ep in entry_points(group="zsrec.backends"))
    return sorted(names)


def backend_class(name: str) -> type:
    target = BUILTIN.get(name)
    if target is None:
        eps = [ep for ep in entry_points(group="zsrec.backends") if ep.name == name]
        if not eps:
            raise OptionError(f"unknown backend {name!r}; available: {', '.join(available_backends())}")
        return eps[0].load()
    if isinstance(target, type):
        return target
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def declared_options(cls: type) -> dict[str, inspect.Parameter]:
    """A backend's options: the keyword parameters of its constructor, less ``model``."""
    params = inspect.signature(cls).parameters
    return {n: p for n, p in params.items()
            if n != "model" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


@dataclass(frozen=True)
class BackendSpec:
    """Which backend, which model, with which options: everything needed to load it, and what results
    report when it could not be loaded."""

    name: str = "transformers"
    model: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", dict(self.options))

    @property
    def model_label(self) -> str:
        return self.model or DEFAULT_MODEL_LABEL

    @property
    def backend_class(self) -> type:
        return backend_class(self.name)

    @property
    def abilities(self) -> frozenset[Ability]:
        """What the backend declares it can do, known before any model is loaded."""
        return frozenset(getattr(self.backend_class, "abilities", frozenset()))

    def check(self) -> None:
        """Unknown backend or an option it does not declare: a clear error, before any load."""
        declared = declared_options(self.backend_class)
        takes_any = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(self.backend_class).parameters.values())
        unknown = [k for k in self.options if k not in declared]
        if unknown and not takes_any:
            raise OptionError(f"backend {self.name!r} has no option {', '.join(map(repr, unknown))}; "
                              f"its options: {', '.join(declared) or 'none'}")

    def check_model(self) -> None:
        """What the backend can tell of its model and options without loading it (its
        ``check_model``: a model path that is not there, say), for a run that will need the model to
        fail before it reads its data. A run that needs none does not ask: a shortlist of one, or no
        share for the LLM and no reasons from it, runs with any ``--model``."""
        self.check()
        check = getattr(self.backend_class, "check_model", None)
        if check is not None:
            check(self.model, **self.options)

    def with_options(self, **options: Any) -> BackendSpec:
        """These options added where the backend declares them (shared CLI flags such as ``batch_size``
        mean something to some backends only)."""
        declared = declared_options(self.backend_class)
        return BackendSpec(self.name, self.model, {**self.options,
                                                   **{k: v for k, v in options.items() if k in declared}})

    def load(self) -> LLMBackend:
        self.check()
        backend = self.backend_class(model=self.model, **self.options)
        missing = [m for m in ("name", "model_name", "context_length", "abilities", "count_tokens", "generate")
                   if not hasattr(backend, m)]
        if missing:
            raise ZsrecError(f"backend {self.name!r} does not meet the LLMBackend protocol: it lacks "
                             f"{', '.join(missing)} (subclass zsrec.backends.Backend for the defaults)")
        return backend


def load_backend(name: str, model: str | None = None, **options: Any) -> LLMBackend:
    return BackendSpec(name, model, options).load()


__all__ = ["Ability", "AnswerFormat", "Backend", "BackendSpec", "Generation", "GenerationConfig", "LLMBackend",
           "MissingAbilityError", "available_backends", "backend_class", "declared_options", "load_backend",
           "register_backend", "require"]
