"""The speed, quality and reasons benchmarks, each run once at toy size so the scripts keep working;
the numbers are not checked here (benchmarks measure, tests do not time)."""

import json
import subprocess
import sys

import pytest

from benchmark_runs import BENCH, run_benchmark as _run

pytestmark = pytest.mark.model


def test_speed_benchmark_toy(tmp_path):
    _run(["speed.py", "--toy"], tmp_path)
    out = json.loads((tmp_path / "speed.json").read_text())
    assert {r["retriever"] for r in out["candidates"]} == {"sparse", "rank-bm25"}
    assert {r["mode"] for r in out["llm"]["rows"]} == {"generate", "score"}
    assert (tmp_path / "speed.png").stat().st_size > 1000
    md = (tmp_path / "speed.md").read_text()
    assert "| ML-100K | sparse |" in md and "| cpu | float32 | generate | 2 |" in md
    assert {r["device"] for r in out["llm"]["rows"]} == {"cpu"} and out["llm"]["matmul_gflops"]["cpu"] > 0
    # the candidate stage alone, under its own name: no LLM stage run or written
    _run(["speed.py", "--toy", "--candidates-only", "--name", "speed-candidates"], tmp_path)
    alone = json.loads((tmp_path / "speed-candidates.json").read_text())
    assert alone["llm"] == [] and {r["retriever"] for r in alone["candidates"]} == {"sparse", "rank-bm25"}
    md = (tmp_path / "speed-candidates.md").read_text()
    assert md.startswith("# Speed: candidate generation (one run")
    assert "| ML-100K | sparse |" in md and "LLM stage" not in md and "speed-candidates.json" in md


def test_quality_benchmark_toy(tmp_path):
    # the trained item-item baselines (EASE, ItemKNN) and their tuning are tested in test_baselines.py
    _run(["quality.py", "--users", "2", "--history-len", "1,3", "--phases", "1,2", "--sasrec-epochs", "1",
          "--max-new-tokens", "16", "--methods", "random,pop,bm25,cooc,generator,sasrec,llm-score,llm-score+fusion",
          "--validation-users", "4", "--settings", "generator,full",
          "--work", str(tmp_path / "work")],
         tmp_path)
    summary = json.loads((tmp_path / "quality.json").read_text())
    methods = {e["method"] for e in summary["results"]}
    assert {"pop", "bm25", "generator", "sasrec", "llm-score", "llm-score+fusion"} <= methods
    assert (tmp_path / "quality.png").is_file() and (tmp_path / "quality-rankings.jsonl.gz").is_file()


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


def test_fusion_weight_benchmark_toy(tmp_path):
    _run(["fusion_weight.py", "--users", "2", "--history-len", "1,3", "--weights", "1,0.5,0", "--batch", "2",
          "--stored", str(tmp_path / "none.jsonl.gz")], tmp_path)
    out = json.loads((tmp_path / "fusion_weight.json").read_text())
    rows = {(r["weight"], r["n"]): r for r in out["rows"]}
    assert set(rows) == {(w, n) for w in (1.0, 0.5, 0.0) for n in (1, 3, "all")}
    assert all(0 <= rows[(w, n)]["ndcg@10"] <= 1 for w in (1.0, 0.5, 0.0) for n in (1, 3))
    assert rows[(0.0, "all")]["compared"] == 0 and "p_vs_weight_0" in rows[(0.5, 1)]
    assert "| 0.5 |" in (tmp_path / "fusion_weight.md").read_text()
