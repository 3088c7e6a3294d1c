"""What a new user hits in the first hour: text shown literally, one-line errors, limits that are said
out loud instead of silently applied, and stdout that holds only the output asked for."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from conftest import write_ml100k
from zsrec.cli import _print_table, _timings_line, app, main
from zsrec.parsing import parse_ranking
from zsrec.repairs import RepairKind
from zsrec.result import RankedResult, RecommendedItem, RunInfo

runner = CliRunner()
TINY = ["--dataset", "ml-100k", "--data-path"]


def _run(args, **kw):
    result = runner.invoke(app, args, **kw)
    return result.exit_code, result.stdout, result.stderr


def _one_line_error(code, err, text):
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert text in lines[0], err


# ---------------------------------------------------------------- text from users shown literally

@pytest.mark.parametrize("args, text", [
    (["-H", "[/bold]"], "no catalog item matches '[/bold]'"),
    (["-H", "[red]Fargo[/red]"], "'[red]Fargo[/red]'"),
])
def test_markup_like_history_is_shown_literally(tmp_path, args, text):
    code, _, err = _run(["rank", *TINY, str(write_ml100k(tmp_path / "ml")), *args])
    _one_line_error(code, err, text)


def test_paths_with_brackets_are_shown_literally(tmp_path):
    code, _, err = _run(["rank", "--data-path", str(tmp_path / "[/data]"), "-H", "x"])
    _one_line_error(code, err, "[/data]")
    code, _, err = _run(["rank", "--items", str(tmp_path / "items[v2].csv"), "--interactions",
                         str(tmp_path / "e.csv"), "-H", "x"])
    _one_line_error(code, err, "items[v2].csv: file not found")


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_install_hint_keeps_its_extra(tmp_path):
    code, _, err = _run(["rank", *TINY, str(write_ml100k(tmp_path / "ml")), "-H", "Fargo (1996)",
                         "--backend", "vllm"])
    _one_line_error(code, err, "pip install 'zsrec[vllm]'")


def test_help_keeps_brackets_and_whole_option_names():
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}
    out = subprocess.run([sys.executable, "-m", "zsrec", "rank", "--help"], capture_output=True, text=True,
                         env=env, check=True).stdout
    assert '"history": [titles]' in " ".join(out.split())
    for option in ("--gpu-memory-utilization", "--tensor-parallel-size", "--popularity-weight",
                   "--allow-unknown-titles"):
        assert option in out
    assert "…" not in out and max(len(line) for line in out.splitlines()) <= 80
    # repeatable options say what each value is, not the Python type that holds them
    assert "list[str]" not in out
    for shown in ("--history TITLE", "--exclude ID", "--column NAME=COLUMN", "--base-url URL"):
        assert shown in out


# ---------------------------------------------------------------- limits said, not applied in silence

def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["rank", "--k", "0"])
    assert e.value.code == 2
    _one_line_error(2, capsys.readouterr().err, "Invalid value for '--k'")
    with pytest.raises(SystemExit) as e:
        main(["rank", "--no-such-option"])
    assert e.value.code == 2 and "No such option" in capsys.readouterr().err


def test_k_above_the_shortlist_is_an_error(tmp_path):
    code, _, err = _run(["rank", *TINY, str(write_ml100k(tmp_path / "ml")), "-H", "Fargo (1996)",
                         "--k", "100000"])
    _one_line_error(code, err, "k=100000 is more than the shortlist holds (n_candidates=20)")


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_device_this_machine_lacks_is_an_input_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, _, err = _run(["rank", *TINY, str(write_ml100k(tmp_path / "ml")), "-H", "Fargo (1996)",
                         "--device", "cuda"])
    _one_line_error(code, err, "sees no CUDA GPU here")


def test_one_candidate_costs_no_model(tmp_path):
    """A model path that does not exist proves no model was even loaded."""
    code, out, err = _run(["rank", *TINY, str(write_ml100k(tmp_path / "ml")), "-H", "Fargo (1996)",
                           "--n-candidates", "1", "--k", "1", "--model", str(tmp_path / "none.gguf"),
                           "--format", "json"])
    assert code == 0, err
    result = json.loads(out)
    assert len(result["items"]) == 1 and not result["info"]["fallback"]
    assert result["info"]["finish_reason"] == "not-called" and "nothing to rank" in result["info"]["note"]
    # its reason is the data's, and no LLM reason is said to have failed: the LLM was not asked
    assert result["items"][0]["reason_source"] == "evidence" and result["items"][0]["reason_flags"] == []
    code, out, err = _run(["rank", *TINY, str(tmp_path / "ml"), "-H", "Fargo (1996)", "--n-candidates", "1", "--k", "1"])
    assert code == 0, err
    assert "reasons: 0 from the LLM (checked against the data), 1 written from the data\n" in out


def test_timings_keep_the_model_load_apart():
    line = _timings_line({"candidates": 0.01, "prompt": 0.02, "llm": 7.5, "parse": 0.0, "model_load": 11.68,
                          "total": 7.53})
    assert "= 7.53s to rank" in line and "model load 11.68s (once per process, not in the ranking time)" in line
    assert "total" not in line


def _result(mode: str) -> RankedResult:
    items = [RecommendedItem(1, "3", "Fargo (1996)", 1.0, "dark [crime] comedy", "llm", 2, 0.5,
                             logprob=-1.234 if mode == "score" else None)]
    info = RunInfo("m", "b", "listwise", 2, 1, 0, 1, False, mode=mode)
    return RankedResult(items, [], info)


def test_score_column_says_what_it_is(capsys):
    _print_table(_result("score"))
    out = capsys.readouterr().out
    assert "log-prob" in out and "-1.23" in out and "dark [crime] comedy" in out
    _print_table(_result("generate"))
    out = capsys.readouterr().out
    assert "log-prob" not in out and "score" not in out.splitlines()[2]


def test_parse_keeps_a_one_word_reason(tmp_path):
    cands = tmp_path / "c.json"
    cands.write_text(json.dumps(["Fargo (1996)", "Heat (1995)"]))
    code, out, err = _run(["parse", "--candidates", str(cands)], input="1. Fargo - crime\n")
    assert code == 0, err
    assert json.loads(out)["ranking"][0]["reason"] == "crime"


def test_repair_kinds_are_typed_whatever_the_titles_hold():
    titles = ["Heat (1995)", "Usual Suspects, The (1995)", "Schindler's List (1993)"]
    r = parse_ranking("1. Usual Suspects, The (1995) - twisty\n[1] tense\n[1] again", titles)
    assert [x.kind for x in r.repairs] == [RepairKind.MATCHED_TITLE, RepairKind.DROPPED_REPEATS,
                                           RepairKind.APPENDED_MISSING]
    assert "Usual Suspects, The" in r.repairs[0].text


# ---------------------------------------------------------------- evaluation folders

def test_eval_refuses_to_mix_two_runs_and_reports_what_was_asked(tmp_path, ml100k):
    base = ["eval", "--history-len", "1", "--candidates", "generator", "--out", str(tmp_path)]
    code, _, err = _run(base + ["--users", "10", "--methods", "pop,bm25"])
    assert code == 0, err
    rows = [json.loads(line) for line in (tmp_path / "rankings.jsonl").read_text().splitlines()]
    catalog_ids = set(ml100k.catalog.ids)
    assert all(r["target_id"] in catalog_ids and set(r["ranking_ids"]) <= catalog_ids for r in rows)
    assert rows[0]["ranking_ids"][0] == ml100k.catalog.items[rows[0]["ranking"][0]].id
    code, _, err = _run(base + ["--users", "5", "--methods", "pop,bm25"])
    _one_line_error(code, err, "n_test_users=10 there, 5 now")
    assert "--fresh" in err
    code, out, err = _run(base + ["--users", "10", "--methods", "pop"])  # same run, fewer methods
    assert code == 0, err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {e["method"] for e in summary["results"]} == {"pop"} and summary["results"][0]["users"] == 10
    code, out, err = _run(base + ["--users", "5", "--methods", "pop", "--fresh"])
    assert code == 0, err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["results"][0]["users"] == 5
    assert len((tmp_path / "rankings.jsonl").read_text().splitlines()) == 5


# ---------------------------------------------------------------- stdout holds only the output

NOISY = textwrap.dedent('''
    import os, sys
    from zsrec.backends.base import Generation

    class Noisy:
        """Prints like an engine: Python-level and straight to file descriptor 1."""
        name, model_name, context_length = "noisy", "noisy", 4096
        abilities = frozenset()

        def __init__(self, **_):
            print("INFO engine starting")
            os.write(1, b"C-level log line\\n")

        def count_tokens(self, prompt):
            return len(prompt.split())

        def generate(self, prompts, config):
            print("INFO generating")
            os.write(1, b"C-level progress\\n")
            return [Generation("[2] the reason", 1, 1, "stop") for _ in prompts]
''')


def test_engine_output_never_reaches_stdout(tmp_path):
    (tmp_path / "noisy_backend.py").write_text(NOISY)
    data = write_ml100k(tmp_path / "ml")
    users = tmp_path / "users.txt"
    users.write_text("1\n2\n")
    code = ("import sys; import zsrec.backends as b; b.BUILTIN['noisy'] = 'noisy_backend:Noisy'; "
            "from zsrec.cli import main; main(sys.argv[1:])")
    env = {**os.environ, "PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    common = ["rank", "--data-path", str(data), "--backend", "noisy", "--k", "2", "--n-candidates", "3"]
    one = subprocess.run([sys.executable, "-c", code, *common, "-H", "Fargo (1996)", "--format", "json"],
                         capture_output=True, text=True, env=env)
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout)["items"][0]["llm_reason"] == "the reason"
    assert "C-level log line" in one.stderr and "INFO generating" in one.stderr
    many = subprocess.run([sys.executable, "-c", code, *common, "--users-file", str(users)],
                          capture_output=True, text=True, env=env)
    assert many.returncode == 0, many.stderr
    assert [json.loads(line)["user_id"] for line in many.stdout.splitlines()] == ["1", "2"]
    assert "C-level progress" in many.stderr
