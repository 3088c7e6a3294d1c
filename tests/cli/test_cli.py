"""CLI behaviour that needs no model: bad input gives one line on stderr and exit code 2."""

import json

import pytest
from typer.testing import CliRunner

from zsrec.backends import BUILTIN
from zsrec.cli import _fusion_to_run, _replaced, app

runner = CliRunner()


def _run(args):
    result = runner.invoke(app, args)
    return result.exit_code, result.stdout, result.stderr


def _assert_clean_error(code, stderr, pattern):
    assert code == 2, stderr
    assert "Traceback" not in stderr
    assert pattern in " ".join(stderr.split()), stderr


def test_unknown_user(ml100k):
    code, _, err = _run(["rank", "--user", "99999"])
    _assert_clean_error(code, err, "unknown user id '99999'")


def test_unknown_title(ml100k):
    code, _, err = _run(["rank", "-H", "Toy Story (1995)", "-H", "Zzyzx Qqq Road"])
    _assert_clean_error(code, err, "no catalog item matches 'Zzyzx Qqq Road'")


def test_empty_history():
    code, _, err = _run(["rank"])
    _assert_clean_error(code, err, "no history")


def test_history_and_user_together():
    code, _, err = _run(["rank", "-H", "Fargo", "--user", "1"])
    _assert_clean_error(code, err, "give one of --history, --user")


def test_template_with_missing_variable(tmp_path, ml100k):
    bad = tmp_path / "bad.j2"
    bad.write_text("{{ candidates | length }} {{ user_name }}")
    code, _, err = _run(["rank", "-H", "Fargo", "--template", str(bad)])
    _assert_clean_error(code, err, "'user_name' is undefined")


def test_unknown_template_and_dataset():
    code, _, err = _run(["rank", "-H", "Fargo", "--template", "nope"])
    _assert_clean_error(code, err, "unknown template 'nope'")
    code, _, err = _run(["rank", "-H", "Fargo", "--dataset", "no-such-data"])
    _assert_clean_error(code, err, "unknown dataset 'no-such-data'")


def test_bad_model_path(ml100k):
    code, _, err = _run(["rank", "-H", "Fargo", "--model", "/nonexistent/model.gguf"])
    _assert_clean_error(code, err, "GGUF file not found")


def test_parse_command(tmp_path):
    cands = tmp_path / "c.json"
    cands.write_text(json.dumps([{"id": "a1", "title": "Fargo (1996)"}, {"id": "b2", "title": "Heat (1995)"}, "Alien (1979)"]))
    out = runner.invoke(app, ["parse", "--candidates", str(cands)], input="1. Heat - tense crime film\n2. [9]\n")
    assert out.exit_code == 0
    data = json.loads(out.stdout)
    assert [r["id"] for r in data["ranking"]] == ["b2", "a1", "3"]
    assert data["ranking"][0]["reason"] == "tense crime film" and data["from_llm"] == 1
    assert any("[9]" in r["text"] and r["kind"] == "dropped ids not among the candidates" for r in data["repairs"])
    # an answer cut off after "3" (perhaps of "[3] - ..." or of "13"): read as finished, 3 is a pick; told it
    # was cut, the parser does not read it
    whole = json.loads(runner.invoke(app, ["parse", "--candidates", str(cands)], input="1. Heat\n3").stdout)
    cut = json.loads(runner.invoke(app, ["parse", "--candidates", str(cands), "--cut"], input="1. Heat\n3").stdout)
    assert whole["from_llm"] == 2 and [r["id"] for r in whole["ranking"]] == ["b2", "3", "a1"]
    assert cut["from_llm"] == 1
    assert [r["id"] for r in cut["ranking"]] == ["b2", "a1", "3"]
    assert any(r["kind"] == "dropped an unfinished last line" for r in cut["repairs"])


@pytest.mark.parametrize("content,msg", [("{not json", "not valid JSON"), ("[]", "non-empty JSON list"), ("[3]", "entry 1")])
def test_parse_bad_candidates(tmp_path, content, msg):
    cands = tmp_path / "c.json"
    cands.write_text(content)
    code, _, err = _run(["parse", "--candidates", str(cands)])
    _assert_clean_error(code, err, msg)


def test_templates_lists_builtins():
    code, out, _ = _run(["templates"])
    assert code == 0 and "listwise" in out and "recency" in out


def test_csv_items_and_interactions_via_cli(tmp_path, monkeypatch):
    """--items/--interactions with a column mapping reach the ranker (LLM replaced, the data path is the point)."""
    from zsrec.backends import base

    class Echo(base.Backend):
        name, model_name, context_length = "echo", "echo", 4096

        def __init__(self, model=None, device="auto", batch_size=8):
            pass

        def count_tokens(self, prompt):
            return len(prompt.split())

        def generate(self, prompts, config):
            return [base.Generation("[2] - second is best here", 1, 1, "stop") for _ in prompts]

    monkeypatch.setitem(BUILTIN, "transformers", Echo)
    (tmp_path / "items.csv").write_text("sku,name,kind\nA,Red Shoe,shoe running\nB,Blue Shoe,shoe trail\nC,Wool Hat,hat\n")
    (tmp_path / "ev.jsonl").write_text('{"who": "u1", "sku": "A", "t": 1}\n{"who": "u2", "sku": "B", "t": 2}\n')
    code, out, err = _run(["rank", "--items", str(tmp_path / "items.csv"), "--interactions", str(tmp_path / "ev.jsonl"),
                           "--column", "item_id=sku", "--column", "title=name", "--column", "user_id=who",
                           "--column", "timestamp=t", "-H", "Red Shoe", "--k", "2", "--format", "json"])
    assert code == 0, err
    data = json.loads(out)
    assert [it["item_id"] for it in data["items"]][0] in {"B", "C"} and data["items"][0]["llm_reason"] == "second is best here"
    assert data["items"][0]["reason_flags"] == ["ungrounded"]  # names nothing counted: the data's reason is shown
    assert data["history"][0]["item_id"] == "A"
    code, _, err = _run(["rank", "--items", str(tmp_path / "items.csv"), "-H", "x"])
    _assert_clean_error(code, err, "--items and --interactions go together")
    code, _, err = _run(["rank", "--items", str(tmp_path / "items.csv"), "--interactions", str(tmp_path / "ev.jsonl"),
                         "--column", "sku", "-H", "x"])
    _assert_clean_error(code, err, "--column takes NAME=COLUMN")


class FirstPick:
    name, model_name, context_length = "first-pick", "first-pick", 4096
    abilities: frozenset = frozenset()

    def __init__(self, **_):
        pass

    def count_tokens(self, prompt):
        return len(prompt.split())

    def generate(self, prompts, config):
        from zsrec.backends.base import Generation

        return [Generation("[1]", 1, 1, "stop") for _ in prompts]



class CutShort(FirstPick):
    """Places [1], then is stopped at the token budget in the middle of its next id."""

    def generate(self, prompts, config):
        from zsrec.backends.base import Generation

        return [Generation("[1] - a fine pick\n[2", 10, config.max_new_tokens, "length") for _ in prompts]


def test_table_says_when_the_answer_was_cut(monkeypatch, ml100k):
    monkeypatch.setitem(BUILTIN, "cut-short", "test_cli:CutShort")
    code, out, err = _run(["rank", "-H", "Fargo (1996)", "--backend", "cut-short", "--max-new-tokens", "12"])
    assert code == 0, err
    said = " ".join(out.split())
    assert "LLM placed 1 of 20 candidates before its answer was cut by --max-new-tokens" in said
    code, out, err = _run(["rank", "-H", "Fargo (1996)", "--backend", "cut-short", "--format", "json"])
    info = json.loads(out)["info"]
    assert info["finish_reason"] == "length" and info["parsed"] == 1  # "[2" may be "[20": not a pick
    assert info["repairs"][0] == {"kind": "dropped an unfinished last line",
                                  "text": "the answer was cut; dropped its unfinished last line '[2'"}

def test_eval_names_the_flags_that_run_a_tuned_fusion(monkeypatch, tmp_path, ml100k):
    """A weight chosen by --tune-fusion is printed as the zsrec rank / serve flags that run it."""
    monkeypatch.setitem(BUILTIN, "first-pick", "test_cli:FirstPick")
    code, out, err = _run(["eval", "--users", "6", "--history-len", "1", "--methods", "llm:recency+fusion",
                           "--tune-fusion", "--validation-users", "6", "--candidates", "generator",
                           "--backend", "first-pick", "--out", str(tmp_path)])
    assert code == 0, err
    # a model that always names the shortlist's first candidate adds nothing: the weight is 0
    assert ("llm:recency+fusion: fusion weight 0, chosen on validation users; zsrec rank and zsrec serve run it "
            "with --template recency --fusion-weight 0") in " ".join(err.split())
    assert "llm:recency+fusion: weight=0" in out
    assert _fusion_to_run({"llm-score+fusion": {"params": {"weight": 0.3}}, "ease": {"params": {"l2": 10.0}}}) == [
        "llm-score+fusion: fusion weight 0.3, chosen on validation users; zsrec rank and zsrec serve run it with "
        "--mode score --fusion-weight 0.3"]


def test_index_file_is_written_then_reused(tmp_path, monkeypatch, ml100k):

    monkeypatch.setitem(BUILTIN, "first-pick", "test_cli:FirstPick")
    index = tmp_path / "ml100k.idx"
    args = ["rank", "-H", "Fargo (1996)", "--backend", "first-pick", "--index", str(index), "--format", "json"]
    code, first, err = _run(args)
    assert code == 0, err
    assert index.is_file()
    assert f"index: {index} built and written; later starts" in " ".join(err.split())
    stamp = index.stat().st_mtime_ns
    code, second, err = _run(args)
    assert code == 0, err
    assert index.stat().st_mtime_ns == stamp  # loaded, not rebuilt
    assert "index:" not in err  # read whole: nothing to say
    assert [i["item_id"] for i in json.loads(first)["items"]] == [i["item_id"] for i in json.loads(second)["items"]]
    # other co-occurrence settings: counted afresh and written back (said, with why), then loaded as they are
    other = args + ["--cooccurrence-first-picks", "30"]
    code, third, err = _run(other)
    assert code == 0, err
    assert index.stat().st_mtime_ns != stamp
    assert (f"index: {index} written again; made again: co-occurrence (other settings); co-occurrence of first "
            "10 picks (made again with the co-occurrence)") in " ".join(err.split())
    stamp = index.stat().st_mtime_ns
    code, fourth, err = _run(other)
    assert code == 0 and index.stat().st_mtime_ns == stamp and "index:" not in err
    assert [i["item_id"] for i in json.loads(fourth)["items"]] == [i["item_id"] for i in json.loads(third)["items"]]
    code, _, err = _run(args[:-2] + ["--retriever", "rank-bm25"])
    assert code == 0, err
    index.write_bytes(b"garbage")
    code, _, err = _run(args)
    _assert_clean_error(code, err, "cannot read index")
    code, _, err = _run(args[:5] + ["--index", str(index / "x.idx")])
    _assert_clean_error(code, err, "x.idx: cannot write the index there: a file stands where a folder is needed")


def test_eval_and_rank_take_the_session_signal(tmp_path, ml100k):
    args = ["eval", "--users", "10", "--history-len", "3", "--methods", "generator", "--candidates", "generator",
            "--out", str(tmp_path)]
    code, out, err = _run(args + ["--session-share", "0.2", "--session-seconds", "120"])
    assert code == 0, err
    assert "0.2 of it from what users picked within 120 s of each other" in out
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["session_share"] == 0.2 and run["session_seconds"] == 120
    # the same folder without the signal holds other shortlists: refused, naming the difference
    code, _, err = _run(args + ["--session-share", "0"])
    _assert_clean_error(code, err, "session_share=0.2 there, None now")
    code, _, err = _run(["rank", "--user", "1", "--session-share", "1.5"])
    assert code == 2 and "Traceback" not in err


def test_eval_and_rank_take_similar_sittings(tmp_path, ml100k):
    args = ["eval", "--users", "10", "--history-len", "3", "--methods", "generator", "--candidates", "generator",
            "--out", str(tmp_path)]
    code, out, err = _run(args + ["--sittings-share", "0.3", "--sittings-neighbours", "50"])
    assert code == 0, err
    assert "then 0.3 of it from the 50 sittings (picks at most 60 s apart)" in out
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["sittings_share"] == 0.3 and run["sittings_neighbours"] == 50
    code, _, err = _run(args + ["--sittings-share", "0.5"])
    _assert_clean_error(code, err, "sittings_share=0.3 there, 0.5 now")
    # with the session signal off the sittings are still cut by --session-seconds: it stays in the identity
    other = ["eval", "--users", "10", "--history-len", "3", "--methods", "generator", "--candidates", "generator",
             "--out", str(tmp_path / "no-session"), "--session-share", "0"]
    code, out, err = _run(other + ["--session-seconds", "120"])
    assert code == 0, err
    assert "then 0.5 of it from the 200 sittings (picks at most 120 s apart)" in out
    run = json.loads((tmp_path / "no-session" / "run.json").read_text())
    assert "session_share" not in run and run["session_seconds"] == 120
    code, _, err = _run(other + ["--session-seconds", "60"])
    _assert_clean_error(code, err, "session_seconds=120.0 there, 60.0 now")
    for bad in (["--sittings-share", "1.5"], ["--sittings-neighbours", "0"]):
        code, _, err = _run(["rank", "--user", "1", *bad])
        assert code == 2 and "Traceback" not in err


def test_eval_command_runs_and_resumes(tmp_path, ml100k):
    args = ["eval", "--users", "10", "--history-len", "1,3", "--methods", "pop,bm25,generator",
            "--candidates", "generator,sampled", "--out", str(tmp_path)]
    code, out, err = _run(args)
    assert code == 0, err
    assert "Generator recall@20" in out and "| 3 | generator | 10 |" in out
    lines = (tmp_path / "rankings.jsonl").read_text().splitlines()
    # the shortlist's recall comes with its interval over users, and agrees with the rankings it is counted from
    summary = json.loads((tmp_path / "summary.json").read_text())
    gen = next(e for e in summary["results"] if (e["setting"], e["n"], e["method"]) == ("generator", 3, "pop"))
    rows = [json.loads(x) for x in lines]
    held = [r["in_candidates"] for r in rows if (r["setting"], r["n"], r["method"]) == ("generator", 3, "pop")]
    assert gen["target_in_candidates"] == pytest.approx(sum(held) / len(held))
    lo, hi = gen["target_in_candidates_ci"]
    assert lo <= gen["target_in_candidates"] <= hi and (lo < hi or lo in (0.0, 1.0))
    assert f"n=3: {gen['target_in_candidates']:.3f} [{lo:.3f}, {hi:.3f}]" in out
    assert len(lines) == 3 * 3 * 20
    code, _, err = _run(args)
    assert code == 0 and len((tmp_path / "rankings.jsonl").read_text().splitlines()) == len(lines)
    # the shortlist size a team deploys: another size is another run (the folder says what differs)
    code, out, err = _run(args[:-1] + [str(tmp_path / "n30"), "--n-candidates", "30"])
    assert code == 0, err
    assert "Generator recall@30" in out and "the target plus 29 negatives sampled uniformly" in out
    sized = [json.loads(x) for x in (tmp_path / "n30" / "rankings.jsonl").read_text().splitlines()]
    assert {r["shown"] for r in sized if r["setting"] != "generator"} == {30}
    assert max(r["shown"] for r in sized if r["setting"] == "generator") == 30
    code, _, err = _run(args + ["--n-candidates", "30"])
    _assert_clean_error(code, err, "n_candidates=20 there, 30 now")
    code, _, err = _run(["eval", "--methods", "pop,magic", "--out", str(tmp_path)])
    _assert_clean_error(code, err, "unknown method 'magic'")
    code, _, err = _run(["eval", "--candidates", "generator,top", "--out", str(tmp_path)])
    _assert_clean_error(code, err, "unknown candidate settings ['top']; use generator, sampled-uniform, "
                                   "sampled-pop, full")



def _own_catalog(tmp_path, timed=True):
    """A shop's own files: 30 products, 60 customers with 4-9 picks each, ids and names mapped by --column."""
    import random

    rnd = random.Random(3)
    tmp_path.mkdir()
    (tmp_path / "items.csv").write_text("sku,name,kind\n" + "".join(
        f"p{i},Product {i},{'shoe' if i % 3 else 'hat'}\n" for i in range(30)))
    lines, t = [], 1000
    for c in range(60):
        for sku in rnd.sample(range(30), rnd.randint(4, 9)):
            t += rnd.choice((5, 500))
            lines.append(json.dumps({"customer": f"c{c}", "sku": f"p{sku}", **({"ts": t} if timed else {})}))
    (tmp_path / "events.jsonl").write_text("\n".join(lines) + "\n")
    columns = ["--column", "item_id=sku", "--column", "title=name", "--column", "user_id=customer"]
    return ["--items", str(tmp_path / "items.csv"), "--interactions", str(tmp_path / "events.jsonl"),
            *columns, *(["--column", "timestamp=ts"] if timed else [])]


def test_eval_takes_your_own_files(tmp_path):
    """A team checks zsrec on its own catalog before adopting it: eval reads --items/--interactions like rank."""
    data = _own_catalog(tmp_path / "shop")
    out = tmp_path / "run"
    args = ["eval", *data, "--users", "12", "--validation-users", "10", "--history-len", "1,3",
            "--methods", "pop,generator,itemknn", "--candidates", "generator", "--out", str(out)]
    code, report, err = _run(args)
    assert code == 0, err
    rows = [json.loads(x) for x in (out / "rankings.jsonl").read_text().splitlines()]
    assert len(rows) == 12 * 2 * 3 and {r["target_id"] for r in rows} <= {f"p{i}" for i in range(30)}
    assert "test users: 12" in report and "| 3 | itemknn | 12 |" in report
    assert "from what users picked within 60 s" in report  # timestamps mapped: the time signals are on
    identity = json.loads((out / "run.json").read_text())  # what a later command on this folder must match
    n_events = len((tmp_path / "shop" / "events.jsonl").read_text().splitlines())
    assert (identity["dataset"], identity["items"], identity["interactions"]) == ("items", 30, n_events)
    # without a timestamp column the time signals are off, and the report says so instead of describing them
    code, report, err = _run(["eval", *_own_catalog(tmp_path / "untimed", timed=False), "--users", "12",
                              "--history-len", "1,3", "--methods", "pop,generator", "--candidates", "generator",
                              "--out", str(tmp_path / "untimed-run")])
    assert code == 0, err
    said = " ".join(report.split())
    assert "similar sittings were off in this run: the picks have no times" in said
    assert "within 60 s" not in said and "sittings (picks" not in said
    # histories longer than any customer's: one clear line, not a traceback from the plot
    code, _, err = _run(["eval", *data, "--history-len", "1,10", "--methods", "pop", "--out", str(tmp_path / "long")])
    _assert_clean_error(code, err, "no user has the 11 interactions that a history of 10 and its target need "
                                   "(the most any user has: 9)")
    code, _, err = _run(["eval", "--items", str(tmp_path / "shop" / "items.csv"), "--out", str(tmp_path / "x")])
    _assert_clean_error(code, err, "--items and --interactions go together")


def test_batch_size_reaches_the_transformers_backend(monkeypatch, ml100k):
    """--batch-size is also the backend's forward batch: on a GPU, passes of 8 would waste the batching."""
    seen = {}

    class Recorder(FirstPick):
        name = "transformers"

        def __init__(self, model=None, device="auto", batch_size=8):
            seen.update(model=model, device=device, batch_size=batch_size)

    monkeypatch.setitem(BUILTIN, "transformers", Recorder)
    code, out, err = _run(["rank", "--dataset", "ml-100k", "--user", "42", "--batch-size", "32", "--device", "cpu",
                           "--format", "json"])
    assert code == 0, err
    assert seen == {"model": None, "device": "cpu", "batch_size": 32}


def test_backend_abilities_and_options_are_checked_before_any_load(ml100k, tmp_path):
    """Asking a backend for what it cannot do, or giving it another backend's option, is an input
    error named in one line, before a model is loaded."""
    code, _, err = _run(["rank", "-H", "Fargo (1996)", "--guided"])
    _assert_clean_error(code, err, "backend 'transformers' cannot do constrained decoding; leave out --guided")
    code, _, err = _run(["rank", "-H", "Fargo (1996)", "--base-url", "http://127.0.0.1:9/v1"])
    _assert_clean_error(code, err, "--base-url is not an option of backend 'transformers'")
    code, _, err = _run(["rank", "-H", "Fargo (1996)", "--backend-option", "nonsense=1"])
    _assert_clean_error(code, err, "backend 'transformers' has no option 'nonsense'")
    code, _, err = _run(["rank", "-H", "Fargo (1996)", "--backend-option", "batch_size=many"])
    _assert_clean_error(code, err, "--backend-option batch_size='many': expected a int")
    code, _, err = _run(["eval", "--methods", "pop,llm", "--guided", "--users", "2", "--history-len", "1",
                         "--out", str(tmp_path)])
    _assert_clean_error(code, err, "cannot do constrained decoding")
    assert not (tmp_path / "rankings.jsonl").exists()  # refused before the baselines ran
    code, _, err = _run(["rank", "-H", "Fargo (1996)", "--mode", "vote"])
    assert code == 2 and "'vote' is not one of 'generate', 'score'" in err


def test_cooccurrence_from_users_first_picks(monkeypatch, ml100k):
    """--cooccurrence-first-picks reaches the shortlist: the JSON result's order (the LLM placed only
    its first pick) is the shortlist counted from each user's first 15 picks, not the shipped one.
    Three picks: one-pick histories have their own first-picks index by default, whatever the flag."""
    from zsrec.candidates import CandidateConfig, CandidateGenerator
    from zsrec.cooccurrence import CoOccurrenceConfig

    monkeypatch.setitem(BUILTIN, "first-pick", "test_cli:FirstPick")
    titles = ["Toy Story (1995)", "Star Wars (1977)", "Fargo (1996)"]
    rows = [next(i for i, it in enumerate(ml100k.catalog.items) if it.title == t) for t in titles]
    expected = {}
    for first in (15, None):
        gen = CandidateGenerator(ml100k.catalog, ml100k.interactions,
                                 CandidateConfig(cooccurrence=CoOccurrenceConfig(first_picks=first)))
        expected[first] = [ml100k.catalog.items[i].id for i in gen.generate(rows, rows).indices[:10]]
    assert expected[15] != expected[None]
    code, out, err = _run(["rank", *(a for t in titles for a in ("-H", t)), "--backend", "first-pick",
                           "--format", "json", "--cooccurrence-first-picks", "15"])
    assert code == 0, err
    assert [i["item_id"] for i in json.loads(out)["items"]] == expected[15]
    code, _, err = _run(["rank", "-H", "Fargo (1996)", "--backend", "first-pick", "--cooccurrence-first-picks", "1"])
    assert code == 2 and "Traceback" not in err


def test_table_says_what_each_inexact_title_was_read_as(monkeypatch, ml100k):
    """A typo, a title without its year and an item id are each matched to a film; the table output
    names the film on stderr, so a wrong match is seen. Exact titles are not repeated."""
    monkeypatch.setitem(BUILTIN, "first-pick", "test_cli:FirstPick")
    code, out, err = _run(["rank", "-H", "Toy Stroy", "-H", "fargo", "-H", "50", "-H", "Heat (1995)",
                           "--backend", "first-pick"])
    assert code == 0, err
    said = " ".join(err.split())
    assert ("history read as: 'Toy Stroy' -> Toy Story (1995); 'fargo' -> Fargo (1996); "
            "'50' -> Star Wars (1977)") in said, err
    assert "Heat" not in said
    assert "read as" not in out
    code, out, err = _run(["rank", "-H", "Toy Story (1995)", "--backend", "first-pick"])
    assert code == 0 and "read as" not in err


def test_a_picks_log_makes_its_users_known(ml100k, tmp_path):
    log = tmp_path / "picks.jsonl"
    code, _, err = _run(["rank", "--user", "ann", "--picks-log", str(log)])
    _assert_clean_error(code, err, f"--picks-log: no file at {log}")
    log.write_text('{"user_id": "ann", "item_id": "100", "timestamp": 1796464800.0, "rating": null}\n'
                   '{"user_id": "ann", "item_id": "50", "timestamp": 1796464860.0, "rating": 5}\n')  # as serve writes it
    code, out, err = _run(["rank", "--user", "ann", "--picks-log", str(log), "--n-candidates", "1", "--k", "1",
                           "--format", "json"])  # one candidate: no model to load
    assert code == 0, err
    assert [h["title"] for h in json.loads(out)["history"]] == ["Fargo (1996)", "Star Wars (1977)"]


def test_rank_gives_new_items_their_slots(ml100k):
    """Items with fewer than --new-item-picks picks take the shortlist's last --new-item-slots places:
    marked in the JSON and the table. No model is loaded (fusion weight 0, reasons from the data)."""
    base = ["rank", "-H", "Star Wars (1977)", "--fusion-weight", "0", "--reasons", "evidence", "--k", "20"]
    code, out, err = _run(base + ["--new-item-slots", "2", "--new-item-picks", "3", "-f", "json"])
    assert code == 0, err
    items = json.loads(out)["items"]
    assert [it["new_item_slot"] for it in items] == [False] * 18 + [True] * 2
    code, plain, err = _run(base + ["-f", "json"])
    assert [it["item_id"] for it in json.loads(plain)["items"]][:18] == [it["item_id"] for it in items][:18]
    code, table, err = _run(base + ["--new-item-slots", "2", "--new-item-picks", "3"])
    assert code == 0 and table.count("generator (new)") == 2, table
    code, _, err = _run(base + ["--new-item-slots", "21"])
    _assert_clean_error(code, err, "new_item_slots (21) cannot exceed n_candidates (20)")


def test_the_reasons_line_tells_failed_checks_from_reasons_never_written():
    from types import SimpleNamespace

    def items(*flags):
        return [SimpleNamespace(reason_flags=list(f)) for f in flags]

    assert _replaced(items([], [])) == ""
    assert _replaced(items(["wrong_genre"], [])) == " (1 LLM reason failed the checks and was replaced)"
    assert _replaced(items(["wrong_genre"], ["ungrounded", "only_names"], ["empty"])) == \
        " (2 LLM reasons failed the checks and were replaced; the LLM wrote none for 1)"
    assert _replaced(items(["empty"], ["empty"])) == " (the LLM wrote none for 2)"
