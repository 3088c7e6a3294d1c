"""The LLM's order blended with the shortlist's, by weighted reciprocal rank.

One function for the product and the evaluation, so the weight ``zsrec eval --tune-fusion`` chooses
on validation users is exactly what ``zsrec rank --fusion-weight`` (and a service, and
``Recommender(fusion_weight=...)``) applies: a model that cannot rank gets 0, the shortlist's order.
"""

from __future__ import annotations

from collections.abc import Sequence

RRF_K = 60  # the usual reciprocal-rank-fusion constant


def fuse(llm_order: Sequence[int], generator_order: Sequence[int], weight: float) -> list[int]:
    """Weighted reciprocal-rank fusion of two orders: every item of either, an item missing from one
    order getting nothing from it; ties go to the generator's order, then the other's."""
    llm_rank = {r: i for i, r in enumerate(llm_order)}
    gen_rank = {r: i for i, r in enumerate(generator_order)}
    items = list(dict.fromkeys([*generator_order, *llm_order]))
    score = {r: (weight / (RRF_K + llm_rank[r] + 1) if r in llm_rank else 0.0)
             + ((1 - weight) / (RRF_K + gen_rank[r] + 1) if r in gen_rank else 0.0) for r in items}
    missing = len(items)
    return sorted(items, key=lambda r: (-score[r], gen_rank.get(r, missing), llm_rank.get(r, missing)))
