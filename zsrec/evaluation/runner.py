"""Run the cold-start grid: every method on the same users and the same candidates, resumably.

Each finished (setting, history length, user, method) ranking is one JSON line in
``rankings.jsonl`` as soon as it exists, so an interrupted run continues where it stopped and every
number in the report can be recomputed from the file. The report (``summary.json``, ``report.md``,
``ndcg10.png``) is always rebuilt from the whole file.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..candidates import CandidateConfig, CandidateGenerator
from ..data import Dataset
from ..prompts import PromptTemplate
from ..ranker import Ranker, RankerConfig
from ..backends.base import GenerationConfig
from .methods import LLMMethod, Ranked, ScoreMethod, fuse, order_by
from .metrics import bootstrap_ci, coverage, hit, mrr, ndcg, novelty, order_kept, paired_p_value
from .protocol import REFERENCES, Case, EvalConfig, make_cases, popularity_counts, split_users
from ..errors import ZsrecError


class EvaluationFolderError(ZsrecError):
    """The output folder holds a run made with other settings."""

BASELINES = ("random", "pop", "bm25", "generator", "sasrec")
METRIC_KEYS = ("ndcg@1", "ndcg@5", "ndcg@10", "hr@1", "hr@5", "hr@10", "mrr", "ndcg@10_next5", "hr@10_next5")


def parse_methods(spec: str) -> list[str]:
    """"pop,bm25,llm,llm+fusion" -> names; ``llm:recency`` picks a template, ``llm-score`` the
    log-prob mode; ``X+fusion`` fuses LLM method X with the generator order."""
    names = [m.strip() for m in spec.split(",") if m.strip()]
    for m in names:
        base = m[: -len("+fusion")] if m.endswith("+fusion") else m
        if base not in BASELINES and not base.split(":")[0] in ("llm", "llm-score"):
            raise ValueError(f"unknown method {m!r}: use {', '.join(BASELINES)}, llm[:template], llm-score[:template], "
                             "and X+fusion for an LLM method X")
        if m.endswith("+fusion") and base not in names:
            names.insert(names.index(m), base)  # fusion needs the LLM ranking it fuses
    return list(dict.fromkeys(names))


RUN_FILE = "run.json"  # what fixes a run folder's users and candidates; a resumed run must match it
RUN_OUTPUTS = ("rankings.jsonl", RUN_FILE, "summary.json", "report.md", "ndcg10.png")


class Evaluation:
    def __init__(self, dataset: Dataset, config: EvalConfig, methods: Sequence[str], out_dir: str | Path,
                 backend_factory: Callable[[], Any] | None = None, generation: GenerationConfig | None = None,
                 sasrec_epochs: int = 60, batch_size: int = 16, llm: str = "", report_all: bool = True):
        """``llm`` names the model behind the LLM methods (for the run-folder check); ``report_all``
        False limits the report to the methods, settings and history lengths of this run, leaving
        out what an earlier command in the same folder added."""
        self.dataset, self.config, self.methods = dataset, config, list(methods)
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.rows_path = self.out / "rankings.jsonl"
        self.batch_size = batch_size
        self.llm = llm
        self.report_all = report_all
        self._item_ids = dataset.catalog.ids
        catalog = dataset.catalog
        self.train_users, self.test_users = split_users(dataset, config)
        self.popularity = popularity_counts(dataset, self.train_users)
        # Popularity from training users only: test users are never seen by anything fitted.
        self.generator = CandidateGenerator(catalog, config=CandidateConfig(n_candidates=config.n_candidates,
                                                                           bm25_weight=config.bm25_weight,
                                                                           popularity_weight=config.popularity_weight),
                                            popularity=self.popularity)
        self.cases = make_cases(dataset, self.test_users, config)
        self._train_sequences = [[int(i) for i in dataset.interactions.user_history(u)] for u in self.train_users]
        self._sasrec = None
        self._sasrec_epochs = sasrec_epochs
        self._backend_factory = backend_factory
        self._backend = None
        self._generation = generation or GenerationConfig(max_new_tokens=160)

    # ---------------------------------------------------------------- candidates

    def candidates(self, setting: str, case: Case) -> np.ndarray:
        """The list a method ranks, in the order shown to an LLM. Sampled lists are shuffled (seeded),
        so the target's place says nothing; generator lists keep the generator's order, as users get."""
        n_items = len(self.dataset.catalog)
        if setting == "generator":
            return self.generator.generate(list(case.history), (), self.config.n_candidates).indices
        if setting == "full":
            mask = np.ones(n_items, dtype=bool)
            mask[list(case.history)] = False
            return np.flatnonzero(mask)
        rng = np.random.default_rng([self.config.seed, case.n, _user_key(case.user), 1 if "pop" in setting else 0])
        banned = set(case.history) | set(case.seen_later) | {case.target}
        allowed = np.array([i for i in range(n_items) if i not in banned])
        if setting == "sampled-pop":
            p = self.popularity[allowed] + 1.0
            negatives = rng.choice(allowed, size=self.config.n_candidates - 1, replace=False, p=p / p.sum())
        else:
            negatives = rng.choice(allowed, size=self.config.n_candidates - 1, replace=False)
        rows = np.concatenate([[case.target], negatives])
        return rows[rng.permutation(len(rows))]

    @cached_property
    def case_index(self) -> dict[tuple[int, str], Case]:
        """Cases by (history length, user); the cases are fixed at construction, so built once."""
        return {(c.n, c.user): c for c in self.cases}

    # ---------------------------------------------------------------- methods

    def _sasrec_model(self):
        if self._sasrec is None:
            from ..sasrec import SASRec, SASRecConfig

            self._sasrec = SASRec(len(self.dataset.catalog), SASRecConfig(epochs=self._sasrec_epochs,
                                                                          seed=self.config.seed))
            self._sasrec.fit(self._train_sequences)
        return self._sasrec

    def method(self, name: str):
        gen = self.generator
        if name == "random":  # the floor: any method with signal must clear it
            return ScoreMethod(name, lambda cases: np.stack([
                np.random.default_rng([self.config.seed, 2, c.n, _user_key(c.user)]).random(len(self.dataset.catalog))
                for c in cases]))
        if name == "pop":
            return ScoreMethod(name, lambda cases: np.tile(self.popularity, (len(cases), 1)))
        if name == "bm25":
            return ScoreMethod(name, lambda cases: np.stack([gen.bm25_scores(list(c.history)) for c in cases]))
        if name == "generator":
            return ScoreMethod(name, lambda cases: np.stack([gen.fused_scores(list(c.history)) for c in cases]))
        if name == "sasrec":
            return ScoreMethod(name, lambda cases: self._sasrec_model().scores([list(c.history) for c in cases]))
        kind, _, template = name.partition(":")
        if self._backend is None:
            if self._backend_factory is None:
                raise ValueError("LLM methods need a backend")
            self._backend = self._backend_factory()
        ranker = Ranker(self.dataset.catalog, gen, self._backend, PromptTemplate(template or "listwise"),
                        RankerConfig(k=self.config.n_candidates, n_candidates=self.config.n_candidates,
                                     item_noun="movie" if self.dataset.name.startswith("ml-") else "item",
                                     generation=self._generation, mode="score" if kind == "llm-score" else "generate",
                                     reasons=False))
        return LLMMethod(name, ranker, gen, self.config.permutations, self.config.seed)

    # ---------------------------------------------------------------- the run

    def _repair_tail(self) -> None:
        """An interrupted write can leave half a line at the end; drop it so appends start clean."""
        if not self.rows_path.is_file():
            return
        data = self.rows_path.read_bytes()
        if data and not data.endswith(b"\n"):
            self.rows_path.write_bytes(data[: data.rfind(b"\n") + 1])

    def _done(self) -> set[tuple[str, int, str, str]]:
        self._repair_tail()
        done = set()
        if self.rows_path.is_file():
            for line in self.rows_path.read_text().splitlines():
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by an interruption: that ranking is redone
                done.add((r["setting"], r["n"], r["user"], r["method"]))
        return done

    def identity(self) -> dict[str, Any]:
        """Everything that decides which users are tested and what each ranking holds. Methods,
        candidate settings and history lengths are left out: rows are keyed by them, so a later
        command may add to a folder along those axes."""
        config = {k: v for k, v in asdict(self.config).items() if k not in ("settings", "history_lens")}
        return {"dataset": self.dataset.name, "items": len(self.dataset.catalog),
                "interactions": len(self.dataset.interactions), **config,
                "max_new_tokens": self._generation.max_new_tokens, "sasrec_epochs": self._sasrec_epochs,
                "llm": self.llm}

    def check_folder(self) -> None:
        """Refuse to mix two different runs in one folder: a run resumed with other settings would
        count users from two splits in one report."""
        path = self.out / RUN_FILE
        mine = json.loads(json.dumps(self.identity()))  # tuples as lists, as read back
        if path.is_file():
            try:
                stored = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                raise EvaluationFolderError(f"{path} is unreadable; start fresh (--fresh) or use another --out") from None
            differ = [k for k in sorted(set(stored) | set(mine)) if stored.get(k) != mine.get(k)]
            if differ:
                what = ", ".join(f"{k}={stored.get(k)!r} there, {mine.get(k)!r} now" for k in differ)
                raise EvaluationFolderError(f"{self.out} holds a run with other settings ({what}); "
                                            "rerun with --fresh to start over, or use another --out")
        elif not self.rows_path.is_file() or not self.rows_path.stat().st_size:
            path.write_text(json.dumps(mine, indent=2) + "\n", encoding="utf-8")
        # a folder from before run.json existed is left as it is: nothing to compare it with

    def run(self, progress: Callable[[int, int], None] | None = None) -> dict:
        self.check_folder()
        done = self._done()
        plan = []
        for setting in self.config.settings:
            for name in self.methods:
                base = name[: -len("+fusion")] if name.endswith("+fusion") else name
                if setting == "full" and base not in BASELINES:
                    continue  # only score methods rank the whole catalog
                todo = [c for c in self.cases if (setting, c.n, c.user, name) not in done]
                if todo:
                    plan.append((setting, name, todo))
        total = sum(len(t) for _, _, t in plan)
        finished = 0
        with open(self.rows_path, "a", encoding="utf-8") as sink:
            for setting, name, todo in plan:
                if name.endswith("+fusion"):
                    rows = self._fusion_rows(setting, name, todo)
                    for row in rows:
                        sink.write(json.dumps(row) + "\n")
                    sink.flush()
                    finished += len(rows)
                    if progress:
                        progress(finished, total)
                    continue
                method = self.method(name)
                step = self.batch_size if isinstance(method, LLMMethod) else 256
                for start in range(0, len(todo), step):
                    chunk = todo[start:start + step]
                    lists = [self.candidates(setting, c) for c in chunk]
                    t0 = time.perf_counter()
                    ranked = method.rank(chunk, lists)
                    seconds = (time.perf_counter() - t0) / len(chunk)
                    for case, rows, r in zip(chunk, lists, ranked):
                        sink.write(json.dumps(self._row(setting, name, case, rows, r, seconds)) + "\n")
                    sink.flush()
                    finished += len(chunk)
                    if progress:
                        progress(finished, total)
        return self.report()

    def _row(self, setting: str, name: str, case: Case, rows: np.ndarray, r: Ranked, seconds: float) -> dict:
        order = r.order
        ids = self._item_ids
        row = {"setting": setting, "n": case.n, "user": case.user, "method": name, "target": case.target,
               "next_items": list(case.next_items), "in_candidates": bool(case.target in set(rows.tolist())),
               "target_rank": order.index(case.target) + 1 if case.target in order else None,
               "ranking": order[:20], "seconds": round(seconds, 5),
               # the catalog's own item ids beside the row positions the report recomputes from
               "target_id": ids[case.target], "ranking_ids": [ids[i] for i in order[:20]]}
        metrics = _metrics(order, case, self.config)
        row.update(metrics)
        info = dict(r.info)
        if "orders" in info:
            row["permutation_ndcg@10"] = [ndcg(o, {case.target}, 10) for o in info.pop("orders")]
        row["info"] = info
        return row

    def _fusion_rows(self, setting: str, name: str, todo: Sequence[Case]) -> list[dict]:
        """Fuse the stored LLM rankings with the generator's order of the same candidates."""
        base = name[: -len("+fusion")]
        stored = {}
        for line in self.rows_path.read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            if r["setting"] == setting and r["method"] == base:
                stored[(r["n"], r["user"])] = r
        out = []
        for case in todo:
            r = stored.get((case.n, case.user))
            if r is None:
                continue
            rows = self.candidates(setting, case)
            gen_order = order_by(self.generator.fused_scores(list(case.history)), rows)
            fused = fuse(r["ranking"], gen_order, self.config.fusion_weight)
            out.append(self._row(setting, name, case, rows, Ranked(fused, {"fallback": r["info"].get("fallback")}),
                                 0.0))
        return out

    # ---------------------------------------------------------------- the report

    def report(self) -> dict:
        from .report import write_report

        rows = []
        for line in self.rows_path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        if not self.report_all:
            asked = set(self.methods)
            rows = [r for r in rows if r["method"] in asked and r["setting"] in self.config.settings
                    and r["n"] in self.config.history_lens]
        return write_report(rows, self, self.out)


def _user_key(user: str) -> int:
    return int(user) if user.isdigit() else sum(map(ord, user))


def _metrics(order: Sequence[int], case: Case, config: EvalConfig) -> dict[str, float]:
    target, nxt = {case.target}, set(case.next_items)
    out = {f"ndcg@{k}": ndcg(order, target, k) for k in config.ks}
    out.update({f"hr@{k}": hit(order, target, k) for k in config.ks})
    out["mrr"] = mrr(order, target)
    out["ndcg@10_next5"] = ndcg(order, nxt, 10)
    out["hr@10_next5"] = hit(order, nxt, 10)
    return out


def summarize(rows: Sequence[dict], evaluation: Evaluation) -> dict:
    """Per (setting, history length, method): means with 95% bootstrap CIs, coverage, novelty, LLM
    repair/fallback rates, time per user, and paired tests against SASRec, popularity and random order."""
    groups: dict[tuple[str, int, str], list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["setting"], r["n"], r["method"])].append(r)
    n_items = len(evaluation.dataset.catalog)
    n_train = max(1, len(evaluation.train_users))
    summary = []
    for (setting, n, method), rs in sorted(groups.items()):
        rs = sorted(rs, key=lambda r: r["user"])
        entry: dict[str, Any] = {"setting": setting, "n": n, "method": method, "users": len(rs)}
        for key in METRIC_KEYS:
            vals = [r[key] for r in rs]
            entry[key] = float(np.mean(vals))
            entry[key + "_ci"] = bootstrap_ci(vals, seed=evaluation.config.seed)
        entry["coverage@10"] = coverage([r["ranking"] for r in rs], n_items)
        entry["novelty@10"] = novelty([r["ranking"] for r in rs], evaluation.popularity, n_train)
        entry["target_in_candidates"] = float(np.mean([r["in_candidates"] for r in rs]))
        entry["seconds_per_user"] = float(np.mean([r["seconds"] for r in rs]))
        infos = [r.get("info") or {} for r in rs]
        if any("parsed" in i for i in infos):
            entry["fallback_rate"] = float(np.mean([bool(i.get("fallback")) for i in infos]))
            entry["repair_rate"] = float(np.mean([i.get("repairs", 0) > 0 for i in infos]))
            entry["mean_placed_by_llm"] = float(np.mean([i.get("parsed", 0) for i in infos]))
            if setting != "full":
                entry.update(_position_bias(rs, setting, evaluation))
        perm = [r["permutation_ndcg@10"] for r in rs if "permutation_ndcg@10" in r]
        if perm:
            entry["permutation_ndcg@10_std"] = float(np.mean([np.std(p) for p in perm]))
            entry["single_order_ndcg@10"] = float(np.mean([p[0] for p in perm]))
        for ref in REFERENCES:
            other = {r["user"]: r for r in groups.get((setting, n, ref), [])}
            if method != ref and other and all(r["user"] in other for r in rs):
                entry[f"p_vs_{ref}"] = paired_p_value([r["ndcg@10"] for r in rs],
                                                      [other[r["user"]]["ndcg@10"] for r in rs])
        summary.append(entry)
    return {"config": asdict(evaluation.config), "methods": evaluation.methods,
            "train_users": len(evaluation.train_users), "test_users": len(evaluation.test_users),
            "results": summary}


def _position_bias(rows: Sequence[dict], setting: str, evaluation: Evaluation) -> dict[str, float]:
    """How much the prompt's order shaped an LLM method's output: the Spearman correlation of output
    with shown order, and the mean shown position of the candidates the model placed itself (not
    the parser's appends). Recomputed from the seeded candidate lists, so older runs get it too."""
    cases = evaluation.case_index
    kept, placed = [], []
    for r in rows:
        case = cases.get((r["n"], r["user"]))
        if case is None:
            continue
        shown = evaluation.candidates(setting, case).tolist()
        k = order_kept(shown, r["ranking"])
        if not np.isnan(k):
            kept.append(k)
        info = r.get("info") or {}
        n_placed = int(info.get("parsed", 0))
        borda = "permutation_ndcg@10" in r  # the stored order mixes several prompts: no single "placed"
        if 0 < n_placed < len(shown) and not info.get("fallback") and not borda:
            where = {item: i + 1 for i, item in enumerate(shown)}
            placed += [where[i] for i in r["ranking"][:n_placed] if i in where]
    out = {}
    if kept:
        out["order_kept"] = float(np.mean(kept))
    if placed:
        out["placed_mean_shown_position"] = float(np.mean(placed))
    return out
