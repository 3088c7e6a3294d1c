"""The service's checks and answers without HTTP: per-request settings share one model, the
deadline's answer is the shortlist's order with a reason for every item, title search."""

from __future__ import annotations

import pytest

from conftest import ScriptedBackend
from zsrec.choices import RankingMode, ReasonsMode
from zsrec.errors import EmptyHistoryError, OptionError, UnknownItemError, UnknownUserError
from zsrec.recommender import Recommender
from zsrec.serving.service import RecommendService, Variant


@pytest.fixture(scope="module")
def service(ml100k):
    backend = ScriptedBackend(lambda p: "[3] > [1] > [2]")
    return RecommendService(Recommender(ml100k, backend=backend, k=5), max_history=4), backend


def test_variants_share_the_model_and_batch_by_variant(service):
    svc, backend = service
    llm = Variant(RankingMode.GENERATE, ReasonsMode.LLM)
    facts = Variant(RankingMode.GENERATE, ReasonsMode.EVIDENCE)
    assert svc.recommender(facts) is svc.recommender(facts)
    assert svc.recommender(facts).ranker.handle is svc.recommender(llm).ranker.handle  # one model
    users = [svc.prepare(facts, ["Fargo (1996)"], None, [], False, False, None, 10),
             svc.prepare(facts, ["Star Wars (1977)", "Toy Story (1995)"], None, [], False, False, None, 10)]
    calls = len(backend.calls)
    results = svc.rank_batch(facts, users)
    assert len(backend.calls) == calls + 1 and len(backend.calls[-1]) == 2  # one call for the batch
    assert [len(r.items) for r in results] == [5, 5]
    assert all(it.reason_source == "evidence" and it.reason for r in results for it in r.items)
    assert results[0].items[0].generator_rank == 3  # the scripted model's first pick


def test_the_deadline_answer_is_the_shortlist_order_with_reasons(service):
    svc, backend = service
    variant = Variant(RankingMode.GENERATE, ReasonsMode.LLM)
    user = svc.prepare(variant, ["Fargo", "Toy Story"], 4, [], False, False, None, 10)
    calls = len(backend.calls)
    result = svc.shown_order(variant, user, "the service's deadline of 1s passed")
    assert len(backend.calls) == calls  # no LLM call
    assert result.info.fallback and result.info.fallback_reason == "the service's deadline of 1s passed"
    assert [it.generator_rank for it in result.items] == [1, 2, 3, 4]
    assert all(it.reason and it.reason_source == "evidence" for it in result.items)
    assert [h["query"] for h in result.history] == ["Fargo", "Toy Story"]


def test_exclude_holds_for_a_known_user_too(service):
    """A request with "user" and "exclude" ranked the user's shortlist without a word about exclude."""
    svc, _ = service
    v = svc.default
    shown = svc.prepare(v, [], None, [], False, False, "42", 5).prepared.candidates.indices
    first = svc.base.dataset.catalog.items[shown[0]].id
    kept = svc.prepare(v, [], None, [first], False, False, "42", 5).prepared.candidates.indices
    assert shown[0] not in kept and list(kept[:3]) == list(shown[1:4])
    with pytest.raises(UnknownItemError, match="exclude: no item id or title is 'nope'"):
        svc.prepare(v, [], None, ["nope"], False, False, "42", 5)


def test_bad_requests_are_refused_before_any_ranking(service):
    svc, backend = service
    v = svc.default
    calls = len(backend.calls)
    with pytest.raises(OptionError, match="at most 4"):
        svc.prepare(v, ["Fargo (1996)"] * 5, None, [], False, False, None, 10)
    with pytest.raises(EmptyHistoryError):
        svc.prepare(v, [], None, [], False, False, None, 10)
    with pytest.raises(UnknownItemError, match="Fargo"):
        svc.prepare(v, ["Fargoo (1997) zz"], None, [], False, False, None, 10)
    with pytest.raises(UnknownUserError):
        svc.prepare(v, [], None, [], False, False, "nobody", 10)
    with pytest.raises(OptionError, match="not both"):
        svc.prepare(v, ["Fargo (1996)"], None, [], False, False, "1", 10)
    with pytest.raises(OptionError, match="more than the shortlist"):
        svc.prepare(v, ["Fargo (1996)"], 99, [], False, False, None, 10)
    assert len(backend.calls) == calls
    assert len(svc.prepare(v, [], None, [], False, True, None, 10).prepared.candidates.indices) == 20  # allowed empty


def test_title_search_for_a_search_box(service):
    svc, _ = service
    assert svc.search("farg", 3)[0]["title"] == "Fargo (1996)"
    hits = [h["title"] for h in svc.search("star", 10)]
    assert hits[0] == "Star Wars (1977)" and all("star" in t.lower() for t in hits)
    counts = [h["interactions"] for h in svc.search("star", 10)]
    assert counts == sorted(counts, reverse=True)  # most picked first
    assert [h["title"] for h in svc.search("wars star", 1)] == ["Star Wars (1977)"]  # words in any order
    assert svc.search("godfathr", 2)[0]["title"].startswith("Godfather")  # a typo: fuzzy
    assert svc.search("   ", 5) == [] and svc.search("zzzzqqqq", 5) == []


def test_serve_refuses_bad_options_in_one_line_before_listening():
    import subprocess
    import sys

    for args, says in ((["--k", "30"], "more than the shortlist holds"), (["--max-batch", "0"], "max-batch"),
                       (["--backend", "transformers", "--base-url", "http://x"], "--base-url is not an option"),
                       (["--api-key", " "], "empty API key"),
                       (["--model", "/nonexistent/model.gguf"], "GGUF file not found")):
        proc = subprocess.run([sys.executable, "-m", "zsrec", "serve", "--port", "1", *args],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, (args, proc.stderr)
        assert says in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr)


def test_the_app_mounts_in_a_uvicorn_of_your_own(ml100k):
    """The README's embedding example, with a scripted model: an ordinary ASGI app."""
    import threading
    import time
    import urllib.request

    import uvicorn

    from zsrec.llama_server import free_port
    from zsrec.serving.app import create_app
    from zsrec.serving.config import ServeConfig
    from zsrec.serving.launch import post_json

    rec = Recommender(ml100k, backend=ScriptedBackend(lambda p: "[2] > [1]"), reasons="evidence")
    port = free_port()
    called = []  # the hook zsrec serve stops on: not called, the model being fine
    server = uvicorn.Server(uvicorn.Config(create_app(RecommendService(rec), ServeConfig(max_batch=4),
                                                      lambda: called.append(1)),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        end = time.monotonic() + 30
        while not server.started and time.monotonic() < end:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(url + "/readyz", timeout=10) as r:
            assert r.status == 200
        status, body, _ = post_json(url + "/v1/recommend", {"history": ["Fargo (1996)"], "k": 3})
        assert status == 200 and body["info"]["backend"] == "scripted" and body["items"][0]["generator_rank"] == 2
        assert body["info"]["parsed"] == 2 and not body["info"]["fallback"]
        assert called == []
    finally:
        server.should_exit = True
        thread.join(30)
    assert not thread.is_alive()


def test_a_request_chooses_its_fusion_weight_and_weights_do_not_grow_the_service(service):
    svc, backend = service
    shortlist = Variant(RankingMode.GENERATE, ReasonsMode.EVIDENCE, 0.0)
    user = svc.prepare(shortlist, ["Fargo (1996)", "Toy Story (1995)"], None, [], False, False, None, 10)
    calls = len(backend.calls)
    result = svc.rank_batch(shortlist, [user])[0]
    assert len(backend.calls) == calls  # weight 0 with reasons from the data: the model is not asked
    assert [it.generator_rank for it in result.items] == [1, 2, 3, 4, 5] and result.info.fusion_weight == 0
    fused = svc.rank_batch(Variant(RankingMode.GENERATE, ReasonsMode.EVIDENCE, 0.5), [user])[0]
    assert len(backend.calls) == calls + 1 and {it.source for it in fused.items} == {"fused"}
    assert svc.recommender(shortlist).ranker.handle is svc.base.ranker.handle  # one model for every weight
    for i in range(200):  # a client sending a new weight each time
        svc.recommender(Variant(RankingMode.GENERATE, ReasonsMode.EVIDENCE, i / 1000))
    assert len(svc._variants) <= 64


def test_a_settled_service_leaves_what_it_holds_out_of_the_collectors_passes(ml100k):
    import gc
    import weakref

    from conftest import own_copy

    class Node:
        pass

    def tracked(obj) -> bool:  # in a generation the collector walks (frozen objects are in none)
        return any(o is obj for o in gc.get_objects())

    rec = Recommender(own_copy(ml100k), backend=ScriptedBackend(lambda p: ""), mode="score", reasons="evidence")
    item = rec.dataset.catalog.items[0]
    plain = RecommendService(rec)
    assert tracked(item)  # a service that does not settle leaves the collector as it is
    cycle = Node()
    cycle.me = cycle  # garbage only a collection frees
    gone = weakref.ref(cycle)
    del cycle
    try:
        settled = RecommendService(rec, settle=True)
        assert gone() is None  # collected first, not kept for ever
        assert not tracked(item) and gc.get_freeze_count() >= len(ml100k.catalog)
        plain.add_items([{"item_id": "new-1", "title": "New One (2026)"}])
        assert tracked(rec.dataset.catalog.items[-1])
        settled.add_items([{"item_id": "new-2", "title": "New Two (2026)"}])  # and after each add
        assert not tracked(rec.dataset.catalog.items[-1]) and not tracked(rec.dataset.catalog.items[-2])
    finally:
        gc.unfreeze()


def test_a_model_found_unusable_by_its_load_is_said_and_stops_zsrec_serve(ml100k, monkeypatch):
    """An error only the load can find (a model folder transformers cannot read, a server that does not
    serve the model named): /readyz says it with 503, the hook ``zsrec serve`` passes is called once (it
    then exits with the error), and a request that needs the model gets the error, not a ranking."""
    import threading
    import time
    import urllib.error
    import urllib.request

    import uvicorn

    from zsrec.backends import BUILTIN, BackendSpec
    from zsrec.errors import ModelLoadError
    from zsrec.llama_server import free_port
    from zsrec.serving.app import create_app
    from zsrec.serving.config import ServeConfig
    from zsrec.serving.launch import post_json

    class Unreadable:
        def __init__(self, model=None):
            raise ModelLoadError(f"cannot load model {model!r}: no model_type in its config.json")

    monkeypatch.setitem(BUILTIN, "unreadable", Unreadable)
    service = RecommendService(Recommender(ml100k, backend=BackendSpec("unreadable", "mine"), k=3))
    called = []
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service, ServeConfig(), lambda: called.append(1)),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}"
        end = time.monotonic() + 30
        while not (server.started and called) and time.monotonic() < end:  # the hook runs once the load is done
            time.sleep(0.05)
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url + "/readyz", timeout=10)
        assert e.value.code == 503
        assert "no model_type in its config.json" in e.value.read().decode()
        assert service.model_error == "cannot load model 'mine': no model_type in its config.json"
        assert called == [1]
        status, body, _ = post_json(url + "/v1/recommend", {"history": ["Fargo (1996)"]})
        assert status == 422 and "no model_type" in body["detail"]
    finally:
        server.should_exit = True
        thread.join(30)
    # a model that could not be brought up (out of memory, say) is no such error: the service answers
    # in the shortlist's order, as before
    from zsrec.errors import ModelUnavailableError

    class OutOfMemory:
        def __init__(self, model=None):
            raise ModelUnavailableError("out of memory loading 'mine'")

    monkeypatch.setitem(BUILTIN, "oom", OutOfMemory)
    service = RecommendService(Recommender(ml100k, backend=BackendSpec("oom", "mine"), k=3))
    service.load()
    assert not service.model_error and "out of memory" in service.load_error and service.ready.is_set()
