"""Defaults that the CLI shows in --help without importing the numeric stack.

The shortlist weights were chosen on ML-100K validation users held out from the cold-start test users
(``benchmarks/shortlist_weights.py``): for users with 1 to 10 interactions, popularity carries most of
the signal and text breaks ties toward the user's taste. Retune them for your catalog with that script.
"""

SHORTLIST_BM25_WEIGHT = 0.2
SHORTLIST_POPULARITY_WEIGHT = 0.8
