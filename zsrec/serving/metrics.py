"""Prometheus counters, gauges and histograms in the text exposition format, without a client library:
the service needs a handful of series and one renderer."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Sequence

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _Metric:
    kind = ""

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()):
        self.name, self.help, self.label_names = name, help, tuple(labels)
        self._lock = threading.Lock()

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()):
        super().__init__(name, help, labels)
        self._values: dict[tuple[str, ...], float] = {}

    def inc(self, *labels: str, by: float = 1.0) -> None:
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + by

    def value(self, *labels: str) -> float:
        return self._values.get(labels, 0.0)

    def render(self) -> list[str]:
        lines = self.header()
        values = dict(self._values) or ({(): 0.0} if not self.label_names else {})
        lines += [f"{self.name}{_labels(self.label_names, k)} {v:g}" for k, v in sorted(values.items())]
        return lines


class Gauge(_Metric):
    """Read when scraped (a queue's depth, say), so it is never stale."""

    kind = "gauge"

    def __init__(self, name: str, help: str, read: Callable[[], float]):
        super().__init__(name, help)
        self._read = read

    def render(self) -> list[str]:
        return self.header() + [f"{self.name} {self._read():g}"]


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name: str, help: str, buckets: Sequence[float], labels: Sequence[str] = ()):
        super().__init__(name, help, labels)
        self.buckets = tuple(sorted(buckets))
        self._series: dict[tuple[str, ...], list[float]] = {}  # per-bucket counts, then +Inf, count, sum

    def observe(self, value: float, *labels: str) -> None:
        with self._lock:
            series = self._series.setdefault(labels, [0.0] * (len(self.buckets) + 3))
            series[bisect.bisect_left(self.buckets, value)] += 1
            series[-2] += 1
            series[-1] += value

    def count(self, *labels: str) -> int:
        return int(self._series.get(labels, [0.0, 0.0])[-2])

    def render(self) -> list[str]:
        lines = self.header()
        for key, series in sorted(self._series.items()):
            cumulative = 0.0
            for bound, n in zip([*self.buckets, float("inf")], series, strict=False):
                cumulative += n
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                labels = _labels(self.label_names, key, 'le="' + le + '"')
                lines.append(f"{self.name}_bucket{labels} {cumulative:g}")
            lines.append(f"{self.name}_count{_labels(self.label_names, key)} {series[-2]:g}")
            lines.append(f"{self.name}_sum{_labels(self.label_names, key)} {series[-1]:g}")
        return lines


class ServiceMetrics:
    """Every series the service exports."""

    def __init__(self, queue_depth: Callable[[], float], model_ready: Callable[[], float],
                 items_hidden: Callable[[], float] = lambda: 0.0):
        self.requests = Counter("zsrec_requests_total", "HTTP requests answered, by route and status code.",
                                ("route", "code"))
        self.latency = Histogram("zsrec_request_seconds", "Seconds from request to answer, by route.",
                                 LATENCY_BUCKETS, ("route",))
        self.batch_size = Histogram("zsrec_batch_size", "Requests ranked together in one backend call.",
                                    BATCH_BUCKETS)
        self.fallbacks = Counter("zsrec_fallbacks_total",
                                 "Rankings answered in the shortlist's order, by why (deadline, llm, shutdown).", ("why",))
        self.rejected = Counter("zsrec_rejected_total", "Requests refused because the queue was full.")
        self.abandoned = Counter("zsrec_abandoned_total",
                                 "Queued requests dropped before ranking: client gone or deadline passed.", ("why",))
        self.interactions = Counter("zsrec_interactions_added_total", "New picks counted in at POST /v1/interactions.")
        self.items = Counter("zsrec_items_added_total", "New items put in the catalog at POST /v1/items.")
        self._all: list = [self.requests, self.latency, self.batch_size, self.fallbacks, self.rejected, self.abandoned,
                           self.interactions, self.items,
                           Gauge("zsrec_queue_depth", "Requests waiting for or in a backend batch.", queue_depth),
                           Gauge("zsrec_model_ready", "1 once the service is ready, as /readyz: the model loaded, "
                                 "or none needed by the service's own settings.", model_ready),
                           Gauge("zsrec_items_hidden", "Items hidden from recommendations (POST /v1/items/hide).",
                                 items_hidden)]

    def render(self) -> str:
        return "\n".join(line for metric in self._all for line in metric.render()) + "\n"
