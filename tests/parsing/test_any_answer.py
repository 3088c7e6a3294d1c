"""The parser never fails. Whatever the model writes, the result is a permutation of the
candidates, and every repair the parser made is reported."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ScriptedBackend
from zsrec import parsing
from zsrec.batch import BatchReport
from zsrec.parsing import parse_ranking
from zsrec.recommender import Recommender

T = ["Toy Story (1995)", "Fargo (1996)", "Star Wars (1977)", "Usual Suspects, The (1995)",
     "Alien: Resurrection (1997)", "Aliens (1986)"]

id_token = st.integers(min_value=-5, max_value=12).map(lambda i: f"[{i}]")
messy = st.lists(st.one_of(id_token, st.sampled_from(T + ["\n", " > ", "1.", "-", "{", "]", "```", '"id":', "reason:"]),
                           st.text(max_size=20)), max_size=40).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(st.text(max_size=300), messy),
       titles=st.lists(st.text(max_size=30), max_size=25))
def test_property_always_a_permutation(text, titles):
    r = parse_ranking(text, titles)
    assert sorted(r.order) == list(range(len(titles)))
    assert 0 <= r.from_llm <= len(titles)
    assert all(0 <= k < len(titles) for k in r.reasons)


@settings(max_examples=200, deadline=None)
@given(perm=st.permutations(list(range(1, 7))), fmt=st.sampled_from(["chain", "lines", "json"]))
def test_property_well_formed_answers_are_read_exactly(perm, fmt):
    if fmt == "chain":
        text = " > ".join(f"[{i}]" for i in perm)
    elif fmt == "lines":
        text = "\n".join(f"{r}. [{i}] {T[i - 1]} - reason number {i}" for r, i in enumerate(perm, 1))
    else:
        text = json.dumps([{"id": i, "reason": f"reason number {i}"} for i in perm])
    r = parse_ranking(text, T)
    assert [i + 1 for i in r.order] == list(perm) and r.from_llm == 6
    if fmt != "chain":
        assert r.reasons == {i - 1: f"reason number {i}" for i in perm}


def test_every_repair_is_reported():
    r = parse_ranking("1. [2] great\n2. [2] again\n3. [9] invented\n4. Aliens - scary in a good way\n5. [1", T)
    assert [i + 1 for i in r.order[:2]] == [2, 6] and r.from_llm == 2 and r.reasons == {1: "great", 5: "scary in a good way"}
    assert [x.text for x in r.repairs] == ["matched title 'Aliens (1986)' to [6]", "dropped ids not among the 6 candidates: [9]",
                         "dropped repeated ids: [2]", "appended 4 candidates the model left out, in generator order"]


def test_huge_output_is_cut_not_choked_on():
    r = parse_ranking("[3] " + "x" * 2_000_000, T)
    assert r.order[0] == 2 and any("was cut" in x.text for x in r.repairs)


def test_a_parser_bug_loses_nothing(monkeypatch):
    def broken(*a, **k):
        raise IndexError("bug")

    monkeypatch.setattr(parsing, "_mentions_in_line", broken)
    r = parse_ranking("[2] > [1]", T)
    assert r.order == list(range(6)) and r.fallback
    assert "parser error IndexError; ignored the output" in [x.text for x in r.repairs]


def test_batch_report_counts_repairs(ml100k):
    answers = iter(["[2] > [2] > [1]", "[1] > [99]", "[3]"])
    rec = Recommender(ml100k, backend=ScriptedBackend(lambda p: next(answers)), k=3)
    report = BatchReport()
    list(rec.recommend_many(["1", "2", "3"], n_history=3, batch_size=3, report=report))
    assert report.repairs["dropped repeated ids"] == 1
    assert report.repairs["dropped ids not among the candidates"] == 1
    assert report.repairs["appended candidates the model left out"] == 3
