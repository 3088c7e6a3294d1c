import json

import pytest

from zsrec.parsing import parse_ranking
from zsrec.repairs import RepairKind

T = ["Toy Story (1995)", "Fargo (1996)", "Star Wars (1977)", "Usual Suspects, The (1995)",
     "Alien: Resurrection (1997)", "Aliens (1986)"]


def _texts(r):
    return [x.text for x in r.repairs]


def order(text, titles=T):
    return [i + 1 for i in parse_ranking(text, titles).order]


def test_arrow_chain():
    r = parse_ranking("[3] > [1] > [2]", T)
    assert [i + 1 for i in r.order] == [3, 1, 2, 4, 5, 6] and r.from_llm == 3
    assert "appended 3 candidates" in r.repairs[-1].text
    assert parse_ranking("[3] > [1] > [2] > [4] > [6]", T).repairs[-1].text.startswith("appended 1 candidate the")


def test_numbered_list_with_ids_titles_and_reasons():
    r = parse_ranking("1. [2] Fargo (1996) - a dark crime comedy like your picks\n"
                      "2. [5] Alien: Resurrection (1997) - more of the aliens you liked\n", T)
    assert [i + 1 for i in r.order][:2] == [2, 5]
    assert r.reasons[1] == "a dark crime comedy like your picks"
    assert r.reasons[4] == "more of the aliens you liked"  # the title's own colon is not the cut


def test_titles_instead_of_numbers():
    r = parse_ranking("1. Fargo - dark comedy\n2. The Usual Suspects - twisty crime\n3. Aliens (1986): sequel action", T)
    assert [i + 1 for i in r.order][:3] == [2, 4, 6]
    assert r.reasons == {1: "dark comedy", 3: "twisty crime", 5: "sequel action"}
    assert any("matched title" in x for x in _texts(r))


@pytest.mark.parametrize("text,expect", [
    ("Heat, Star Wars, Fargo", [3, 2, 1]),  # of three candidates: Fargo, Star Wars, Heat
    ("Sure! Here is my ranking: Fargo, Star Wars.", [2, 3]),
    ("Toy Story > Fargo > Aliens", [1, 2, 6]),
    ("The Usual Suspects; Star Wars; Aliens", [4, 3, 6]),
])
def test_titles_side_by_side_on_one_line(text, expect):
    """Titles written in one line, one after the other, were read as overlapping (they share the space
    between them): "Heat, Star Wars, Fargo" gave one pick."""
    titles = T if "Heat" not in text else ["Fargo (1996)", "Star Wars (1977)", "Heat (1995)"]
    r = parse_ranking(text, titles)
    assert [i + 1 for i in r.order][:r.from_llm] == expect


def test_fuzzy_title():
    assert order("1. Usual Suspect - twists")[0] == 4


def test_json_list_of_objects_in_fence():
    text = 'Sure!\n```json\n[{"id": 4, "reason": "twisty plot"}, {"id": 9}, {"id": 4}, {"id": "[2]"}]\n```'
    r = parse_ranking(text, T)
    assert [i + 1 for i in r.order][:2] == [4, 2] and r.reasons[3] == "twisty plot"
    assert any("[9]" in x for x in _texts(r)) and any("repeated" in x for x in _texts(r))


@pytest.mark.parametrize("text,expect", [
    ('{"ranking": [2, 3, 1]}', [2, 3, 1]),
    ("[6, 5, 4]", [6, 5, 4]),
    ('[{"title": "Fargo", "why": "crime"}, {"title": "Star Wars"}]', [2, 3]),
    ('["[3] Star Wars", "[1] Toy Story"]', [3, 1]),
])
def test_json_shapes(text, expect):
    assert order(text)[: len(expect)] == expect


@pytest.mark.parametrize("text,expect", [
    ("3, 1, 2", [3, 1, 2]),
    ("3 > 1 > 2", [3, 1, 2]),
    ("Candidate 5 because it is great\nCandidate 2", [5, 2]),
    ("#4\n#1", [4, 1]),
    ("1. 5\n2. 3", [5, 3]),
    ("I recommend Star Wars and then Toy Story", [3, 1]),
])
def test_loose_shapes(text, expect):
    assert order(text)[: len(expect)] == expect


def test_duplicates_and_invented_ids_are_dropped():
    r = parse_ranking("[2] > [2] > [42] > [0] > [1]", T)
    assert [i + 1 for i in r.order][:2] == [2, 1] and r.from_llm == 2
    assert any("[42]" in x and "[0]" in x for x in _texts(r))
    assert any("repeated ids: [2]" in x for x in _texts(r))


def test_truncated_output_keeps_what_was_said():
    r = parse_ranking("[4] Usual Suspects, The (1995) - great twist ending\n[1] Toy Sto", T)
    assert [i + 1 for i in r.order][:2] == [4, 1] and r.reasons[3] == "great twist ending"


def test_reason_on_next_line():
    r = parse_ranking("[2] Fargo (1996)\nReason: a crime film with dark humour\n[3] Star Wars", T)
    assert r.reasons[1] == "a crime film with dark humour"


def test_reason_mentioning_another_title_is_kept():
    r = parse_ranking("[3] Star Wars (1977) - epic space opera unlike Fargo", T)
    assert r.reasons[2] == "epic space opera unlike Fargo"


def test_garbage_falls_back_to_generator_order():
    for text in ["", "Aladdin.", "I cannot help with that.", None, 12345, "[[[{{{"]:
        r = parse_ranking(text, T)
        assert r.order == list(range(len(T))) and r.fallback and r.from_llm == 0
        assert "kept generator order" in r.repairs[-1].text


def test_echoed_history_titles_are_not_candidates():
    r = parse_ranking("1. Heat (1995)\n2. Twister (1996)\n3. [6] Aliens", T)
    assert r.order[0] == 5 and r.from_llm == 1


def test_empty_candidate_list():
    r = parse_ranking("[1] > [2]", [])
    assert r.order == [] and r.from_llm == 0


def test_cli_json_roundtrip_shape():
    r = parse_ranking(json.dumps({"recommendations": [{"number": 6, "reason": "sequel to a classic"}]}), T)
    assert r.order[0] == 5 and r.reasons[5] == "sequel to a classic"


@pytest.mark.parametrize("text,expect", [
    ("Ranking: 3, 1, 4", [3, 1, 4]),
    ("Final answer: 4 > 2", [4, 2]),
    ("My ranking is 2, 5, 1", [2, 5, 1]),
    ("The order: [3] > [1]", [3, 1]),
    ("Answer: 3", [3]),
    ("Recommendations: 6 - a tense heist", [6]),
])
def test_a_labelled_list_of_ids(text, expect):
    """"Ranking: 3, 1, 4" kept the generator's order: the label hid the list."""
    assert order(text)[: len(expect)] == expect


def test_a_reasoning_models_thinking_is_not_its_answer():
    """Qwen3, DeepSeek-R1 and kin think aloud in <think> tags; the ids weighed there are not picks, and
    an answer that never left its thinking is no answer."""
    text = "<think>\nMaybe [1] Toy Story? Or [5]... the user likes crime.\n</think>\n\n[2] Fargo - crime\n[6] Heat - crime"
    r = parse_ranking(text, T)
    assert [i + 1 for i in r.order][: r.from_llm] == [2, 6]
    assert RepairKind.DROPPED_THINKING in [x.kind for x in r.repairs]
    assert "left out the model's thinking (" in _texts(r)[0]
    json_after = '<thinking>{"ranking": [1, 2]} no wait</thinking>\n{"ranking": [4, 3]}'
    assert order(json_after)[:2] == [4, 3]
    unfinished = parse_ranking("<think>\nFirst [3], then [1], unless", T, cut=True)
    assert unfinished.from_llm == 0 and RepairKind.NO_CANDIDATE in [x.kind for x in unfinished.repairs]
    assert RepairKind.DROPPED_THINKING not in [x.kind for x in parse_ranking("[3] a <b>bold</b> pick\n[1]", T).repairs]
