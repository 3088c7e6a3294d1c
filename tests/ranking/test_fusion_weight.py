"""The LLM's order fused with the shortlist's at a weight (``fusion_weight``), as the evaluation's
X+fusion fuses them: 0 is the shortlist's order (the LLM writes reasons at most, or is never asked),
1 the LLM's, and a weight between blends the two by reciprocal rank."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from conftest import ScoringBackend, ScriptedBackend, requires_default_model
from zsrec.backends import BackendSpec
from zsrec.backends.base import GenerationConfig
from zsrec.cli import app
from zsrec.errors import OptionError
from zsrec.ranking.core import REASONS_ONLY, SHORTLIST_ONLY
from zsrec.ranking.fusion import fuse
from zsrec.recommender import Recommender

HISTORY = ["Toy Story (1995)", "Fargo (1996)", "Star Wars (1977)"]


def _reversed(prompt: str) -> list[float]:
    """Label scores that put the shortlist's last candidate first: the model disagrees entirely."""
    return [float(i) for i in range(20)]


def test_weight_zero_with_reasons_from_the_data_never_loads_the_model(ml100k):
    # a model path that does not exist: loading it would raise, so the ranking shows it was never loaded
    rec = Recommender(ml100k, backend=BackendSpec("transformers", "/nonexistent/model.gguf"), k=5,
                      reasons="evidence", fusion_weight=0)
    assert not rec.ranker.needs_model
    r = rec.recommend(HISTORY)
    assert [it.generator_rank for it in r.items] == [1, 2, 3, 4, 5]
    assert {it.source for it in r.items} == {"generator"} and all(it.llm_rank is None for it in r.items)
    assert all(it.reason_source == "evidence" and it.reason for it in r.items)
    assert r.info.note == SHORTLIST_ONLY and not r.info.fallback and r.info.finish_reason == "not-called"
    assert r.info.fusion_weight == 0 and r.info.parsed == 0 and "model_load" not in r.info.timings
    assert rec.ranker.handle.loaded is None
    # score mode needs label scoring only to rank: at weight 0 a backend without it serves
    plain = ScriptedBackend(lambda p: "")
    r = Recommender(ml100k, backend=plain, k=3, mode="score", reasons="none", fusion_weight=0).recommend(HISTORY)
    assert plain.calls == [] and [it.generator_rank for it in r.items] == [1, 2, 3]


def test_weight_zero_with_llm_reasons_explains_the_shortlist_top_k(ml100k):
    backend = ScriptedBackend(lambda p: "[1] - loved by fans of the saga\n[2] - also good")
    rec = Recommender(ml100k, backend=backend, k=4, fusion_weight=0)
    shortlist = rec.recommend(HISTORY, k=4)
    assert len(backend.calls) == 1 and len(backend.calls[0]) == 1  # one generation: the reasons
    prompt = backend.calls[0][0]
    assert "best first" in prompt and prompt.count("\n[") == 4 + 1  # the top 4 and the format line
    titles = [it.title for it in shortlist.items]
    assert [prompt.index(t) for t in titles] == sorted(prompt.index(t) for t in titles)  # in the shortlist's order
    assert [it.generator_rank for it in shortlist.items] == [1, 2, 3, 4]
    # the model's words reach the top two items; they name nothing counted, so the data's reasons are shown
    assert [it.llm_reason for it in shortlist.items[:2]] == ["loved by fans of the saga", "also good"]
    assert shortlist.items[0].reason_flags == ["ungrounded"] and shortlist.items[0].reason_source == "evidence"
    assert shortlist.info.note == REASONS_ONLY and not shortlist.info.fallback
    assert {"explain"} <= set(shortlist.info.timings) and "llm" not in shortlist.info.timings


@pytest.mark.parametrize("weight", [0.2, 0.5, 0.8])
def test_label_scores_fused_as_the_evaluation_fuses_them(ml100k, weight):
    backend = ScoringBackend(_reversed, answer=lambda p: "[1] - a reason")
    rec = Recommender(ml100k, backend=backend, k=10, mode="score", fusion_weight=weight)
    r = rec.recommend(HISTORY)
    llm_order = list(range(19, -1, -1))  # positions, best first, as the model scored them
    expected = fuse(llm_order, range(20), weight)[:10]
    assert [it.generator_rank - 1 for it in r.items] == expected
    assert {it.source for it in r.items} == {"fused"} and r.info.fusion_weight == weight
    assert [it.llm_rank for it in r.items] == [20 - pos for pos in expected]  # the model put position p at 20 - p
    # the reasons are asked for the fused top k, in the fused order
    explain = backend.calls[0][0]
    titles = [it.title for it in r.items]
    assert [explain.index(t) for t in titles] == sorted(explain.index(t) for t in titles)
    assert r.items[0].llm_reason == "a reason" and r.items[1].reason_flags == ["empty"]  # [1] is the fused first
    # weight 1 is the model's order, untouched; weight 0 the shortlist's
    alone = Recommender(ml100k, backend=backend, k=10, mode="score", reasons="none").recommend(HISTORY)
    assert [it.generator_rank for it in alone.items] == list(range(20, 10, -1))
    assert {it.source for it in alone.items} == {"llm"} and alone.items[0].llm_rank == 1


def test_generated_order_fused_keeps_the_models_reasons_on_its_items(ml100k):
    backend = ScriptedBackend(lambda p: "[12] - Picked by many who picked Star Wars (1977)\n[20] - a comedy")
    rec = Recommender(ml100k, backend=backend, k=20, reasons="llm", fusion_weight=0.5)
    r = rec.recommend(HISTORY)
    placed = [11, 19]  # the model named candidates 12 and 20; the rest follow in shown order
    llm_order = placed + [p for p in range(20) if p not in placed]
    assert [it.generator_rank - 1 for it in r.items] == fuse(llm_order, range(20), 0.5)
    by_position = {it.generator_rank - 1: it for it in r.items}
    assert by_position[11].llm_rank == 1 and by_position[19].llm_rank == 2 and by_position[0].llm_rank is None
    # the model's reasons stay with the items it gave them to, wherever the fusion put those items
    assert by_position[11].llm_reason == "Picked by many who picked Star Wars (1977)"
    assert by_position[19].llm_reason == "a comedy" and by_position[0].llm_reason == ""
    assert r.info.parsed == 2 and not r.info.fallback and len(backend.calls) == 1  # no second generation


def test_a_fused_ranking_whose_model_fails_is_the_shortlist_order_flagged(ml100k):
    class Broken(ScoringBackend):
        def score(self, prompts, options, prefix="["):
            raise RuntimeError("device lost")

    r = Recommender(ml100k, backend=Broken(None), k=3, mode="score", fusion_weight=0.5).recommend(HISTORY)
    assert r.info.fallback and r.info.fallback_reason == "LLM scoring failed: RuntimeError: device lost"
    assert [it.generator_rank for it in r.items] == [1, 2, 3] and {it.source for it in r.items} == {"generator"}


@pytest.mark.parametrize("weight", [-0.1, 1.5, float("nan"), True, "half"])
def test_a_weight_outside_0_to_1_is_refused(ml100k, weight):
    with pytest.raises(OptionError, match="fusion_weight is the LLM's share of the order, from 0 to 1"):
        Recommender(ml100k, backend=ScriptedBackend(lambda p: ""), fusion_weight=weight)


def test_the_cli_ranks_by_the_shortlist_without_a_model():
    runner = CliRunner()
    result = runner.invoke(app, ["rank", *sum((["-H", h] for h in HISTORY), []), "--k", "3", "--fusion-weight", "0",
                                 "--reasons", "evidence", "--model", "/nonexistent/model.gguf", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert [it["generator_rank"] for it in out["items"]] == [1, 2, 3] and out["info"]["fusion_weight"] == 0
    assert out["info"]["note"] == SHORTLIST_ONLY and {it["source"] for it in out["items"]} == {"generator"}
    result = runner.invoke(app, ["rank", "-H", "Fargo (1996)", "--fusion-weight", "1.5"])
    assert result.exit_code == 2 and "--fusion-weight" in result.stderr


@pytest.mark.model
@requires_default_model
def test_the_real_model_scored_and_fused_then_explained(ml100k, default_backend):
    """The embedded model: its label log-probabilities fused with the shortlist's order at 0.5, then
    one generation writes reasons for that fused top k."""
    rec = Recommender(ml100k, backend=default_backend, k=3, mode="score", fusion_weight=0.5,
                      generation=GenerationConfig(max_new_tokens=48))
    r = rec.recommend(HISTORY)
    alone = Recommender(ml100k, backend=default_backend, k=20, mode="score", reasons="none").recommend(HISTORY)
    llm_order = [it.generator_rank - 1 for it in alone.items]
    assert [it.generator_rank - 1 for it in r.items] == fuse(llm_order, range(20), 0.5)[:3]
    assert [it.llm_rank for it in r.items] == [llm_order.index(it.generator_rank - 1) + 1 for it in r.items]
    assert {it.source for it in r.items} == {"fused"} and not r.info.fallback and r.info.parsed == 20
    assert r.info.raw_output and r.info.timings["explain"] > 0  # the reasons' generation ran, after the fusion
    assert all(it.reason for it in r.items)
