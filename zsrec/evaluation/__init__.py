"""Cold-start evaluation: does an instruction LLM rank well for users the system has barely seen?

``protocol`` turns a dataset into test cases (held-out users, their first n picks, the next item),
``candidate_lists`` gives the list each method ranks, ``methods`` ranks them (one interface, names
parsed once), ``storage`` keeps the run folder, ``metrics`` and ``statistics`` turn rankings into
claims, ``report`` writes them, and ``runner`` wires it all together. ``seeding`` is the one rule
for every random draw.
"""

from .metrics import bootstrap_ci, coverage, hit, mrr, ndcg, novelty, paired_p_value
from .protocol import Case, EvalConfig, make_cases, split_users
from .runner import Evaluation

__all__ = ["Case", "EvalConfig", "Evaluation", "bootstrap_ci", "coverage", "hit", "make_cases", "mrr", "ndcg", "novelty",
           "paired_p_value", "split_users"]
