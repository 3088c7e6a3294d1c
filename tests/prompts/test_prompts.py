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
