"""Defaults that the CLI shows in --help without importing the numeric stack.

The shortlist weights were chosen on ML-100K validation users held out from the cold-start test users
(``benchmarks/shortlist_weights.py``): for users with 1 to 10 interactions, what the catalog's other
users picked together with the history (co-occurrence, cosine-normalised over all pairs of a user's
picks) carries most of the signal, item text adds to it, and popularity breaks ties. Retune them for
your catalog with that script.
"""

SHORTLIST_BM25_WEIGHT = 0.2
SHORTLIST_POPULARITY_WEIGHT = 0.1
SHORTLIST_COOCCURRENCE_WEIGHT = 0.7
