"""The OpenAI-compatible client against real servers started here on 127.0.0.1: llama.cpp's C++ server
(the prebuilt xllamacpp wheel, the same protocol as ``vllm serve``) with the default model, plus a
deliberately slow or scripted stdlib server for the cases a healthy server cannot show."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from zsrec import llama_server
from zsrec.backends import BackendSpec
from zsrec.backends.base import AnswerFormat, GenerationConfig
from zsrec.backends.openai_backend import OpenAIBackend
from zsrec.cli import app
from zsrec.errors import ModelLoadError, ModelUnavailableError
from zsrec.llama_server import free_port as _free_port
from zsrec.recommender import Recommender

pytestmark = pytest.mark.model

if importlib.util.find_spec("xllamacpp") is None:
    pytest.skip("xllamacpp (llama.cpp's server, prebuilt) is not installed (pip install 'zsrec[test]')",
                allow_module_level=True)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """Two replicas of llama.cpp's server with the default model, one thread each."""
    logs = tmp_path_factory.mktemp("llama")
    started = []
    try:
        for i in range(2):
            started.append(llama_server.start(logs / f"server-{i}.log"))
        yield [s.url for s in started]
    finally:
        for s in started:
            s.stop()


def test_ranks_through_a_real_server(servers, ml100k):
    backend = OpenAIBackend(base_url=servers[0])
    assert backend.model_name == "smollm2" and backend.context_length == 4096
    assert 2 < backend.count_tokens("hello world") < 40 and backend._tokenize_route == "llama-server"
    rec = Recommender(ml100k, backend=backend, generation=GenerationConfig(max_new_tokens=120))
    r = rec.recommend_for_user("42", n_history=5)
    assert r.info.backend == "openai" and r.info.model == "smollm2"
    assert not r.info.fallback and r.info.parsed >= 1 and r.info.completion_tokens > 0
    assert len(r.items) == 10 and len({it.item_id for it in r.items}) == 10


def test_cli_with_two_replicas_spreads_users(servers, tmp_path):
    users = tmp_path / "users.txt"
    users.write_text("\n".join(["1", "2", "3", "4"]) + "\n")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["rank", "--backend", "openai", "--base-url", servers[0], "--base-url",
                                      servers[1], "--users-file", str(users), "--n-history", "4", "--k", "5",
                                      "--max-new-tokens", "24", "--batch-size", "4", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 4 and all(r["info"]["backend"] == "openai" for r in rows)


def test_replicas_both_get_work_and_a_dead_one_is_skipped(servers, ml100k):
    dead = f"http://127.0.0.1:{_free_port()}"
    backend = OpenAIBackend(base_url=[servers[0], servers[1], dead], retries=2, backoff=0.01)
    rec = Recommender(ml100k, backend=backend, generation=GenerationConfig(max_new_tokens=16))
    results = rec.ranker.rank_many([rec.user_split(u, 3)[0] for u in ("1", "2", "3", "4", "5", "6")])
    assert not any(r.info.fallback and r.info.fallback_reason.startswith("LLM call failed") for r in results)
    stats = backend.stats
    assert stats[servers[0] + "/v1"].requests >= 2 and stats[servers[1] + "/v1"].requests >= 2
    assert stats[dead + "/v1"].failures == stats[dead + "/v1"].requests >= 1


def test_timeout_is_honoured(servers, ml100k):
    backend = OpenAIBackend(base_url=servers[0])
    rec = Recommender(ml100k, backend=backend,
                      generation=GenerationConfig(max_new_tokens=2000, timeout=0.5))
    t0 = time.perf_counter()
    results = rec.ranker.rank_many([rec.user_split(u, 3)[0] for u in ("1", "2")])
    assert time.perf_counter() - t0 < 0.5 + 3.0  # prompt building and parsing on top of the deadline
    for r in results:
        assert r.info.fallback and r.info.finish_reason == "timeout"
        assert r.info.fallback_reason == "LLM timed out before naming a candidate"


def test_guided_answer_obeys_the_format_on_a_real_server(servers, ml100k):
    """--guided reaches llama.cpp's server as a grammar: the answer is exactly k lines, each naming a
    real candidate, whatever the small model would have written unconstrained."""
    backend = OpenAIBackend(base_url=servers[0])
    assert backend.llama_cpp
    rec = Recommender(ml100k, backend=backend, guided=True, k=3, generation=GenerationConfig(max_new_tokens=400))
    r = rec.recommend_for_user("42", n_history=5)
    import re

    assert re.fullmatch(AnswerFormat(20, 3).regex(), r.info.raw_output), r.info.raw_output
    assert r.info.parsed >= 1 and not r.info.fallback
    assert not any(x.kind.value == "dropped ids not among the candidates" for x in r.info.repairs)
    result = CliRunner().invoke(app, ["rank", "--backend", "openai", "--base-url", servers[0], "--guided",
                                      "-H", "Fargo (1996)", "--k", "2", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert re.fullmatch(AnswerFormat(20, 2).regex(), json.loads(result.stdout)["info"]["raw_output"])


def test_score_mode_through_a_real_server(servers, ml100k):
    rec = Recommender(ml100k, backend=OpenAIBackend(base_url=servers[1]), mode="score", reasons=False)
    r = rec.recommend_for_user("42", n_history=5)
    assert r.info.mode == "score" and r.info.finish_reason == "scored" and not r.info.fallback
    assert r.info.parsed >= 1 and len(r.items) == 10


def test_server_down_at_start_falls_back_with_the_reason(ml100k):
    dead = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(ModelUnavailableError, match="no OpenAI-compatible server answered: cannot reach"):
        OpenAIBackend(base_url=dead)
    rec = Recommender(ml100k, backend=BackendSpec("openai", options={"base_url": dead}))
    r = rec.recommend(["Toy Story (1995)"])
    assert r.info.fallback and "no OpenAI-compatible server answered" in r.info.fallback_reason
    assert [it.generator_rank for it in r.items] == list(range(1, 11))


# ---------------------------------------------------------------- a scripted server for edge cases

class _Scripted(BaseHTTPRequestHandler):
    delay = 0.0
    seen_auth: list[str] = []
    seen_bodies: list[dict] = []
    answers: list[int] = []  # HTTP status per chat call, then 200

    def log_message(self, *args):
        pass

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send(200, {"data": [{"id": "scripted-model", "max_model_len": 2048}]})

    def do_POST(self):
        type(self).seen_bodies.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))))
        type(self).seen_auth.append(self.headers.get("Authorization", ""))
        time.sleep(self.delay)
        status = type(self).answers.pop(0) if type(self).answers else 200
        if status != 200:
            self._send(status, {"error": "busy"})
            return
        self._send(200, {"choices": [{"message": {"content": "[2] > [1]"}, "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 10, "completion_tokens": 5}})


@pytest.fixture
def scripted():
    handler = type("Handler", (_Scripted,), {"delay": 0.0, "seen_auth": [], "seen_bodies": [], "answers": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_slow_server_times_out_per_request(scripted):
    handler, url = scripted
    handler.delay = 3.0
    backend = OpenAIBackend(base_url=url, request_timeout=0.5, retries=0)
    t0 = time.perf_counter()
    gens = backend.generate(["a", "b"], GenerationConfig())
    assert time.perf_counter() - t0 < 2.5
    assert [g.finish_reason for g in gens] == ["timeout", "timeout"]


def test_busy_server_is_retried_with_backoff(scripted):
    handler, url = scripted
    handler.answers = [503, 429]
    backend = OpenAIBackend(base_url=url, retries=2, backoff=0.05)
    gen = backend.generate(["a"], GenerationConfig())[0]
    assert gen.text == "[2] > [1]" and not gen.error and backend.stats[url].failures == 2


def test_client_error_is_not_retried(scripted):
    handler, url = scripted
    handler.answers = [400]
    backend = OpenAIBackend(base_url=url, retries=3, backoff=0.01)
    gen = backend.generate(["a"], GenerationConfig())[0]
    assert gen.finish_reason == "error" and "HTTP 400" in gen.error and backend.stats[url].requests == 1


def test_api_key_comes_from_the_environment(scripted, monkeypatch):
    handler, url = scripted
    monkeypatch.setenv("ZSREC_OPENAI_API_KEY", "sk-test-123")
    backend = OpenAIBackend(base_url=url)
    backend.generate(["a"], GenerationConfig())
    assert handler.seen_auth == ["Bearer sk-test-123"]
    assert backend.context_length == 2048  # from the server's max_model_len


def test_model_not_served_and_bad_url(scripted):
    _, url = scripted
    with pytest.raises(ModelLoadError, match="does not serve 'other'; it serves: scripted-model"):
        OpenAIBackend(model="other", base_url=url)
    with pytest.raises(ModelLoadError, match="must start with http"):
        OpenAIBackend(base_url="127.0.0.1:8000")


def test_answer_format_is_sent_in_the_servers_own_form(scripted):
    _, url = scripted
    cfg, answer = GenerationConfig(), AnswerFormat(5, 2)
    backend = OpenAIBackend(base_url=url)
    assert "structured_outputs" not in backend.chat_payload("p", cfg)
    payload = backend.chat_payload("p", cfg, answer)  # vLLM (the scripted server lists max_model_len)
    assert payload["structured_outputs"] == {"regex": answer.regex()} and payload["temperature"] == 0
    backend.llama_cpp = True  # llama.cpp's server takes a GBNF grammar instead
    payload = backend.chat_payload("p", cfg, answer)
    assert payload["grammar"] == answer.grammar() and "structured_outputs" not in payload



def test_guided_reaches_the_server_through_the_recommender(scripted, tmp_path):
    """--guided used to stop at the ranker: the openai backend never said it could constrain."""
    from conftest import write_ml100k
    from zsrec.loaders import load_dataset

    handler, url = scripted
    data = load_dataset("ml-100k", write_ml100k(tmp_path / "ml"))
    rec = Recommender(data, backend=OpenAIBackend(base_url=url), guided=True, k=2)
    rec.recommend(["Toy Story (1995)"])
    chats = [b for b in handler.seen_bodies if "messages" in b]
    assert chats and chats[-1]["structured_outputs"]["regex"].startswith(r"(\[(")
    handler.seen_bodies.clear()
    Recommender(data, backend=OpenAIBackend(base_url=url), k=2).recommend(["Toy Story (1995)"])
    assert not any("structured_outputs" in b for b in handler.seen_bodies)
