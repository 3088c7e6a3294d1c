"""zsrec: zero-shot recommendations for users the system has barely seen.

Pipeline: candidates (BM25 + popularity) -> evidence (counted facts) -> prompt (Jinja) -> LLM -> parse
-> reasons checked against the evidence -> ranked result. ``zsrec.ranking`` holds the core (rows in,
positions out) and one class per ranking method; ``Ranker`` and ``Recommender`` adapt it to rows and
to titles.
"""

from .backends import Ability, BackendSpec, register_backend
from .batch import BatchReport, UserOutcome, UserRequest, read_users_file
from .candidates import CandidateConfig, CandidateGenerator, Candidates
from .choices import RankingMode, ReasonsMode, Retriever
from .data import Catalog, Dataset, Interactions, Item
from .errors import OptionError, ZsrecError
from .evidence import CoPicked, EvidenceIndex, MatchedTerms, PopularityRank, SharedGenres
from .index_file import IndexCheck, IndexReport, check_index_file
from .loaders import (load_dataset, load_directory, load_movielens_1m, load_movielens_100k, load_movielens_csv,
                      load_recbole, load_records, load_table)
from .parsing import ParsedRanking, parse_ranking
from .prompts import PromptTemplate
from .ranker import Ranker, RankerConfig
from .reasons import ReasonChecker, ReasonFlag, ReasonSource
from .recommender import AddedInteractions, AddedItems, HiddenItems, PreparedUser, Recommender
from .repairs import Repair, RepairKind
from .result import RankedResult, RecommendedItem, RunInfo

__version__ = "0.1.0"

__all__ = [
    "BatchReport", "UserOutcome", "UserRequest", "read_users_file",
    "CandidateConfig", "CandidateGenerator", "Candidates", "Catalog", "Dataset", "Interactions", "Item",
    "ParsedRanking", "PromptTemplate", "RankedResult", "Ranker", "RankerConfig", "RecommendedItem",
    "Recommender", "RunInfo", "ZsrecError", "load_dataset", "load_directory", "load_movielens_100k",
    "load_movielens_1m", "load_movielens_csv", "load_recbole", "load_records", "load_table", "parse_ranking",
    "CoPicked", "EvidenceIndex", "MatchedTerms", "OptionError", "PopularityRank", "ReasonChecker", "ReasonFlag",
    "ReasonSource", "ReasonsMode", "SharedGenres",
    "IndexCheck", "IndexReport", "check_index_file",
    "AddedInteractions", "AddedItems", "HiddenItems", "Ability", "BackendSpec", "PreparedUser", "RankingMode", "Repair", "RepairKind", "Retriever", "register_backend",
]
