"""Hugging Face transformers backend: any causal LM with a chat template, on CPU or GPU.

Greedy by default so the same input gives the same ranking; sampling is seeded. Prompts in a batch
are left-padded so generation starts at the same column for all of them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

from ..errors import ModelLoadError, ModelUnavailableError, OptionError
from ..models import ModelSource, gguf_cache_path, resolve_model, save_converted
from .base import Ability, AnswerFormat, Backend, Generation, GenerationConfig, option_token_ids


def _repeated_line_stop(tokenizer, repeats: int = 3):
    """Stop a row once its last ``repeats`` lines are identical: small models loop on one line, and the
    parser drops repeats anyway, so generating more only costs time."""
    from transformers import StoppingCriteria
    import torch

    class RepeatedLine(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            done = []
            for row in input_ids:
                tail = tokenizer.decode(row[-96:], skip_special_tokens=True)
                # Only finished lines, list numbering removed: "9. X" and "10. X" are the same line.
                lines = [re.sub(r"^\s*\d+\s*[.):]\s*", "", ln).strip() for ln in tail.split("\n")][:-1]
                last = [ln for ln in lines if ln][-repeats:]
                done.append(len(last) == repeats and len(set(last)) == 1)
            return torch.tensor(done, device=input_ids.device)

    return RepeatedLine()


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _pick_device(device: str) -> str:
    """The torch device to use; asking for one this machine lacks is the caller's error, not a
    reason to fall back (a run that silently ranked nobody on the GPU it asked for helps no one)."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise ModelLoadError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N") from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ModelLoadError(f"device {device!r} asked for, but torch {torch.__version__} sees no CUDA GPU here; "
                                 "use --device cpu (or auto)")
        if parsed.index is not None and parsed.index >= count:
            raise ModelLoadError(f"device {device!r} asked for, but only {count} CUDA GPU(s) are visible")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ModelLoadError(f"device {device!r} asked for, but MPS is not available here")
    return device


class TransformersBackend(Backend):
    name = "transformers"
    abilities = frozenset({Ability.LABEL_SCORING})  # no constrained decoding here

    @classmethod
    def check_model(cls, model: str | None, **options: Any) -> None:
        resolve_model(model)  # a path that is not there, the default without its package

    def __init__(self, model: str | None = None, device: str = "auto", dtype: str = "auto",
                 batch_size: int = 8, cache_converted: bool = True, trust_remote_code: bool = False,
                 stop_repeated_lines: int = 3):
        """``stop_repeated_lines``: stop a row once its last this many lines are the same (0: never)."""
        if stop_repeated_lines < 0 or stop_repeated_lines == 1:
            raise OptionError("stop_repeated_lines must be 0 (off) or at least 2")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        self.source: ModelSource = resolve_model(model)
        self.model_name = self.source.name
        self.device = _pick_device(device)
        self.batch_size = max(1, batch_size)
        self.stop_repeated_lines = stop_repeated_lines
        if dtype == "auto":
            torch_dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        else:
            torch_dtype = getattr(torch, dtype)
        t0 = time.perf_counter()
        location, gguf = self.source.location, self.source.gguf_file
        kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
        cached = gguf_cache_path(self.source) if gguf else None
        if cached is not None and (cached / "config.json").is_file():
            location, gguf = str(cached), None
        try:
            if gguf:
                kwargs["gguf_file"] = gguf
            self.tokenizer = AutoTokenizer.from_pretrained(location, **kwargs)
            self.model = AutoModelForCausalLM.from_pretrained(location, dtype=torch_dtype, **kwargs)
            self.model.to(self.device).eval()
        except ImportError as e:
            raise ModelLoadError(f"cannot load {self.model_name}: {e}") from None
        except (MemoryError, torch.OutOfMemoryError) as e:
            raise ModelUnavailableError(f"out of memory loading {self.model_name!r} on {self.device}: "
                                        f"{_first_line(e)}") from None
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            if "out of memory" in str(e).lower():
                raise ModelUnavailableError(f"out of memory loading {self.model_name!r} on {self.device}: "
                                            f"{_first_line(e)}") from None
            raise ModelLoadError(f"cannot load model {self.model_name!r}: {_first_line(e)}") from None
        if gguf and cache_converted and cached is not None:
            save_converted(self.model, self.tokenizer, cached)
        self.load_seconds = time.perf_counter() - t0
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"
        if not getattr(self.tokenizer, "chat_template", None):
            raise ModelLoadError(f"model {self.model_name!r} has no chat template; use an instruction-tuned model")
        self.context_length = int(
            getattr(self.model.config, "max_position_embeddings", None)
            or getattr(self.tokenizer, "model_max_length", 2048)
        )

    def _chat(self, prompt: str) -> str:
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )

    def count_tokens(self, prompt: str) -> int:
        return len(self.tokenizer(self._chat(prompt), add_special_tokens=False)["input_ids"])

    def generate(self, prompts: Sequence[str], config: GenerationConfig,
                 formats: Sequence[AnswerFormat] | None = None) -> list[Generation]:
        import torch

        out: list[Generation] = []
        deadline = None if config.timeout is None else time.perf_counter() + config.timeout
        for start in range(0, len(prompts), self.batch_size):
            batch = [self._chat(p) for p in prompts[start:start + self.batch_size]]
            enc = self.tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
            torch.manual_seed(config.seed)
            kwargs: dict[str, Any] = {"max_new_tokens": config.max_new_tokens,
                                      "pad_token_id": self.tokenizer.pad_token_id,
                                      "stopping_criteria": ([_repeated_line_stop(self.tokenizer, self.stop_repeated_lines)]
                                                            if self.stop_repeated_lines else [])}
            if config.temperature > 0:
                kwargs.update(do_sample=True, temperature=config.temperature, top_p=config.top_p)
            else:
                kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            if deadline is not None:
                kwargs["max_time"] = max(0.0, deadline - time.perf_counter())
            t0 = time.perf_counter()
            with torch.inference_mode():
                gen = self.model.generate(**enc, **kwargs)
            elapsed = time.perf_counter() - t0
            width = enc["input_ids"].shape[1]
            eos = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id}
            for row, mask in zip(gen, enc["attention_mask"]):
                new = row[width:].tolist()
                n_new = next((i for i, t in enumerate(new) if t in eos), len(new))
                if n_new < len(new):
                    finish = "stop"
                elif deadline is not None and kwargs.get("max_time") is not None and elapsed >= kwargs["max_time"]:
                    finish = "timeout"
                elif n_new >= config.max_new_tokens:
                    finish = "length"
                else:  # ended early by a stopping criterion (its last lines repeated): a finished answer
                    finish = "stop"
                out.append(Generation(
                    text=self.tokenizer.decode(new[:n_new], skip_special_tokens=True),
                    prompt_tokens=int(mask.sum()),
                    completion_tokens=n_new,
                    finish_reason=finish,
                ))
        return out

    def score(self, prompts: Sequence[str], options: Sequence[str], prefix: str = "[") -> list[list[float]]:
        """Log-probabilities of each option's token right after the chat prompt and ``prefix``: one
        forward pass per batch, no generation."""
        import torch

        ids = option_token_ids(self.tokenizer, options, prefix)
        out: list[list[float]] = []
        for start in range(0, len(prompts), self.batch_size):
            batch = [self._chat(p) + prefix for p in prompts[start:start + self.batch_size]]
            enc = self.tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
            # Left padding shifts positions; give each row its own, as generate() does.
            positions = (enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)
            with torch.inference_mode():
                logits = self.model(**enc, position_ids=positions, logits_to_keep=1).logits[:, -1, :]
            logp = torch.log_softmax(logits.float(), dim=-1)[:, ids]
            out.extend(logp.tolist())
        return out
