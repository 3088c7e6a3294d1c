"""Ranking a shortlist with an LLM: the core (rows in, positions and provenance out) and one class
per ranking method."""

from .backend_handle import BackendHandle
from .config import RankerConfig, RankingMode
from .core import METHODS, RankingCore
from .label_scoring import LabelScoring
from .listwise import ListwiseGeneration
from .method import Job, MethodContext, MethodOutput, RankingMethod
from .outcome import Ranking, RankRequest, RenderedPrompt

__all__ = ["METHODS", "BackendHandle", "Job", "LabelScoring", "ListwiseGeneration", "MethodContext", "MethodOutput",
           "RankRequest", "RankerConfig", "Ranking", "RankingCore", "RankingMethod", "RankingMode", "RenderedPrompt"]
