"""Choosing the shortlist weights: on validation users only, and the choice measured on test users."""

import pytest

from zsrec.candidates import CandidateConfig, CandidateGenerator
from zsrec.evaluation.metrics import hit
from zsrec.evaluation.protocol import EvalConfig, make_cases, split_users
from zsrec.evaluation.runner import Evaluation
from zsrec.evaluation.tuning import measure_shortlist, tune_shortlist


@pytest.fixture(scope="module")
def tuned(ml100k):
    config = EvalConfig(history_lens=(1, 3), n_test_users=40)
    return config, tune_shortlist(ml100k, config, shares=(0.0, 0.5, 0.8), decays=(0.8, 1.0), n_validation=60,
                                  current=CandidateConfig(bm25_weight=0.6, popularity_weight=0.4))


def test_validation_users_are_training_users_only(ml100k, tuned):
    config, result = tuned
    train, test = split_users(ml100k, config)
    assert result.n_validation_users == 60 and result.n_test_users == 40
    assert set(result.validation_users) <= set(train)
    assert not set(result.validation_users) & set(test)
    assert result.n_fit_users == len(train) - 60


def test_best_is_the_top_validation_recall_and_is_reported_on_test_users(tuned):
    _, result = tuned
    assert len(result.validation) == 6
    assert result.best.mean_recall == max(t.mean_recall for t in result.validation)
    assert (result.test_best.popularity_share, result.test_best.recency_decay) == \
        (result.best.popularity_share, result.best.recency_decay)
    assert result.test_current.popularity_share == pytest.approx(0.4)
    assert set(result.test_best.recall) == {1, 3}


def test_popularity_helps_new_users_on_ml100k(tuned):
    # A real effect, not a tautology: text alone (share 0) finds the next movie far less often.
    _, result = tuned
    text_only = max(t.mean_recall for t in result.validation if t.popularity_share == 0.0)
    assert result.best.popularity_share > 0 and result.best.mean_recall > text_only + 0.05


def test_measure_shortlist_matches_the_generator(ml100k):
    config = EvalConfig(history_lens=(3,), n_test_users=10)
    _, test = split_users(ml100k, config)
    cases = make_cases(ml100k, test, config)
    gen = CandidateGenerator(ml100k.catalog, ml100k.interactions)
    trial = measure_shortlist(ml100k, cases, gen.popularity_counts, gen.config)
    hits = [hit(gen.generate(list(c.history)).indices.tolist(), {c.target}, 20) for c in cases]
    assert trial.recall[3] == pytest.approx(sum(hits) / len(hits))


def test_bad_grids_and_weights_are_refused(ml100k):
    with pytest.raises(ValueError, match="popularity shares"):
        tune_shortlist(ml100k, EvalConfig(n_test_users=5), shares=(1.5,))
    with pytest.raises(ValueError, match="at least one"):
        tune_shortlist(ml100k, EvalConfig(n_test_users=5), decays=())
    with pytest.raises(ValueError, match="weights"):
        EvalConfig(bm25_weight=0.0, popularity_weight=0.0)


def test_evaluation_uses_the_configured_shortlist_weights(ml100k, tmp_path):
    run = Evaluation(ml100k, EvalConfig(history_lens=(1,), n_test_users=5, bm25_weight=1.0, popularity_weight=0.0),
                     ["pop"], tmp_path)
    assert (run.generator.config.bm25_weight, run.generator.config.popularity_weight) == (1.0, 0.0)
    assert EvalConfig().popularity_weight == CandidateConfig().popularity_weight  # the library default
