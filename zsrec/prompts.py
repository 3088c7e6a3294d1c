"""Render ranking prompts from Jinja templates, safely, within the model's context.

Templates are data a user may supply, so they run in Jinja's immutable sandbox with undefined variables as
errors: a typo in a template fails loudly instead of sending the model a prompt with a hole in it.
Item text comes from catalogs we do not control, so every string is cleaned before it reaches a
template (control characters and chat-format markup removed, bracketed numbers that could pose as
candidate ids defused, instructions addressed to the model replaced, length capped), so each item
stays one line of data in the prompt. When the history would overflow the context, the oldest items are cut first, since
the recent ones say most about what comes next.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from .data import Item
from .errors import PromptTooLongError, TemplateError

DEFAULT_TEMPLATE = "listwise"
MODES = ("generate", "score", "explain")
SCORE_LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # one token each after "[" in common tokenizers
MAX_FIELD_CHARS = 200

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")
_ID_MARKER = re.compile(r"\[\s*(\d+)\s*\]")
# Chat-format control strings. Tokenizers turn many of these into real special tokens even inside user
# text, so a title holding "<|im_end|><|im_start|>system" would open a new turn of the conversation.
_CHAT_MARKUP = re.compile(
    r"<\|[^<>|]{0,40}\|>|</?s>|\[/?INST\]|<</?SYS>>|<(?:start|end)_of_turn>|</?(?:system|user|assistant)>",
    re.IGNORECASE,
)


# Instructions addressed to the model from inside item text. Structure is defused above; these are the
# words themselves, which a model that follows instructions would otherwise obey. Deliberately narrow
# (an imperative plus its object), so real titles such as "Forget Paris" pass untouched.
_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override|skip)\b[^.!?;]{0,40}?\b(?:instructions?|prompts?|rules|directions"
    r"|everything (?:above|before)|the (?:above|list|ranking))\b"
    r"|\b(?:rank|put|place|list|recommend|choose|pick|select|rate)\s+(?:me|this(?:\s+\w+)?|it|us)\s+"
    r"(?:first|top|highest|at the top|above (?:all|the others|everything)|(?:as )?(?:#|no\.?\s*|number\s*)1)\b"
    r"|\b(?:you are now|you must now|new instructions?|system prompt)\b",
    re.IGNORECASE,
)
INJECTION_PLACEHOLDER = "(instruction removed)"


def prompts_dir() -> Path:
    """Templates ship inside the wheel as ``zsrec/prompts``; an editable install reads the repo's ``prompts/``."""
    here = Path(__file__).resolve().parent
    packaged = here / "prompts"
    return packaged if packaged.is_dir() else here.parent / "prompts"


def available_templates() -> list[str]:
    return sorted(p.stem for p in prompts_dir().glob("*.j2"))


def clean_text(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    """One line of plain text that cannot pose as prompt structure."""
    text = _CONTROL.sub(" ", str(text))
    while _CHAT_MARKUP.search(text):  # until stable: removing one marker must not join the halves of another
        text = _CHAT_MARKUP.sub(" ", text)
    text = _ID_MARKER.sub(r"(\1)", text)  # "[1]" inside a title must not read as candidate 1
    text = _INJECTION.sub(INJECTION_PLACEHOLDER, text)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def _item_view(item: Item) -> dict[str, Any]:
    fields = {k: clean_text(v) for k, v in item.fields.items()}
    return {
        "id": clean_text(item.id, 64),
        "title": clean_text(item.title),
        "genres": clean_text(item.genre_text()),  # the field the evidence reads: genres, genre or class
        "fields": fields,
        "text": clean_text(item.text(), 2 * MAX_FIELD_CHARS),
    }


@dataclass(frozen=True)
class Prompt:
    text: str
    history_used: int  # history items in the prompt (the most recent ones)
    history_cut: int  # oldest items left out to fit the context
    n_tokens: int | None  # prompt tokens as the model counts them, when a counter was given


def noun_forms(item_noun: str) -> tuple[str, str]:
    """("dress", "dresses") from "dress/dresses"; a plain noun takes an s ("book" -> "books")."""
    singular, _, plural = item_noun.partition("/")
    return singular.strip(), plural.strip() or singular.strip() + "s"


class PromptTemplate:
    """A named or user-supplied template, compiled once."""

    def __init__(self, name_or_path: str | Path = DEFAULT_TEMPLATE):
        spec = str(name_or_path)
        path = Path(spec)
        if path.suffix == ".j2" or path.exists():
            if not path.is_file():
                raise TemplateError(f"template file not found: {spec}")
            directory, filename = path.resolve().parent, path.name
        else:
            directory, filename = prompts_dir(), f"{spec}.j2"
            if not (directory / filename).is_file():
                raise TemplateError(
                    f"unknown template {spec!r}; built-in templates: {', '.join(available_templates())} "
                    "(or pass a path to a .j2 file)"
                )
        self.name = spec
        self.path = directory / filename
        env = ImmutableSandboxedEnvironment(
            loader=jinja2.FileSystemLoader(str(directory)),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            trim_blocks=False,
            keep_trailing_newline=False,
        )
        try:
            self._template = env.get_template(filename)
        except jinja2.TemplateSyntaxError as e:
            raise TemplateError(f"{e.filename or self.path}:{e.lineno}: template syntax error: {e.message}") from None
        except (OSError, UnicodeDecodeError) as e:
            raise TemplateError(f"{self.path}: cannot read template ({e})") from None

    def render(self, history: Sequence[Item], candidates: Sequence[Item], k: int,
               item_noun: str = "item", extra: dict[str, Any] | None = None, mode: str = "generate",
               evidence: Sequence[str] | None = None) -> str:
        """``mode`` "score" labels candidates A, B, C... (single tokens whose log-probabilities rank
        them); "generate" and "explain" number them 1, 2, 3... ``evidence`` is one line of counted
        facts per candidate (``c.evidence``, "" where there is none)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode == "score" and len(candidates) > len(SCORE_LABELS):
            raise TemplateError(f"log-prob scoring labels candidates A-Z, so it ranks at most {len(SCORE_LABELS)}; "
                                f"got {len(candidates)} (use --n-candidates {len(SCORE_LABELS)} or fewer)")
        labels = [SCORE_LABELS[i] if mode == "score" else str(i + 1) for i in range(len(candidates))]
        noun, nouns = noun_forms(item_noun)
        ctx: dict[str, Any] = {
            "history": [
                {**_item_view(it), "position": i + 1, "is_last": i == len(history) - 1}
                for i, it in enumerate(history)
            ],
            "candidates": [{**_item_view(it), "number": i + 1, "label": labels[i],
                            "evidence": clean_text(evidence[i], 2 * MAX_FIELD_CHARS) if evidence else ""}
                           for i, it in enumerate(candidates)],
            "k": min(k, len(candidates)),
            "n_candidates": len(candidates),
            "item_noun": noun,
            "item_nouns": nouns,
            "mode": mode,
            **(extra or {}),
        }
        try:
            text = self._template.render(ctx).strip() + "\n"
        except jinja2.UndefinedError as e:
            raise TemplateError(
                f"template {self.path}: undefined variable ({e.message}); available: {', '.join(sorted(ctx))}"
            ) from None
        except SecurityError as e:
            raise TemplateError(f"template {self.path}: blocked unsafe access ({e})") from None
        except jinja2.TemplateError as e:
            raise TemplateError(f"template {self.path}: {e}") from None
        if mode == "score" and not all(f"[{label}]" in text for label in labels):
            raise TemplateError(f"template {self.path} does not show candidates as [A], [B], ... in score mode; "
                                "write [{{ c.label }}] instead of [{{ c.number }}] to support --mode score")
        return text

    def build(self, history: Sequence[Item], candidates: Sequence[Item], k: int, item_noun: str = "item",
              count_tokens: Callable[[str], int] | None = None, max_tokens: int | None = None,
              mode: str = "generate", rendered: str | None = None) -> Prompt:
        """Render, cutting the oldest history items until the prompt fits ``max_tokens``.
        ``rendered``: this very prompt, whole history, already rendered (it is not rendered again)."""
        text = rendered if rendered is not None else self.render(history, candidates, k, item_noun, mode=mode)
        if count_tokens is None or max_tokens is None:
            return Prompt(text, len(history), 0, None)
        n = count_tokens(text)
        if n <= max_tokens:
            return Prompt(text, len(history), 0, n)
        # Binary search on how many recent items to keep: token counts grow with kept items.
        lo, hi, best = 0, len(history) - 1, None
        while lo <= hi:
            keep = (lo + hi) // 2
            t = self.render(history[len(history) - keep:] if keep else [], candidates, k, item_noun, mode=mode)
            tn = count_tokens(t)
            if tn <= max_tokens:
                best, lo = (keep, t, tn), keep + 1
            else:
                hi = keep - 1
        if best is None:
            raise PromptTooLongError(
                f"the prompt needs {count_tokens(self.render([], candidates, k, item_noun, mode=mode))} tokens "
                "without any "
                f"history, over the {max_tokens} the model has room for; use fewer candidates (--n-candidates) "
                "or a model with a longer context"
            )
        keep, t, tn = best
        return Prompt(t, keep, len(history) - keep, tn)
