"""One tokenizer for retrieval, shared by index and queries so both see the same words."""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9]+")

# Short on purpose: item texts are titles and genre lists, where most words carry meaning.
STOPWORDS = frozenset(
    "a an and are as at be by for from in into is it its of on or s the to with".split()
)


def tokenize(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]
