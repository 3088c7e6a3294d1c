"""The cold-start evaluator: metrics against hand-computed values (and ranx where installed), the
protocol's guarantees, resumable runs, and the sanity checks a baseline must pass."""

import json
import math

import numpy as np
import pytest

from conftest import ScriptedBackend
from zsrec.evaluation import EvalConfig, bootstrap_ci, coverage, hit, make_cases, mrr, ndcg, novelty, split_users
from zsrec.ranking.fusion import fuse
from zsrec.evaluation.metrics import order_kept
from zsrec.evaluation.runner import Evaluation, parse_methods
from zsrec.loaders import load_table


def test_metrics_match_a_hand_computed_example():
    ranking = [7, 3, 9, 1, 4]
    assert ndcg(ranking, {9}, 10) == pytest.approx(1 / math.log2(4))  # third place
    assert ndcg(ranking, {9}, 2) == 0.0 and hit(ranking, {9}, 2) == 0.0 and hit(ranking, {9}, 3) == 1.0
    assert mrr(ranking, {9}) == pytest.approx(1 / 3) and mrr(ranking, {42}) == 0.0
    # two relevant items at places 1 and 4: DCG = 1 + 1/log2(5); ideal = 1 + 1/log2(3)
    assert ndcg(ranking, {7, 1}, 10) == pytest.approx((1 + 1 / math.log2(5)) / (1 + 1 / math.log2(3)))
    assert coverage([[1, 2], [2, 3]], n_items=10, k=2) == pytest.approx(0.3)
    pop = np.array([50.0, 5.0, 0.0])
    assert novelty([[0, 1], [2]], pop, n_users=100, k=2) == pytest.approx((1 + math.log2(20) + math.log2(100)) / 3)
    lo, hi = bootstrap_ci([0.0] * 50 + [1.0] * 50, n=2000, seed=1)
    assert lo < 0.5 < hi and hi - lo < 0.25


def test_metrics_agree_with_ranx():
    ranx = pytest.importorskip("ranx", reason="ranx is not installed (pip install ranx); hand-computed checks above")
    rng = np.random.default_rng(0)
    qrels, run, ours = {}, {}, {"ndcg@10": [], "hit_rate@10": [], "mrr": []}
    for q in range(200):
        ranking = rng.permutation(50)[:20].tolist()
        relevant = set(rng.choice(50, size=int(rng.integers(1, 4)), replace=False).tolist())
        qrels[f"q{q}"] = {f"d{d}": 1 for d in relevant}
        run[f"q{q}"] = {f"d{d}": float(20 - i) for i, d in enumerate(ranking)}
        ours["ndcg@10"].append(ndcg(ranking, relevant, 10))
        ours["hit_rate@10"].append(hit(ranking, relevant, 10))
        ours["mrr"].append(mrr(ranking, relevant))
    scores = ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run), list(ours))
    for key, values in ours.items():
        assert np.mean(values) == pytest.approx(scores[key], abs=1e-9)


def test_split_and_cases(ml100k):
    config = EvalConfig(history_lens=(1, 3, 10), n_test_users=50, seed=3)
    train, test = split_users(ml100k, config)
    assert len(test) == 50 and not set(train) & set(test) and len(train) + len(test) == len(ml100k.interactions.user_ids)
    assert split_users(ml100k, config) == (train, test)  # seeded
    cases = make_cases(ml100k, test, config)
    assert len(cases) == 150
    c = next(c for c in cases if c.n == 3)
    rows = [int(i) for i in ml100k.interactions.user_history(c.user)]
    assert c.history == tuple(rows[:3]) and c.target == rows[3] and c.next_items == tuple(rows[3:8])


@pytest.fixture(scope="module")
def small_eval(ml100k, tmp_path_factory):
    config = EvalConfig(history_lens=(1, 5), n_test_users=40, settings=("generator", "sampled-uniform",
                                                                         "sampled-pop", "full"))
    return Evaluation(ml100k, config, ["pop", "bm25", "generator"], tmp_path_factory.mktemp("eval"))


def test_candidate_settings(small_eval):
    case = next(c for c in small_eval.cases if c.n == 5)
    for setting in ("sampled-uniform", "sampled-pop"):
        rows = small_eval.candidates(setting, case)
        assert len(rows) == 20 and list(rows).count(case.target) == 1
        assert not (set(rows.tolist()) - {case.target}) & (set(case.history) | set(case.seen_later))
        assert np.array_equal(rows, small_eval.candidates(setting, case))  # seeded
    positions = [list(small_eval.candidates("sampled-uniform", c)).index(c.target) for c in small_eval.cases]
    assert len(set(positions)) > 5  # shuffled: the target's place gives nothing away
    full = small_eval.candidates("full", case)
    assert len(full) == len(small_eval.dataset.catalog) - len(set(case.history))


def test_run_counts_every_user_and_resumes(small_eval):
    summary = small_eval.run()
    rows = [json.loads(x) for x in small_eval.rows_path.read_text().splitlines()]
    assert len(rows) == 4 * 3 * 80  # settings x methods x cases: nobody skipped
    missed = [r for r in rows if r["setting"] == "generator" and not r["in_candidates"]]
    assert missed and all(r["ndcg@10"] == 0.0 and r["mrr"] == 0.0 for r in missed)  # a miss, not a skip
    by = {(e["setting"], e["n"], e["method"]): e for e in summary["results"]}
    assert by[("generator", 1, "pop")]["users"] == 40
    assert by[("full", 5, "bm25")]["users"] == 40 and "p_vs_pop" in by[("full", 5, "bm25")]
    # interrupted mid-write: a cut line and missing rows are redone, nothing is duplicated
    lines = small_eval.rows_path.read_text().splitlines()
    small_eval.rows_path.write_text("\n".join(lines[:-30]) + "\n" + lines[-30][:25])
    small_eval.run()
    again = [json.loads(x) for x in small_eval.rows_path.read_text().splitlines() if x.endswith("}")]
    keys = [(r["setting"], r["n"], r["user"], r["method"]) for r in again]
    assert len(set(keys)) == len(rows) == len(keys)
    assert (small_eval.out / "report.md").read_text().count("| 5 | generator |") == 4
    assert (small_eval.out / "ndcg10.png").stat().st_size > 1000
    import matplotlib.pyplot as plt
    assert plt.get_fignums() == []  # drawn twice, and no figure left open
    report = (small_eval.out / "report.md").read_text()
    assert "the target plus 19 negatives sampled by popularity" in report and "fewer than" not in report


def test_a_small_catalog_is_evaluated_with_the_list_sizes_it_allows(tmp_path):
    """A catalog too small to draw --n-candidates - 1 negatives for a user crashed the sampled settings
    (numpy: larger sample than population); those lists now hold every item the user has not picked,
    and the report says how many were shorter. Headings name the list size the run used."""
    rng = np.random.default_rng(0)
    (tmp_path / "items.csv").write_text("sku,name\n" + "".join(f"i{i},Item {i}\n" for i in range(14)))
    lines = [f"u{u},i{i},{t}" for u in range(40) for t, i in enumerate(rng.choice(14, size=9, replace=False))]
    (tmp_path / "events.csv").write_text("who,sku,ts\n" + "\n".join(lines) + "\n")
    data = load_table(tmp_path / "items.csv", tmp_path / "events.csv",
                      columns={"item_id": "sku", "title": "name", "user_id": "who", "timestamp": "ts"})
    config = EvalConfig(history_lens=(1, 3), n_test_users=10, n_candidates=8,
                        settings=("generator", "sampled-uniform", "sampled-pop", "full"))
    run = Evaluation(data, config, ["pop", "generator"], tmp_path / "eval")
    for case in run.cases:
        unseen = 14 - len(set(case.history) | set(case.seen_later) | {case.target})
        for setting in ("sampled-uniform", "sampled-pop"):
            rows = run.candidates(setting, case)
            assert len(rows) == 1 + min(7, unseen) and case.target in rows.tolist()
    summary = run.run()
    short = summary["short_lists"]["sampled-uniform"]
    assert short[1] == 20 and 0 < short[0] == sum(
        14 - len(set(c.history) | set(c.seen_later) | {c.target}) < 7 for c in run.cases)
    report = (tmp_path / "eval" / "report.md").read_text()
    assert "the generator's shortlist of 8 from" in report and "Generator recall@8 " in report
    assert "the target plus 7 negatives sampled uniformly" in report
    assert f"For {short[0]} of 20 cases the catalog held fewer than 7 items the user had not picked" in report


def test_popularity_beats_random(small_eval, tmp_path):
    run = Evaluation(small_eval.dataset, EvalConfig(history_lens=(1,), n_test_users=40, settings=("sampled-uniform",)),
                     ["random", "pop"], tmp_path)
    by = {e["method"]: e for e in run.run()["results"]}
    assert by["pop"]["ndcg@10"] > by["random"]["ndcg@10"] + 0.1 and by["pop"]["p_vs_random"] < 0.05
    # a random order of 20 with one target expects NDCG@10 = sum_{r<=10} 1/log2(r+1) / 20 = 0.227
    assert 0.12 < by["random"]["ndcg@10"] < 0.34
    first = run.method("random").rank(run.cases[:2], [np.arange(50)] * 2)
    again = run.method("random").rank(run.cases[:2], [np.arange(50)] * 2)
    assert first[0].order == again[0].order and first[0].order != first[1].order  # seeded, per user


def test_llm_methods_and_fusion_with_a_scripted_model(ml100k, tmp_path):
    config = EvalConfig(history_lens=(3,), n_test_users=6, settings=("generator", "sampled-pop"), permutations=2)
    run = Evaluation(ml100k, config, parse_methods("pop,llm+fusion"), tmp_path,
                     backend=ScriptedBackend(lambda p: "[2] > [1]"))
    summary = run.run()
    by = {(e["setting"], e["method"]): e for e in summary["results"]}
    assert by[("generator", "llm")]["fallback_rate"] == 0.0 and by[("generator", "llm")]["users"] == 6
    assert "permutation_ndcg@10_std" in by[("sampled-pop", "llm")]
    assert by[("generator", "llm+fusion")]["users"] == 6
    # "[2] > [1]", the rest appended in the shown order: the output echoes the prompt's order (here
    # Borda-averaged with a second, shuffled order, which halves the echo of the first)
    assert by[("sampled-pop", "llm")]["order_kept"] > 0.6 and "order_kept" not in by[("sampled-pop", "pop")]
    assert "Shown order kept by the LLM" in (tmp_path / "report.md").read_text()
    assert fuse([3, 1, 2], [1, 2, 3], weight=1.0) == [3, 1, 2] and fuse([3, 1, 2], [1, 2, 3], weight=0.0) == [1, 2, 3]
    with pytest.raises(ValueError, match="unknown method"):
        parse_methods("pop,magic")


def test_fuse_weighs_two_orders_and_keeps_items_only_one_holds():
    assert fuse([3, 1, 2], [1, 2, 3], weight=0.5) == [1, 3, 2]
    # different items: each of the union once; one order's item gets nothing from the other
    assert fuse([9, 1], [1, 2, 3], weight=0.5) == [1, 9, 2, 3]
    assert fuse([9, 1], [1, 2, 3], weight=0.0) == [1, 2, 3, 9] and fuse([9, 1], [1, 2, 3], weight=1.0)[:2] == [9, 1]


@pytest.mark.model
def test_sasrec_beats_popularity_on_warm_users(ml100k):
    """Leave-one-out over every user, full catalog: the trained baseline must beat popularity."""
    from zsrec.sasrec import SASRec, SASRecConfig

    seqs = [[int(i) for i in ml100k.interactions.user_history(u)] for u in ml100k.interactions.user_ids]
    train = [s[:-1] for s in seqs]
    model = SASRec(len(ml100k.catalog), SASRecConfig(epochs=5, max_len=20, lr=3e-3)).fit(train)
    assert model.losses[-1] < model.losses[0]
    pop = np.bincount(np.concatenate(train), minlength=len(ml100k.catalog)).astype(float)

    def hr10(scores):
        hits = []
        for s, row in zip(seqs, scores):
            row = row.copy()
            row[s[:-1]] = -np.inf
            hits.append(int((row > row[s[-1]]).sum()) < 10)
        return float(np.mean(hits))

    sasrec_hr, pop_hr = hr10(model.scores(train)), hr10(np.tile(pop, (len(seqs), 1)))
    assert sasrec_hr > pop_hr * 1.2, (sasrec_hr, pop_hr)


def test_order_kept_is_spearman_between_shown_and_output_order():
    from scipy.stats import spearmanr

    assert order_kept([5, 6, 7], [5, 6, 7]) == pytest.approx(1.0)
    assert order_kept([5, 6, 7], [7, 6, 5]) == pytest.approx(-1.0)
    assert np.isnan(order_kept([5, 6, 7], [5, 6]))  # an item lost: undefined, not a number
    shown = list(range(20))
    out = np.random.default_rng(3).permutation(20).tolist()
    assert order_kept(shown, out) == pytest.approx(spearmanr(shown, [out.index(x) for x in shown]).statistic)


def test_position_bias_is_measured_on_what_the_model_placed(ml100k, tmp_path):
    config = EvalConfig(history_lens=(3,), n_test_users=6, settings=("sampled-pop",))
    run = Evaluation(ml100k, config, ["llm"], tmp_path, backend=ScriptedBackend(lambda p: "[2] > [1]"))
    entry = run.run()["results"][0]
    assert entry["placed_mean_shown_position"] == pytest.approx(1.5)  # it placed the 2nd and 1st shown
    assert entry["order_kept"] > 0.95  # and the parser appended the rest in shown order
    assert "Mean shown position" in (tmp_path / "report.md").read_text()


def test_the_llm_is_evaluated_with_the_noun_it_is_deployed_with(ml100k, tmp_path):
    """`zsrec rank --item-noun` changes the prompt, so the evaluation takes it too; a run folder made
    with one noun is not continued with another (its LLM rankings came from other prompts)."""
    from zsrec.evaluation.storage import EvaluationFolderError

    config = EvalConfig(history_lens=(1,), n_test_users=2, settings=("sampled-pop",))
    backend = ScriptedBackend(lambda p: "[1]")
    Evaluation(ml100k, config, ["llm"], tmp_path / "films", backend=backend, item_noun="film").run()
    assert backend.calls and all("I have picked these films" in p for call in backend.calls for p in call)
    backend.calls.clear()
    Evaluation(ml100k, config, ["llm"], tmp_path / "default", backend=backend).run()
    assert all("I have watched these movies" in p for call in backend.calls for p in call)
    with pytest.raises(EvaluationFolderError, match="item_noun='film' there, 'book' now"):
        Evaluation(ml100k, config, ["llm"], tmp_path / "films", backend=backend, item_noun="book").run()
