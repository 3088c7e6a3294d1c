"""The LLM fails (raises, answers nothing or nonsense, times out, cannot load). Every user
still gets a full ranking in generator order, flagged with the reason, and batch runs keep going and
say which users fell back."""

import json

import pytest
import torch
from typer.testing import CliRunner

from conftest import ScriptedBackend
from zsrec.backends import BUILTIN, BackendSpec
from zsrec.batch import BatchReport, UserRequest
from zsrec.candidates import CandidateConfig, CandidateGenerator
from zsrec.cli import app
from zsrec.errors import ModelLoadError, ModelUnavailableError
from zsrec.prompts import PromptTemplate
from zsrec.ranker import Ranker, RankerConfig
from zsrec.recommender import Recommender


def _ranker(ds, backend, n=10, k=5):
    gen = CandidateGenerator(ds.catalog, ds.interactions, CandidateConfig(n_candidates=n))
    return Ranker(ds.catalog, gen, backend, PromptTemplate("listwise"), RankerConfig(k=k, n_candidates=n))


def _failing(monkeypatch, exc, loads):
    """A registered backend whose load raises ``exc``; the spec names the model asked for."""

    class Failing:
        def __init__(self, model=None):
            loads.append(model)
            raise exc

    monkeypatch.setitem(BUILTIN, "failing", Failing)
    return BackendSpec("failing", "scripted-model")


def _assert_generator_order(r, k=5):
    assert [it.generator_rank for it in r.items] == list(range(1, k + 1))
    assert all(it.source == "generator" for it in r.items)


def _raise(exc):
    def answer(prompt):
        raise exc
    return answer


@pytest.mark.parametrize("answer, finish, reason", [
    (lambda p: "I like turtles", "stop", "LLM output named no candidate"),
    (lambda p: "", "stop", "LLM returned empty output"),
    (lambda p: "   \n", "length", "LLM returned empty output"),
    (lambda p: "", "timeout", "LLM timed out before naming a candidate"),
    (_raise(RuntimeError("CUDA out of memory")), "stop", "LLM call failed: RuntimeError: CUDA out of memory"),
    (_raise(ConnectionError("server went away")), "stop", "LLM call failed: ConnectionError: server went away"),
])
def test_llm_failure_falls_back_with_reason(ml100k, answer, finish, reason):
    r = _ranker(ml100k, ScriptedBackend(answer, finish=finish)).rank([0, 49])
    assert r.info.fallback and r.info.fallback_reason == reason
    assert r.info.parsed == 0
    _assert_generator_order(r)


def test_timeout_after_some_picks_keeps_them(ml100k):
    r = _ranker(ml100k, ScriptedBackend(lambda p: "[4] - good\n[2", finish="timeout")).rank([0])
    assert not r.info.fallback and r.info.finish_reason == "timeout"
    assert r.items[0].generator_rank == 4 and r.info.parsed == 1  # "[2" may be the start of "[20]": not a pick
    assert "dropped its unfinished last line '[2'" in [x.text for x in r.info.repairs][0]
    # cut after a complete id, the pick is kept; an answer that ended on its own keeps a bare last number
    for text, finish, placed in (("[4] - good\n[2] - also go", "timeout", 2), ("[4] - good\n2", "length", 1),
                                 ("[4] - good\n2", "stop", 2)):
        r = _ranker(ml100k, ScriptedBackend(lambda p, text=text: text, finish=finish)).rank([0])
        assert r.info.parsed == placed, (text, finish)


@pytest.mark.model
def test_the_real_model_says_how_its_answer_ended(default_backend):
    """Stopped by the deadline after its first token ("1", and "10" or "12" may follow), the answer is
    "timeout" and that lone number places nothing; stopped by the repeated-line rule well inside the
    token budget, it is a finished answer ("stop"), not one cut at the budget ("length")."""
    from zsrec.backends.base import GenerationConfig
    from zsrec.parsing import parse_ranking

    prompt, titles = "List three numbers, one per line.", [f"Film {i}" for i in range(1, 21)]
    (cut,) = default_backend.generate([prompt], GenerationConfig(max_new_tokens=64, timeout=1e-6))
    assert cut.finish_reason == "timeout" and cut.text.strip().isdigit(), cut
    assert parse_ranking(cut.text, titles).from_llm == 1  # read naively, half an answer is a pick
    assert parse_ranking(cut.text, titles, cut=True).from_llm == 0
    (whole,) = default_backend.generate([prompt], GenerationConfig(max_new_tokens=64))
    assert whole.text.count("\n") >= 3 and whole.completion_tokens < 64, whole  # "1. 1" three times, then stopped
    assert whole.finish_reason == "stop"


@pytest.mark.parametrize("exc", [torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
                                 MemoryError(), ModelUnavailableError("out of memory loading 'big' on cuda")])
def test_model_that_cannot_load_falls_back_and_is_not_retried(ml100k, exc, monkeypatch):
    loads = []
    ranker = _ranker(ml100k, _failing(monkeypatch, exc, loads))
    first, second = ranker.rank_many([[0], [49]]), ranker.rank([99])
    for r in first + [second]:
        assert r.info.fallback and r.info.fallback_reason.startswith("model could not be loaded")
        # the result names what was asked for, not a default
        assert (r.info.backend, r.info.model) == ("failing", "scripted-model") and r.info.finish_reason == "error"
        _assert_generator_order(r)
    assert loads == ["scripted-model"]


def test_model_name_typo_is_still_an_error(ml100k, monkeypatch):
    spec = _failing(monkeypatch, ModelLoadError("cannot load model 'smolm2': not found"), [])
    with pytest.raises(ModelLoadError, match="not found"):
        _ranker(ml100k, spec).rank([0])


def test_one_bad_prompt_does_not_sink_its_batch(ml100k):
    """The backend raises for the whole batch when one prompt is bad; the ranker retries one by one."""
    poison = ml100k.catalog.items[49].title

    def answer(prompt):
        if poison in prompt.split("candidate")[0]:  # the poisoned user's history
            raise ValueError("cannot tokenize this prompt")
        return "[2] > [1]"

    backend = ScriptedBackend(answer)

    class AllOrNothing(ScriptedBackend):  # like a padded batch: one failure fails the call
        def generate(self, prompts, config):
            return [backend.generate([p], config)[0] for p in prompts]

    out = _ranker(ml100k, AllOrNothing(answer)).rank_many([[0], [49], [99]])
    assert [r.info.fallback for r in out] == [False, True, False]
    assert "ValueError: cannot tokenize this prompt" in out[1].info.fallback_reason
    assert out[0].items[0].generator_rank == 2 and out[2].items[0].generator_rank == 2


def test_batch_run_reports_who_fell_back_and_who_was_not_ranked(ml100k):
    bad_users = {"13", "42"}
    histories = {u: ml100k.catalog.items[int(ml100k.interactions.user_history(u)[-1])].title for u in bad_users}

    def answer(prompt):
        return "nothing useful" if any(t in prompt for t in histories.values()) else "[3] > [1] - ok"

    rec = Recommender(ml100k, backend=ScriptedBackend(answer), k=5)
    users = ["1", "13", "nobody", "42", UserRequest("new", ("Toy Story (1995)",)),
             UserRequest("typo", ("Zzzqx Nonsense Film",))]
    report = BatchReport()
    outcomes = list(rec.recommend_many(users, n_history=3, batch_size=2, report=report))
    assert [o.user_id for o in outcomes] == ["1", "13", "nobody", "42", "new", "typo"]
    assert report.users == 6 and report.ranked == 4
    assert set(report.fallbacks) == bad_users
    assert set(report.fallbacks.values()) == {"LLM output named no candidate"}
    assert set(report.errors) == {"nobody", "typo"}
    assert "unknown user id 'nobody'" in report.errors["nobody"]
    assert outcomes[4].result.history[0]["query"] == "Toy Story (1995)"
    assert all(len(o.result.items) == 5 for o in outcomes if o.result is not None)
    summary = report.summary()
    assert "ranked 4 of 6 users" in summary and "2 fell back" in summary and "user nobody" in summary


def test_cli_batch_run_with_a_failing_model_writes_every_user(ml100k, tmp_path, monkeypatch):
    monkeypatch.setitem(BUILTIN, "broken", "test_llm_failures:BrokenBackend")
    users = tmp_path / "users.txt"
    users.write_text('1\n\n# a comment\n2\nnobody\n{"user_id": "new", "history": ["Fargo (1996)"]}\n')
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["rank", "--users-file", str(users), "--backend", "broken",
                                      "--out", str(out), "--k", "3", "--n-history", "4"])
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["user_id"] for r in rows] == ["1", "2", "nobody", "new"]
    assert "unknown user id" in rows[2]["error"]
    for r in rows[:2] + rows[3:]:
        assert r["info"]["fallback"] and "GPU fell off the bus" in r["info"]["fallback_reason"]
        assert len(r["items"]) == 3
    err = " ".join(result.stderr.split())
    assert "warning: model could not be loaded" in err
    assert "ranked 3 of 4 users" in err and "3 fell back" in err and "1 not ranked" in err



def test_cli_batch_run_treats_an_empty_history_as_one_user_does(ml100k, tmp_path, monkeypatch):
    """An entry with no history is an error line, as `zsrec rank` without --history is, unless
    --allow-empty-history asks for the most popular items; the Python default (allowed) is unchanged."""
    monkeypatch.setitem(BUILTIN, "broken", "test_llm_failures:BrokenBackend")
    users = tmp_path / "users.txt"
    users.write_text('{"user_id": "blank", "history": []}\n{"user_id": "new", "history": ["Fargo (1996)"]}\n')
    for flags, ranked in (([], ["new"]), (["--allow-empty-history"], ["blank", "new"])):
        out = tmp_path / "out.jsonl"
        result = CliRunner().invoke(app, ["rank", "--users-file", str(users), "--backend", "broken", "--out", str(out),
                                          "--k", "3", *flags])
        assert result.exit_code == 0, result.stderr
        rows = {r["user_id"]: r for r in map(json.loads, out.read_text().splitlines())}
        assert sorted(u for u, r in rows.items() if "items" in r) == ranked
        if "blank" not in ranked:
            assert "no history to recommend from" in rows["blank"]["error"]
            assert "1 not ranked" in " ".join(result.stderr.split())
        else:
            assert rows["blank"]["history"] == [] and len(rows["blank"]["items"]) == 3


def test_cli_batch_run_checks_where_it_writes_before_loading_anything(ml100k, tmp_path, monkeypatch):
    """--out in a folder not made yet is made; a path that cannot be written is one error line before the
    data and the model load (not a traceback after them); an old file there is kept if the run stops."""
    monkeypatch.setitem(BUILTIN, "broken", "test_llm_failures:BrokenBackend")
    users = tmp_path / "users.txt"
    users.write_text("1\n")

    def run(out, *flags):
        return CliRunner().invoke(app, ["rank", "--users-file", str(users), "--backend", "broken", "--out", str(out),
                                        "--k", "3", *flags])

    out = tmp_path / "runs" / "today" / "out.jsonl"
    assert run(out).exit_code == 0 and json.loads(out.read_text())["user_id"] == "1"
    (tmp_path / "a-file").write_text("")
    for bad, message in ((tmp_path / "runs", "is a folder"),
                         (tmp_path / "a-file" / "out.jsonl", "a file stands where a folder is needed")):
        result = run(bad)
        assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.output
        assert "model could not be loaded" not in result.stderr  # stopped before the model load
    result = run(out, "--template", "no-such-template")
    assert result.exit_code == 2 and "no-such-template" in result.stderr
    assert json.loads(out.read_text())["user_id"] == "1"  # the earlier run's output is still there


def test_cli_exclude_keeps_items_out_for_every_kind_of_user(ml100k, tmp_path, monkeypatch):
    """--exclude (-x) for a typed history, a known user and every user of a users file, which may add its
    own "exclude"; an unknown id, or an unknown field in the file, is one error before the model load."""
    monkeypatch.setitem(BUILTIN, "broken", "test_llm_failures:BrokenBackend")  # the generator's order

    def ids(*args):
        result = CliRunner().invoke(app, ["rank", "--backend", "broken", "--k", "5", *args])
        assert result.exit_code == 0, result.stderr
        return result

    def shown(result):
        return [it["item_id"] for it in json.loads(result.stdout)["items"]]

    for who in (["-H", "Star Wars (1977)"], ["--user", "42", "--n-history", "3"]):
        plain = shown(ids(*who, "--format", "json"))
        without = shown(ids(*who, "--format", "json", "-x", plain[0], "--exclude", plain[2]))
        assert without[:3] == [plain[1], plain[3], plain[4]] and not {plain[0], plain[2]} & set(without)
        by_title = shown(ids(*who, "--format", "json", "-x", ml100k.catalog.get(plain[0]).title))  # a title works too
        assert by_title[:3] == plain[1:4]
    users = tmp_path / "users.txt"
    star_wars = shown(ids("-H", "Star Wars (1977)", "--format", "json"))
    users.write_text(f'{{"user_id": "a", "history": ["Star Wars (1977)"], "exclude": ["{star_wars[1]}"]}}\n'
                     '{"user_id": "b", "history": ["Star Wars (1977)"]}\n')
    out = tmp_path / "out.jsonl"
    ids("--users-file", str(users), "--out", str(out), "-x", star_wars[0])
    rows = {r["user_id"]: [it["item_id"] for it in r["items"]] for r in map(json.loads, out.read_text().splitlines())}
    assert rows["a"][:3] == star_wars[2:5] and rows["b"][:4] == star_wars[1:5]
    for args, message in ((["-H", "Star Wars (1977)", "-x", "nope"], "exclude: no item id or title is 'nope'"),
                          (["--users-file", str(users), "-x", "nope"], "exclude: no item id or title is 'nope'")):
        result = CliRunner().invoke(app, ["rank", "--backend", "broken", *args])
        assert result.exit_code == 2 and message in result.stderr
        assert "model could not be loaded" not in result.stderr
    users.write_text('{"user_id": "a", "history": ["Fargo (1996)"], "exlcude": ["1"]}\n')
    result = CliRunner().invoke(app, ["rank", "--backend", "broken", "--users-file", str(users)])
    assert result.exit_code == 2 and "users.txt:1: unknown field 'exlcude'" in result.stderr


def test_cli_only_recommends_from_the_filter(ml100k, tmp_path, monkeypatch):
    """--only (ids or titles) and --only-genre for a typed history and a known user, and for every user
    of a users file, whose lines may carry their own filter (but not both: one error); bad filters are
    one error line before the model load; the table says what the filter was."""
    monkeypatch.setitem(BUILTIN, "broken", "test_llm_failures:BrokenBackend")  # the generator's order
    genres = {it.id: set(it.fields["genres"].split()) for it in ml100k.catalog}

    def run(*args, code=0):
        result = CliRunner().invoke(app, ["rank", "--backend", "broken", "--k", "5", *args])
        assert result.exit_code == code, result.stderr
        return result

    def shown(result):
        return [it["item_id"] for it in json.loads(result.stdout)["items"]]

    for who in (["-H", "Star Wars (1977)"], ["--user", "42", "--n-history", "3"]):
        plain = shown(run(*who, "--format", "json", "--k", "20"))
        westerns = shown(run(*who, "--format", "json", "--only-genre", "western"))
        assert len(westerns) == 5 and all("Western" in genres[i] for i in westerns)
        assert [i for i in plain if "Western" in genres[i]] == westerns[:len([i for i in plain if "Western" in genres[i]])]
        listed = shown(run(*who, "--format", "json", "--only", plain[7], "--only", ml100k.catalog.get(plain[3]).title))
        assert listed == [plain[3], plain[7]]
    table = run("-H", "Star Wars (1977)", "--only-genre", "film-noir", "--only-genre", "Western").stdout
    assert "only genres Film-Noir or Western: 51 of 1,682 items" in " ".join(table.split())

    users = tmp_path / "users.txt"
    users.write_text('{"user_id": "a", "history": ["Star Wars (1977)"]}\n42\n')
    out = tmp_path / "out.jsonl"
    run("--users-file", str(users), "--out", str(out), "--only-genre", "Horror")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["user_id"] for r in rows] == ["a", "42"]
    assert all(r["info"]["filter"].startswith("genre Horror: ") for r in rows)
    assert all("Horror" in genres[it["item_id"]] for r in rows for it in r["items"]) and all(r["items"] for r in rows)
    users.write_text('{"user_id": "a", "history": ["Star Wars (1977)"], "only_genres": ["Horror"]}\n'
                     '{"user_id": "b", "history": ["Star Wars (1977)"], "only": [1, "Fargo (1996)"]}\n')
    run("--users-file", str(users), "--out", str(out))
    rows = {r["user_id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert all("Horror" in genres[it["item_id"]] for it in rows["a"]["items"])
    assert sorted(it["item_id"] for it in rows["b"]["items"]) == ["1", "100"]
    for args, message in ((["-H", "Star Wars (1977)", "--only-genre", "Comdy"], "no item has the genre 'Comdy' (genres: "),
                          (["-H", "Star Wars (1977)", "--only", "nope"], "only: no item id or title is 'nope'"),
                          (["--users-file", str(users), "--only-genre", "Horror"],
                           "user 'a' has its own only/only_genres in the users file")):
        result = run(*args, code=2)
        assert message in " ".join(result.stderr.split()) and "model could not be loaded" not in result.stderr
    users.write_text('{"user_id": "a", "history": ["Star Wars (1977)"], "only_genres": "Horror"}\n')
    assert 'users.txt:1: "only_genres" must be a list of genres' in run("--users-file", str(users), code=2).stderr


class BrokenBackend:  # noqa: D101
    """A backend whose load fails the way a real one does when the device is gone."""

    def __init__(self, **_):
        raise RuntimeError("GPU fell off the bus")
