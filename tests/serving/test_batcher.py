"""The batcher's logic with a scripted batch function (no model): what is gathered together, what is
dropped before it costs anything, and that one failure stays with its own requests."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from zsrec.serving.batcher import Batcher, Dropped, QueueFullError
from zsrec.serving.config import ServeConfig
from zsrec.errors import OptionError
from zsrec.serving.metrics import ServiceMetrics


def _metrics() -> ServiceMetrics:
    return ServiceMetrics(queue_depth=lambda: 0, model_ready=lambda: 1)


def test_concurrent_requests_share_a_batch_and_keys_do_not_mix():
    calls: list[tuple[str, list[int]]] = []
    release = threading.Event()

    def run(key, payloads):
        if not release.is_set():  # the first call holds the worker while the others queue up
            release.wait(5)
        calls.append((key, list(payloads)))
        return [p * 10 for p in payloads]

    async def main():
        b = Batcher(run, max_batch=8, window=0.0, max_queue=100, metrics=_metrics())
        await b.start()
        far = time.monotonic() + 30
        first = b.submit("a", 0, far)
        await asyncio.sleep(0.05)  # the first batch (alone) is now running
        tickets = [b.submit("a" if i % 2 else "b", i, far) for i in range(1, 11)]
        assert b.depth == 11
        release.set()
        results = await asyncio.gather(first.future, *(t.future for t in tickets))
        await b.stop()
        return results, b

    results, b = asyncio.run(main())
    assert results == [i * 10 for i in range(11)]
    assert calls[0] == ("a", [0])
    # the ten queued requests: at most 8 per gathering, each backend call holds one key only
    assert all(len(p) <= 8 and len({x % 2 for x in p}) == 1 for _, p in calls[1:])
    assert sorted(x for _, p in calls[1:] for x in p) == list(range(1, 11))
    assert len(calls) <= 5  # batched, not one call each
    assert b.metrics.batch_size.count() == len(calls)


def test_queue_full_is_refused_and_gone_or_late_requests_are_dropped_unranked():
    ranked: list[int] = []
    hold = threading.Event()

    def run(key, payloads):
        hold.wait(5)
        ranked.extend(payloads)
        return list(payloads)

    async def main():
        metrics = _metrics()
        b = Batcher(run, max_batch=4, window=0.0, max_queue=3, metrics=metrics)
        await b.start()
        far = time.monotonic() + 30
        busy = b.submit("k", 0, far)
        await asyncio.sleep(0.05)  # running; the queue is empty again

        async def gone() -> bool:
            return True

        left = b.submit("k", 1, far, gone=gone)
        late = b.submit("k", 2, time.monotonic() + 0.01)
        kept = b.submit("k", 3, far)
        with pytest.raises(QueueFullError):
            b.submit("k", 4, far)
        await asyncio.sleep(0.05)
        hold.set()
        assert await busy.future == 0 and await kept.future == 3
        for ticket, why in ((left, "disconnected"), (late, "deadline")):
            with pytest.raises(Dropped) as dropped:
                await ticket.future
            assert dropped.value.why == why
        await b.stop()
        return metrics

    metrics = asyncio.run(main())
    assert ranked == [0, 3]
    assert metrics.abandoned.value("disconnected") == 1 and metrics.abandoned.value("deadline") == 1


def test_a_failing_batch_fails_only_its_own_requests():
    def run(key, payloads):
        if key == "bad":
            raise RuntimeError("backend exploded")
        return [f"ok {p}" for p in payloads]

    async def main():
        b = Batcher(run, max_batch=4, window=0.01, max_queue=10)
        await b.start()
        far = time.monotonic() + 30
        bad, good = b.submit("bad", 1, far), b.submit("good", 2, far)
        with pytest.raises(RuntimeError, match="exploded"):
            await bad.future
        assert await good.future == "ok 2"
        after = b.submit("good", 3, far)  # the loop survived
        assert await after.future == "ok 3"
        await b.stop()

    asyncio.run(main())


def test_metrics_render_prometheus_text():
    m = _metrics()
    m.requests.inc("/v1/recommend", "200")
    m.latency.observe(0.2, "/v1/recommend")
    m.latency.observe(3.0, "/v1/recommend")
    m.batch_size.observe(5)
    text = m.render()
    assert '# TYPE zsrec_request_seconds histogram' in text
    assert 'zsrec_request_seconds_bucket{route="/v1/recommend",le="0.25"} 1' in text
    assert 'zsrec_request_seconds_bucket{route="/v1/recommend",le="+Inf"} 2' in text
    assert 'zsrec_request_seconds_count{route="/v1/recommend"} 2' in text
    assert 'zsrec_batch_size_bucket{le="4"} 0' in text and 'zsrec_batch_size_bucket{le="8"} 1' in text
    assert 'zsrec_requests_total{route="/v1/recommend",code="200"} 1' in text
    assert "zsrec_rejected_total 0" in text and "zsrec_queue_depth 0" in text


def test_serve_config_refuses_nonsense():
    for bad in ({"max_batch": 0}, {"max_queue": 0}, {"deadline": 0}, {"batch_window": -1}, {"api_key": "  "}):
        with pytest.raises(OptionError):
            ServeConfig(**bad)


def test_stop_gives_up_after_its_drain_time_and_drops_what_waits():
    stuck = threading.Event()

    def run(key, payloads):
        stuck.wait(10)  # a batch that outlives the drain
        return list(payloads)

    async def main():
        b = Batcher(run, max_batch=1, window=0.0, max_queue=5)
        await b.start()
        far = time.monotonic() + 30
        running = b.submit("k", 0, far)
        await asyncio.sleep(0.05)
        waiting = b.submit("k", 1, far)
        t0 = time.monotonic()
        finished = await b.stop(timeout=0.2)
        return finished, time.monotonic() - t0, running, waiting

    finished, took, running, waiting = asyncio.run(main())
    stuck.set()
    assert finished is False and took < 2
    assert isinstance(waiting.future.exception(), Dropped) and waiting.future.exception().why == "shutdown"


def test_a_batch_is_no_larger_than_can_finish_before_its_deadlines():
    """Batches that cost 0.1 s per request: with 0.45 s left, four fit and eight do not; the rest wait
    for the next batch instead of overrunning everyone's deadline."""
    sizes: list[int] = []

    def run(key, payloads):
        sizes.append(len(payloads))
        time.sleep(0.1 * len(payloads))
        return list(payloads)

    async def main():
        b = Batcher(run, max_batch=16, window=0.0, max_queue=50)
        await b.start()
        assert b.estimate(4) is None
        await b.submit("k", -1, time.monotonic() + 30).future  # one batch of one to learn from
        assert abs(b.estimate(4) - 0.4) < 0.1
        hold = b.submit("k", -2, time.monotonic() + 30)  # keeps the worker busy while the eight queue
        await asyncio.sleep(0.02)
        tickets = [b.submit("k", i, time.monotonic() + 0.1 + 0.45) for i in range(8)]
        await hold.future
        done = await asyncio.gather(*(t.future for t in tickets), return_exceptions=True)
        await b.stop()
        return done

    done = asyncio.run(main())
    assert sizes[:2] == [1, 1]
    assert max(sizes[2:]) <= 4 and sum(sizes[2:]) <= 8
    ranked = [d for d in done if not isinstance(d, BaseException)]
    assert len(ranked) >= 4  # the first batch fits; later ones as their deadlines allow



def test_one_slow_batch_does_not_refuse_every_later_request():
    """The cost estimate comes from batches that ran. One batch slower than the deadline (a busy
    machine, a cold first call) made every later request look hopeless, so each was dropped unranked
    and nothing ran to correct the estimate: the service answered in shortlist order for good. Right
    after a batch the hopeless are still dropped (under load, fresh requests are coming); once the
    model has been idle longer than a batch is said to take, the one with the most time left is
    ranked anyway, and the estimate comes down."""
    def run(key, payloads):
        if payloads[0] == "slow":
            time.sleep(1.0)
        return list(payloads)

    async def main():
        b = Batcher(run, max_batch=1, window=0.0, max_queue=50)
        await b.start()
        slow = b.submit("k", "slow", time.monotonic() + 30)
        await asyncio.sleep(0.05)  # the slow batch runs; two wait, each with less time than it took
        waiting = [b.submit("k", name, time.monotonic() + left) for name, left in (("a", 1.2), ("b", 1.5))]
        assert await slow.future == "slow" and b.estimate(1) > 0.9
        outcomes = await asyncio.gather(*(t.future for t in waiting), return_exceptions=True)
        await asyncio.sleep(1.5)  # idle for longer than the estimate (about 1 s), with room for a slow CI
        probe = await b.submit("k", "probe", time.monotonic() + 0.6).future  # hopeless by the estimate
        after = await b.submit("k", "after", time.monotonic() + 0.8).future  # the estimate came down
        await b.stop()
        return outcomes, probe, after

    outcomes, probe, after = asyncio.run(main())
    assert [getattr(o, "why", o) for o in outcomes] == ["deadline", "deadline"]
    assert (probe, after) == ("probe", "after")


def test_each_variant_is_judged_by_its_own_batches():
    """Generating with reasons takes many times longer than scoring with reasons from the data: a slow
    batch of one variant (key) says nothing about how long another's takes."""
    def run(key, payloads):
        time.sleep(1.0 if key == "generate" else 0.01)
        return list(payloads)

    async def main():
        b = Batcher(run, max_batch=4, window=0.0, max_queue=50)
        await b.start()
        await b.submit("generate", "g", time.monotonic() + 30).future
        quick = await b.submit("score", "s", time.monotonic() + 0.5).future
        estimates = b.estimate(1, "generate"), b.estimate(1, "score"), b.estimate(1)
        await b.stop()
        return quick, estimates

    quick, (generate, score, pooled) = asyncio.run(main())
    assert quick == "s" and generate > 0.9 and score < 0.2 and score < pooled < generate
