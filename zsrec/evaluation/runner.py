"""Run the cold-start grid: every method on the same users and the same candidate lists, resumably.

The parts: ``protocol`` (user split and cases), ``candidate_lists`` (what each method ranks),
``methods`` (one interface, names parsed once), ``storage`` (the run folder), ``statistics`` and
``report`` (from rows to the report). This module wires them together and trains what needs training.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..backends import BackendSpec
from ..backends.base import GenerationConfig, LLMBackend
from ..candidates import CandidateGenerator
from ..data import Dataset
from ..errors import OptionError
from ..prompts import PromptTemplate
from ..ranking import BackendHandle, RankerConfig, RankingCore, RankingMode
from ..ranking.fusion import fuse
from .candidate_lists import CandidateLists
from .metrics import ndcg, paired_p_value
from .methods import BASELINES, LLMMethod, Method, MethodSpec, Ranked, ScoreMethod, order_by, parse_methods
from .protocol import Case, EvalConfig, make_cases, popularity_counts, split_users, validation_split
from .report import write_report
from .seeding import rng_for
from .statistics import RunContext, case_metrics, summarize
from .storage import RUN_FILE, RUN_OUTPUTS, EvaluationFolderError, RunFolder

# Hyper-parameters tried on validation users for each trained baseline.
TUNING_GRIDS: dict[str, list[dict[str, float]]] = {
    "ease": [{"l2": v} for v in (10.0, 100.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 20000.0, 50000.0)],
    "itemknn": [{"neighbours": k, "shrink": s} for k in (20, 50, 100, 200, 400) for s in (0.0, 20.0, 50.0, 100.0, 200.0)],
    "sasrec": [{"hidden": h, "dropout": d} for h in (32, 64) for d in (0.2, 0.5)],  # epochs: early stopping
}


FUSION_WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))  # the LLM's share, tried on validation users
FUSION_SIGNIFICANCE = 0.05  # a positive share must beat the generator's order with p below this (paired Wilcoxon)


def validation_ndcg(scores: np.ndarray, cases: Sequence[Case]) -> float:
    """Mean NDCG@10 over the full catalog, history excluded: the score hyper-parameters are chosen by."""
    out = []
    for row, case in zip(scores, cases):
        s = np.asarray(row, dtype=np.float64).copy()
        s[list(case.history)] = -np.inf
        # the target's place in order_by's order (ties kept in catalog order), without sorting the catalog
        place = int(np.count_nonzero(s > s[case.target]) + np.count_nonzero(s[:case.target] == s[case.target]))
        out.append(1.0 / math.log2(place + 2) if place < 10 else 0.0)  # NDCG@10 with one relevant item
    return float(np.mean(out))


__all__ = ["BASELINES", "RUN_FILE", "RUN_OUTPUTS", "Evaluation", "EvaluationFolderError", "parse_methods"]


class Evaluation:
    def __init__(self, dataset: Dataset, config: EvalConfig, methods: Sequence[str], out_dir: str | Path,
                 backend: BackendSpec | LLMBackend | None = None, generation: GenerationConfig | None = None,
                 sasrec_epochs: int = 60, batch_size: int = 16, report_all: bool = True, guided: bool = False,
                 item_noun: str | None = None):
        """``backend`` ranks the LLM methods (loaded on first use); ``report_all`` False limits the
        report to the methods, settings and history lengths of this run, leaving out what an earlier
        command in the same folder added. ``item_noun``: what the LLM's prompt calls an item, as
        ``zsrec rank --item-noun`` (default: movie for MovieLens, else item)."""
        self.dataset, self.config = dataset, config
        self.specs = [MethodSpec.parse(m) for m in methods]
        self.methods = [s.name for s in self.specs]
        self.folder = RunFolder(out_dir)
        self.out = self.folder.path
        self.rows_path = self.folder.rows_path
        self.batch_size = batch_size
        self.report_all = report_all
        self.guided = guided
        self.item_noun = item_noun
        self.command: str | list[str] | None = None
        self._item_ids = dataset.catalog.ids
        self.train_users, self.test_users = split_users(dataset, config)
        # Popularity from training users only: test users are never seen by anything fitted.
        self.popularity = popularity_counts(dataset, self.train_users)
        self._train_sequences = [[int(i) for i in dataset.interactions.user_history(u)] for u in self.train_users]
        # Popularity and co-occurrence from training users only.
        self.generator = CandidateGenerator(dataset.catalog, config=config.shortlist(), popularity=self.popularity,
                                            sequences=self._train_sequences,
                                            sequence_times=dataset.interactions.times_for(self.train_users))
        self.candidates = CandidateLists(len(dataset.catalog), config, self.popularity, self.generator)
        self.cases = make_cases(dataset, self.test_users, config)
        self._sasrec = None
        self._sasrec_epochs = sasrec_epochs
        self._models: dict[str, Any] = {}
        self.tuned: dict[str, dict] = {}  # trained baselines: the hyper-parameters chosen on validation users
        self._backend = BackendHandle(backend) if backend is not None else None
        # fixed before any load: a loaded backend may name its model at more length than the spec did
        self._llm = f"{self._backend.name}:{self._backend.model}" if self._backend is not None else ""
        self._generation = generation or GenerationConfig(max_new_tokens=160)

    @cached_property
    def case_index(self) -> dict[tuple[int, str], Case]:
        """Cases by (history length, user); the cases are fixed at construction, so built once."""
        return {(c.n, c.user): c for c in self.cases}

    # ---------------------------------------------------------------- methods

    def _sasrec_model(self):
        if self._sasrec is None:
            from ..sasrec import SASRec, SASRecConfig

            n_items = len(self.dataset.catalog)
            if not self._sasrec_epochs:  # 0: size, dropout and epochs chosen on validation users
                best = self._tune_sasrec()
                config = SASRecConfig(hidden=best["hidden"], dropout=best["dropout"], epochs=best["epochs"],
                                      seed=self.config.seed)
            else:
                config = SASRecConfig(epochs=self._sasrec_epochs, seed=self.config.seed)
            self._sasrec = SASRec(n_items, config).fit(self._train_sequences)
        return self._sasrec

    def _tuned_fusion(self, spec: MethodSpec) -> float:
        """The weight of the LLM's rank in ``spec`` (X+fusion), chosen on validation users: their
        shortlists come from a generator counted on the other training users, LLM method X ranks them,
        and each weight's fused order is scored by NDCG@10 (a target outside the shortlist is a miss).
        Ties go to the smaller weight, and the best positive weight is kept only if it beats weight 0
        significantly on the same users, so a model that cannot help gets 0: the generator's order."""
        if spec.name in self.tuned:
            return float(self.tuned[spec.name]["params"]["weight"])
        stored = self.folder.tuned().get(spec.name)
        if stored is not None:
            self.tuned[spec.name] = stored
            return float(stored["params"]["weight"])
        fit_users, val_users = validation_split(self.dataset, self.config, self.train_users)
        fit = [[int(i) for i in self.dataset.interactions.user_history(u)] for u in fit_users]
        val_gen = CandidateGenerator(self.dataset.catalog, config=self.config.shortlist(),
                                     popularity=popularity_counts(self.dataset, fit_users), sequences=fit,
                                     sequence_times=self.dataset.interactions.times_for(fit_users))
        cases = make_cases(self.dataset, val_users, self.config)
        lists = [val_gen.generate(list(c.history), (), self.config.n_candidates).indices for c in cases]
        method = self.method(spec.fused_from)
        llm_orders = []
        for start in range(0, len(cases), self.batch_size):
            llm_orders += [r.order for r in method.rank(cases[start:start + self.batch_size],
                                                          lists[start:start + self.batch_size])]
        per_user = {}
        for w in FUSION_WEIGHTS:
            fused = [fuse(o, [int(i) for i in rows], w) for o, rows in zip(llm_orders, lists)]
            per_user[w] = np.array([ndcg(f, {c.target}, 10) for f, c in zip(fused, cases)])
        grid = [(float(v.mean()), w) for w, v in per_user.items()]
        best_score = max(v for v, _ in grid)
        weight = min(w for v, w in grid if v == best_score)
        # The LLM gets a share only where it helps for sure: a best weight no better than the
        # generator's own order (weight 0) beyond chance on these users is noise, and 0 is kept.
        p_vs_zero = paired_p_value(per_user[weight], per_user[0.0]) if weight > 0 else 1.0
        if weight > 0 and p_vs_zero >= FUSION_SIGNIFICANCE:
            weight = 0.0
        self.tuned[spec.name] = {"params": {"weight": weight}, "validation_ndcg@10": float(per_user[weight].mean()),
                                 "validation_users": len(val_users), "best_weight_p_vs_0": p_vs_zero,
                                 "grid": [{"params": {"weight": w}, "validation_ndcg@10": v} for v, w in grid]}
        self.folder.save_tuned(spec.name, self.tuned[spec.name])
        return weight

    def _tune_sasrec(self) -> dict:
        """Each (hidden size, dropout) trained on the fit users with early stopping on the validation
        users' NDCG@10 (checked every 10 epochs, up to 200); the best size, dropout and epoch count
        are then refit on every training user."""
        from ..sasrec import SASRec, SASRecConfig

        fit_users, val_users = validation_split(self.dataset, self.config, self.train_users)
        fit = [[int(i) for i in self.dataset.interactions.user_history(u)] for u in fit_users]
        cases = make_cases(self.dataset, val_users, self.config)
        histories = [list(c.history) for c in cases]
        tried = []
        for params in TUNING_GRIDS["sasrec"]:
            model = SASRec(len(self.dataset.catalog), SASRecConfig(epochs=200, seed=self.config.seed, **params))
            model.fit(fit, validate=lambda m: validation_ndcg(m.scores(histories), cases))
            tried.append((model.best_score, {**params, "epochs": model.best_epochs}))
        best_score, best = max(tried, key=lambda t: t[0])
        self.tuned["sasrec"] = {"params": best, "validation_ndcg@10": best_score, "validation_users": len(val_users),
                                "grid": [{"params": p, "validation_ndcg@10": v} for v, p in tried]}
        self.folder.save_tuned("sasrec", self.tuned["sasrec"])
        return best

    def _score_fn(self, kind: str) -> Callable[[Sequence[Case]], np.ndarray]:
        gen, n_items = self.generator, len(self.dataset.catalog)
        return {
            "random": lambda cases: np.stack([rng_for(self.config.seed, 2, c.n, c.user).random(n_items)
                                              for c in cases]),  # the floor: any method with signal must clear it
            "pop": lambda cases: np.tile(self.popularity, (len(cases), 1)),
            "bm25": lambda cases: np.stack([gen.bm25_scores(list(c.history)) for c in cases]),
            "generator": lambda cases: np.stack([gen.fused_scores(list(c.history)) for c in cases]),
            "sasrec": lambda cases: self._sasrec_model().scores([list(c.history) for c in cases]),
            "cooc": lambda cases: np.stack([gen.cooccurrence_scores(list(c.history)) if gen.cooccurrence is not None
                                            else np.zeros(n_items) for c in cases]),
            "ease": lambda cases: self._tuned("ease").scores([list(c.history) for c in cases]),
            "itemknn": lambda cases: self._tuned("itemknn").scores([list(c.history) for c in cases]),
        }[kind]

    def _tuned(self, kind: str):
        """A trained baseline with its hyper-parameters chosen on validation users (held out from the
        training users, the model fit on the rest), then refit on every training user."""
        if kind in self._models:
            return self._models[kind]
        from ..baselines import EASE, ItemKNN

        model_class = {"ease": EASE, "itemknn": ItemKNN}[kind]
        fit_users, val_users = validation_split(self.dataset, self.config, self.train_users)
        fit = [[int(i) for i in self.dataset.interactions.user_history(u)] for u in fit_users]
        cases = make_cases(self.dataset, val_users, self.config)
        n_items = len(self.dataset.catalog)
        histories, grid = [list(c.history) for c in cases], TUNING_GRIDS[kind]
        tried = sorted(((validation_ndcg(model.scores(histories), cases), params)
                        for params, model in model_class.fit_grid(n_items, fit, grid)),
                       key=lambda scored: grid.index(scored[1]))  # in the grid's order, which ties are broken by
        best_score, best = max(tried, key=lambda t: t[0])
        self.tuned[kind] = {"params": best, "validation_ndcg@10": best_score, "validation_users": len(val_users),
                            "grid": [{"params": p, "validation_ndcg@10": v} for v, p in tried]}
        self.folder.save_tuned(kind, self.tuned[kind])
        self._models[kind] = model_class(n_items, **best).fit(self._train_sequences)
        return self._models[kind]

    def method(self, name: str) -> Method:
        spec = MethodSpec.parse(name)
        if not spec.is_llm:
            return ScoreMethod(name, self._score_fn(spec.kind))
        if self._backend is None:
            raise OptionError("LLM methods need a backend")
        core = RankingCore(self.dataset.catalog, self._backend, PromptTemplate(spec.template or "listwise"),
                           RankerConfig(k=self.config.n_candidates, n_candidates=self.config.n_candidates,
                                        item_noun=self.item_noun or ("movie" if self.dataset.name.startswith("ml-")
                                                                     else "item"),
                                        generation=self._generation, reasons=False, guided=self.guided,
                                        mode=RankingMode.SCORE if spec.kind == "llm-score" else RankingMode.GENERATE))
        return LLMMethod(name, core, self.config.permutations, self.config.seed)

    # ---------------------------------------------------------------- the run

    def identity(self) -> dict[str, Any]:
        """Everything that decides which users are tested and what each ranking holds. Methods,
        candidate settings and history lengths are left out: rows are keyed by them, so a later
        command may add to a folder along those axes."""
        config = {k: v for k, v in asdict(self.config).items() if k not in ("settings", "history_lens")}
        # A sitting signal that is off drops out, so runs made before it existed still match; the sitting
        # length stays while either signal cuts sittings by it.
        dropped = set()
        if not self.config.session_share:
            dropped |= {"session_share"} | (set() if self.config.sittings_share else {"session_seconds"})
        if not self.config.sittings_share:
            dropped |= {"sittings_share", "sittings_neighbours"}
        config = {k: v for k, v in config.items() if k not in dropped}
        return {"dataset": self.dataset.name, "items": len(self.dataset.catalog),
                "interactions": len(self.dataset.interactions), **config,
                "max_new_tokens": self._generation.max_new_tokens, "sasrec_epochs": self._sasrec_epochs,
                "llm": self._llm, **({"item_noun": self.item_noun} if self.item_noun else {})}

    def check_folder(self) -> None:
        self.folder.check_identity(self.identity())

    def run(self, progress: Callable[[int, int], None] | None = None) -> dict:
        self.check_folder()
        llm_methods = {spec.name: self.method(spec.name) for spec in self.specs if spec.is_llm and not spec.fusion}
        for method in llm_methods.values():  # an LLM method its backend cannot serve fails before any work
            method.core.check_abilities()  # type: ignore[attr-defined]
        done = self.folder.done()
        plan = []
        for setting in self.config.settings:
            for spec in self.specs:
                if setting == "full" and not spec.full_catalog:
                    continue  # only score methods rank the whole catalog
                todo = [c for c in self.cases if (setting, c.n, c.user, spec.name) not in done]
                if todo:
                    plan.append((setting, spec, todo))
        if self._backend is not None and any(self._asks_llm(spec) for _, spec, _ in plan):
            self._backend.check_model()  # a model path gone since: said before the trained baselines are fitted
        total = sum(len(t) for _, _, t in plan)
        finished = 0
        for setting, spec, todo in plan:
            if spec.fusion:
                rows = self._fusion_rows(setting, spec, todo)
                self.folder.append(rows)
                finished += len(rows)
                if progress:
                    progress(finished, total)
                continue
            method = llm_methods.get(spec.name) or self.method(spec.name)
            step = self.batch_size if spec.is_llm else 256
            for start in range(0, len(todo), step):
                chunk = todo[start:start + step]
                lists = [self.candidates(setting, c) for c in chunk]
                t0 = time.perf_counter()
                ranked = method.rank(chunk, lists)
                seconds = (time.perf_counter() - t0) / len(chunk)
                self.folder.append(self._row(setting, spec.name, case, rows, r, seconds)
                                   for case, rows, r in zip(chunk, lists, ranked))
                finished += len(chunk)
                if progress:
                    progress(finished, total)
        return self.report()

    def _asks_llm(self, spec: MethodSpec) -> bool:
        """Whether ranking what is left of ``spec`` asks the LLM: an LLM method does, and X+fusion does
        while its weight is still to be chosen (X ranks the validation users); stored rows do not."""
        if not spec.is_llm:
            return False
        return not spec.fusion or (self.config.fusion_weight is None and spec.name not in self.tuned
                                   and spec.name not in self.folder.tuned())

    def _row(self, setting: str, name: str, case: Case, rows: np.ndarray, r: Ranked, seconds: float) -> dict:
        order = r.order
        ids = self._item_ids
        row = {"setting": setting, "n": case.n, "user": case.user, "method": name, "target": case.target,
               "next_items": list(case.next_items), "in_candidates": bool(case.target in set(rows.tolist())),
               "target_rank": order.index(case.target) + 1 if case.target in order else None,
               "ranking": order[:20], "seconds": round(seconds, 5), "shown": len(rows),
               # the catalog's own item ids beside the row positions the report recomputes from
               "target_id": ids[case.target], "ranking_ids": [ids[i] for i in order[:20]]}
        row.update(case_metrics(order, case, self.config))
        info = dict(r.info)
        if "orders" in info:
            row["permutation_ndcg@10"] = [ndcg(o, {case.target}, 10) for o in info.pop("orders")]
        row["info"] = info
        return row

    def _fusion_rows(self, setting: str, spec: MethodSpec, todo: Sequence[Case]) -> list[dict]:
        """Fuse the stored LLM rankings with the generator's order of the same candidates."""
        stored = {(r["n"], r["user"]): r for r in self.folder.rows()
                  if r["setting"] == setting and r["method"] == spec.fused_from}
        weight = self.config.fusion_weight if self.config.fusion_weight is not None else self._tuned_fusion(spec)
        out = []
        for case in todo:
            r = stored.get((case.n, case.user))
            if r is None:
                continue
            rows = self.candidates(setting, case)
            gen_order = order_by(self.generator.fused_scores(list(case.history)), rows)
            fused = fuse(r["ranking"], gen_order, weight)
            out.append(self._row(setting, spec.name, case, rows, Ranked(fused, {"fallback": r["info"].get("fallback")}),
                                 0.0))
        return out

    # ---------------------------------------------------------------- the report

    def report(self) -> dict:
        rows = self.folder.rows()
        if not self.report_all:
            asked = set(self.methods)
            rows = [r for r in rows if r["method"] in asked and r["setting"] in self.config.settings
                    and r["n"] in self.config.history_lens]
        shown = {r["method"] for r in rows}
        tuned = {k: v for k, v in self.folder.tuned().items() if k in shown}  # choices made on validation users
        context = RunContext(self.config, self.methods, len(self.dataset.catalog), len(self.train_users),
                             len(self.test_users), self.popularity, self.candidates, self.case_index, tuned)
        summary = summarize(rows, context)
        short = {}  # sampled lists a small catalog could not fill: the report says how many
        for setting in ("sampled-uniform", "sampled-pop"):
            cases = {(r["n"], r["user"]): r.get("shown", self.config.n_candidates)
                     for r in rows if r["setting"] == setting}
            if any(size < self.config.n_candidates for size in cases.values()):
                short[setting] = [sum(size < self.config.n_candidates for size in cases.values()), len(cases)]
        if short:
            summary["short_lists"] = short
        if self.generator.session_off:  # the report must not describe a signal this run could not use
            summary["time_signals_off"] = self.generator.session_off
        return write_report(summary, self.out, self.command)
