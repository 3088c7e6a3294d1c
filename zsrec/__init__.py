"""zsrec: zero-shot recommendations for users the system has barely seen.

Pipeline: candidates (BM25 + popularity) -> evidence (counted facts) -> prompt (Jinja) -> LLM -> parse
-> reasons checked against the evidence -> ranked result.
"""

from .batch import BatchReport, UserOutcome, UserRequest, read_users_file
from .candidates import CandidateConfig, CandidateGenerator, Candidates
from .data import Catalog, Dataset, Interactions, Item
from .errors import OptionError, ZsrecError
from .evidence import CoPicked, EvidenceIndex, MatchedTerms, PopularityRank, SharedGenres
from .loaders import load_dataset, load_directory, load_movielens_100k, load_movielens_1m, load_recbole, load_table
from .parsing import ParsedRanking, parse_ranking
from .prompts import PromptTemplate
from .ranker import Ranker, RankerConfig
from .reasons import ReasonChecker, ReasonFlag, ReasonsMode, ReasonSource
from .recommender import Recommender
from .result import RankedResult, RecommendedItem, RunInfo

__version__ = "0.1.0"

__all__ = [
    "BatchReport", "UserOutcome", "UserRequest", "read_users_file",
    "CandidateConfig", "CandidateGenerator", "Candidates", "Catalog", "Dataset", "Interactions", "Item",
    "ParsedRanking", "PromptTemplate", "RankedResult", "Ranker", "RankerConfig", "RecommendedItem",
    "Recommender", "RunInfo", "ZsrecError", "load_dataset", "load_directory", "load_movielens_100k",
    "load_movielens_1m", "load_recbole", "load_table", "parse_ranking",
    "CoPicked", "EvidenceIndex", "MatchedTerms", "OptionError", "PopularityRank", "ReasonChecker", "ReasonFlag",
    "ReasonSource", "ReasonsMode", "SharedGenres",
]
