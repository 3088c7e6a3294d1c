"""Gathers concurrent requests into one backend call.

The model is one: a single worker thread runs every backend call, so requests that arrive while a
batch is ranking wait in a bounded queue and go together into the next one. That is where the
service's throughput comes from: a batch of 16 prompts costs the transformers backend far less than
16 single calls. A batch is only as large as can finish before its members' deadlines (judged from
how long recent batches took), since a batch that overruns them is work nobody waits for. A request
whose client has gone, or whose deadline passed while it waited, is dropped before the batch runs,
so it costs nothing and cannot hold the others up.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .metrics import ServiceMetrics


class ModelThread(concurrent.futures.Executor):
    """One daemon thread that runs every backend call in turn. A daemon, so that a process told to
    stop is not held past its drain time by a batch nobody waits for any more."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        threading.Thread(target=self._run, name="zsrec-model", daemon=True).start()

    def submit(self, fn, /, *args, **kwargs) -> concurrent.futures.Future:  # type: ignore[override]
        if self._closed:
            raise RuntimeError("the model thread is shut down")
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._jobs.put((future, fn, args, kwargs))
        return future

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn, args, kwargs = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # noqa: BLE001 - handed to whoever awaits it
                future.set_exception(exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._closed = True
        self._jobs.put(None)


class Dropped(Exception):
    """A request the batcher will not rank: ``why`` is "deadline" (it passed, or no batch could finish
    before it), "disconnected" or "shutdown". Its handler answers in the shortlist's order."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


class QueueFullError(Exception):
    """The queue holds ``max_queue`` requests: the caller answers 503 with Retry-After."""


@dataclass
class Ticket:
    """One queued request: what to rank, how (``key``: requests with one key share a backend call),
    by when, and the future its handler awaits."""

    key: Hashable
    payload: Any
    deadline: float  # time.monotonic() past which nobody waits for this ranking
    future: asyncio.Future
    gone: Callable[[], Awaitable[bool]] | None = None  # True once the client disconnected
    queued_at: float = field(default_factory=time.monotonic)


RunBatch = Callable[[Hashable, Sequence[Any]], Sequence[Any]]


class Batcher:
    """``run_batch(key, payloads) -> results`` (one per payload, an exception object for one that
    failed) runs in the worker thread; everything else runs on the event loop."""

    def __init__(self, run_batch: RunBatch, max_batch: int, window: float, max_queue: int,
                 metrics: ServiceMetrics | None = None):
        self.run_batch = run_batch
        self.max_batch, self.window, self.max_queue = max_batch, window, max_queue
        self.metrics = metrics
        self.worker = ModelThread()
        self._queue: asyncio.Queue[Ticket] | None = None
        self._task: asyncio.Task | None = None
        self._pending: deque[Ticket] = deque()  # taken from the queue, not yet ranked
        self._costs: dict[Hashable, deque[tuple[int, float]]] = {}  # key -> (batch size, seconds), recent batches
        self._ran_at: dict[Hashable, float] = {}  # key -> when its last batch ended
        self.in_batch = 0

    @property
    def depth(self) -> int:
        """Requests waiting plus those being ranked now."""
        return (self._queue.qsize() if self._queue is not None else 0) + len(self._pending) + self.in_batch

    async def start(self) -> None:
        self._queue = asyncio.Queue()  # bounded by submit: waiting requests are here or in _pending
        self._task = asyncio.create_task(self._loop(), name="zsrec-batcher")

    async def run_in_worker(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the model's thread (a model load, say), in line with the batches."""
        return await asyncio.get_running_loop().run_in_executor(self.worker, fn)

    def submit(self, key: Hashable, payload: Any, deadline: float,
               gone: Callable[[], Awaitable[bool]] | None = None) -> Ticket:
        if self._queue is None:
            raise RuntimeError("the batcher is not started")
        ticket = Ticket(key, payload, deadline, asyncio.get_running_loop().create_future(), gone)
        if self.depth - self.in_batch >= self.max_queue:
            raise QueueFullError(f"{self.max_queue} requests are already waiting")
        self._queue.put_nowait(ticket)
        return ticket

    async def stop(self, timeout: float | None = None) -> bool:
        """Rank what is queued (for at most ``timeout`` seconds), then stop; False if time ran out
        (what was still queued is cancelled; a batch already running is left to the daemon thread)."""
        end = None if timeout is None else time.monotonic() + timeout
        while self.depth and (end is None or time.monotonic() < end):
            await asyncio.sleep(0.02)
        finished = not self.depth
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for ticket in self._pending:
            self._drop(ticket, "shutdown")
        self._pending.clear()
        while self._queue is not None and not self._queue.empty():
            self._drop(self._queue.get_nowait(), "shutdown")
        self.worker.shutdown()
        return finished

    # ------------------------------------------------------------ the loop

    def estimate(self, n: int, key: Hashable | None = None) -> float | None:
        """Seconds a batch of ``n`` requests of ``key`` should take, from the recent batches of that
        key (of any key when None): a line fitted to (size, seconds) once two sizes were seen, else
        proportional to size (the cautious guess). None before any such batch ran."""
        line = self._cost_line(key)
        return None if line is None else line[0] + line[1] * n

    def _cost_line(self, key: Hashable | None = None) -> tuple[float, float] | None:
        """(seconds per batch, seconds per request) fitted to the recent batches of ``key``: the
        variants cost very differently (scoring with reasons from the data takes a second where
        generating takes ten), so one variant's slow batches must not refuse another's requests."""
        costs = self._costs.get(key, ()) if key is not None else [c for d in self._costs.values() for c in d]
        if not costs:
            return None
        sizes = np.array([c[0] for c in costs], dtype=float)
        seconds = np.array([c[1] for c in costs], dtype=float)
        if len(set(sizes.tolist())) >= 2:
            slope, intercept = np.polyfit(sizes, seconds, 1)
            return max(float(intercept), 0.0), max(float(slope), 0.0)
        return 0.0, float(seconds.mean() / sizes.mean())

    def _take(self) -> list[Ticket]:
        """The next batch: the oldest live request and those after it with the same key, as many as
        can be ranked before the earliest of their deadlines (by ``estimate``), at most max_batch.
        The rest wait for the next batch, in order. (Taking the newest requests first under overload,
        so that batches grow, measured worse here: fewer rankings per second at 32 and 64 clients.)"""
        now = time.monotonic()
        singles: dict[Hashable, float | None] = {}

        def single(key: Hashable) -> float | None:  # one request's seconds, by its key
            if key not in singles:
                singles[key] = self.estimate(1, key)
            return singles[key]

        def hopeless(ticket: Ticket) -> bool:
            """No batch could finish before its deadline, say the recent batches of its key. Only
            while they are recent: they come from batches that ran, so after one slow batch (a busy
            machine, a cold first call) every later request would look hopeless, none would run, and
            the estimate would never come down. Once the key has not run for longer than a batch is
            said to take, its next request is ranked (at least one) and measured."""
            seconds = single(ticket.key)
            return (seconds is not None and now + seconds > ticket.deadline
                    and now - self._ran_at.get(ticket.key, now) < seconds)

        alive: deque[Ticket] = deque()
        for ticket in self._pending:
            if ticket.future.done():  # its handler answered already (deadline) or was cancelled
                self._abandon("deadline")
            elif ticket.deadline <= now or hopeless(ticket):
                self._drop(ticket, "deadline")  # past it, or no batch could finish before it
            else:
                alive.append(ticket)
        self._pending = alive
        if not alive:
            return []
        key = alive[0].key
        same = [t for t in alive if t.key == key]
        batch = self._fitting(same[: self.max_batch], now, self._cost_line(key))
        chosen = {id(t) for t in batch}
        self._pending = deque(t for t in alive if id(t) not in chosen)
        return batch

    def _fitting(self, candidates: list[Ticket], now: float, line: tuple[float, float] | None) -> list[Ticket]:
        """The longest prefix of ``candidates`` whose batch should finish before all their deadlines
        (at least one: an estimate can be wrong)."""
        n = len(candidates)
        while n > 1:
            if line is None or now + line[0] + line[1] * n <= min(t.deadline for t in candidates[:n]):
                break
            n -= 1
        return candidates[:n]

    async def _loop(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            if not self._pending:
                self._pending.append(await queue.get())
                if self.max_batch > 1 and self.window > 0 and queue.qsize() < self.max_batch - 1:
                    await asyncio.sleep(self.window)  # let a burst arrive
            while not queue.empty():
                self._pending.append(queue.get_nowait())
            await self._run(self._take())

    async def _run(self, batch: list[Ticket]) -> None:
        tickets = []
        for ticket in batch:
            if ticket.gone is not None and await ticket.gone():
                self._drop(ticket, "disconnected")
            else:
                tickets.append(ticket)
        if not tickets:
            return
        self.in_batch = len(tickets)
        if self.metrics is not None:
            self.metrics.batch_size.observe(len(tickets))
        started = time.monotonic()
        try:
            results = await self.run_in_worker(lambda: self.run_batch(tickets[0].key, [x.payload for x in tickets]))
            self._costs.setdefault(tickets[0].key, deque(maxlen=32)).append((len(tickets), time.monotonic() - started))
            self._ran_at[tickets[0].key] = time.monotonic()
        except Exception as exc:  # a bug in the batch: each of its requests gets the error, the loop goes on
            results = [exc] * len(tickets)
        finally:
            self.in_batch = 0
        for ticket, result in zip(tickets, results, strict=True):
            if ticket.future.done():  # its client left, or its deadline passed, while it ranked
                continue
            if isinstance(result, BaseException):
                ticket.future.set_exception(result)
            else:
                ticket.future.set_result(result)

    def _drop(self, ticket: Ticket, why: str) -> None:
        if not ticket.future.done():
            ticket.future.set_exception(Dropped(why))
        self._abandon(why)

    def _abandon(self, why: str) -> None:
        if self.metrics is not None:
            self.metrics.abandoned.inc(why)
