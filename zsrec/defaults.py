"""Defaults that the CLI shows in --help without importing the numeric stack.

The shortlist weights were chosen on ML-100K validation users held out from the cold-start test users
(``benchmarks/shortlist_weights.py --first-picks 10,15,20,30``): for users with 1 to 10 interactions,
what the catalog's other users picked together with the history (co-occurrence, cosine-normalised over
all pairs of a user's picks) carries most of the signal, item text adds to it, and popularity breaks
ties. Short histories get their own weights (chosen length by length on the same users, by 4-fold
cross-validation): with one pick, co-occurrence counted from each user's first 10 picks (people pick
alike when they are new) and leaning to what most co-pickers chose. Retune them for your catalog with
that script.
"""

SHORTLIST_BM25_WEIGHT = 0.2
SHORTLIST_POPULARITY_WEIGHT = 0.2
SHORTLIST_COOCCURRENCE_WEIGHT = 0.6
# Other weights for short histories: (up to n items, BM25, popularity, co-occurrence, damping or None,
# co-occurrence counted from users' first K picks or None); see zsrec/length_weights.py.
# What users picked within a minute of each other (one sitting), as a share of the co-occurrence part for
# histories of 2+ picks: chosen on the same validation folds by ``benchmarks/session_signal.py``.
SHORTLIST_SESSION_SHARE = 0.2
SHORTLIST_SESSION_SECONDS = 60.0
SHORTLIST_SESSION_DECAY = 0.5
# The sittings (picks within SHORTLIST_SESSION_SECONDS of each other) most like the history's latest
# picks vote for their other items (session kNN), as a share of the co-occurrence part for histories of
# 2+ picks: chosen on the same validation folds by ``benchmarks/similar_sittings.py``.
SHORTLIST_SITTINGS_SHARE = 0.5
SHORTLIST_SITTINGS_NEIGHBOURS = 200
# New-item slots (off by default: new_item_slots 0) pick items nobody has picked yet by how well their
# text matches the history read with the shortlist's best items before it, this many of them (20: a
# default shortlist whole): chosen on validation users by ``benchmarks/new_items.py`` among 0, 5, 10, 20.
SHORTLIST_NEW_ITEM_QUERY = 20
SHORTLIST_BY_LENGTH: tuple[tuple[int, float, float, float, float | None, int | None], ...] = (
    (1, 0.1, 0.1, 0.8, 0.0, 10), (3, 0.1, 0.1, 0.8, None, None), (10, 0.1, 0.0, 0.9, None, None))
