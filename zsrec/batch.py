"""Many users in one run: who to rank, what became of each, and a report of the run.

A batch run must finish and account for everyone. A user the data does not know, or whose typed
titles match nothing, is recorded with the error and the run goes on; a user whose LLM call failed
still gets the generator order, and the report lists them as fallbacks with the reason.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DataError
from .result import RankedResult


@dataclass(frozen=True)
class UserRequest:
    """One user to rank: a known user id (their own recent picks form the history), or a new user
    with the titles (or item ids) they typed, oldest first; ``exclude``: item ids (or titles) not to
    recommend; ``only`` / ``only_genres``: recommend only these items, or items of these genres."""

    user_id: str
    history: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    only_genres: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("history", "exclude", "only", "only_genres"):  # one string would be read a letter at a time
            value = getattr(self, name)
            if isinstance(value, (str, bytes)):
                raise TypeError(f"UserRequest {name} is a list of titles or item ids, not one string: "
                                f"pass ({value!r},)")
            if value is not None:
                object.__setattr__(self, name, tuple(value))  # a list is fine; keep it hashable


@dataclass
class UserOutcome:
    user_id: str
    result: RankedResult | None = None
    error: str = ""  # why this user got no ranking at all (bad input), "" otherwise

    def to_dict(self) -> dict[str, Any]:
        if self.result is None:
            return {"user_id": self.user_id, "error": self.error}
        out = self.result.to_dict()
        out["user_id"] = self.user_id
        return out


@dataclass
class BatchReport:
    users: int = 0
    ranked: int = 0
    fallbacks: dict[str, str] = field(default_factory=dict)  # user id -> why the generator order was used
    errors: dict[str, str] = field(default_factory=dict)  # user id -> why the user was not ranked
    repairs: Counter[str] = field(default_factory=Counter)  # parser repair kind -> users it was needed for
    reason_sources: Counter[str] = field(default_factory=Counter)  # "llm" / "evidence" / "none" -> items
    reason_flags: Counter[str] = field(default_factory=Counter)  # why LLM reasons were replaced -> items
    seconds: float = 0.0

    def add(self, outcome: UserOutcome) -> None:
        self.users += 1
        if outcome.result is None:
            self.errors[outcome.user_id] = outcome.error
            return
        self.ranked += 1
        self.repairs.update({r.kind.value for r in outcome.result.info.repairs})
        for item in outcome.result.items:
            self.reason_sources[item.reason_source] += 1
            self.reason_flags.update(item.reason_flags)
        if outcome.result.info.fallback:
            self.fallbacks[outcome.user_id] = outcome.result.info.fallback_reason

    def summary(self, show: int = 10) -> str:
        rate = f" ({self.ranked / self.seconds:.2f} users/s)" if self.seconds > 0 and self.ranked else ""
        lines = [f"ranked {self.ranked} of {self.users} users in {self.seconds:.1f}s{rate}; "
                 f"{len(self.fallbacks)} fell back to the generator order, {len(self.errors)} not ranked"]
        if self.repairs:
            lines.append("parser repairs (users): " + ", ".join(f"{k} ({n})" for k, n in self.repairs.most_common()))
        if self.reason_sources.get("llm") or self.reason_sources.get("evidence"):
            line = (f"reasons (items): {self.reason_sources.get('llm', 0)} from the LLM (checked), "
                    f"{self.reason_sources.get('evidence', 0)} written from the data")
            if self.reason_flags:
                line += "; LLM reasons replaced because: " + ", ".join(
                    f"{k} ({n})" for k, n in self.reason_flags.most_common())
            lines.append(line)
        for title, entries in (("fell back", self.fallbacks), ("not ranked", self.errors)):
            for user, why in list(entries.items())[:show]:
                lines.append(f"  {title}: user {user}: {why}")
            if len(entries) > show:
                lines.append(f"  {title}: ... and {len(entries) - show} more (see the JSONL output)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"users": self.users, "ranked": self.ranked, "fallbacks": self.fallbacks,
                "errors": self.errors, "repairs": dict(self.repairs), "reason_sources": dict(self.reason_sources),
                "reason_flags": dict(self.reason_flags), "seconds": round(self.seconds, 3)}


def read_users_file(path: str | Path) -> list[UserRequest]:
    """One user per line: a known user id, or a JSON object ``{"user_id": ..., "history": [titles]}``
    for a new user. Either may add ``"exclude"`` or ``"only"`` (lists of item ids or titles) and
    ``"only_genres"`` (a list of genres). Blank lines and ``#`` comments are skipped."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError("file not found", str(path)) from None
    except UnicodeDecodeError as e:
        raise DataError(f"not valid UTF-8 text (byte {e.start})", str(path)) from None
    except OSError as e:
        raise DataError(f"cannot read ({e.strerror or e})", str(path)) from None
    requests: list[UserRequest] = []
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("{"):
            request = _json_request(line, str(path), lineno)
        else:
            request = UserRequest(line)
        if request.user_id in seen:
            raise DataError(f"user {request.user_id!r} is listed twice (first on line {seen[request.user_id]})",
                            str(path), lineno)
        seen[request.user_id] = lineno
        requests.append(request)
    if not requests:
        raise DataError("no users listed", str(path))
    return requests


def _json_request(line: str, path: str, lineno: int) -> UserRequest:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise DataError(f"not valid JSON ({e.msg})", path, lineno) from None
    if not isinstance(obj, dict) or not str(obj.get("user_id", "")).strip():
        raise DataError('expected an object with a "user_id"', path, lineno)
    history, exclude, only = obj.get("history"), obj.get("exclude", []), obj.get("only", [])
    genres = obj.get("only_genres", [])
    if history is not None and (not isinstance(history, list) or not all(map(_id_or_title, history))):
        raise DataError('"history" must be a list of titles or item ids', path, lineno)
    for name, value in (("exclude", exclude), ("only", only)):
        if not isinstance(value, list) or not all(map(_id_or_title, value)):
            raise DataError(f'"{name}" must be a list of item ids or titles', path, lineno)
    if not isinstance(genres, list) or not all(isinstance(g, str) for g in genres):
        raise DataError('"only_genres" must be a list of genres', path, lineno)
    unknown = sorted(set(obj) - set(FIELDS))
    if unknown:  # a misspelt "exclude" would otherwise be ignored without a word
        raise DataError(f"unknown field {', '.join(map(repr, unknown))} (fields: {', '.join(FIELDS)})",
                        path, lineno)
    return UserRequest(str(obj["user_id"]).strip(), None if history is None else tuple(map(str, history)),
                       tuple(map(str, exclude)), tuple(map(str, only)), tuple(genres))


FIELDS = ("user_id", "history", "exclude", "only", "only_genres")  # a users file line's JSON fields


def _id_or_title(value: object) -> bool:
    """Text, or a whole number (an item id written as JSON's 50, not "50")."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def as_requests(users: Iterable[UserRequest | str]) -> list[UserRequest]:
    return [u if isinstance(u, UserRequest) else UserRequest(str(u)) for u in users]
