"""The pipeline, top to bottom: candidates -> prompt -> LLM -> parse -> ranked result.

The ranker owns no model state of its own: it is handed a candidate generator, a template and a
backend (or a factory for one, so that input errors surface before a model is loaded). Whatever the
LLM does, raising, timing out or answering nonsense, every user gets a full ranking: the generator's
order, marked as a fallback with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .backends.base import Generation, GenerationConfig, LLMBackend, ranking_regex
from .candidates import CandidateGenerator, Candidates
from .data import Catalog
from .errors import ModelUnavailableError, OptionError, ZsrecError
from .parsing import ParsedRanking, parse_ranking
from .evidence import EvidenceIndex, Fact
from .evidence import sentence as evidence_sentence
from .evidence import summary as evidence_summary
from .prompts import SCORE_LABELS, Prompt, PromptTemplate
from .reasons import CheckedReason, ReasonChecker, ReasonSource, ReasonsMode
from .result import RankedResult, RecommendedItem, RunInfo


@dataclass(frozen=True)
class RankerConfig:
    k: int = 10
    n_candidates: int = 20
    item_noun: str = "item"
    generation: GenerationConfig = GenerationConfig()
    context_margin: int = 16  # tokens kept free beside max_new_tokens
    mode: str = "generate"  # "generate": the LLM writes the ranking; "score": its label log-probs rank
    # llm: the model's reasons, checked against the evidence, which fills in where they fail (in score
    # mode one generation per user writes them); evidence: reasons from the data alone, no generation;
    # none: no reasons. True and False are read as llm and none.
    reasons: ReasonsMode | str | bool = ReasonsMode.LLM
    guided: bool = False  # constrain answers to candidate ids where the backend supports it

    def __post_init__(self) -> None:
        if isinstance(self.reasons, bool):
            object.__setattr__(self, "reasons", ReasonsMode.LLM if self.reasons else ReasonsMode.NONE)
        try:
            object.__setattr__(self, "reasons", ReasonsMode(self.reasons))
        except ValueError:
            raise OptionError(f"reasons must be one of llm, evidence, none; got {self.reasons!r}") from None
        if self.mode not in ("generate", "score"):
            raise OptionError(f"mode must be 'generate' or 'score', got {self.mode!r}")
        if self.k < 1:
            raise OptionError(f"k must be at least 1, got {self.k}")
        if self.n_candidates < 1:
            raise OptionError(f"n_candidates must be at least 1, got {self.n_candidates}")
        if self.k > self.n_candidates:
            raise OptionError(f"k={self.k} is more than the shortlist holds (n_candidates={self.n_candidates}): "
                              "ask for fewer items or a longer shortlist")


@dataclass
class _Job:
    history: list[int]
    candidates: Candidates
    prompt: Prompt
    timings: dict[str, float]
    logprobs: list[float] | None = None  # score mode: each candidate's label log-probability
    facts: list[list[Fact]] | None = None  # the evidence for each candidate, when the ranker has an index


class Ranker:
    def __init__(self, catalog: Catalog, generator: CandidateGenerator,
                 backend: LLMBackend | Callable[[], LLMBackend], template: PromptTemplate,
                 config: RankerConfig | None = None, names: tuple[str, str] = ("", ""),
                 evidence: EvidenceIndex | Callable[[], EvidenceIndex] | None = None):
        """``evidence`` (an index or a factory for one) gives every item facts counted from the data
        and lets reasons be checked against them; without it, items carry no evidence."""
        self.catalog = catalog
        self._evidence = evidence
        self._checker: ReasonChecker | None = None
        self.generator = generator
        self._backend = backend
        self.template = template
        self.config = config or RankerConfig()
        self.model_load_seconds = 0.0
        self.load_error = ""  # set when the model could not be brought up; every ranking then falls back
        self._names = names  # (backend, model) to report when no backend could be loaded

    @property
    def evidence(self) -> EvidenceIndex | None:
        if self._evidence is not None and not isinstance(self._evidence, EvidenceIndex):
            self._evidence = self._evidence()
        return self._evidence

    @property
    def checker(self) -> ReasonChecker:
        if self._checker is None:
            self._checker = ReasonChecker(self.catalog)
        return self._checker

    @property
    def backend(self) -> LLMBackend:
        """The loaded backend; loads it on first use and raises if it cannot be loaded."""
        if not isinstance(self._backend, LLMBackend):
            t0 = time.perf_counter()
            self._backend = self._backend()
            self.model_load_seconds = time.perf_counter() - t0
        return self._backend

    def try_backend(self) -> LLMBackend | None:
        """The backend, or None once loading it failed for a reason that is not the user's input (out
        of memory, a crashed plugin, a server that is down): the run goes on in generator order.
        Input errors (an unknown model name or path) still raise. A failed load is not retried."""
        if self.load_error:
            return None
        try:
            return self.backend
        except ModelUnavailableError as e:
            self.load_error = f"model could not be loaded: {e}"
        except ZsrecError:
            raise
        except Exception as e:  # noqa: BLE001 (whatever a backend raises while loading)
            self.load_error = f"model could not be loaded: {_describe(e)}"
        return None

    def _prepare(self, history: Sequence[int], exclude: Sequence[int], k: int,
                 backend: LLMBackend | None, given: Candidates | None = None) -> _Job:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        cands = given if given is not None else self.generator.generate(list(history), exclude,
                                                                         self.config.n_candidates)
        timings["candidates"] = time.perf_counter() - t0
        facts = None
        if self.evidence is not None:
            t0 = time.perf_counter()
            facts = self.evidence.facts(history, [int(i) for i in cands.indices])
            timings["evidence"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        items = self.catalog.items
        h_items = [items[i] for i in history]
        c_items = [items[i] for i in cands.indices]
        mode = self.config.mode
        if backend is not None:
            budget = backend.context_length - self.config.generation.max_new_tokens - self.config.context_margin
            prompt = self.template.build(h_items, c_items, k, self.config.item_noun, backend.count_tokens, budget,
                                         mode=mode)
        else:
            prompt = self.template.build(h_items, c_items, k, self.config.item_noun, mode=mode)
        timings["prompt"] = time.perf_counter() - t0
        return _Job(list(history), cands, prompt, timings, facts=facts)

    def check_k(self, k: int) -> None:
        """More picks than the shortlist holds cannot be shown: say so instead of silently showing fewer."""
        replace(self.config, k=k)  # the config's own checks, for a k given per call

    @property
    def needs_model(self) -> bool:
        """False when every shortlist has at most one item: there is nothing for an LLM to order."""
        return self.config.n_candidates > 1

    def check_inputs(self, history: Sequence[int], exclude: Sequence[int] = (), k: int | None = None) -> None:
        """Render the prompt without a model, so a broken template fails before a slow model load."""
        self.check_k(k or self.config.k)
        self._prepare(history, exclude, k or self.config.k, backend=None)

    def rank(self, history: Sequence[int], exclude: Sequence[int] = (), k: int | None = None) -> RankedResult:
        return self.rank_many([history], [exclude], k)[0]

    def rank_many(self, histories: Sequence[Sequence[int]], excludes: Sequence[Sequence[int]] | None = None,
                  k: int | None = None, candidates: Sequence[Candidates] | None = None) -> list[RankedResult]:
        """Rank for many users with one batched LLM call. Whatever fails (the load, the batch, one
        prompt), the users it touches get the generator order, flagged with the reason.
        ``candidates`` replaces the generator's shortlists (evaluation ranks given lists, in the
        order given)."""
        k = k or self.config.k
        if candidates is None:
            self.check_k(k)
        excludes = excludes if excludes is not None else [()] * len(histories)
        given = list(candidates) if candidates is not None else [None] * len(histories)
        backend = self.try_backend() if self.needs_model or candidates is not None else None
        jobs = [self._prepare(h, e, k, backend, g) for h, e, g in zip(histories, excludes, given)]
        results: list[RankedResult | None] = [None] * len(jobs)
        for i, job in enumerate(jobs):
            if len(job.candidates.indices) <= 1:  # nothing to order: no LLM time spent on it
                n = len(job.candidates.indices)
                results[i] = self._finish(job, ParsedRanking(list(range(n))), None, "", k, backend,
                                          note=f"{n} candidate{'s' if n != 1 else ''}: nothing to rank, "
                                               "the LLM was not asked")
        todo = [i for i, r in enumerate(results) if r is None]
        if todo:
            for i, result in zip(todo, self._rank_jobs(backend, [jobs[i] for i in todo], k)):
                results[i] = result
        return [r for r in results if r is not None]

    def _rank_jobs(self, backend: LLMBackend | None, jobs: list[_Job], k: int) -> list[RankedResult]:
        t0 = time.perf_counter()
        if backend is not None and self.config.mode == "score":
            return self._rank_scored(backend, jobs, k)
        if backend is None:
            outcomes: list[tuple[Generation | None, str]] = [(None, self.load_error)] * len(jobs)
        else:
            regexes = None
            if self.config.guided and getattr(backend, "supports_regex", False):
                regexes = [ranking_regex(len(j.candidates.indices), k) for j in jobs]
            outcomes = self._generate(backend, [j.prompt.text for j in jobs], regexes)
        llm_seconds = (time.perf_counter() - t0) / max(1, len(jobs))
        results = []
        for job, (gen, error) in zip(jobs, outcomes):
            job.timings["llm"] = llm_seconds
            t1 = time.perf_counter()
            parsed = parse_ranking(gen.text if gen is not None else "", self._titles(job))
            job.timings["parse"] = time.perf_counter() - t1
            results.append(self._finish(job, parsed, gen, error, k, backend))
        return results

    def _titles(self, job: _Job) -> list[str]:
        return [self.catalog.items[i].title for i in job.candidates.indices]

    def _rank_scored(self, backend: LLMBackend, jobs: list[_Job], k: int) -> list[RankedResult]:
        """Log-prob mode: one forward step per user ranks every candidate by the probability of its
        label, so the ranking always parses; then (optionally) one generation per user writes
        reasons for the top k only."""
        score = getattr(backend, "score", None)
        if score is None:
            raise ZsrecError(f"backend {backend.name!r} cannot score log-probabilities; use --mode generate")
        t0 = time.perf_counter()
        by_size: dict[int, list[int]] = {}
        for i, job in enumerate(jobs):
            by_size.setdefault(len(job.candidates.indices), []).append(i)
        outcomes: list[tuple[list[float] | None, str]] = [(None, "")] * len(jobs)
        for n, members in by_size.items():
            try:
                got = score([jobs[i].prompt.text for i in members], list(SCORE_LABELS[:n]))
                for i, row in zip(members, got, strict=True):
                    outcomes[i] = (list(row), "")
            except ZsrecError:
                raise
            except Exception as e:  # noqa: BLE001 (a scoring failure falls back like a generation failure)
                for i in members:
                    outcomes[i] = (None, f"LLM scoring failed: {_describe(e)}")
        per_user = (time.perf_counter() - t0) / max(1, len(jobs))
        parsed_all: list[ParsedRanking] = []
        errors: list[str] = []
        for job, (row, error) in zip(jobs, outcomes):
            job.timings["llm"] = per_user
            n = len(job.candidates.indices)
            if row is None:
                parsed_all.append(ParsedRanking(list(range(n)), repairs=["scoring failed; kept generator order"]))
                errors.append(error)
                continue
            clean = [x if x == x and x != float("inf") else float("-inf") for x in row]  # NaN -> -inf
            job.logprobs = clean
            order = sorted(range(n), key=lambda i: (-clean[i], i))
            scored = sum(x != float("-inf") for x in clean)
            repairs = [] if scored == n else [f"{n - scored} candidates had no log-probability; kept in generator order"]
            parsed_all.append(ParsedRanking(order, from_llm=scored, repairs=repairs))
            errors.append("" if scored else "LLM gave no candidate label a probability")
        explain = self.config.reasons is ReasonsMode.LLM
        gens = self._explain(backend, jobs, parsed_all, errors, k) if explain else [None] * len(jobs)
        return [self._finish(job, parsed, gen, error, k, backend)
                for job, parsed, gen, error in zip(jobs, parsed_all, gens, errors)]

    def _explain(self, backend: LLMBackend, jobs: list[_Job], parsed_all: list[ParsedRanking],
                 errors: list[str], k: int) -> list[Generation | None]:
        """Reasons for the top k of each scored ranking, in one batched generation; the order is
        already fixed, so whatever this says or fails to say only fills in reasons."""
        t0 = time.perf_counter()
        items = self.catalog.items
        prompts, owners = [], []
        for i, (job, parsed, error) in enumerate(zip(jobs, parsed_all, errors)):
            if error:
                continue
            picks = [items[int(job.candidates.indices[p])] for p in parsed.order[:k]]
            history = [items[h] for h in job.history[len(job.history) - job.prompt.history_used:]]
            said = ([evidence_summary(job.facts[p]) for p in parsed.order[:k]] if job.facts is not None else None)
            prompts.append(self.template.render(history, picks, k, self.config.item_noun, mode="explain",
                                                evidence=said))
            owners.append(i)
        gens: list[Generation | None] = [None] * len(jobs)
        if not prompts:
            return gens
        for i, (gen, err) in zip(owners, self._generate(backend, prompts)):
            gens[i] = gen
            parsed = parsed_all[i]
            if gen is None:
                parsed.repairs.append(f"no reasons: {err}")
                continue
            picks = parsed.order[:k]
            said = parse_ranking(gen.text, [items[int(jobs[i].candidates.indices[p])].title for p in picks])
            parsed.reasons = {picks[j]: r for j, r in said.reasons.items()}
        per_user = (time.perf_counter() - t0) / max(1, len(owners))
        for i in owners:
            jobs[i].timings["explain"] = per_user
        return gens

    def _reason(self, said: str, item, history: list, facts: list[Fact]) -> CheckedReason:
        """The item's reason as the config asks: checked LLM words, evidence, or none."""
        mode = self.config.reasons
        if mode is ReasonsMode.NONE:
            return CheckedReason("", ReasonSource.NONE)
        if mode is ReasonsMode.EVIDENCE:
            return CheckedReason(evidence_sentence(facts), ReasonSource.EVIDENCE)
        return self.checker.check(said, item, history, facts)

    def _generate(self, backend: LLMBackend, prompts: list[str],
                  regexes: list[str] | None = None) -> list[tuple[Generation | None, str]]:
        """A generation or an error per prompt. A batch that raises is retried one prompt at a time, so
        one bad prompt (or a batch too big for memory) does not sink the others; a timeout is not
        retried, since it would only spend the time again."""
        try:
            if regexes is not None:
                gens = list(backend.generate(prompts, self.config.generation, regexes=regexes))  # type: ignore[call-arg]
            else:
                gens = list(backend.generate(prompts, self.config.generation))
            if len(gens) != len(prompts):
                raise RuntimeError(f"backend returned {len(gens)} outputs for {len(prompts)} prompts")
        except ZsrecError:
            raise
        except Exception as e:  # noqa: BLE001 (any model failure becomes a flagged fallback)
            if len(prompts) > 1 and not isinstance(e, TimeoutError):
                return [out for i, p in enumerate(prompts)
                        for out in self._generate(backend, [p], None if regexes is None else [regexes[i]])]
            return [(None, f"LLM call failed: {_describe(e)}")] * len(prompts)
        return [(g, f"LLM call failed: {g.error}" if g.error else "") for g in gens]

    def _finish(self, job: _Job, parsed: ParsedRanking, gen: Generation | None, error: str, k: int,
                backend: LLMBackend | None, note: str = "") -> RankedResult:
        titles = self._titles(job)
        text = gen.text if gen is not None else ""
        if self.model_load_seconds:
            job.timings["model_load"] = self.model_load_seconds
        job.timings["total"] = sum(v for key, v in job.timings.items() if key != "model_load")
        fallback_reason = error
        if not error and parsed.fallback and not note:
            finish = gen.finish_reason if gen is not None else ""
            if finish == "timeout":
                fallback_reason = "LLM timed out before naming a candidate"
            elif not text.strip():
                fallback_reason = "LLM returned empty output"
            else:
                fallback_reason = "LLM output named no candidate"
        fallback = (parsed.fallback and not note) or bool(error)
        n = len(titles)
        items = []
        history_items = [self.catalog.items[i] for i in job.history]
        for rank, pos in enumerate(parsed.order[:k], start=1):
            idx = int(job.candidates.indices[pos])
            item = self.catalog.items[idx]
            facts = job.facts[pos] if job.facts is not None else []
            why = self._reason(parsed.reasons.get(pos, ""), item, history_items, facts)
            items.append(RecommendedItem(
                rank=rank, item_id=item.id, title=item.title,
                score=round((n - rank + 1) / n, 4),
                reason=why.text, reason_source=why.source.value,
                reason_flags=[f.value for f in why.flags], llm_reason=why.llm_text, evidence=list(facts),
                source="llm" if rank <= parsed.from_llm else "generator",
                generator_rank=pos + 1,
                generator_score=round(float(job.candidates.scores[pos]), 4),
                logprob=_finite(job.logprobs[pos]) if job.logprobs is not None else None,
            ))
        names = (backend.name, backend.model_name) if backend is not None else self._names
        info = RunInfo(
            model=names[1], backend=names[0], template=self.template.name,
            n_candidates=n, history_used=job.prompt.history_used, history_cut=job.prompt.history_cut,
            parsed=parsed.from_llm, fallback=fallback, fallback_reason=fallback_reason,
            repairs=parsed.repairs,
            prompt_tokens=gen.prompt_tokens if gen else (job.prompt.n_tokens or 0),
            completion_tokens=gen.completion_tokens if gen else 0,
            finish_reason=(gen.finish_reason if gen else "not-called" if note else
                           "scored" if self.config.mode == "score" and not error else "error"),
            mode=self.config.mode,
            timings={key: round(v, 4) for key, v in job.timings.items()},
            raw_output=text,
            note=note,
        )
        history = [{"item_id": self.catalog.items[i].id, "title": self.catalog.items[i].title}
                   for i in np.asarray(job.history, dtype=np.int64)]
        return RankedResult(items=items, history=history, info=info)


def _finite(x: float) -> float | None:
    """A log-probability for JSON: a label the model gave no probability has none (not -inf)."""
    return round(float(x), 4) if np.isfinite(x) else None


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e).strip()[:300]}"
