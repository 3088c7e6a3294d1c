"""The OpenAI-compatible client against real servers started here on 127.0.0.1: llama.cpp's server
(from llama-cpp-python[server], the same protocol as ``vllm serve``) with the default model, plus a
deliberately slow or scripted stdlib server for the cases a healthy server cannot show."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zsrec.backends.base import GenerationConfig
from zsrec.backends.openai_backend import OpenAIBackend
from zsrec.cli import app
from zsrec.errors import ModelLoadError, ModelUnavailableError
from zsrec.recommender import Recommender

pytestmark = pytest.mark.model

if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("fastapi") is None:
    pytest.skip("llama-cpp-python[server] is not installed (pip install 'zsrec[test]')", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_llama_server(port: int, log: Path) -> subprocess.Popen:
    from zsrec.models import default_gguf_path

    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(default_gguf_path()), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", "4096", "--n_threads", "1", "--n_threads_batch", "1", "--model_alias", "smollm2"]
    with open(log, "w") as sink:  # a file, not a pipe: llama.cpp logs enough to fill a pipe and stall
        return subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT)


def _wait_ready(proc: subprocess.Popen, url: str, log: Path, seconds: float = 120) -> None:
    end = time.time() + seconds
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"llama.cpp server exited: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url + "/v1/models", timeout=2).read()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("llama.cpp server did not come up")


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    ports = [_free_port(), _free_port()]
    logs = [tmp_path_factory.mktemp("llama") / f"server-{p}.log" for p in ports]
    procs = [_start_llama_server(p, log) for p, log in zip(ports, logs)]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        for proc, url, log in zip(procs, urls, logs):
            _wait_ready(proc, url, log)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_ranks_through_a_real_server(servers, ml100k):
    backend = OpenAIBackend(base_url=servers[0])
    assert backend.model_name == "smollm2" and backend.count_tokens("hello world") > 2
    rec = Recommender(ml100k, backend=backend, generation=GenerationConfig(max_new_tokens=120))
    r = rec.recommend_for_user("42", n_history=5)
    assert r.info.backend == "openai" and r.info.model == "smollm2"
    assert not r.info.fallback and r.info.parsed >= 1 and r.info.completion_tokens > 0
    assert len(r.items) == 10 and len({it.item_id for it in r.items}) == 10


def test_cli_with_two_replicas_spreads_users(servers, tmp_path):
    users = tmp_path / "users.txt"
    users.write_text("\n".join(["1", "2", "3", "4", "5", "6"]) + "\n")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["rank", "--backend", "openai", "--base-url", servers[0], "--base-url",
                                      servers[1], "--users-file", str(users), "--n-history", "4", "--k", "5",
                                      "--max-new-tokens", "60", "--batch-size", "6", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 6 and all(r["info"]["backend"] == "openai" for r in rows)


def test_replicas_both_get_work_and_a_dead_one_is_skipped(servers, ml100k):
    dead = f"http://127.0.0.1:{_free_port()}"
    backend = OpenAIBackend(base_url=[servers[0], servers[1], dead], retries=2, backoff=0.01)
    rec = Recommender(ml100k, backend=backend, generation=GenerationConfig(max_new_tokens=40))
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


def test_score_mode_through_a_real_server(servers, ml100k):
    rec = Recommender(ml100k, backend=OpenAIBackend(base_url=servers[1]), mode="score", reasons=False)
    r = rec.recommend_for_user("42", n_history=5)
    assert r.info.mode == "score" and r.info.finish_reason == "scored" and not r.info.fallback
    assert r.info.parsed >= 1 and len(r.items) == 10


def test_server_down_at_start_falls_back_with_the_reason(ml100k):
    dead = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(ModelUnavailableError, match="no OpenAI-compatible server answered: cannot reach"):
        OpenAIBackend(base_url=dead)
    rec = Recommender(ml100k, backend_name="openai", backend_options={"base_url": dead})
    r = rec.recommend(["Toy Story (1995)"])
    assert r.info.fallback and "no OpenAI-compatible server answered" in r.info.fallback_reason
    assert [it.generator_rank for it in r.items] == list(range(1, 11))


# ---------------------------------------------------------------- a scripted server for edge cases

class _Scripted(BaseHTTPRequestHandler):
    delay = 0.0
    seen_auth: list[str] = []
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
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
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
    handler = type("Handler", (_Scripted,), {"delay": 0.0, "seen_auth": [], "answers": []})
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


def test_guided_regex_is_sent_only_when_asked(scripted):
    _, url = scripted
    cfg = GenerationConfig()
    assert "structured_outputs" not in OpenAIBackend(base_url=url).chat_payload("p", cfg, r"\[1\]")
    payload = OpenAIBackend(base_url=url, structured_outputs=True).chat_payload("p", cfg, r"\[1\]")
    assert payload["structured_outputs"] == {"regex": r"\[1\]"} and payload["temperature"] == 0

