"""Each benchmark once at toy size, so the scripts keep working; the numbers are not checked here
(benchmarks measure, tests do not time)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from zsrec.candidates import CandidateConfig
from zsrec.length_weights import by_length_text

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
pytestmark = pytest.mark.model


def _run(args, tmp_path):
    proc = subprocess.run([sys.executable, *args, "--out", str(tmp_path)], cwd=BENCH, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_speed_benchmark_toy(tmp_path):
    _run(["speed.py", "--toy"], tmp_path)
    out = json.loads((tmp_path / "speed.json").read_text())
    assert {r["retriever"] for r in out["candidates"]} == {"sparse", "rank-bm25"}
    assert {r["mode"] for r in out["llm"]["rows"]} == {"generate", "score"}
    assert (tmp_path / "speed.png").stat().st_size > 1000
    md = (tmp_path / "speed.md").read_text()
    assert "| ML-100K | sparse |" in md and "| cpu | float32 | generate | 1 |" in md
    assert {r["device"] for r in out["llm"]["rows"]} == {"cpu"} and out["llm"]["matmul_gflops"]["cpu"] > 0


def test_serving_benchmark_toy(tmp_path):
    pytest.importorskip("xllamacpp")
    _run(["serving.py", "--users", "2", "--max-new-tokens", "8"], tmp_path)
    rows = json.loads((tmp_path / "serving.json").read_text())["rows"]
    assert len(rows) == 4 and all(r["users"] == 2 for r in rows)


def test_serve_load_benchmark_toy(tmp_path):
    _run(["serve_load.py", "--clients", "1,2", "--seconds", "1", "--mode", "score", "--reasons", "evidence",
          "--serve-args", "--device cpu", "--name", "serve-toy"], tmp_path)
    out = json.loads((tmp_path / "serve-toy.json").read_text())
    rows = out["rows"]
    assert out["serve_args"] == "--device cpu" and "--serve-args '--device cpu'" in out["command"]
    assert all(r["stage_mean_s"]["llm"] > 0 and r["stage_mean_s"]["candidates"] > 0 for r in rows)
    assert [(r["config"], r["clients"]) for r in rows] == [("batching on", 1), ("batching on", 2),
                                                           ("batching off", 1), ("batching off", 2)]
    assert all(r["lost"] == 0 and r["answered"] == r["requests"] > 0 for r in rows)
    assert "| batching off | 2 |" in (tmp_path / "serve-toy.md").read_text()
    assert (tmp_path / "serve-toy.png").stat().st_size > 1000


def test_cooccurrence_variants_benchmark(tmp_path):
    _run(["cooccurrence_variants.py", "--folds", "2"], tmp_path)
    out = json.loads((tmp_path / "cooccurrence_variants.json").read_text())
    rows = {r["variant"]: r for r in out["rows"]}
    assert len(rows) == 20 and all(0 < r["recall20"]["5"] < 1 for r in rows.values())
    fused = out["shortlist_fused"]
    assert (fused[0]["signal"], fused[0]["share"]) == ("the shortlist without the session signal", 0.0)
    signals = {f["signal"] for f in fused[1:]}
    assert len(signals) == 7 and any(s.startswith("EASE") for s in signals)
    assert all(sorted(f["share"] for f in fused if f["signal"] == s) == [0.2, 0.35, 0.5, 1.0] for s in signals)
    assert fused[0]["p_vs_shipped"]["5"] is None and all(0 <= f["p_vs_shipped"]["5"] <= 1 for f in fused[1:])
    assert all(0 < f["recall20"]["5"] < 1 for f in fused)
    by_index = out["default_shortlist_by_index"]
    assert [r["index"] for r in by_index] == ["the shortlist without the session signal", "pairs picked within 60 s counted twice"]
    # the default shortlist on the shipped index is the same list as the fusion table's w = 0 row
    assert by_index[0]["recall20"]["5"] == pytest.approx(fused[0]["recall20"]["5"])
    assert by_index[0]["p_vs_shipped"]["5"] is None and 0 <= by_index[1]["p_vs_shipped"]["5"] <= 1
    # the dense reimplementation of the shipped signal agrees with the product's own index (up to how
    # ties among equal neighbour scores are broken: a case or two)
    shipped = rows["cosine, 100 neighbours (shipped)"]["recall20"]
    assert all(abs(shipped[n] - out["product_index_recall20"][n]) < 0.01 for n in shipped)
    assert "| cosine, 100 neighbours (shipped) |" in (tmp_path / "cooccurrence_variants.md").read_text()


def test_session_signal_benchmark(tmp_path):
    _run(["session_signal.py", "--folds", "2", "--shares", "0.2", "--seconds", "60", "--decays", "0.5,0.8"], tmp_path)
    out = json.loads((tmp_path / "session_signal.json").read_text())
    assert out["validation_off"]["session_share"] == 0.0
    assert [(r["session_share"], r["session_decay"]) for r in out["validation"]] == [(0.2, 0.5), (0.2, 0.8)]
    assert out["chosen"]["session_share"] == 0.2 and out["criterion_lengths"] == [3, 5, 10]
    assert out["chosen"]["kept"] == (out["chosen"]["p_pooled"] < 0.05)
    test = out["test"]
    # the default row is the evaluation's own generator on the test users (quality-cooc.md)
    assert test["default"]["recall20"]["5"] == pytest.approx(0.41) and test["default"]["recall20"]["1"] == pytest.approx(0.625)
    # one-pick histories are left alone: the same figure with the signal on
    assert test["chosen"]["recall20"]["1"] == test["default"]["recall20"]["1"]
    assert all(0 <= test["chosen"]["p_vs_default"][n] <= 1 for n in ("3", "5", "10"))
    cost = out["cost_ml100k"]
    assert cost["off"]["session_pairs_kept"] == 0 < cost["on"]["session_pairs_kept"]
    assert cost["on"]["build_s"] > 0 and cost["on"]["shortlist_p50_ms"] > 0
    assert "## Test users (once)" in (tmp_path / "session_signal.md").read_text()


def test_cooccurrence_scale_benchmark_toy(tmp_path):
    _run(["cooccurrence_scale.py", "--toy"], tmp_path)
    rows = json.loads((tmp_path / "cooccurrence_scale.json").read_text())["rows"]
    assert [r["catalog"] for r in rows] == ["ML-100K", "synthetic 5,000"]
    for r in rows:
        assert r["build_s"] > 0 and r["neighbours_kept"] > 0 and r["added_events"] >= 10_000
        # the opt-in session signal, measured after the default (its peak memory is the default's or more)
        assert r["session_pairs_kept"] > 0 and r["session_shortlist_p50_ms"] > 0
        assert r["session_peak_rss_mb"] >= r["peak_rss_mb"]
    assert "| ML-100K | " in (tmp_path / "cooccurrence_scale.md").read_text()


def test_split_spread_benchmark(tmp_path):
    _run(["split_spread.py", "--seeds", "2"], tmp_path)
    out = json.loads((tmp_path / "split_spread.json").read_text())
    assert [d["seed"] for d in out["per_seed"]] == [0, 1]
    # the reports' draw: the same figures as the seed-0 evaluation (benchmarks/results/quality-cooc.md)
    seed0 = out["per_seed"][0]["recall20"]
    assert seed0["shortlist"]["5"] == pytest.approx(0.44) and seed0["EASE"]["5"] == pytest.approx(0.42)
    assert seed0["ItemKNN"]["5"] == pytest.approx(0.39)
    # without its session signal: as session_signal.md measured it; one-pick histories never use it
    assert seed0["shortlist without session"]["5"] == pytest.approx(0.41)
    assert seed0["shortlist without session"]["1"] == seed0["shortlist"]["1"]
    s = out["summary"]["shortlist"]["5"]
    assert s["seed0"] == seed0["shortlist"]["5"] and s["min"] <= s["mean"] <= s["max"] and 0 <= s["draws_at_target"] <= 2
    ties = out["target_in_same_second"]
    assert all(0 < ties[who][n] < 1 for who in ("seed0_test_users", "all_users") for n in ("1", "3", "5", "10"))
    assert "| shortlist | 5 |" in (tmp_path / "split_spread.md").read_text()
    assert (tmp_path / "split_spread.png").stat().st_size > 1000


def test_generate_shapes_benchmark_toy(tmp_path):
    _run(["generate_shapes.py", "--device", "cpu", "--batches", "1,2", "--max-new-tokens", "4", "--name", "shapes-toy"],
         tmp_path)
    rows = json.loads((tmp_path / "shapes-toy.json").read_text())["rows"]
    assert [(r["repeated_line_stop"], r["batch"]) for r in rows] == [(True, 1), (True, 2), (False, 1), (False, 2)]
    assert all(r["first"]["steps"] >= 1 and r["repeat"]["ms_per_step"] > 0 for r in rows)
    assert "| off | 2 |" in (tmp_path / "shapes-toy.md").read_text()


def test_quality_benchmark_toy(tmp_path):
    _run(["quality.py", "--users", "4", "--history-len", "1,3", "--phases", "1,2", "--sasrec-epochs", "3",
          "--max-new-tokens", "16",
          "--validation-users", "6", "--settings", "generator,full",
          "--work", str(tmp_path / "work")],
         tmp_path)
    summary = json.loads((tmp_path / "quality.json").read_text())
    methods = {e["method"] for e in summary["results"]}
    assert {"pop", "bm25", "generator", "sasrec", "llm-score", "llm-score+fusion"} <= methods
    assert (tmp_path / "quality.png").is_file() and (tmp_path / "quality-rankings.jsonl.gz").is_file()


def test_shortlist_weights_benchmark_toy(tmp_path):
    proc = _run(["shortlist_weights.py", "--toy"], tmp_path)
    assert "session signal" not in proc.stderr  # every shortlist measured as configured, none with it dropped
    out = json.loads((tmp_path / "shortlist_weights.json").read_text())
    assert len(out["validation"]) == 5 and len(out["signals"]) == 2
    assert out["validation_users"] == 20 and out["test_users"] == 20
    report = (tmp_path / "shortlist_weights.md").read_text()
    assert "chosen on validation" in report and "stage 2's weights alone" in report and "## Stage 3" in report
    assert out["by_length"] and out["folds"] == 1
    shipped = out["test_shipped_default"]
    assert shipped["cooccurrence_weight"] == CandidateConfig().cooccurrence_weight and shipped["by_length"]
    assert "the shipped default" in report
    assert (tmp_path / "shortlist_weights.png").is_file()


def test_learned_fusion_benchmark_toy(tmp_path):
    _run(["learned_fusion.py", "--toy", "--folds", "2"], tmp_path)
    out = json.loads((tmp_path / "learned_fusion.json").read_text())
    assert len(out["tried"]) == 1 and out["chosen"] == out["tried"][0]["setting"]
    assert out["validation_cases_per_n"] == 20 and out["test_cases_per_n"] == 20
    for part in ("validation", "test"):
        for order in ("shortlist", "reranked"):
            assert set(out[part][order]["recall20"]) == {"1", "3", "5", "10"}
            assert all(0 <= v <= 1 for v in out[part][order]["recall20"].values())
    # the shortlist's own order on the test users is the evaluation's generator: at most its top 100 holds more
    assert all(out["test"]["shortlist"]["recall20"][n] <= out["test_recall_at_100"][n] for n in ("1", "3", "5", "10"))
    assert abs(sum(out["importance_gain"].values()) - 1) < 1e-6
    assert "## Test users, measured once" in (tmp_path / "learned_fusion.md").read_text()


def test_quality_benchmark_filters_and_names(tmp_path):
    proc = subprocess.run([sys.executable, "quality.py", "--phases", "1", "--methods", "llm", "--work",
                           str(tmp_path / "w"), "--out", str(tmp_path)], cwd=BENCH, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode != 0 and "nothing to run" in proc.stderr  # phase 1 has no LLM method
    _run(["quality.py", "--users", "3", "--history-len", "1", "--phases", "1", "--methods", "pop",
          "--settings", "full", "--bm25-weight", "1", "--popularity-weight", "0", "--name", "q2",
          "--work", str(tmp_path / "w")], tmp_path)
    summary = json.loads((tmp_path / "q2.json").read_text())
    assert {(e["setting"], e["method"]) for e in summary["results"]} == {("full", "pop")}
    assert summary["config"]["bm25_weight"] == 1.0
    report = (tmp_path / "q2.md").read_text()
    assert "Generator shortlist weights: BM25 1, popularity 0, co-occurrence 0.6 (cosine" in report
    assert "histories of up to" not in report  # weights one sets hold at every length
    # each command in the report names the machine it ran on, since one run folder can span machines
    logged = report.split("--name q2 --work", 1)[1].split("\n")[0]
    assert "   # on " in logged and " cores" in logged and "torch " in logged


def test_reasons_benchmark_toy(tmp_path):
    _run(["reasons.py", "--users", "2", "--modes", "generate", "--batch", "2", "--max-new-tokens", "32"], tmp_path)
    row = json.loads((tmp_path / "reasons.json").read_text())["rows"][0]
    assert row["items"] == 20 and row["kept_llm"] + row["from_evidence"] == 20 and row["without_reason"] == 0
    assert "| generate | 20 |" in (tmp_path / "reasons.md").read_text()


def test_early_picks_benchmark_toy(tmp_path):
    _run(["early_picks.py", "--toy"], tmp_path)
    out = json.loads((tmp_path / "early_picks.json").read_text())
    rows = out["rows"]
    assert [r["first_picks"] for r in rows[:3]] == [None, 10, 30] and len(rows) == 4
    assert set(rows[0]["test"]) == {"1", "3", "5", "10"} and out["folds"] == 2
    assert "| first 10 |" in (tmp_path / "early_picks.md").read_text()
    # the shipped shortlist: its one-pick entry on its own index (as counting first 10 picks everywhere
    # does at one pick); longer histories on the last-200 index with the session signal, which the
    # study rows leave off
    assert rows[3]["by_length"] == by_length_text(CandidateConfig().by_length) and "+first" in rows[3]["by_length"]
    assert rows[3]["test"]["1"] == rows[1]["test"]["1"]
    assert rows[3]["test"]["5"] != rows[0]["test"]["5"] or rows[3]["test"]["10"] != rows[0]["test"]["10"]
    assert "session signal on" in (tmp_path / "early_picks.md").read_text()
