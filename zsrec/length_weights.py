"""Shortlist weights for short histories: what the shortlist trusts depends on how much a user has shown.

With one pick, its words say little about taste and "what people who picked it picked most" is the
best guess; with several picks that agree, text and cosine co-occurrence (which discounts the items
everyone picks) pay off. A ``LengthWeights`` entry replaces the shortlist's weights, and optionally the
co-occurrence normalisation, for histories of at most ``up_to`` items; longer histories than every
entry use the shortlist's own. Entries are chosen per length on validation users
(``zsrec.evaluation.tuning``), like the weights themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .errors import OptionError


def check_weights(bm25: float, popularity: float, cooccurrence: float) -> None:
    """The one rule for a shortlist weighting, wherever one is given: no negative weight, and text or
    popularity present (co-occurrence alone leaves items nobody co-picked unordered)."""
    given = f"BM25 {bm25:g}, popularity {popularity:g}, co-occurrence {cooccurrence:g}"
    if min(bm25, popularity, cooccurrence) < 0:
        raise OptionError(f"weights must be non-negative (got {given})")
    if bm25 + popularity == 0:
        raise OptionError(f"BM25 and popularity weights are both 0 (got {given}): the items nobody co-picked "
                          "would have no order; for a shortlist led by co-occurrence, give popularity a small "
                          "weight such as 0.01")


@dataclass(frozen=True)
class LengthWeights:
    up_to: int  # histories of at most this many items (and more than the previous entry's)
    bm25_weight: float
    popularity_weight: float
    cooccurrence_weight: float
    # c_ij / (n_i^(1-b) n_j^b) for co-picked items (0: leans to what most co-pickers chose; 0.5: cosine);
    # None: the co-occurrence index's own normalisation.
    damping: float | None = None
    # Co-occurrence counted from each user's first this many picks (a second index, for these
    # histories only: new users pick like others did when new); None: the shortlist's own index.
    first_picks: int | None = None

    def __post_init__(self) -> None:
        if self.up_to < 1:
            raise OptionError("a history length in the shortlist's weights by length must be at least 1")
        check_weights(self.bm25_weight, self.popularity_weight, self.cooccurrence_weight)
        if self.damping is not None and not 0 <= self.damping <= 1:
            raise OptionError("a co-occurrence damping must lie in [0, 1]")
        if self.first_picks is not None and self.first_picks < 2:
            raise OptionError("co-occurrence from users' first picks needs at least 2 of them")

    def text(self) -> str:
        damping = "" if self.damping is None else f"@{self.damping:g}"
        first = "" if self.first_picks is None else f"+first{self.first_picks}"
        return (f"{self.up_to}:{self.bm25_weight:g}/{self.popularity_weight:g}/{self.cooccurrence_weight:g}"
                f"{damping}{first}")


def parse_by_length(entries: str | Iterable) -> tuple[LengthWeights, ...]:
    """Checked entries, shortest first, from ``LengthWeights``, (up_to, bm25, pop, co[, damping[,
    first_picks]]) tuples, dicts, or text such as "1:0/0.3/0.7@0.2+first15,3:0.1/0.2/0.7" (empty or
    "none": no entries)."""
    if isinstance(entries, str):
        entries = [] if entries.strip().lower() in ("", "none", "off") else [
            _parse_one(part.strip()) for part in entries.split(",")]
    out = []
    for e in entries:
        if isinstance(e, LengthWeights):
            out.append(e)
        elif isinstance(e, dict):
            out.append(LengthWeights(**e))
        else:
            out.append(LengthWeights(*e))
    out.sort(key=lambda e: e.up_to)
    if len({e.up_to for e in out}) != len(out):
        raise OptionError("the shortlist's weights by length need distinct history lengths")
    return tuple(out)


def _parse_one(part: str) -> LengthWeights:
    try:
        up_to, rest = part.split(":")
        rest, plus, first = rest.partition("+first")
        weights, _, damping = rest.partition("@")
        bm25, pop, co = (float(x) for x in weights.split("/"))
        n, b = int(up_to), float(damping) if damping else None
        k = int(first) if plus else None
    except ValueError:
        raise OptionError(f"weights by length look like '1:0/0.3/0.7@0.2+first15' (up to 1 item: BM25 0, popularity "
                          f"0.3, co-occurrence 0.7, damping 0.2, co-occurrence from users' first 15 picks; '@...' and "
                          f"'+first...' optional), got {part!r}") from None
    return LengthWeights(n, bm25, pop, co, b, k)


def by_length_text(entries: Iterable[LengthWeights]) -> str:
    return ",".join(e.text() for e in entries) or "none"
