import pytest

from zsrec.data import Item
from zsrec.errors import TemplateError
from zsrec.prompts import PromptTemplate, available_templates

H = [Item(str(i), f"Old Film {i} (1990)", {"genres": "Drama"}) for i in range(8)]
C = [Item("c1", "Alpha (1995)", {"genres": "Comedy"}), Item("c2", "Beta (1996)", {"genres": "Horror"})]


def test_builtin_templates_ship():
    assert {"listwise", "recency"} <= set(available_templates())


@pytest.mark.parametrize("name", ["listwise", "recency"])
def test_render_numbers_candidates_and_orders_history(name):
    text = PromptTemplate(name).render(H[:3], C, k=2, item_noun="movie")
    assert "[1] Alpha (1995) (Comedy)" in text and "[2] Beta (1996) (Horror)" in text
    assert text.index("Old Film 0") < text.index("Old Film 2")  # oldest first
    assert "movies" in text


def test_recency_template_calls_out_the_last_item():
    text = PromptTemplate("recency").render(H[:3], C, k=2)
    assert 'most recently is "Old Film 2 (1990)"' in text


def test_empty_history_renders():
    assert "have not picked any" in PromptTemplate("listwise").render([], C, k=2)


def test_unknown_template_lists_builtins():
    with pytest.raises(TemplateError, match="built-in templates: .*listwise"):
        PromptTemplate("nope")


def test_the_prompt_calls_items_what_the_catalog_holds():
    """A shop's prompt said "I have watched these items"; movies are watched, other things picked, and
    a noun whose plural is not noun+s is given as noun/plural."""
    from zsrec.errors import OptionError
    from zsrec.ranker import RankerConfig

    history, candidates = [Item("1", "Dune"), Item("2", "Emma")], [Item("3", "Ulysses"), Item("4", "Beloved")]
    t = PromptTemplate("listwise")
    movies = t.render(history, candidates, 2, "movie")
    assert "I have watched these movies, oldest first" in movies and "Here are 2 candidate movies" in movies
    books = t.render(history, candidates, 2, "book")
    assert "I have picked these books, oldest first" in books and "watched" not in books
    explained = t.render(history, candidates, 2, "dress/dresses", mode="explain", evidence=["", ""])
    assert "I have picked these dresses" in explained and "what I picked, using" in explained
    assert "Here are 2 candidate dresses" in t.render(history, candidates, 2, "dress/dresses")
    assert "My series so far" in PromptTemplate("recency").render(history, candidates, 2, "series/series")
    for bad in ("", "/dresses", "a/b/c"):
        with pytest.raises(OptionError, match="item_noun is a noun, or noun/plural"):
            RankerConfig(item_noun=bad)


class RecordingBackend:
    """Keeps every prompt it is given (class-wide: the CLI makes its own instance); answers [1]."""

    name = model_name = "recording"
    abilities: frozenset = frozenset()
    context_length = 4096
    prompts: list[str] = []

    def __init__(self, **_):
        pass

    def count_tokens(self, prompt: str) -> int:
        return len(prompt.split())

    def generate(self, prompts, config):
        from zsrec.backends.base import Generation

        RecordingBackend.prompts.extend(prompts)
        return [Generation("[1]", len(p.split()), 1, "stop") for p in prompts]


def test_item_noun_from_the_command_line(monkeypatch):
    from typer.testing import CliRunner

    from zsrec.backends import BUILTIN
    from zsrec.cli import app

    monkeypatch.setitem(BUILTIN, "recording", "test_prompts:RecordingBackend")
    for args, said in (([], "I have watched these movies"), (["--item-noun", "dress/dresses"], "I have picked these dresses")):
        RecordingBackend.prompts.clear()
        result = CliRunner().invoke(app, ["rank", "--backend", "recording", "-H", "Toy Story (1995)", "--reasons",
                                          "none", *args])
        assert result.exit_code == 0, result.stderr
        assert len(RecordingBackend.prompts) == 1 and said in RecordingBackend.prompts[0]
    result = CliRunner().invoke(app, ["rank", "--backend", "recording", "-H", "Toy Story (1995)", "--item-noun", "a/b/c"])
    assert result.exit_code == 2 and "item_noun is a noun, or noun/plural" in result.stderr
