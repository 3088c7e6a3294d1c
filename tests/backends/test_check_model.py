"""A model that cannot be used, found without loading it: a run that will need the model stops before
it reads its data (or, for ``zsrec eval``, fits its trained baselines), with one line that says why."""

from __future__ import annotations

import dataclasses
import importlib.util
import time

import pytest
from typer.testing import CliRunner

from conftest import ScriptedBackend

from zsrec.backends import BUILTIN, BackendSpec
from zsrec.cli import app
from zsrec.errors import ModelLoadError, OptionError

runner = CliRunner()


@pytest.mark.parametrize("model, says", [
    ("/nonexistent/model", "model path not found: /nonexistent/model"),
    ("./models/mine", "model path not found: ./models/mine"),
    ("/nonexistent/model.gguf", "GGUF file not found: /nonexistent/model.gguf"),
])
def test_a_model_path_that_is_not_there(model, says):
    for name in ("transformers", "vllm"):
        with pytest.raises(ModelLoadError) as e:
            BackendSpec(name, model).check_model()
        # vllm missing is said first: there is nothing to load the model with
        assert says in str(e.value) or (name == "vllm" and "needs vLLM" in str(e.value)), (name, e.value)


def test_a_folder_without_a_model_in_it(tmp_path):
    with pytest.raises(ModelLoadError, match="has no config.json"):
        BackendSpec("transformers", str(tmp_path)).check_model()


def test_what_only_a_load_can_tell_passes():
    """The default model (its package is installed), a hub id (no hub is asked) and a folder that holds
    a config.json (whether it loads is the load's to say)."""
    BackendSpec("transformers").check_model()
    t0 = time.perf_counter()
    BackendSpec("transformers", "HuggingFaceTB/SmolLM2-360M-Instruct").check_model()
    assert time.perf_counter() - t0 < 1.0


def test_vllm_not_installed_is_said_before_the_data():
    if importlib.util.find_spec("vllm") is not None:
        BackendSpec("vllm").check_model()
        return
    with pytest.raises(ModelLoadError, match=r"pip install 'zsrec\[vllm\]'"):
        BackendSpec("vllm").check_model()


def test_openai_base_urls_are_checked_not_called():
    with pytest.raises(ModelLoadError, match="must start with http:// or https://"):
        BackendSpec("openai", options={"base_url": "localhost:8000"}).check_model()
    with pytest.raises(ModelLoadError, match="'ftp://b' must start"):
        BackendSpec("openai", options={"base_url": ["http://a", "ftp://b"]}).check_model()
    with pytest.raises(ModelLoadError, match="no --base-url"):
        BackendSpec("openai", options={"base_url": []}).check_model()
    BackendSpec("openai", options={"base_url": "http://127.0.0.1:1"}).check_model()  # nothing listens there


def test_a_plugin_checks_its_own_or_nothing(monkeypatch):
    seen = []

    class Plain:
        def __init__(self, model=None, depth: int = 1):
            raise AssertionError("check_model must not load")

    class Own(Plain):
        @classmethod
        def check_model(cls, model, **options):
            seen.append((model, options))
            if model == "bad":
                raise ModelLoadError("no such model: bad")

    monkeypatch.setitem(BUILTIN, "plain", Plain)
    monkeypatch.setitem(BUILTIN, "own", Own)
    BackendSpec("plain", "anything").check_model()
    BackendSpec("own", "good", {"depth": 2}).check_model()
    assert seen == [("good", {"depth": 2})]
    with pytest.raises(ModelLoadError, match="no such model: bad"):
        BackendSpec("own", "bad").check_model()
    with pytest.raises(OptionError, match="has no option 'width'"):  # the options' own check comes first
        BackendSpec("own", "good", {"width": 2}).check_model()


def _missing_files(tmp_path):
    return ["--items", str(tmp_path / "items.csv"), "--interactions", str(tmp_path / "picks.csv")]


def _error(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.stderr
    return " ".join(result.stderr.split())


def test_rank_says_the_model_is_missing_before_reading_its_data(tmp_path):
    """The items file is missing too: the model is said first, since it is checked before any file is read."""
    err = _error(["rank", "-H", "Fargo", "--model", str(tmp_path / "none.gguf"), *_missing_files(tmp_path)])
    assert "GGUF file not found" in err and "items.csv" not in err
    err = _error(["rank", "-H", "Fargo", "--backend", "openai", "--base-url", "localhost:8000",
                  *_missing_files(tmp_path)])
    assert "must start with http://" in err and "items.csv" not in err


def test_a_run_that_needs_no_model_takes_any(tmp_path):
    """No share for the LLM and no reasons from it: the model is never loaded, so never checked."""
    err = _error(["rank", "-H", "Fargo", "--model", str(tmp_path / "none.gguf"), "--fusion-weight", "0",
                  "--reasons", "evidence", *_missing_files(tmp_path)])
    assert "items.csv" in err and "GGUF" not in err


def test_eval_says_it_before_fitting_anything(tmp_path):
    err = _error(["eval", "--methods", "pop,llm", "--model", str(tmp_path / "none.gguf"), "--out", str(tmp_path / "run"),
                  *_missing_files(tmp_path)])
    assert "GGUF file not found" in err and "items.csv" not in err
    err = _error(["eval", "--methods", "pop,bm25", "--model", str(tmp_path / "none.gguf"), "--out", str(tmp_path / "run"),
                  *_missing_files(tmp_path)])
    assert "items.csv" in err and "GGUF" not in err  # no LLM method: no model to check


# ---------------------------------------------------------------- the Python API and continued evaluations


def test_the_python_api_says_it_before_building_the_indexes(ml100k, tmp_path):
    """The constructor checks the model where its settings will need it, before the shortlist's indexes
    are built (and written: here the index file stays unwritten); ``from_dataset`` before the data."""
    from zsrec import Recommender
    from zsrec.candidates import CandidateConfig

    missing = BackendSpec("transformers", str(tmp_path / "none.gguf"))
    index = tmp_path / "shortlist.npz"
    with pytest.raises(ModelLoadError, match="GGUF file not found"):
        Recommender(ml100k, backend=missing, index=index)
    assert not index.exists()
    with pytest.raises(ModelLoadError, match="GGUF file not found"):  # the folder is not there either: the model is said
        Recommender.from_dataset("ml-100k", data_path=tmp_path / "no-data", backend=missing, k=5)
    with pytest.raises(OptionError, match="unknown Recommender setting"):  # settings are still checked first
        Recommender.from_dataset("ml-100k", data_path=tmp_path / "no-data", backend=missing, colour="red")
    # settings that need no model take any, as before: it is never loaded
    rec = Recommender(ml100k, backend=missing, index=index, reasons="evidence", fusion_weight=0)
    assert index.exists() and rec.recommend(["Fargo (1996)"], k=3).items
    with pytest.raises(ModelLoadError, match="GGUF file not found"):  # a variant that needs it is checked
        rec.with_settings(fusion_weight=1)
    assert rec.with_settings(k=3).ranker.config.k == 3
    assert rec.ranker.handle.loaded is None
    # a shortlist of one needs no model either: there is nothing for an LLM to order
    one = Recommender(ml100k, backend=missing, candidates=CandidateConfig(n_candidates=1), k=1)
    assert [it.reason_flags for it in one.recommend(["Fargo (1996)"]).items] == [[]]


class _Gone(ScriptedBackend):
    """A backend plugin whose model can be taken away between runs (a model folder deleted)."""

    gone = False

    def __init__(self, model=None):
        super().__init__(lambda p: "[2] > [1]")

    @classmethod
    def check_model(cls, model, **options):
        if cls.gone:
            raise ModelLoadError(f"model path not found: {model}")


def test_a_continued_evaluation_asks_for_the_model_only_where_it_ranks(ml100k, tmp_path, monkeypatch):
    from zsrec.evaluation import EvalConfig
    from zsrec.evaluation.runner import Evaluation, parse_methods

    monkeypatch.setitem(BUILTIN, "gone", _Gone)
    monkeypatch.setattr(_Gone, "gone", False)
    spec = BackendSpec("gone", "/models/mine")
    methods = parse_methods("pop,llm+fusion")
    config = EvalConfig(history_lens=(3,), n_test_users=6, settings=("generator",), fusion_weight=None,
                        n_validation_users=20)  # the fusion weight chosen on validation users
    Evaluation(ml100k, config, methods, tmp_path, backend=spec).run()
    rows = (tmp_path / "rankings.jsonl").read_text()
    monkeypatch.setattr(_Gone, "gone", True)
    # every LLM ranking and the fusion weight are stored: the run needs no model, and reports
    summary = Evaluation(ml100k, config, methods, tmp_path, backend=spec).run()
    assert {e["method"] for e in summary["results"]} == {"pop", "llm", "llm+fusion"}
    assert (tmp_path / "rankings.jsonl").read_text() == rows
    # a history length more: the LLM would rank again, so the model is asked for before anything is ranked
    more = dataclasses.replace(config, history_lens=(3, 5))
    with pytest.raises(ModelLoadError, match="model path not found: /models/mine"):
        Evaluation(ml100k, more, methods, tmp_path, backend=spec).run()
    assert (tmp_path / "rankings.jsonl").read_text() == rows  # not even popularity's rows
    # the fused rows to make again: from the stored LLM rankings and the stored weight, with no model ...
    kept = "".join(line for line in rows.splitlines(keepends=True) if '"llm+fusion"' not in line)
    (tmp_path / "rankings.jsonl").write_text(kept)
    Evaluation(ml100k, config, methods, tmp_path, backend=spec).run()
    assert sorted((tmp_path / "rankings.jsonl").read_text().splitlines()) == sorted(rows.splitlines())
    # ... but a weight not stored is chosen by the LLM's rankings of validation users: it asks for the model
    (tmp_path / "rankings.jsonl").write_text(kept)
    (tmp_path / "tuned.json").unlink()
    with pytest.raises(ModelLoadError, match="model path not found"):
        Evaluation(ml100k, config, methods, tmp_path, backend=spec).run()


def test_eval_leaves_the_check_to_a_continued_run(tmp_path):
    """A folder that holds rankings: the CLI does not refuse the model before the data (the run checks
    it once it knows what is left to rank); ``--fresh`` ranks everything again, so it refuses."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "rankings.jsonl").write_text('{"setting": "generator"}\n')
    args = ["eval", "--methods", "pop,llm", "--model", str(tmp_path / "none.gguf"), "--out", str(out),
            *_missing_files(tmp_path)]
    err = _error(args)
    assert "items.csv" in err and "GGUF" not in err
    err = _error([*args, "--fresh"])
    assert "GGUF file not found" in err and "items.csv" not in err
