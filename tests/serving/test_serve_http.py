"""`zsrec serve` over real HTTP on 127.0.0.1, with the real default model in a child process: the
endpoints, bad bodies, the API key, the queue limit, the deadline, a client that leaves, and the
drain on SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from zsrec.serving.launch import ServeProcess, post_json

pytestmark = pytest.mark.model
KEY = "test-key-123"
AUTH = {"Authorization": f"Bearer {KEY}"}
HISTORY = ["Fargo (1996)", "Toy Story (1995)"]


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as r:
            return r.status, r.read().decode("utf-8"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8"), dict(e.headers)


def _metric(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


@pytest.fixture(scope="module")
def keyed(tmp_path_factory) -> ServeProcess:
    """Score mode with evidence reasons by default (fast); a small queue and batch, so the limits show."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with ServeProcess(["--mode", "score", "--reasons", "evidence", "--api-key", KEY, "--max-queue", "3",
                       "--max-batch", "2", "--max-history", "12", "--max-body-bytes", "4096",
                       "--max-new-tokens", "64"], log) as server:
        yield server


def test_recommend_answers_what_zsrec_rank_prints(keyed, ml100k):
    status, body, _ = post_json(keyed.url + "/v1/recommend", {"history": HISTORY, "k": 5}, AUTH)
    assert status == 200, body
    cli = subprocess.run([sys.executable, "-m", "zsrec", "rank", *sum((["-H", h] for h in HISTORY), []), "--k", "5",
                          "--mode", "score", "--reasons", "evidence", "--format", "json"],
                         capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    expected = json.loads(cli.stdout)
    for result in (body, expected):
        result["info"].pop("timings")
    assert body == expected
    assert [h["title"] for h in body["history"]] == HISTORY and len(body["items"]) == 5
    assert all(it["reason"] and it["evidence"] for it in body["items"])
    # item ids work as history too, and exclude keeps an item out
    top = body["items"][0]["item_id"]
    status, by_id, _ = post_json(keyed.url + "/v1/recommend", {"history": ["100", "1"], "k": 5, "exclude": [top]}, AUTH)
    assert status == 200 and top not in [it["item_id"] for it in by_id["items"]]
    status, by_number, _ = post_json(keyed.url + "/v1/recommend", {"history": [100, 1], "k": 5, "exclude": [int(top)]},
                                     AUTH)  # ids as JSON numbers
    assert status == 200 and [h["item_id"] for h in by_number["history"]] == ["100", "1"]
    assert top not in [it["item_id"] for it in by_number["items"]]
    # only items of a genre, or only listed ones, for a typed history or a known user; a genre no item has: 422
    status, comedies, _ = post_json(keyed.url + "/v1/recommend", {"history": HISTORY, "k": 5, "only_genres": ["comedy"]},
                                    AUTH)
    assert status == 200 and comedies["info"]["filter"] == "genre Comedy: 505 of 1,682 items"
    assert len(comedies["items"]) == 5
    assert all("Comedy" in ml100k.catalog.get(it["item_id"]).fields["genres"] for it in comedies["items"])
    status, listed, _ = post_json(keyed.url + "/v1/recommend", {"user": "196", "k": 5, "only": [181, "Fargo (1996)"]},
                                  AUTH)
    assert status == 200 and sorted(it["item_id"] for it in listed["items"]) == ["100", "181"]
    status, bad, _ = post_json(keyed.url + "/v1/recommend", {"history": HISTORY, "only_genres": ["Comdy"]}, AUTH)
    assert status == 422 and "no item has the genre 'Comdy'" in bad["detail"]
    # a known user, and the request's own mode
    status, known, _ = post_json(keyed.url + "/v1/recommend", {"user": "196", "k": 3, "reasons": "none"}, AUTH)
    assert status == 200 and all(it["reason"] == "" for it in known["items"]) and len(known["items"]) == 3
    # the request's own fusion weight: 0 is the shortlist's order, 0.5 blends it with the model's
    status, shortlist, _ = post_json(keyed.url + "/v1/recommend", {"history": HISTORY, "k": 5, "fusion_weight": 0},
                                     AUTH)
    assert status == 200 and [it["generator_rank"] for it in shortlist["items"]] == [1, 2, 3, 4, 5]
    assert shortlist["info"]["fusion_weight"] == 0 and shortlist["info"]["finish_reason"] == "not-called"
    status, fused, _ = post_json(keyed.url + "/v1/recommend", {"history": HISTORY, "k": 5, "fusion_weight": 0.5}, AUTH)
    assert status == 200 and {it["source"] for it in fused["items"]} == {"fused"}
    assert fused["items"][0]["llm_rank"] is not None and fused["info"]["fusion_weight"] == 0.5


def test_search_health_readiness_metrics_and_docs(keyed):
    status, text, _ = _get(keyed.url + "/v1/items?q=farg&limit=3", AUTH)
    assert status == 200 and json.loads(text)["items"][0]["title"] == "Fargo (1996)"
    status, text, _ = _get(keyed.url + "/v1/items?q=star%20wa", AUTH)
    assert json.loads(text)["items"][0]["title"] == "Star Wars (1977)"
    assert _get(keyed.url + "/v1/items?q=x&limit=0", AUTH)[0] == 422
    status, text, _ = _get(keyed.url + "/v1/genres", AUTH)
    genres = {g["name"]: g["items"] for g in json.loads(text)["genres"]}
    assert status == 200 and len(genres) == 18 and genres["Comedy"] == 505 and genres["Film-Noir"] == 24
    assert _get(keyed.url + "/v1/genres")[0] == 401  # behind the key, as the catalog's items are
    assert _get(keyed.url + "/healthz") == (200, '{"status":"ok"}', _get(keyed.url + "/healthz")[2])
    assert _get(keyed.url + "/readyz")[0] == 200
    # made before it listened (no model here, so no reason checker): no request waits for them
    assert re.search(r"made ahead in \d+\.\ds: user_lookup, evidence, genres;", keyed.tail())
    status, spec, _ = _get(keyed.url + "/openapi.json")
    assert status == 200 and {"/v1/recommend", "/v1/items", "/readyz"} <= set(json.loads(spec)["paths"])
    assert "history" in json.dumps(json.loads(spec)["components"])
    assert _get(keyed.url + "/docs")[0] == 200
    post_json(keyed.url + "/v1/recommend", {"history": HISTORY}, AUTH)
    status, metrics, headers = _get(keyed.url + "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert _metric(metrics, 'zsrec_requests_total{route="/v1/recommend",code="200"}') >= 1
    assert _metric(metrics, "zsrec_batch_size_count") >= 1
    assert _metric(metrics, "zsrec_model_ready") == 1
    assert "zsrec_request_seconds_bucket" in metrics and "zsrec_queue_depth" in metrics


def test_bad_bodies_get_a_clear_422(keyed):
    url = keyed.url + "/v1/recommend"
    cases = [
        (b"{not json", "JSON"),
        ({"history": HISTORY, "colour": "red"}, "colour"),
        ({"history": HISTORY, "k": 0}, "k"),
        ({"history": HISTORY, "k": 500}, "more than the shortlist holds"),
        ({"history": "Fargo (1996)"}, "history"),
        ({"history": ["Fargo (1996)"] * 13}, "at most 12"),
        ({"history": ["Fargoo (1996)", "Qwxzv Plonk"]}, "Qwxzv Plonk"),
        ({"history": []}, "no history"),
        ({"user": "no-such-user"}, "no-such-user"),
        ({"history": HISTORY, "mode": "shout"}, "mode"),
        ({"history": HISTORY, "fusion_weight": 1.5}, "fusion_weight"),
        ({"history": ["x" * 5000]}, "larger than this service takes (4096 bytes)"),
    ]
    for body, says in cases:
        status, answer, _ = post_json(url, body, AUTH)
        assert status == 422, (body, answer)
        assert says.lower() in answer["detail"].lower(), (body, answer["detail"])
    # a chunked body (no Content-Length) over the limit is cut off as well
    with socket.create_connection(("127.0.0.1", keyed.port), timeout=30) as s:
        s.sendall(f"POST /v1/recommend HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
                  "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        for _ in range(5):
            s.sendall(b"400\r\n" + b" " * 1024 + b"\r\n")
        s.sendall(b"0\r\n\r\n")
        assert s.recv(200).startswith(b"HTTP/1.1 422")
    # unknown titles may be left out on request, and are listed
    status, answer, _ = post_json(url, {"history": ["Fargo (1996)", "Qwxzv Plonk"], "allow_unknown_titles": True}, AUTH)
    assert status == 200 and answer["unmatched_history"] == ["Qwxzv Plonk"]


def test_the_api_key(keyed):
    url = keyed.url + "/v1/recommend"
    assert post_json(url, {"history": HISTORY})[0] == 401
    assert post_json(url, {"history": HISTORY}, {"Authorization": "Bearer nope"})[0] == 401
    assert post_json(url, {"history": HISTORY}, {"X-API-Key": KEY[:-1]})[0] == 401
    assert post_json(url, {"history": HISTORY}, {"X-API-Key": KEY})[0] == 200
    assert _get(keyed.url + "/v1/items?q=farg")[0] == 401
    assert _get(keyed.url + "/healthz")[0] == 200 and _get(keyed.url + "/metrics")[0] == 200


def test_a_full_queue_answers_503_with_retry_after_and_loses_nothing(keyed):
    """Generated rankings take seconds on this CPU: with 2 per batch and 3 waiting, most of 12
    simultaneous requests are refused at once; every one gets an answer."""
    answers: list[tuple[int, dict, dict]] = []
    lock = threading.Lock()

    def one():
        got = post_json(keyed.url + "/v1/recommend", {"history": HISTORY, "mode": "generate", "reasons": "none",
                                                      "k": 3}, AUTH)
        with lock:
            answers.append(got)

    threads = [threading.Thread(target=one) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    codes = sorted(code for code, _, _ in answers)
    assert len(answers) == 12 and set(codes) <= {200, 503}, codes
    assert codes.count(503) >= 5 and codes.count(200) >= 2, codes
    refused = [(body, headers) for code, body, headers in answers if code == 503]
    assert all(headers.get("retry-after") == "1" and "busy" in body["detail"] for body, headers in refused)
    assert all(body["info"]["mode"] == "generate" and len(body["items"]) == 3 for code, body, _ in answers if code == 200)
    metrics = _get(keyed.url + "/metrics")[1]
    assert _metric(metrics, "zsrec_rejected_total") == codes.count(503)
    assert post_json(keyed.url + "/v1/recommend", {"history": HISTORY}, AUTH)[0] == 200  # still serving


def test_past_the_deadline_the_shortlist_order_is_answered_flagged(tmp_path):
    with ServeProcess(["--deadline", "0.3", "--mode", "generate", "--reasons", "llm", "--max-new-tokens", "48"], tmp_path / "log") as server:
        t0 = time.monotonic()
        status, body, _ = post_json(server.url + "/v1/recommend", {"history": HISTORY, "k": 5})
        took = time.monotonic() - t0
        assert status == 200 and took < 3.0, took
        info = body["info"]
        assert info["fallback"] and "deadline of 0.3s" in info["fallback_reason"]
        assert [it["generator_rank"] for it in body["items"]] == [1, 2, 3, 4, 5]
        assert all(it["reason"] and it["reason_source"] == "evidence" for it in body["items"])  # never without a reason
        assert not any(it["reason_flags"] for it in body["items"])  # the LLM was not asked: no reason of its failed
        metrics = _get(server.url + "/metrics")[1]
        assert _metric(metrics, 'zsrec_fallbacks_total{why="deadline"}') == 1


def test_a_client_that_leaves_does_not_poison_the_batch_and_sigterm_drains(tmp_path):
    server = ServeProcess(["--mode", "generate", "--reasons", "none", "--max-new-tokens", "64",
                           "--max-batch", "4", "--batch-window-ms", "50"], tmp_path / "log").start()
    try:
        url = server.url + "/v1/recommend"
        results: dict[str, tuple] = {}

        def ask(name: str, body: dict) -> None:
            results[name] = post_json(url, body)

        first = threading.Thread(target=ask, args=("first", {"history": HISTORY, "k": 3}))
        first.start()
        time.sleep(0.3)  # the first is ranking now; the next ones queue behind it
        payload = json.dumps({"history": ["Star Wars (1977)"], "k": 3}).encode()
        with socket.create_connection(("127.0.0.1", server.port)) as s:  # asks, then hangs up
            s.sendall(b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
            time.sleep(0.1)
        second = threading.Thread(target=ask, args=("second", {"history": ["Toy Story (1995)"], "k": 3}))
        second.start()
        first.join(120)
        # the next batch formed once the first was done: the one that hung up was dropped from it unranked
        dropped, end = 0.0, time.monotonic() + 5
        while not dropped and time.monotonic() < end:
            dropped = _metric(_get(server.url + "/metrics")[1], 'zsrec_abandoned_total{why="disconnected"}')
            time.sleep(0.05)
        assert dropped == 1
        # SIGTERM while the second is ranking: it is still answered in full, by the LLM
        server.process.send_signal(signal.SIGTERM)
        second.join(120)
        for name in ("first", "second"):
            status, body, _ = results[name]
            assert status == 200, (name, body)
            assert not body["info"]["fallback"] and body["info"]["finish_reason"] != "not-called", body["info"]
        assert server.process.wait(60) == 0
        with pytest.raises(OSError):  # and nothing new is let in
            socket.create_connection(("127.0.0.1", server.port), timeout=2)
        assert "Traceback" not in server.tail()
    finally:
        server.stop()


def test_zsrec_serve_exits_with_the_error_its_load_finds(tmp_path):
    """A model folder that passes every check made before the load (it holds a config.json) but that
    transformers cannot read: the service stops with exit code 2 and the load's error, rather than
    answer ready and fail every request."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    server = ServeProcess(["--model", str(folder), "--no-warm"], tmp_path / "log")
    with pytest.raises(RuntimeError) as e:
        server.start(wait_ready=120)
    said = " ".join(str(e.value).split())
    assert "exited with 2" in said and f"cannot load model '{folder}'" in said and "Traceback" not in said
