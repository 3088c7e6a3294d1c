"""The standard cold-start grid on ML-100K, in phases cheapest first, into one resumable run.

Phase 1: random, popularity, BM25, co-occurrence alone, the generator, and the trained baselines
(SASRec; EASE and ItemKNN with their hyper-parameters chosen on validation users) in every candidate
setting (minutes: SASRec trains on the CPU).
Phase 2: the LLM in log-prob scoring mode, alone and fused with the generator (about 1 s per user).
Phase 3: the LLM generating its ranking, each template, alone and fused (a few s per user).
Interrupt it at any point and run it again: finished rankings are kept. The report (summary.json,
report.md, ndcg10.png) is rebuilt from everything finished so far and copied to
benchmarks/results/quality.{json,md,png}.

    python benchmarks/quality.py [--users 200] [--history-len 1,3,5,10] [--phases 1,2,3]
    python benchmarks/quality.py --phases 3 --methods llm --settings sampled-pop --history-len 5 \
        --permutations 3 --work benchmarks/results/quality-permutations --name quality-permutations
    python benchmarks/quality.py --phases 2,3 --device cuda --dtype float32 --llm-batch 64   # the LLM on a GPU
    python benchmarks/quality.py --report-only      # rebuild the report of a run folder (--work)
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

from _common import RESULTS, machine, machine_line

from zsrec.backends import BackendSpec
from zsrec.backends.base import GenerationConfig
from zsrec.candidates import CandidateConfig
from zsrec.evaluation.protocol import EvalConfig
from zsrec.evaluation.runner import Evaluation
from zsrec.loaders import load_dataset

PHASES = {
    1: (["random", "pop", "bm25", "cooc", "generator", "sasrec", "ease", "itemknn"],
        ["generator", "sampled-uniform", "sampled-pop", "full"]),
    2: (["llm-score", "llm-score+fusion"], ["generator", "sampled-pop", "sampled-uniform"]),
    3: (["llm", "llm+fusion", "llm:recency", "llm:recency+fusion"], ["generator", "sampled-pop", "sampled-uniform"]),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--history-len", default="1,3,5,10")
    ap.add_argument("--phases", default="1,2,3")
    ap.add_argument("--max-new-tokens", type=int, default=120)
    ap.add_argument("--sasrec-epochs", type=int, default=0,
                    help="SASRec epochs; 0 (default) chooses size, dropout and epochs on validation users")
    ap.add_argument("--settings", default="", help="only these candidate settings (comma-separated)")
    ap.add_argument("--methods", default="", help="only these methods of each phase (comma-separated)")
    ap.add_argument("--permutations", type=int, default=1,
                    help="rank each list in this many shuffled orders (position bias; use its own --work folder)")
    ap.add_argument("--bm25-weight", type=float, default=CandidateConfig.bm25_weight,
                    help="the generator's shortlist weights (default: the library's)")
    ap.add_argument("--popularity-weight", type=float, default=CandidateConfig.popularity_weight)
    ap.add_argument("--cooccurrence-weight", type=float, default=CandidateConfig.cooccurrence_weight)
    ap.add_argument("--shortlist-by-length", default="auto",
                    help="short histories' own weights, e.g. 1:0/0.3/0.7@0.2 (default auto: the library's when "
                    "the weights above are its own)")
    ap.add_argument("--fusion-weight", type=float, default=None,
                    help="the LLM's share in X+fusion; default: chosen on validation users")
    ap.add_argument("--validation-users", type=int, default=200,
                    help="training users held out to choose hyper-parameters and the fusion weight")
    ap.add_argument("--device", default="cpu", help="where the LLM runs: cpu, cuda, auto")
    ap.add_argument("--dtype", default="auto", help="LLM weights: auto (float32 on the CPU, bfloat16 on a GPU), "
                    "float32, bfloat16")
    ap.add_argument("--llm-batch", type=int, default=8, help="prompts per forward pass of the LLM")
    ap.add_argument("--work", type=Path, default=RESULTS / "quality")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--report-only", action="store_true", help="rebuild the report from the run folder; run nothing")
    ap.add_argument("--name", default="quality", help="results are written to OUT/NAME.{json,md,png}")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data = load_dataset("ml-100k")
    lens = tuple(int(x) for x in args.history_len.split(","))
    llm = BackendSpec("transformers", None, {"device": args.device, "dtype": args.dtype, "batch_size": args.llm_batch})

    cmd = "python benchmarks/quality.py " + " ".join(sys.argv[1:])
    # Every command that wrote to this run folder, in order, so the report says how it was made.
    log = args.work / "commands.txt"
    args.work.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{cmd.strip()}   # on {machine_line(machine())}\n")
    commands = [line for line in log.read_text(encoding="utf-8").splitlines() if line.strip()] if log.is_file() else []
    base = EvalConfig(history_lens=lens, n_test_users=args.users, permutations=args.permutations,
                      bm25_weight=args.bm25_weight, popularity_weight=args.popularity_weight,
                      cooccurrence_weight=args.cooccurrence_weight, fusion_weight=args.fusion_weight,
                      by_length=args.shortlist_by_length,
                      n_validation_users=args.validation_users)
    summary = None
    for phase in ([] if args.report_only else (int(p) for p in args.phases.split(","))):
        methods, settings = PHASES[phase]
        if args.settings:
            settings = [x for x in settings if x in args.settings.split(",")]
        if args.methods:
            methods = [x for x in methods if x in args.methods.split(",")]
        if not methods or not settings:
            continue
        run = Evaluation(data, replace(base, settings=tuple(settings)), methods, args.work, backend=llm,
                         generation=GenerationConfig(max_new_tokens=args.max_new_tokens),
                         sasrec_epochs=args.sasrec_epochs, batch_size=max(16, args.llm_batch))
        run.command = commands
        t0 = time.perf_counter()
        summary = run.run(lambda done, total, phase=phase: print(f"phase {phase}: {done}/{total}", flush=True))
        print(f"phase {phase} done in {time.perf_counter() - t0:.0f}s", flush=True)
    if args.report_only:
        if not (args.work / "rankings.jsonl").is_file():
            sys.exit(f"nothing to report: {args.work / 'rankings.jsonl'} does not exist")
        run = Evaluation(data, base, [], args.work)
        run.command = commands
        summary = run.report()
    if summary is None:
        sys.exit("nothing to run: no phase has a method and a setting left after --methods/--settings")
    shutil.copy(args.work / "summary.json", args.out / f"{args.name}.json")
    text = (args.work / "report.md").read_text()
    text = text.replace("# Cold-start evaluation\n", "# Cold-start evaluation\n\nLLM: the default SmolLM2-135M-Instruct, "
                        "on the CPU unless a command below names another `--device`; each command says the machine "
                        "it ran on.\n", 1)
    (args.out / f"{args.name}.md").write_text(text)
    if (args.work / "ndcg10.png").is_file():
        shutil.copy(args.work / "ndcg10.png", args.out / f"{args.name}.png")
    with open(args.work / "rankings.jsonl", "rb") as src, gzip.open(args.out / f"{args.name}-rankings.jsonl.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)


if __name__ == "__main__":
    main()
