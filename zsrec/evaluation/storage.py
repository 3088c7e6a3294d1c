"""A run folder: one JSON line per finished ranking, and the identity of the run that wrote them.

Each finished (setting, history length, user, method) ranking is appended to ``rankings.jsonl`` as soon
as it exists, so an interrupted run continues where it stopped and every number in the report can be
recomputed from the file. ``run.json`` records what decides the users and the lists, so a run resumed
with other settings is refused instead of mixing two splits in one report.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import ZsrecError

RUN_FILE = "run.json"
TUNED_FILE = "tuned.json"  # hyper-parameters the trained baselines chose on validation users
RUN_OUTPUTS = ("rankings.jsonl", RUN_FILE, TUNED_FILE, "summary.json", "report.md", "ndcg10.png")

RowKey = tuple[str, int, str, str]  # setting, history length, user, method


class EvaluationFolderError(ZsrecError):
    """The output folder holds a run made with other settings."""


class RunFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.rows_path = self.path / "rankings.jsonl"

    def clear(self) -> None:
        for name in RUN_OUTPUTS:
            (self.path / name).unlink(missing_ok=True)

    def _repair_tail(self) -> None:
        """An interrupted write can leave half a line at the end; drop it so appends start clean."""
        if not self.rows_path.is_file():
            return
        data = self.rows_path.read_bytes()
        if data and not data.endswith(b"\n"):
            self.rows_path.write_bytes(data[: data.rfind(b"\n") + 1])

    def rows(self) -> list[dict]:
        """Every stored ranking; a line cut by an interruption is skipped (that ranking is redone)."""
        if not self.rows_path.is_file():
            return []
        out = []
        for line in self.rows_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def has_rows(self) -> bool:
        """Whether an earlier command stored rankings here (which a continued run does not rank again)."""
        return self.rows_path.is_file() and self.rows_path.stat().st_size > 0

    def done(self) -> set[RowKey]:
        self._repair_tail()
        return {(r["setting"], r["n"], r["user"], r["method"]) for r in self.rows()}

    def append(self, rows: Iterable[dict]) -> None:
        with open(self.rows_path, "a", encoding="utf-8") as sink:
            for row in rows:
                sink.write(json.dumps(row) + "\n")

    def tuned(self) -> dict[str, dict]:
        path = self.path / TUNED_FILE
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def save_tuned(self, method: str, choice: dict) -> None:
        path = self.path / TUNED_FILE
        path.write_text(json.dumps({**self.tuned(), method: choice}, indent=1) + "\n", encoding="utf-8")

    def check_identity(self, identity: dict[str, Any]) -> None:
        """Refuse to mix two different runs in one folder; record the identity of a new one."""
        path = self.path / RUN_FILE
        mine = json.loads(json.dumps(identity))  # tuples as lists, as read back
        if path.is_file():
            try:
                stored = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                raise EvaluationFolderError(f"{path} is unreadable; start fresh (--fresh) or use another --out") from None
            differ = [k for k in sorted(set(stored) | set(mine)) if stored.get(k) != mine.get(k)]
            if differ:
                what = ", ".join(f"{k}={stored.get(k)!r} there, {mine.get(k)!r} now" for k in differ)
                raise EvaluationFolderError(f"{self.path} holds a run with other settings ({what}); "
                                            "rerun with --fresh to start over, or use another --out")
        elif not self.rows_path.is_file() or not self.rows_path.stat().st_size:
            path.write_text(json.dumps(mine, indent=2) + "\n", encoding="utf-8")
        # a folder from before run.json existed is left as it is: nothing to compare it with
