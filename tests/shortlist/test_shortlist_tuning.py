"""Choosing the shortlist weights: on validation users only, and the choice measured on test users."""

from unittest.mock import patch

import numpy as np
import pytest

from zsrec.candidates import CandidateConfig, CandidateGenerator
from zsrec.evaluation.metrics import hit, ndcg
from zsrec.evaluation.protocol import EvalConfig, make_cases, split_users, validation_folds
from zsrec.evaluation.runner import Evaluation
from zsrec.cooccurrence import CoOccurrenceConfig
from zsrec.errors import OptionError
from zsrec.evaluation.tuning import improvement_p, measure_shortlist, tune_shortlist, weight_grid

WEIGHTS = [(1.0, 0.0, 0.0), (0.5, 0.5, 0.0), (0.2, 0.8, 0.0), (0.2, 0.1, 0.7)]
VARIANTS = (CoOccurrenceConfig(normalisation="raw"), CoOccurrenceConfig(window=5))


@pytest.fixture(scope="module")
def tuned(ml100k):
    config = EvalConfig(history_lens=(1, 3), n_test_users=40)
    return config, tune_shortlist(ml100k, config, VARIANTS, WEIGHTS, decays=(0.8, 1.0), n_validation=60,
                                  current=CandidateConfig(bm25_weight=0.6, popularity_weight=0.4,
                                                          cooccurrence_weight=0.0))


def test_validation_users_are_training_users_only(ml100k, tuned):
    config, result = tuned
    train, test = split_users(ml100k, config)
    assert result.n_validation_users == 60 and result.n_test_users == 40
    assert set(result.validation_users) <= set(train)
    assert not set(result.validation_users) & set(test)
    assert result.n_fit_users == len(train) - 60


def test_best_is_the_top_validation_recall_and_is_reported_on_test_users(tuned):
    _, result = tuned
    assert len(result.signals) == 2 * 2 and len(result.validation) == 4 * 2
    weights_only = max(result.validation, key=lambda t: (t.mean_recall, sum(t.ndcg10.values())))
    keys = ("bm25_weight", "popularity_weight", "cooccurrence_weight", "recency_decay", "cooccurrence")
    assert [getattr(result.best, k) for k in keys] == [getattr(weights_only, k) for k in keys]
    best = max(result.signals, key=lambda t: (t.mean_recall, sum(t.ndcg10.values())))
    assert all(t.cooccurrence == best.cooccurrence for t in result.validation if t.cooccurrence_weight > 0)
    keys += ("by_length",)
    assert [getattr(result.test_best, k) for k in keys] == [getattr(result.best, k) for k in keys]
    assert [getattr(result.test_weights_only, k) for k in keys] == [getattr(weights_only, k) for k in keys]
    assert result.test_current.popularity_share == pytest.approx(0.4)
    assert set(result.test_best.recall) == {1, 3}


def test_each_length_entry_kept_beats_the_shared_weights_at_its_length(ml100k, tuned):
    # Stage 3 goes from the shortest history up and keeps an entry only where, on validation users,
    # recall + NDCG at that length beat the entries before it alone; it lists the best options it tried.
    _, result = tuned
    entries = result.best.by_length
    assert [e.up_to for e in entries] == sorted(e.up_to for e in entries) and set(e.up_to for e in entries) <= {1, 3}
    for n in (1, 3):
        step = [t for t in result.by_length if set(t.recall) == {n}]
        without, options = step[0], step[1:]
        assert without.by_length == tuple(e for e in entries if e.up_to < n)
        score = [t.recall[n] + t.ndcg10[n] for t in options]
        assert score == sorted(score, reverse=True) and 1 <= len(options) <= 5
        kept = [e for e in entries if e.up_to == n]
        if kept:
            assert options[0].by_length[-1] == kept[0] and score[0] > without.recall[n] + without.ndcg10[n]
        else:
            assert score[0] <= without.recall[n] + without.ndcg10[n]
    gen = CandidateGenerator(ml100k.catalog, config=result.best.config(20))
    for e in entries:  # the chosen shortlist uses each at its lengths, the shared weights beyond
        assert gen.length_weights(e.up_to) == e
    assert gen.length_weights(99) is None


def test_cross_validation_folds_cover_the_training_users_once(ml100k):
    config = EvalConfig(history_lens=(1, 3), n_test_users=40)
    train, test = split_users(ml100k, config)
    folds = validation_folds(ml100k, config, train, 4)
    validators = [u for _, val in folds for u in val]
    assert len(validators) == len(set(validators)) == len(train)  # every ML-100K user has 4+ picks
    for fit, val in folds:
        assert not set(fit) & set(val) and set(fit) | set(val) == set(train) and not set(val) & set(test)
    result = tune_shortlist(ml100k, config, VARIANTS[:1], WEIGHTS[-2:], decays=(0.8,), folds=4)
    assert result.folds == 4 and sorted(result.validation_users) == sorted(train)
    with pytest.raises(OptionError, match="2 folds"):
        validation_folds(ml100k, config, train, 1)


def test_cooccurrence_finds_the_next_pick_for_new_users_on_ml100k(tuned):
    # A real effect, not a tautology: text and popularity alone find the next movie far less often.
    _, result = tuned
    without = max(t.mean_recall for t in result.validation if t.cooccurrence_weight == 0)
    assert result.best.cooccurrence_weight > 0 and result.best.mean_recall > without + 0.1
    assert result.test_best.mean_recall > result.test_current.mean_recall + 0.1


def test_weight_grid_is_a_simplex():
    grid = weight_grid(0.5)
    assert sorted(grid) == [(0.0, 0.5, 0.5), (0.0, 1.0, 0.0), (0.5, 0.0, 0.5), (0.5, 0.5, 0.0), (1.0, 0.0, 0.0)]
    assert all(abs(sum(w) - 1) < 1e-9 for w in weight_grid(0.1))


def test_measure_shortlist_matches_the_generator(ml100k):
    config = EvalConfig(history_lens=(1, 3), n_test_users=40)
    _, test = split_users(ml100k, config)
    cases = make_cases(ml100k, test, config)
    gen = CandidateGenerator(ml100k.catalog, ml100k.interactions)
    assert gen.session is not None and gen.sittings is not None  # the default has both sitting signals on
    trial = measure_shortlist(ml100k, cases, gen.popularity_counts, gen.config, cooccurrence=gen.cooccurrence,
                              first_picks=gen.first_picks, session=gen.session, sittings=gen.sittings)
    for n in (1, 3):
        orders = [gen.generate(list(c.history)).indices.tolist() for c in cases if c.n == n]
        targets = [c.target for c in cases if c.n == n]
        assert trial.recall[n] == pytest.approx(np.mean([hit(o, {t}, 20) for o, t in zip(orders, targets)]))
        assert trial.ndcg10[n] == pytest.approx(np.mean([ndcg(o, {t}, 10) for o, t in zip(orders, targets)]))


def test_bad_grids_and_weights_are_refused(ml100k):
    with pytest.raises(OptionError, match=r"^BM25 and popularity weights are both 0 \(got BM25 0, popularity 0, co-occurrence 1\): .* give popularity a small weight such as 0.01$"):
        tune_shortlist(ml100k, EvalConfig(n_test_users=5), weights=[(0.0, 0.0, 1.0)])
    with pytest.raises(OptionError, match=r"^weights must be non-negative \(got BM25 -0.1, popularity 0.5, co-occurrence 0.6\)$"):
        tune_shortlist(ml100k, EvalConfig(n_test_users=5), weights=[(-0.1, 0.5, 0.6)])
    with pytest.raises(OptionError, match="at least one"):
        tune_shortlist(ml100k, EvalConfig(n_test_users=5), decays=())
    with pytest.raises(OptionError, match="weights"):
        EvalConfig(bm25_weight=0.0, popularity_weight=0.0)
    with pytest.raises(OptionError, match=r"\[0, 1\]"):
        tune_shortlist(ml100k, EvalConfig(n_test_users=5), dampings=(None, 1.5))


def test_evaluation_uses_the_configured_shortlist_weights(ml100k, tmp_path):
    run = Evaluation(ml100k, EvalConfig(history_lens=(1,), n_test_users=5, bm25_weight=1.0, popularity_weight=0.0),
                     ["pop"], tmp_path)
    assert (run.generator.config.bm25_weight, run.generator.config.popularity_weight) == (1.0, 0.0)
    assert EvalConfig().popularity_weight == CandidateConfig().popularity_weight  # the library default


def test_stage_three_can_count_short_histories_from_users_first_picks(ml100k):
    """Offered first-K counts, stage 3 measures each entry with and without them, on the validation
    users' folds (an index per fold), and the result carries the choice to the test users."""
    config = EvalConfig(history_lens=(1, 3), n_test_users=30)
    result = tune_shortlist(ml100k, config, (CoOccurrenceConfig(),), [(0.2, 0.1, 0.7), (0.0, 0.3, 0.7)],
                            decays=(0.8,), n_validation=60, dampings=(None, 0.2), first_picks=(10,), keep_tried=10)
    tried = [t for t in result.by_length if t.by_length]
    assert any(e.first_picks == 10 for t in tried for e in t.by_length)
    assert any(all(e.first_picks is None for e in t.by_length) for t in tried)
    # the chosen entries, whatever they are, measured on the test users with the same configuration
    assert result.test_best.by_length == result.best.by_length
    labels = {t.by_length_label for t in tried}
    assert any("+first10" in x for x in labels)
    with pytest.raises(OptionError, match="at least 2"):
        tune_shortlist(ml100k, config, first_picks=(1,))


def test_a_first_picks_entry_must_beat_the_shared_index_beyond_noise(ml100k):
    """A second index is kept only on evidence: the paired test says how likely the gain is chance, and
    stage 3 keeps a first-picks entry only below FIRST_PICKS_P (here forced both ways)."""
    rng = np.random.default_rng(0)
    base = rng.random(200)
    assert improvement_p(base + 0.05, base) < 1e-6  # better on every case
    assert improvement_p(base, base) == 1.0  # never differs
    assert improvement_p(base - 0.05, base) > 0.99  # worse
    noisy = base + rng.normal(0, 0.3, 200)
    assert 0.01 < improvement_p(noisy, base) < 0.99
    config = EvalConfig(history_lens=(1,), n_test_users=20)
    kwargs = dict(variants=(CoOccurrenceConfig(),), weights=[(0.0, 0.3, 0.7)], decays=(0.8,), n_validation=120,
                  dampings=(0.4,), first_picks=(10,))
    for threshold in (1.01, 0.0):  # always enough evidence / never enough
        with patch("zsrec.evaluation.tuning.FIRST_PICKS_P", threshold):
            result = tune_shortlist(ml100k, config, **kwargs)
        firsts = [e.first_picks for e in result.best.by_length]
        entry, p = result.first_picks_p[1]  # on these users the first-picks entry scores best at n=1
        assert 0 <= p <= 1 and entry.first_picks == 10
        assert firsts == [10] if threshold > 1 else 10 not in firsts


def test_the_current_shortlist_is_measured_with_its_session_signal(ml100k):
    """The shipped default has the session signal on; measured as ``current`` on the test users it must
    get the training users' timestamps (not be measured without the signal, with a warning)."""
    import warnings

    config = EvalConfig(history_lens=(5,), n_test_users=30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = tune_shortlist(ml100k, config, weights=[(0.2, 0.1, 0.7)], decays=(0.8,), n_validation=20,
                                dampings=(None,), current=CandidateConfig())
    train, test = split_users(ml100k, config)
    interactions = ml100k.interactions
    gen = CandidateGenerator(ml100k.catalog, config=CandidateConfig(),
                             sequences=[interactions.user_history(u) for u in train],
                             sequence_times=interactions.times_for(train))
    assert gen.session is not None
    cases = make_cases(ml100k, test, config)
    hits = [hit(gen.generate(list(c.history)).indices.tolist(), {c.target}, 20) for c in cases]
    assert result.test_current.recall[5] == pytest.approx(sum(hits) / len(hits))
