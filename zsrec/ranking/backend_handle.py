"""One backend for many rankings: loaded on first use, its failure to load remembered, its identity
known before (and without) a load."""

from __future__ import annotations

import time

from ..backends import BackendSpec
from ..backends.base import Ability, LLMBackend
from ..errors import ModelUnavailableError, ZsrecError


class BackendHandle:
    def __init__(self, source: BackendSpec | LLMBackend):
        self.spec = source if isinstance(source, BackendSpec) else None
        self._backend: LLMBackend | None = None if isinstance(source, BackendSpec) else source
        self.load_seconds = 0.0
        self.load_error = ""  # set when the model could not be brought up; rankings then fall back

    @property
    def name(self) -> str:
        return self._backend.name if self._backend is not None else self.spec.name  # type: ignore[union-attr]

    @property
    def model(self) -> str:
        return self._backend.model_name if self._backend is not None else self.spec.model_label  # type: ignore[union-attr]

    @property
    def abilities(self) -> frozenset[Ability]:
        """The loaded backend's own declaration, or its class's before a load."""
        if self._backend is not None:
            return frozenset(self._backend.abilities)
        return self.spec.abilities  # type: ignore[union-attr]

    @property
    def loaded(self) -> LLMBackend | None:
        return self._backend

    def check_model(self) -> None:
        """What the spec's backend can tell of its model without loading it (``BackendSpec.check_model``),
        while nothing is loaded; a backend loaded, or lent loaded, was checked by its load."""
        if self._backend is None and self.spec is not None:
            self.spec.check_model()

    def get(self) -> LLMBackend:
        """The backend, loaded on first use; raises if it cannot be loaded."""
        if self._backend is None:
            assert self.spec is not None
            t0 = time.perf_counter()
            self._backend = self.spec.load()
            self.load_seconds = time.perf_counter() - t0
        return self._backend

    def try_get(self) -> LLMBackend | None:
        """The backend, or None once loading it failed for a reason that is not the user's input (out
        of memory, a crashed plugin, a server that is down): rankings go on in shown order. Input
        errors (an unknown model name or path) still raise. A failed load is not retried."""
        if self.load_error:
            return None
        try:
            return self.get()
        except ModelUnavailableError as e:
            self.load_error = f"model could not be loaded: {e}"
        except ZsrecError:
            raise
        except Exception as e:  # noqa: BLE001 (whatever a backend raises while loading)
            self.load_error = f"model could not be loaded: {describe(e)}"
        return None


def describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e).strip()[:300]}"
