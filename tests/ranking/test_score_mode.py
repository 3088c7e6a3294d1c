"""Log-prob scoring mode: candidates ranked by the probability of their label after the prompt (one
forward step, always a full ranking), with reasons generated for the top k only."""

import math

import pytest

from conftest import ScoringBackend, ScriptedBackend, requires_default_model
from zsrec.backends.base import GenerationConfig
from zsrec.backends.base import MissingAbilityError
from zsrec.errors import TemplateError
from zsrec.recommender import Recommender


def test_scores_order_every_candidate_and_reasons_fill_the_top_k(ml100k):
    weights = lambda p: [-5.0, -1.0, -math.inf, -0.5] + [-9.0] * 16  # noqa: E731
    backend = ScoringBackend(weights, answer=lambda p: "[1] - the best of them\n[2] - also very good")
    rec = Recommender(ml100k, backend=backend, k=5, mode="score")
    r = rec.recommend(["Toy Story (1995)", "Fargo (1996)"])
    assert [it.generator_rank for it in r.items] == [4, 2, 1, 5, 6]
    # the model's words reach the items; they name nothing counted, so the data's reasons are shown
    assert r.items[0].llm_reason == "the best of them" and r.items[1].llm_reason == "also very good"
    assert r.items[0].reason_flags == ["ungrounded"] and r.items[0].reason_source == "evidence"
    assert r.info.mode == "score" and not r.info.fallback and r.info.parsed == 19
    assert [(x.kind.value, x.text) for x in r.info.repairs] == [
        ("candidates had no log-probability", "1 candidates had no log-probability; kept in generator order")]
    assert {"llm", "explain"} <= set(r.info.timings)
    prompt, options, prefix = backend.score_calls[0][0][0], backend.score_calls[0][1], backend.score_calls[0][2]
    assert options == list("ABCDEFGHIJKLMNOPQRST") and prefix == "["
    assert "[A] " in prompt and "[T] " in prompt and "[1] " not in prompt and "letter" in prompt
    explain = backend.calls[0][0]
    assert "were picked for me, best first" in explain and explain.count("\n[") == 5 + 1  # and the format line


def test_without_reasons_nothing_is_generated(ml100k):
    backend = ScoringBackend(lambda p: [float(-i) for i in range(20)])
    r = Recommender(ml100k, backend=backend, k=3, mode="score", reasons=False).recommend(["Fargo (1996)"])
    assert backend.calls == [] and r.info.finish_reason == "scored" and r.items[0].reason == ""


def test_scoring_failure_falls_back(ml100k):
    class Broken(ScoringBackend):
        def score(self, prompts, options, prefix="["):
            raise RuntimeError("device lost")

    r = Recommender(ml100k, backend=Broken(None), k=3, mode="score").recommend(["Fargo (1996)"])
    assert r.info.fallback and r.info.fallback_reason == "LLM scoring failed: RuntimeError: device lost"
    assert [it.generator_rank for it in r.items] == [1, 2, 3]


def test_no_probability_for_any_label_falls_back(ml100k):
    r = Recommender(ml100k, backend=ScoringBackend(lambda p: [-math.inf] * 20), k=3,
                    mode="score").recommend(["Fargo (1996)"])
    assert r.info.fallback and r.info.fallback_reason == "LLM gave no candidate label a probability"


def test_backend_without_scoring_and_bad_settings(ml100k, tmp_path):
    with pytest.raises(MissingAbilityError, match="'scripted' cannot do label scoring; use --mode generate"):
        Recommender(ml100k, backend=ScriptedBackend(lambda p: "[1]"), mode="score").recommend(["Fargo (1996)"])
    with pytest.raises(ValueError, match="mode must be"):
        Recommender(ml100k, backend=ScriptedBackend(lambda p: "[1]"), mode="vote")
    numbered = tmp_path / "numbered.j2"
    numbered.write_text("{% for c in candidates %}[{{ c.number }}] {{ c.title }}\n{% endfor %}")
    with pytest.raises(TemplateError, match=r"write \[\{\{ c.label \}\}\]"):
        Recommender(ml100k, backend=ScoringBackend(lambda p: [0.0] * 20), template=numbered,
                    mode="score").recommend(["Fargo (1996)"])
    with pytest.raises(TemplateError, match="at most 26"):
        Recommender(ml100k, backend=ScoringBackend(lambda p: [0.0] * 30), mode="score",
                    candidates=__import__("zsrec").CandidateConfig(n_candidates=30)).recommend(["Fargo (1996)"])


@pytest.mark.model
@requires_default_model
def test_real_model_scores_in_one_pass_and_batches_agree(ml100k, default_backend):
    rec = Recommender(ml100k, backend=default_backend, mode="score",
                      generation=GenerationConfig(max_new_tokens=32))
    histories = [rec.user_split(u, 5)[0] for u in ("1", "42", "13")]
    batch = rec.ranker.rank_many(histories)
    single = rec.ranker.rank(histories[1])
    assert [it.item_id for it in batch[1].items] == [it.item_id for it in single.items]
    for r in batch:
        assert r.info.mode == "score" and not r.info.fallback and r.info.parsed == 20
        assert len(r.items) == 10
    items = ml100k.catalog.items
    prompts = []
    for h in histories[:2]:
        shortlist = rec.ranker.prepare(h).candidates.indices
        prompts.append(rec.ranker.template.render([items[i] for i in h], [items[i] for i in shortlist], 10,
                                                  "movie", mode="score"))
    together = default_backend.score(prompts, list("ABCDEFGHIJKLMNOPQRST"))
    alone = default_backend.score(prompts[1:], list("ABCDEFGHIJKLMNOPQRST"))
    assert max(abs(a - b) for a, b in zip(together[1], alone[0])) < 1e-3  # left padding changes nothing
