"""Oversize input. Long fields are capped; a history too long for the model's context is cut
oldest first, and the result says how much was cut; a prompt that cannot fit even without history is
a clear error (for that user only, in a batch run)."""

import pytest

from conftest import ScriptedBackend, requires_default_model
from zsrec.backends.base import GenerationConfig
from zsrec.batch import BatchReport, UserRequest
from zsrec.candidates import CandidateConfig, CandidateGenerator
from zsrec.data import Item
from zsrec.errors import PromptTooLongError
from zsrec.prompts import MAX_FIELD_CHARS, PromptTemplate
from zsrec.ranker import Ranker, RankerConfig
from zsrec.recommender import Recommender

H = [Item(str(i), f"Old Film {i} (1990)", {"genres": "Drama"}) for i in range(8)]
C = [Item("c1", "Alpha (1995)", {"genres": "Comedy"}), Item("c2", "Beta (1996)", {"genres": "Horror"})]


def words(text: str) -> int:
    return len(text.split())


def test_long_fields_are_capped():
    huge = Item("h", "Huge " * 500, {"genres": "Drama " * 500, "description": "x" * 10_000})
    text = PromptTemplate("listwise").render([huge], [huge] + C, k=2)
    line = next(ln for ln in text.splitlines() if ln.startswith("[1]"))
    assert len(line) < 2 * MAX_FIELD_CHARS + 20 and "…" in line


def test_history_cut_oldest_first_and_minimally():
    tpl = PromptTemplate("listwise")
    full = words(tpl.render(H, C, 2))
    p = tpl.build(H, C, 2, count_tokens=words, max_tokens=full - 10)
    assert p.history_cut > 0 and p.history_used + p.history_cut == len(H)
    assert "Old Film 7" in p.text and "Old Film 0" not in p.text  # the most recent are kept
    assert p.n_tokens <= full - 10
    assert words(tpl.render(H[len(H) - p.history_used - 1:], C, 2)) > full - 10  # one more would not fit


def test_too_long_even_without_history():
    with pytest.raises(PromptTooLongError, match="without any history"):
        PromptTemplate("listwise").build(H, C, 2, count_tokens=len, max_tokens=10)


def test_ranker_cuts_to_the_backend_context_and_reports_it(ml100k):
    backend = ScriptedBackend(lambda p: "[1]", context_length=600)
    gen = CandidateGenerator(ml100k.catalog, ml100k.interactions, CandidateConfig(n_candidates=10))
    ranker = Ranker(ml100k.catalog, gen, backend, PromptTemplate("listwise"),
                    RankerConfig(k=5, n_candidates=10, generation=GenerationConfig(max_new_tokens=100)))
    r = ranker.rank(list(range(200, 260)))
    assert r.info.history_cut > 0 and r.info.history_used + r.info.history_cut == 60
    assert words(backend.calls[0][0]) <= 600 - 100 - 16


def test_batch_user_whose_prompt_cannot_fit_is_reported_alone(ml100k):
    """Candidates differ per user; one user's shortlist can be too long where the others fit."""
    backend = ScriptedBackend(lambda p: "[1]", context_length=330)
    rec = Recommender(ml100k, backend=backend, k=3, candidates=CandidateConfig(n_candidates=10),
                      generation=GenerationConfig(max_new_tokens=16))
    lengths = {}
    for user in ("1", "2", "3", "4", "5", "6"):
        history, exclude = rec.user_split(user, 3)
        lengths[user] = words(rec.ranker.template.render(
            [], [ml100k.catalog.items[i] for i in rec.generator.generate(history, exclude, 10).indices], 3,
            rec.ranker.config.item_noun))
    longest = max(lengths, key=lengths.get)
    backend.context_length = lengths[longest] - 1 + 16 + 16  # room for every shortlist but the longest
    report = BatchReport()
    outcomes = list(rec.recommend_many([UserRequest(u) for u in lengths], n_history=3, batch_size=6,
                                       report=report))
    assert list(report.errors) == [longest] and "without any history" in report.errors[longest]
    assert report.ranked == 5 and all(o.result for o in outcomes if o.user_id != longest)


@pytest.mark.model
@requires_default_model
def test_real_tokenizer_cuts_history_to_context(ml100k, default_backend):
    rec = Recommender(ml100k, backend=default_backend, generation=GenerationConfig(max_new_tokens=32))
    saved = default_backend.context_length
    default_backend.context_length = 700  # as if the model had a short context
    try:
        r = rec.ranker.rank(*rec.user_split("13", 120), k=5)
    finally:
        default_backend.context_length = saved
    assert r.info.history_cut > 0 and r.info.history_used + r.info.history_cut == 120
    assert r.info.prompt_tokens <= 700 - 32 - 16  # room left for the answer and the chat markup
    assert len(r.items) == 5
