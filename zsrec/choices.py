"""The closed choices a user makes (ranking mode, reasons, retriever), in a module that imports
nothing heavy, so the command line can offer them as typed choices before any work starts."""

from __future__ import annotations

from enum import Enum


class RankingMode(str, Enum):
    """generate: the LLM writes the ranking and the parser reads it; score: the log-probability of
    each candidate's label ranks them in one forward pass."""

    GENERATE = "generate"
    SCORE = "score"


class ReasonsMode(str, Enum):
    LLM = "llm"  # the model's reasons, checked; the evidence fills in where they fail
    EVIDENCE = "evidence"  # reasons from the evidence alone: no generation
    NONE = "none"


class Retriever(str, Enum):
    """sparse: our own BM25 over a sparse matrix (fast); rank-bm25: the reference library, same scores."""

    SPARSE = "sparse"
    RANK_BM25 = "rank-bm25"


class CoNormalisation(str, Enum):
    """How an item-item co-occurrence count c(i, j) becomes a score: raw counts; cosine,
    c / sqrt(n_i * n_j); damped, c / (n_i^(1-b) * n_j^b) with b the damping (b = 0.5 is cosine,
    b = 1 damps a popular neighbour j fully)."""

    RAW = "raw"
    COSINE = "cosine"
    DAMPED = "damped"
