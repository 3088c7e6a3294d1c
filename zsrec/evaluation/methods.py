"""Every ranking method of the evaluation, behind one call: rank these candidates for these cases.

Score methods (popularity, BM25, the fused generator score, SASRec) score every catalog item, so they
also rank the full catalog. LLM methods rank a given candidate list through the real pipeline (the
same templates, parser and fallbacks users get); ``+fusion`` combines the LLM's order with the
generator's by weighted reciprocal rank. No method ever sees the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..candidates import CandidateGenerator, Candidates
from ..ranker import Ranker
from .protocol import Case

RRF_K = 60  # the usual reciprocal-rank-fusion constant


@dataclass
class Ranked:
    order: list[int]  # catalog rows, best first
    info: dict = field(default_factory=dict)  # LLM provenance: fallback, parsed, repairs, seconds


def order_by(scores: np.ndarray, rows: np.ndarray) -> list[int]:
    """Rows by score, ties kept in the order given."""
    return [int(r) for r in rows[np.argsort(-scores[rows], kind="stable")]]


class ScoreMethod:
    def __init__(self, name: str, score_fn):
        self.name = name
        self.score_fn = score_fn  # cases -> (cases x catalog) scores
        self.full_catalog = True

    def rank(self, cases: Sequence[Case], candidates: Sequence[np.ndarray]) -> list[Ranked]:
        scores = self.score_fn(cases)
        return [Ranked(order_by(s, c)) for s, c in zip(scores, candidates)]


class LLMMethod:
    """The pipeline's ranker on given lists. With ``permutations`` > 1, each list is also ranked in
    shuffled orders and the positions are Borda-averaged (LLMRank's bootstrapping); the NDCG of each
    single order is kept, to show how much the order moves the result."""

    full_catalog = False

    def __init__(self, name: str, ranker: Ranker, generator: CandidateGenerator, permutations: int = 1,
                 seed: int = 0):
        self.name = name
        self.ranker = ranker
        self.generator = generator
        self.permutations = max(1, permutations)
        self.seed = seed

    def _rank_lists(self, cases: Sequence[Case], lists: Sequence[np.ndarray]) -> list[tuple[list[int], dict]]:
        given = []
        for case, rows in zip(cases, lists):
            fused = self.generator.fused_scores(list(case.history))[rows]
            z = np.zeros(len(rows))
            given.append(Candidates(indices=np.asarray(rows), scores=fused, bm25=z, popularity=z))
        results = self.ranker.rank_many([list(c.history) for c in cases], [()] * len(cases),
                                        k=len(lists[0]) if lists else 10, candidates=given)
        out = []
        for rows, r in zip(lists, results):
            by_id = {self.ranker.catalog.items[int(i)].id: int(i) for i in rows}
            order = [by_id[it.item_id] for it in r.items]
            info = {"fallback": r.info.fallback, "fallback_reason": r.info.fallback_reason,
                    "parsed": r.info.parsed, "repairs": len(r.info.repairs),
                    "llm_seconds": r.info.timings.get("llm", 0.0) + r.info.timings.get("explain", 0.0),
                    "prompt_tokens": r.info.prompt_tokens, "completion_tokens": r.info.completion_tokens}
            out.append((order, info))
        return out

    def rank(self, cases: Sequence[Case], candidates: Sequence[np.ndarray]) -> list[Ranked]:
        first = self._rank_lists(cases, candidates)
        if self.permutations == 1:
            return [Ranked(order, info) for order, info in first]
        orders = [[order] for order, _ in first]
        for p in range(1, self.permutations):
            shuffled = []
            for case, rows in zip(cases, candidates):
                rng = np.random.default_rng([self.seed, p, case.n, int(case.user) if case.user.isdigit() else 0])
                shuffled.append(np.asarray(rows)[rng.permutation(len(rows))])
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


def fuse(llm_order: Sequence[int], generator_order: Sequence[int], weight: float) -> list[int]:
    """Weighted reciprocal-rank fusion of two orders of the same items."""
    llm_rank = {r: i for i, r in enumerate(llm_order)}
    gen_rank = {r: i for i, r in enumerate(generator_order)}
    score = {r: weight / (RRF_K + llm_rank[r] + 1) + (1 - weight) / (RRF_K + gen_rank[r] + 1) for r in llm_order}
    return sorted(llm_order, key=lambda r: (-score[r], gen_rank[r]))
