"""The service's limits and batching, one place, checked once."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import OptionError


@dataclass(frozen=True)
class ServeConfig:
    # Batching: a batch closes when it holds max_batch requests or batch_window seconds after its first
    # one arrived; max_batch 1 turns batching off (one request per backend call).
    max_batch: int = 16
    batch_window: float = 0.01
    # Requests waiting for a batch; one more is refused with 503 and Retry-After, so memory stays bounded.
    max_queue: int = 256
    # Seconds a request may wait for the LLM; past it the answer is the shortlist's order, flagged.
    deadline: float = 30.0
    max_body_bytes: int = 64 * 1024
    max_history: int = 50
    api_key: str | None = None  # None: no key asked
    retry_after: int = 1  # seconds a refused client is told to wait
    # On SIGTERM: seconds in-flight requests may take to finish, then what is still queued is ranked
    # for at most as long again.
    drain_seconds: float = 60.0
    # POST /v1/interactions counts new picks in; off: it answers 403 (a replica that must not drift
    # from the others, a demo open to anyone).
    accept_interactions: bool = True

    def __post_init__(self) -> None:
        for name in ("max_batch", "max_queue", "max_body_bytes", "max_history", "retry_after"):
            if getattr(self, name) < 1:
                raise OptionError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.batch_window < 0:
            raise OptionError(f"the batch window cannot be negative, got {self.batch_window}")
        if self.drain_seconds < 0:
            raise OptionError(f"the drain time cannot be negative, got {self.drain_seconds}")
        if self.deadline <= 0:
            raise OptionError(f"the deadline must be positive, got {self.deadline}")
        if self.api_key is not None and not self.api_key.strip():
            raise OptionError("an empty API key would let anyone in; leave the key out instead")
