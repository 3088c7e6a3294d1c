"""Every ranking method of the evaluation behind one interface: rank these candidate lists for these
cases, best first.

Method names are parsed once, into a ``MethodSpec``. Score methods (popularity, BM25, the fused
generator score, SASRec) score every catalog item, so they also rank the full catalog. LLM methods
rank a given list through the ranking core (the same templates, parser and fallbacks users get);
``X+fusion`` combines LLM method X's stored order with the generator's by weighted reciprocal rank.
No method ever sees the target.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..errors import OptionError
from ..ranking import RankingCore, RankRequest
from .protocol import Case
from .seeding import rng_for

BASELINES = ("random", "pop", "bm25", "cooc", "generator", "sasrec", "ease", "itemknn")
LLM_KINDS = ("llm", "llm-score")
FUSION = "+fusion"


@dataclass(frozen=True)
class MethodSpec:
    """``llm:recency+fusion`` -> kind "llm", template "recency", fused with the generator."""

    name: str
    kind: str  # a baseline name, "llm" or "llm-score"
    template: str = ""
    fusion: bool = False

    @classmethod
    def parse(cls, name: str) -> MethodSpec:
        base = name[: -len(FUSION)] if name.endswith(FUSION) else name
        kind, _, template = base.partition(":")
        if base in BASELINES and not name.endswith(FUSION):
            return cls(name, base)
        if kind in LLM_KINDS:
            return cls(name, kind, template, name.endswith(FUSION))
        raise OptionError(f"unknown method {name!r}: use {', '.join(BASELINES)}, llm[:template], "
                          "llm-score[:template], and X+fusion for an LLM method X")

    @property
    def is_llm(self) -> bool:
        return self.kind in LLM_KINDS

    @property
    def full_catalog(self) -> bool:
        """Whether it can rank the whole catalog (score methods only)."""
        return not self.is_llm

    @property
    def fused_from(self) -> str:
        """The LLM method whose stored ranking a fusion method fuses."""
        return self.name[: -len(FUSION)]


def parse_methods(spec: str) -> list[str]:
    """"pop,bm25,llm,llm+fusion" -> names, checked; a fusion method brings the LLM method it fuses."""
    names = [m.strip() for m in spec.split(",") if m.strip()]
    for m in list(names):
        parsed = MethodSpec.parse(m)
        if parsed.fusion and parsed.fused_from not in names:
            names.insert(names.index(m), parsed.fused_from)
    return list(dict.fromkeys(names))


@dataclass
class Ranked:
    order: list[int]  # catalog rows, best first
    info: dict = field(default_factory=dict)  # LLM provenance: fallback, parsed, repairs, seconds


class Method(Protocol):
    name: str

    def rank(self, cases: Sequence[Case], candidates: Sequence[np.ndarray]) -> list[Ranked]:
        ...


def order_by(scores: np.ndarray, rows: np.ndarray) -> list[int]:
    """Rows by score, ties kept in the order given."""
    return [int(r) for r in rows[np.argsort(-scores[rows], kind="stable")]]


class ScoreMethod:
    def __init__(self, name: str, score_fn: Callable[[Sequence[Case]], np.ndarray]):
        self.name = name
        self.score_fn = score_fn  # cases -> (cases x catalog) scores

    def rank(self, cases: Sequence[Case], candidates: Sequence[np.ndarray]) -> list[Ranked]:
        scores = self.score_fn(cases)
        return [Ranked(order_by(s, c)) for s, c in zip(scores, candidates)]


class LLMMethod:
    """The ranking core on given lists. With ``permutations`` > 1, each list is also ranked in
    shuffled orders and the positions are Borda-averaged (LLMRank's bootstrapping); the NDCG of each
    single order is kept, to show how much the order moves the result."""

    def __init__(self, name: str, core: RankingCore, permutations: int = 1, seed: int = 0):
        self.name = name
        self.core = core
        self.permutations = max(1, permutations)
        self.seed = seed

    def _rank_lists(self, cases: Sequence[Case], lists: Sequence[np.ndarray]) -> list[tuple[list[int], dict]]:
        requests = [RankRequest(list(c.history), [int(i) for i in rows]) for c, rows in zip(cases, lists)]
        out = []
        for rows, r in zip(lists, self.core.rank(requests, k=len(lists[0]) if lists else 10), strict=True):
            info = {"fallback": r.fallback, "fallback_reason": r.fallback_reason, "parsed": r.from_llm,
                    "repairs": len(r.repairs),
                    "llm_seconds": r.timings.get("llm", 0.0) + r.timings.get("explain", 0.0),
                    "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens}
            out.append(([int(rows[p]) for p in r.order], info))
        return out

    def rank(self, cases: Sequence[Case], candidates: Sequence[np.ndarray]) -> list[Ranked]:
        first = self._rank_lists(cases, candidates)
        if self.permutations == 1:
            return [Ranked(order, info) for order, info in first]
        orders = [[order] for order, _ in first]
        for p in range(1, self.permutations):
            shuffled = [np.asarray(rows)[rng_for(self.seed, p, case.n, case.user).permutation(len(rows))]
                        for case, rows in zip(cases, candidates)]
            for acc, (order, _) in zip(orders, self._rank_lists(cases, shuffled)):
                acc.append(order)
        out = []
        for (order0, info), per_order, rows in zip(first, orders, candidates):
            position = {int(r): 0.0 for r in rows}
            for order in per_order:
                for pos, r in enumerate(order):
                    position[r] += pos
            borda = sorted(position, key=lambda r: (position[r], order0.index(r)))
            out.append(Ranked(borda, {**info, "orders": per_order}))
        return out
