"""How a ranking is made: how many picks, from how long a shortlist, by which method, with what reasons."""

from __future__ import annotations

from dataclasses import dataclass

from ..backends.base import GenerationConfig
from ..errors import OptionError
from ..choices import RankingMode, ReasonsMode


@dataclass(frozen=True)
class RankerConfig:
    k: int = 10
    n_candidates: int = 20
    item_noun: str = "item"
    generation: GenerationConfig = GenerationConfig()
    context_margin: int = 16  # tokens kept free beside max_new_tokens
    mode: RankingMode | str = RankingMode.GENERATE
    # llm: the model's reasons, checked against the evidence, which fills in where they fail (in score
    # mode one generation per user writes them); evidence: reasons from the data alone, no generation;
    # none: no reasons. True and False are read as llm and none.
    reasons: ReasonsMode | str | bool = ReasonsMode.LLM
    guided: bool = False  # constrain answers to candidate ids (needs a backend with constrained decoding)
    # The LLM's share of the final order, fused with the shortlist's by weighted reciprocal rank (as the
    # evaluation's X+fusion): 1, the LLM's order; 0, the shortlist's (the LLM is then asked only for
    # reasons, and not at all with reasons "evidence" or "none"). `zsrec eval --tune-fusion` chooses it.
    fusion_weight: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.reasons, bool):
            object.__setattr__(self, "reasons", ReasonsMode.LLM if self.reasons else ReasonsMode.NONE)
        try:
            object.__setattr__(self, "reasons", ReasonsMode(self.reasons))
        except ValueError:
            raise OptionError(f"reasons must be one of llm, evidence, none; got {self.reasons!r}") from None
        try:
            object.__setattr__(self, "mode", RankingMode(self.mode))
        except ValueError:
            raise OptionError(f"mode must be 'generate' or 'score', got {self.mode!r}") from None
        weight = self.fusion_weight
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= weight <= 1.0:
            raise OptionError(f"fusion_weight is the LLM's share of the order, from 0 to 1; got {weight!r}")
        object.__setattr__(self, "fusion_weight", float(weight))
        singular, _, plural = self.item_noun.partition("/")
        if not singular.strip() or "/" in plural:
            raise OptionError(f"item_noun is a noun, or noun/plural (dress/dresses); got {self.item_noun!r}")
        if self.k < 1:
            raise OptionError(f"k must be at least 1, got {self.k}")
        if self.n_candidates < 1:
            raise OptionError(f"n_candidates must be at least 1, got {self.n_candidates}")
        if self.k > self.n_candidates:
            raise OptionError(f"k={self.k} is more than the shortlist holds (n_candidates={self.n_candidates}): "
                              "ask for fewer items or a longer shortlist")

    @property
    def explain(self) -> bool:
        """Whether the LLM is asked for reasons."""
        return self.reasons is ReasonsMode.LLM

    @property
    def llm_ranks(self) -> bool:
        """Whether the LLM's order has any share of the final one."""
        return self.fusion_weight > 0

    @property
    def asks_llm(self) -> bool:
        """Whether the LLM is asked anything: to rank, or only for reasons."""
        return self.llm_ranks or self.explain

    @property
    def needs_model(self) -> bool:
        """Whether a model is ever loaded: not when every shortlist has at most one item (there is
        nothing for an LLM to order), nor when the LLM has no share of the order and writes no reasons."""
        return self.n_candidates > 1 and self.asks_llm
