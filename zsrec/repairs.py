"""What had to be mended to turn an LLM's answer into a ranking, as typed values.

A run over many users counts repairs by kind (how often did the model invent ids?); a person reading
one result wants the particulars (which ids). Each repair carries both, so no caller has to parse
one back out of the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class RepairKind(str, Enum):
    OUTPUT_CUT = "output cut"
    DROPPED_UNFINISHED = "dropped an unfinished last line"
    DROPPED_THINKING = "left out the model's thinking"
    PARSER_ERROR = "parser error"
    READ_JSON = "read a JSON answer"
    MATCHED_TITLE = "matched title"
    MATCHED_FUZZY_TITLE = "matched fuzzy-title"
    DROPPED_INVENTED = "dropped ids not among the candidates"
    DROPPED_REPEATS = "dropped repeated ids"
    APPENDED_MISSING = "appended candidates the model left out"
    NO_CANDIDATE = "no candidate found in the output"
    SCORING_FAILED = "scoring failed"
    NO_LOGPROB = "candidates had no log-probability"
    NO_REASONS = "no reasons"


@dataclass(frozen=True)
class Repair:
    kind: RepairKind
    text: str  # the particulars, fit to show: "dropped repeated ids: [2]"

    def __str__(self) -> str:
        return self.text
