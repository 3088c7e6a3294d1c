"""What a recommendation run returns: the ranked items and how they were made.

The provenance matters as much as the list: a user of a zero-shot ranker must be able to see whether
the LLM's order was used or the generator's (fallback), what the parser had to repair, how much
history was cut, and where the time went.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .evidence import Fact
from .repairs import Repair


@dataclass(frozen=True)
class RecommendedItem:
    rank: int
    item_id: str
    title: str
    score: float  # 1.0 for the top pick down to 1/N for the last candidate: the final listwise position
    reason: str  # the LLM's words where they passed the checks, else a sentence from the evidence
    # "llm": placed by the model; "generator": in shortlist order (appended after the model's picks, or
    # the whole order at fusion weight 0); "fused": placed by the LLM's order fused with the shortlist's
    source: str
    generator_rank: int  # where the candidate generator had it
    generator_score: float
    logprob: float | None = None  # score mode: the log-probability of the item's label (None otherwise)
    reason_source: str = "none"  # "llm" (checked), "evidence" (written from the facts), "none" (not asked)
    reason_flags: list[str] = field(default_factory=list)  # why the LLM's reason was not kept (ReasonFlag values)
    llm_reason: str = ""  # the LLM's own words, kept when they were replaced
    evidence: list[Fact] = field(default_factory=list)  # facts counted from the data, strongest first
    llm_rank: int | None = None  # where the model put it (1 = first), None if it did not place it
    # True: in the shortlist by a new-item slot (CandidateConfig.new_item_slots), not by its own score
    new_item_slot: bool = False


@dataclass
class RunInfo:
    model: str
    backend: str
    template: str
    n_candidates: int
    history_used: int
    history_cut: int  # oldest history items left out to fit the model's context
    parsed: int  # candidates the LLM placed itself
    fallback: bool  # True: the order is the generator's, the LLM gave nothing usable
    fallback_reason: str = ""
    repairs: list[Repair] = field(default_factory=list)  # what the parser had to mend, typed by kind
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = ""
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    raw_output: str = ""  # in score mode: the reasons generation, if any
    mode: str = "generate"  # "generate" (the LLM wrote the ranking) or "score" (label log-probs ranked)
    note: str = ""  # why the LLM was not asked to rank (one candidate; fusion weight 0), "" otherwise
    filter: str = ""  # the caller's filter in words ("genre Comedy: 505 of 1,682 items"), "" for none
    fusion_weight: float = 1.0  # the LLM order's share of the final one (0: the shortlist's order)


@dataclass
class RankedResult:
    items: list[RecommendedItem]
    history: list[dict[str, str]]  # the matched history, oldest first: item_id, title, and the query typed
    info: RunInfo
    unmatched_history: list[str] = field(default_factory=list)
    user_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
