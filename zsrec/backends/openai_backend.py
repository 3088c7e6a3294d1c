"""A client for OpenAI-compatible servers: ``vllm serve``, llama.cpp's server, or any of that protocol.

This is how zsrec grows past one machine: run ``vllm serve MODEL`` on N GPU boxes and give every
``--base-url``; users are spread round-robin over the replicas, a bounded number of requests at a time.
A replica that refuses or errors is retried on the next one with backoff; a request that runs past the
deadline is reported as a timeout for that user alone, and the ranker falls back for them. Only the
standard library is used (urllib in a thread pool), so the client adds no dependency.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from ..errors import ModelLoadError, ModelUnavailableError
from .base import Ability, AnswerFormat, Backend, Generation, GenerationConfig

API_KEY_ENV = ("ZSREC_OPENAI_API_KEY", "OPENAI_API_KEY")
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class RequestFailed(Exception):
    """One HTTP request failed; ``retry`` says whether another replica might do better."""

    def __init__(self, message: str, retry: bool, timeout: bool = False):
        super().__init__(message)
        self.retry = retry
        self.timeout = timeout


@dataclass
class ReplicaStats:
    requests: int = 0
    failures: int = 0


DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"  # where `vllm serve` listens by default


def _base_urls(base_url: str | Sequence[str]) -> list[str]:
    """The replicas' URLs, each checked and ending in /v1: what the load uses and the check before it reads."""
    urls = [base_url] if isinstance(base_url, str) else list(base_url)
    if not urls:
        raise ModelLoadError("no --base-url given for the openai backend")
    return [_normalise_url(u) for u in urls]


def _normalise_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ModelLoadError(f"base URL {url!r} must start with http:// or https://")
    return url if url.endswith("/v1") else url + "/v1"


class OpenAIBackend(Backend):
    """Constrained decoding reaches the server in its own form: vLLM's ``structured_outputs`` regex,
    or a GBNF ``grammar`` for llama.cpp's server (told apart by what ``/models`` lists)."""

    name = "openai"
    abilities = frozenset({Ability.CONSTRAINED_DECODING, Ability.LABEL_SCORING})

    @classmethod
    def check_model(cls, model: str | None, **options: Any) -> None:
        """The base URLs' form; whether a server answers, and serves ``model``, is the load's to find."""
        _base_urls(options.get("base_url", DEFAULT_BASE_URL))

    def __init__(self, model: str | None = None, base_url: str | Sequence[str] = DEFAULT_BASE_URL,
                 api_key: str | None = None, concurrency: int = 8, request_timeout: float = 120.0,
                 retries: int = 2, backoff: float = 0.5, context_length: int | None = None,
                 chars_per_token: float = 3.0):
        self.base_urls = _base_urls(base_url)
        self.api_key = api_key or next((os.environ[k] for k in API_KEY_ENV if os.environ.get(k)), None)
        self.concurrency = max(1, concurrency)
        self.request_timeout = request_timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.chars_per_token = chars_per_token
        self.stats = {u: ReplicaStats() for u in self.base_urls}
        self._next = itertools.count()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="zsrec-openai")
        served = self._models()
        if model is None:
            model = served[0]["id"]
        elif model not in {m["id"] for m in served}:
            raise ModelLoadError(f"the server does not serve {model!r}; it serves: "
                                 + ", ".join(m["id"] for m in served))
        self.model_name = model
        info = next(m for m in served if m["id"] == model)
        served_ctx = info.get("max_model_len") or (info.get("meta") or {}).get("n_ctx")  # vLLM; llama.cpp
        self.llama_cpp = "meta" in info  # llama.cpp's server describes its model under "meta"
        self.context_length = int(context_length or served_ctx or 4096)
        self._tokenize_route: str | None = None

    # ------------------------------------------------------------ HTTP

    def _request(self, url: str, path: str, payload: dict[str, Any] | None, timeout: float) -> dict[str, Any]:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(url + path, data=data, method="GET" if payload is None else "POST")
        req.add_header("Content-Type", "application/json")
        if self.api_key:
            req.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(req, timeout=max(0.01, timeout)) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            body = e.read().decode("utf-8", "replace")[:300]
            raise RequestFailed(f"HTTP {e.code} from {url}: {body}", retry=e.code in RETRY_STATUS) from None
        except (TimeoutError, socket.timeout):
            raise RequestFailed(f"no answer from {url} within {timeout:.1f}s", retry=False, timeout=True) from None
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise RequestFailed(f"cannot reach {url}: {reason}", retry=True) from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RequestFailed(f"{url} answered with something that is not JSON", retry=True) from None

    def _models(self) -> list[dict[str, Any]]:
        errors = []
        for url in self.base_urls:
            try:
                data = self._request(url, "/models", None, min(self.request_timeout, 10.0)).get("data") or []
                if data:
                    return data
                errors.append(f"{url} lists no models")
            except RequestFailed as e:
                errors.append(str(e))
        raise ModelUnavailableError("no OpenAI-compatible server answered: " + "; ".join(errors))

    def _post(self, path: str, payload: dict[str, Any], deadline: float | None) -> dict[str, Any]:
        """POST to the next replica; on a retryable failure, wait and try the next one."""
        last = ""
        for attempt in range(self.retries + 1):
            with self._lock:
                url = self.base_urls[next(self._next) % len(self.base_urls)]
                self.stats[url].requests += 1
            left = self.request_timeout if deadline is None else min(self.request_timeout,
                                                                      deadline - time.monotonic())
            if left <= 0:
                raise RequestFailed("timed out before the request could be sent", retry=False, timeout=True)
            try:
                return self._request(url, path, payload, left)
            except RequestFailed as e:
                with self._lock:
                    self.stats[url].failures += 1
                last = str(e)
                if not e.retry or attempt == self.retries:
                    raise
                time.sleep(self.backoff * (2 ** attempt))
        raise RequestFailed(last, retry=False)

    # ------------------------------------------------------------ the LLMBackend contract

    def count_tokens(self, prompt: str) -> int:
        """The server's own count where it offers one (vLLM ``/tokenize`` with the chat template;
        llama.cpp's server ``/apply-template`` then ``/tokenize``; llama-cpp-python ``/extras/tokenize``);
        otherwise an estimate that errs on the long side."""
        url = self.base_urls[0]
        root = url[: -len("/v1")]
        routes = ([self._tokenize_route] if self._tokenize_route else
                  ["vllm", "llama-server", "llama.cpp"])
        for route in routes:
            try:
                if route == "vllm":
                    out = self._request(root, "/tokenize", {"model": self.model_name, "messages": [
                        {"role": "user", "content": prompt}], "add_generation_prompt": True}, 10.0)
                    n = int(out["count"])
                elif route == "llama-server":
                    chat = self._request(root, "/apply-template", {"messages": [
                        {"role": "user", "content": prompt}]}, 10.0)["prompt"]
                    n = len(self._request(root, "/tokenize", {"content": chat, "add_special": True}, 10.0)["tokens"])
                elif route == "llama.cpp":
                    out = self._request(root, "/extras/tokenize", {"input": prompt}, 10.0)
                    n = len(out["tokens"]) + 16  # the chat template's own tokens
                else:
                    break
                self._tokenize_route = route
                return n
            except (RequestFailed, KeyError, TypeError, ValueError):
                continue
        self._tokenize_route = "estimate"
        return int(len(prompt) / self.chars_per_token) + 16

    def chat_payload(self, prompt: str, config: GenerationConfig, answer: AnswerFormat | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model_name,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": config.max_new_tokens,
            "temperature": config.temperature,
            "seed": config.seed,
        }
        if config.temperature > 0:
            payload["top_p"] = config.top_p
        if answer is not None and self.llama_cpp:
            payload["grammar"] = answer.grammar()
        elif answer is not None:
            payload["structured_outputs"] = {"regex": answer.regex()}  # vLLM's extra parameter (>= 0.12)
        return payload

    def _one(self, prompt: str, config: GenerationConfig, deadline: float | None,
             answer: AnswerFormat | None) -> Generation:
        try:
            out = self._post("/chat/completions", self.chat_payload(prompt, config, answer), deadline)
            choice = out["choices"][0]
            text = choice["message"].get("content") or ""
            usage = out.get("usage") or {}
            return Generation(text, int(usage.get("prompt_tokens") or 0),
                              int(usage.get("completion_tokens") or 0), choice.get("finish_reason") or "stop")
        except RequestFailed as e:
            if e.timeout:
                return Generation("", 0, 0, "timeout")
            return Generation("", 0, 0, "error", error=str(e))
        except (KeyError, IndexError, TypeError) as e:
            return Generation("", 0, 0, "error", error=f"unexpected answer shape ({type(e).__name__}: {e})")

    def generate(self, prompts: Sequence[str], config: GenerationConfig,
                 formats: Sequence[AnswerFormat] | None = None) -> list[Generation]:
        """All prompts at once, ``concurrency`` in flight; each failure is reported for its own prompt."""
        deadline = None if config.timeout is None else time.monotonic() + config.timeout
        answers: list[AnswerFormat | None] = list(formats) if formats is not None else [None] * len(prompts)
        futures: list[Future[Generation]] = [self._pool.submit(self._one, p, config, deadline, a)
                                             for p, a in zip(prompts, answers, strict=True)]
        pending = set(futures)
        while pending:
            left = None if deadline is None else deadline - time.monotonic() + 1.0
            if left is not None and left <= 0:
                break
            _, pending = wait(pending, timeout=left, return_when=FIRST_COMPLETED)
        return [f.result() if f.done() else Generation("", 0, 0, "timeout") for f in futures]

    def score(self, prompts: Sequence[str], options: Sequence[str], prefix: str = "[") -> list[list[float]]:
        """Log-prob mode over the chat API, which cannot pre-fill the answer with ``prefix``: the
        first answer position whose top log-probs name an option (``A``, `` A`` or ``[A`` alike)
        gives the scores. Servers return at most ~20 alternatives, so an option outside them scores
        -inf and keeps its generator place. A failed request raises, and the ranker falls back."""
        wanted = {opt: i for i, opt in enumerate(options)}

        def one(prompt: str) -> list[float]:
            payload = {"model": self.model_name, "messages": [{"role": "user", "content": prompt}],
                       "max_tokens": 3, "temperature": 0, "logprobs": True,
                       "top_logprobs": min(20, max(len(options), 1))}
            out = self._post("/chat/completions", payload, None)
            positions = ((out["choices"][0].get("logprobs") or {}).get("content")) or []
            for pos in positions:
                row = [-math.inf] * len(options)
                for alt in pos.get("top_logprobs") or []:
                    key = str(alt.get("token", "")).strip().lstrip(prefix).strip()
                    if key in wanted:
                        row[wanted[key]] = max(row[wanted[key]], float(alt["logprob"]))
                if any(x > -math.inf for x in row):
                    return row
            return [-math.inf] * len(options)

        return list(self._pool.map(one, prompts))

    def replica_load(self) -> Counter[str]:
        return Counter({u: s.requests for u, s in self.stats.items()})

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
