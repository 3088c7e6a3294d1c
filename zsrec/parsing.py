"""Turn free LLM text into a full ranking of the candidates, with reasons, whatever the text is.

Small models answer in many shapes: ``[3] > [1] > [2]``, numbered lists, JSON, titles without
numbers, the candidate list echoed back, or prose cut off mid-sentence. The parser reads each shape,
keeps the first mention of each candidate, drops ids that were never offered, and appends whatever
the model left out in generator order. It never raises and always returns a permutation of the
candidates, recording each repair so a caller can see how much of the order the model really chose.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from rapidfuzz import fuzz, process

from .repairs import Repair, RepairKind
from .titles import both_forms, normalize_title, strip_leading_article

_BRACKET_ID = re.compile(r"\[\s*(\d{1,6})\s*\]")
_LIST_MARKER = re.compile(r"^\s*(?:(?:rank|#)?\s*\d{1,3}\s*[.):]|[-*•·]|#{1,6}|>)\s+", re.IGNORECASE)
_NAMED_ID = re.compile(r"^(?:candidate|item|movie|number|no\.?|id|#)\s*#?\s*(\d{1,6})\b", re.IGNORECASE)
_BARE_CHAIN = re.compile(r"^\s*\d{1,6}(?:\s*(?:>|,|;|\s)\s*\d{1,6})+\s*[.]?\s*$")
_BARE_ONE = re.compile(r"^\s*(\d{1,6})\s*(?:$|[-–—:|]\s|\.\s)")
_REASON_SEP = re.compile(r"^\s*(?:[-–—:|,;.>]+|\(.*?\)|because|reason\s*:)\s*", re.IGNORECASE)
_REASON_LINE = re.compile(r"^\s*(?:[-*•]\s*)?(?:reason|why|because)\s*[:\-–—]?\s*(.+)$", re.IGNORECASE)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
# Reasoning models (Qwen3, DeepSeek-R1 and kin) think aloud before they answer; ids named while
# weighing options are not the answer. An unclosed block is all thinking: the answer never came.
_THINKING = re.compile(r"<(think|thinking|reasoning)>.*?(?:</\1>|\Z)", re.DOTALL | re.IGNORECASE)
# "Ranking: 3, 1, 4" / "Final answer: [3] > [1]": a label before a list of bare ids
_CHAIN_LABEL = re.compile(r"^(?:(?:my|the|final|suggested|recommended)\s+)*(?:ranking|ranked\s+list|order|answer|"
                          r"recommendations?|picks?)\s*(?:is|are)?\s*:?\s*(?=\d)", re.IGNORECASE)

_ID_KEYS = ("id", "number", "candidate", "num", "index", "item", "item_id", "candidate_id")
_TITLE_KEYS = ("title", "name", "movie", "item_title")
_REASON_KEYS = ("reason", "why", "explanation", "justification", "rationale")
_LIST_KEYS = ("ranking", "rankings", "recommendations", "items", "order", "ranked", "results", "candidates")

MAX_TEXT = 200_000  # longer outputs are cut before parsing; a ranking never needs more


@dataclass
class ParsedRanking:
    """``order`` is a permutation of candidate positions (0-based); ``from_llm`` leading entries came
    from the model, the rest were appended in generator order."""

    order: list[int]
    reasons: dict[int, str] = field(default_factory=dict)
    from_llm: int = 0
    repairs: list[Repair] = field(default_factory=list)

    @property
    def fallback(self) -> bool:
        """True when nothing usable came from the model, so the order is the generator's."""
        return self.from_llm == 0


@dataclass
class _Mention:
    number: int  # 1-based as shown to the model; may be out of range (invented)
    reason: str = ""
    via: str = "id"  # "id" | "title" | "fuzzy-title"
    said: str = ""  # the text that named it, for the repair log


_COMMA_ARTICLE = re.compile(r",\s*(the|a|an)\b", re.IGNORECASE)


def _words(text: str, keep_year: bool = True) -> str:
    """Title words as written (no article moved), for finding titles inside running text."""
    return normalize_title(_COMMA_ARTICLE.sub(r" \1", text), keep_year)


class _TitleIndex:
    """Every form a model may write a title in, to find titles in running text.

    A mention is a run of the text's normalised words equal to a title's key, so ``find_all`` looks
    up each run of words (as many as some key has) in one dict: its cost grows with the text, not
    with the catalog. Scanning the text for every key instead took 0.75 s a reason at 1M titles
    (1.4M keys), which a checked LLM reason pays for each item it ranks."""

    def __init__(self, titles: Sequence[str], forms: tuple[Sequence[str], Sequence[str]] | None = None):
        """``forms``: each title's ``normalize_title`` with its year and without, where a caller holds
        them already (title search keeps them: ``TitleMatcher.title_forms``); made here otherwise."""
        self.titles: list[str] = []
        self._short: list[str] | None = None
        self._keys: dict[str, int] = {}
        self._lengths: list[int] = []  # how many words keys have, each length once
        self._add(titles, forms)

    def _add(self, titles: Sequence[str], forms: tuple[Sequence[str], Sequence[str]] | None = None) -> None:
        """Each title under every form a model may write it: "The Usual Suspects (1995)", "Usual
        Suspects, The", with or without the year. A key's value is 4 x its title + which form it is,
        and the first title's value wins: the order keys were first met in, which breaks ties between
        keys of one length. The dict is made in one call from four slots a title (its two forms, and
        for titles with ", The", a few, the two forms as written), the last first so that the first
        stays; a loop that looked up each key made it 1.6 s of a checker at 1M titles (1.2-1.3 s this
        way, peaking 32 MB higher for the slots)."""
        start, n = len(self.titles), len(titles)
        if forms is not None and len(forms[0]) == len(forms[1]) == n:
            with_year, without = forms
        else:
            pairs = list(map(both_forms, titles))
            with_year, without = [p[0] for p in pairs], [p[1] for p in pairs]
        keys: list[str] = [""] * (4 * n)  # an empty slot is no key
        keys[0::4], keys[1::4] = with_year, without
        for at, title in enumerate(titles):
            if "," in title and _COMMA_ARTICLE.search(title):  # else ``_words`` gives the same two forms
                keys[4 * at + 2], keys[4 * at + 3] = _words(title), _words(title, keep_year=False)
        fresh = dict(zip(reversed(keys), range(4 * (start + n) - 1, 4 * start - 1, -1)))
        fresh.pop("", None)
        if self._keys:
            for key, value in fresh.items():  # a key held already keeps its earlier title
                self._keys.setdefault(key, value)
        else:
            self._keys = fresh
        self.titles.extend(titles)
        self._lengths = sorted(set(self._lengths) | {c + 1 for c in set(map(str.count, fresh, repeat(" ")))})

    def with_titles(self, titles: Sequence[str]) -> _TitleIndex:
        """A copy with ``titles`` after this one's: the same index as one made over all of them, reading
        only the new titles (this one is left as it is)."""
        other = copy.copy(self)
        other.titles, other._keys = list(self.titles), dict(self._keys)
        other._short = None
        other._add(titles)
        return other

    def find_all(self, text: str) -> list[tuple[int, int, int]]:
        """(start, end, candidate position) of each non-overlapping title mention, by start (in the
        text's normalised words). Longest key first, so "star wars" never claims a line about "star
        wars episode"; each key once, at its first place that no longer key has taken."""
        norm = _words(text)
        words = norm.split(" ") if norm else []
        starts, at = [], 0
        for word in words:
            starts.append(at)
            at += len(word) + 1
        places: dict[str, list[int]] = {}
        keys, n_words = self._keys, len(words)
        for i, first in enumerate(starts):
            for n in self._lengths:
                if i + n > n_words:
                    break
                last = i + n - 1
                key = norm[first:starts[last] + len(words[last])]
                if key in keys:
                    places.setdefault(key, []).append(first)
        taken: list[tuple[int, int, int]] = []
        for key in sorted(places, key=lambda k: (-len(k), keys[k])):
            for first in places[key]:
                # two titles side by side ("Heat, Fargo") share the space between them, and must
                # not overlap for it
                end = first + len(key)
                if all(end <= s or first >= e for s, e, _ in taken):
                    taken.append((first, end, keys[key] >> 2))
                    break
        return sorted(taken)

    @property
    def short(self) -> list[str]:
        """Each title without year or leading article, which fuzzy matching compares (made on first use)."""
        if self._short is None:
            self._short = [strip_leading_article(normalize_title(t, keep_year=False)) for t in self.titles]
        return self._short

    def fuzzy(self, head: str) -> tuple[int, float] | None:
        norm = strip_leading_article(_words(head, keep_year=False))
        if len(norm) < 4:
            return None
        hit = process.extractOne(norm, self.short, scorer=fuzz.ratio, score_cutoff=85)
        return (int(hit[2]), float(hit[1])) if hit else None


def _clean_reason(text: str) -> str:
    text = text.strip()
    for _ in range(4):
        stripped = _REASON_SEP.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped.strip()
    text = text.strip(" *_\"'`")
    # One real word is a reason ("crime"); leftovers such as "(1996)" or "-" are not.
    return text if re.search(r"[^\W\d_]{2,}", text) else ""


def _mentions_in_line(line: str, n: int, titles: _TitleIndex) -> list[_Mention]:
    ids = list(_BRACKET_ID.finditer(line))
    if ids:
        if len(ids) > 1:
            return [_Mention(int(m.group(1)), said=m.group(0)) for m in ids]
        m = ids[0]
        rest = line[m.end():]
        # The model often repeats the title after the id; the reason is what follows it.
        return [_Mention(int(m.group(1)), _reason_without_titles(rest, titles), said=m.group(0))]
    body = _LIST_MARKER.sub("", line, count=1).strip()
    if not body:
        return []
    named = _NAMED_ID.match(body)
    if named:
        return [_Mention(int(named.group(1)), _clean_reason(body[named.end():]), said=named.group(0))]
    label = _CHAIN_LABEL.match(body)
    chain = body[label.end():] if label else body  # the ids after "Ranking:", or the line itself
    if _BARE_CHAIN.match(chain):
        return [_Mention(int(x), said=x) for x in re.findall(r"\d{1,6}", chain)]
    found = titles.find_all(body)
    if found:
        if len(found) > 1:
            return [_Mention(idx + 1, via="title", said=titles.titles[idx]) for _, _, idx in found]
        idx = found[0][2]
        return [_Mention(idx + 1, _reason_without_titles(body, titles), via="title", said=titles.titles[idx])]
    head = re.split(r"\s[-–—:|]\s|:\s|\s\(", body, maxsplit=1)[0]
    hit = titles.fuzzy(head)
    if hit is not None:
        return [_Mention(hit[0] + 1, _clean_reason(body[len(head):]), via="fuzzy-title", said=head)]
    bare = _BARE_ONE.match(chain)
    if bare:
        return [_Mention(int(bare.group(1)), _clean_reason(chain[bare.end():]), said=bare.group(1))]
    return []


_PART_SEP = re.compile(r"\s[-–—|]\s|:\s")
_LABEL = re.compile(r"^\s*(?:title|name|movie|item|pick|recommendation)\s*:\s*", re.IGNORECASE)
_INLINE_ITEM = re.compile(r"\s\(?\d{1,2}[.)]\s|\s\[\d{1,6}\]")
MAX_REASON_CHARS = 240


def _starts_with_title(text: str, titles: _TitleIndex) -> bool:
    found = titles.find_all(text)
    return bool(found) and found[0][0] == 0


def _reason_without_titles(text: str, titles: _TitleIndex) -> str:
    """What follows an echoed title: cut at the first separator after which no title is left to read.

    Titles may hold separators themselves ("Alien: Resurrection"), so the cut is placed after the
    shortest prefix that contains the whole title, not at the first separator.
    """
    text = _LABEL.sub("", text, count=1)
    if _starts_with_title(text, titles):
        cut = ""
        for m in _PART_SEP.finditer(text):
            if _starts_with_title(text[: m.start()], titles):
                cut = text[m.end():]
                break
        text = cut
    text = re.sub(r"^\s*(?:\([^)]*\)\s*)+", "", text)  # leading "(1996) (Crime Drama)"
    inline = _INLINE_ITEM.search(text)  # a run-on line that starts the next pick: keep only this one's part
    if inline:
        text = text[: inline.start()]
    reason = _clean_reason(text)
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[: MAX_REASON_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return reason


def _from_json_value(value: Any, n: int, titles: _TitleIndex) -> list[_Mention] | None:
    if isinstance(value, dict):
        for key in _LIST_KEYS:
            if isinstance(value.get(key), list):
                return _from_json_value(value[key], n, titles)
        return None
    if not isinstance(value, list) or not value:
        return None
    if len(value) == 1 and isinstance(value[0], int):
        return None  # "[3]" alone is an id marker, not a JSON ranking
    out: list[_Mention] = []
    for entry in value:
        if isinstance(entry, bool):
            continue
        if isinstance(entry, int):
            out.append(_Mention(entry, said=str(entry)))
        elif isinstance(entry, str):
            out.extend(_mentions_in_line(entry, n, titles))
        elif isinstance(entry, dict):
            lowered = {str(k).lower(): v for k, v in entry.items()}
            reason = next((str(lowered[k]) for k in _REASON_KEYS if lowered.get(k)), "")
            number = None
            for key in _ID_KEYS:
                v = lowered.get(key)
                if isinstance(v, int) and not isinstance(v, bool):
                    number = v
                    break
                if isinstance(v, str):
                    m = re.fullmatch(r"\s*\[?\s*(\d{1,6})\s*\]?\s*", v)
                    if m:
                        number = int(m.group(1))
                        break
            if number is not None:
                out.append(_Mention(number, reason.strip(), said=str(number)))
                continue
            title = next((str(lowered[k]) for k in _TITLE_KEYS if lowered.get(k)), "")
            found = titles.find_all(title) if title else []
            if found:
                out.append(_Mention(found[0][2] + 1, reason.strip(), via="title", said=titles.titles[found[0][2]]))
    return out


def _json_mentions(text: str, n: int, titles: _TitleIndex) -> list[_Mention] | None:
    blocks = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for block in blocks:
        starts = [i for i, c in enumerate(block) if c in "[{"][:20]
        for start in starts:
            try:
                value, _ = decoder.raw_decode(block, start)
            except (json.JSONDecodeError, RecursionError, ValueError):
                continue
            mentions = _from_json_value(value, n, titles)
            if mentions:
                return mentions
    return None


def parse_ranking(text: object, titles: Sequence[str], cut: bool = False) -> ParsedRanking:
    """Rank ``len(titles)`` candidates (shown to the model as ``[1]..[N]``) from the model's ``text``.

    ``cut``: the model was stopped mid-answer (a deadline, the token budget). Its last line, if
    unfinished and nothing but a number, may hold half an id ("1" of "17"), so it is not read as a pick."""
    n = len(titles)
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    repairs: list[Repair] = []
    if cut and text and not text.endswith("\n"):
        head, _, tail = text.rpartition("\n")
        if _BARE_NUMBER.fullmatch(tail):
            text = head
            repairs.append(Repair(RepairKind.DROPPED_UNFINISHED,
                                  f"the answer was cut; dropped its unfinished last line {tail.strip()!r}"))
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT]
        repairs.append(Repair(RepairKind.OUTPUT_CUT, f"output longer than {MAX_TEXT} characters was cut"))
    if "<" in text and _THINKING.search(text):
        thought = sum(len(m.group(0)) for m in _THINKING.finditer(text))
        text = _THINKING.sub("\n", text)
        repairs.append(Repair(RepairKind.DROPPED_THINKING,
                              f"left out the model's thinking ({thought} characters in <think> tags)"))
    index = _TitleIndex(titles)
    try:
        mentions = _json_mentions(text, n, index) if ("[" in text or "{" in text) else None
        source = "json" if mentions else "text"
        if not mentions:
            mentions = []
            last: _Mention | None = None
            for line in text.splitlines():
                found = _mentions_in_line(line, n, index)
                if found:
                    mentions.extend(found)
                    last = found[-1] if len(found) == 1 else None
                elif last is not None and not last.reason:
                    m = _REASON_LINE.match(line)
                    if m:  # "Reason: ..." on the line after the pick
                        last.reason = _clean_reason(m.group(1))
    except Exception as e:  # a parser bug must not lose a user's result
        mentions, source = [], "text"
        repairs.append(Repair(RepairKind.PARSER_ERROR, f"parser error {type(e).__name__}; ignored the output"))

    order: list[int] = []
    reasons: dict[int, str] = {}
    seen: set[int] = set()
    invented: list[int] = []
    duplicates: list[int] = []
    for m in mentions:
        if not 1 <= m.number <= n:
            invented.append(m.number)
            continue
        pos = m.number - 1
        if pos in seen:
            duplicates.append(m.number)
            if m.reason and pos not in reasons:
                reasons[pos] = m.reason
            continue
        seen.add(pos)
        order.append(pos)
        if m.reason:
            reasons[pos] = m.reason[:500]
        if m.via != "id":
            kind = RepairKind.MATCHED_TITLE if m.via == "title" else RepairKind.MATCHED_FUZZY_TITLE
            repairs.append(Repair(kind, f"matched {m.via} {m.said[:60]!r} to [{m.number}]"))
    if invented:
        repairs.append(Repair(RepairKind.DROPPED_INVENTED,
                              f"dropped ids not among the {n} candidates: {_short_list(invented)}"))
    if duplicates:
        repairs.append(Repair(RepairKind.DROPPED_REPEATS, f"dropped repeated ids: {_short_list(duplicates)}"))
    from_llm = len(order)
    missing = [i for i in range(n) if i not in seen]
    if missing and order:
        repairs.append(Repair(RepairKind.APPENDED_MISSING,
                              f"appended {len(missing)} candidate{'' if len(missing) == 1 else 's'} the model left "
                              "out, in generator order"))
    elif not order and n:
        repairs.append(Repair(RepairKind.NO_CANDIDATE, "no candidate found in the output; kept generator order"))
    if source == "json" and order:
        repairs.insert(0, Repair(RepairKind.READ_JSON, "read a JSON answer"))
    return ParsedRanking(order + missing, reasons, from_llm, repairs)


_BARE_NUMBER = re.compile(r"\s*[\[(]?\s*\d+\s*")  # "17", "[17", "(1": an id that may go on


def _short_list(values: list[int], limit: int = 8) -> str:
    shown = ", ".join(f"[{v}]" for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")
