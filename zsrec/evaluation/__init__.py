"""Cold-start evaluation: does an instruction LLM rank well for users the system has barely seen?

``protocol`` turns a dataset into test cases (held-out users, their first n picks, the next item),
``methods`` ranks each case's candidates with every method, ``metrics`` scores the rankings, and
``runner`` runs the grid resumably and writes the report.
"""

from .metrics import bootstrap_ci, coverage, hit, mrr, ndcg, novelty, paired_p_value
from .protocol import Case, EvalConfig, make_cases, split_users

__all__ = ["Case", "EvalConfig", "bootstrap_ci", "coverage", "hit", "make_cases", "mrr", "ndcg", "novelty",
           "paired_p_value", "split_users"]
