"""The serving benchmarks (llama.cpp replicas, `zsrec serve` under load, generate's shapes), each run
once at toy size so the scripts keep working; the numbers are not checked here (benchmarks measure,
tests do not time)."""

import json

import pytest

from benchmark_runs import run_benchmark as _run

pytestmark = pytest.mark.model


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


def test_generate_shapes_benchmark_toy(tmp_path):
    _run(["generate_shapes.py", "--device", "cpu", "--batches", "2", "--max-new-tokens", "4", "--name", "shapes-toy"],
         tmp_path)
    rows = json.loads((tmp_path / "shapes-toy.json").read_text())["rows"]
    assert [(r["repeated_line_stop"], r["batch"]) for r in rows] == [(True, 2), (False, 2)]
    assert all(r["first"]["steps"] >= 1 and r["repeat"]["ms_per_step"] > 0 for r in rows)
    assert "| off | 2 |" in (tmp_path / "shapes-toy.md").read_text()
