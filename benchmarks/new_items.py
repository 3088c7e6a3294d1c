"""New items in the shortlist: with new-item slots, how often the new item a user picks next is in
their shortlist, and what the slots cost everyone else.

Co-occurrence leads the default shortlist, and an item nobody has picked has none, so a new item
reaches a shortlist on its text alone, which weighs 0.1 to 0.2 there: almost never. Item cold start,
simulated on ML-100K (seed 0's split, as every report): in each of ``--draws`` draws, a tenth of the
items that at least 20 training users picked is made new: every pick of them is taken out of what the
shortlist counts (popularity, co-occurrence, sessions, sittings), so they sit in the catalog with
their text and no picks, as items added yesterday would. Users' histories and targets are left as
they are: a case whose target (the next pick after its first n) is one of the new items is a
"new-target" case. Shortlists of 20 at n = 1, 3, 5 and 10.

For each number of slots (``new_item_slots``) and each length of the text query's expansion
(``new_item_query``: the shortlist's best items read before the history), the recall@20 of the
new-target cases and of the others. The expansion is chosen on validation users (4 folds of the
training users, each fold's shortlist counted from the other training users, every draw), by the
new-target recall averaged over the slot counts, then scored on the test users. Beside it, what
filling the same slots with new items drawn at random would hold (its expectation, exactly): what
the text match adds. The cost of the slots in time: ms a user at ML-100K and at synthetic 100k- and
1M-item catalogs (benchmarks/speed.py's catalogs, benchmarks/cooccurrence_scale.py's logs).

Writes benchmarks/results/new_items.{json,md}.

    python benchmarks/new_items.py [--draws 5]
    python benchmarks/new_items.py --toy    # one draw, one fold, ML-100K timing only; what CI runs
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from _common import RESULTS, machine, machine_line

from zsrec.candidates import CandidateConfig, CandidateGenerator
from zsrec.defaults import SHORTLIST_NEW_ITEM_QUERY
from zsrec.evaluation.protocol import EvalConfig, make_cases, split_users, validation_folds
from zsrec.loaders import load_dataset

SLOTS = (0, 1, 2, 3, 5)
QUERIES = (0, 5, 10, 20)  # new_item_query: how many of the shortlist's best items join the text query
NEW_SHARE = 0.1  # of the items with at least MIN_PICKS training picks, made new in each draw
MIN_PICKS = 20
FOLDS = 4
N = 20  # shortlist size


def _counted(dataset, users, new: set[int]):
    """The users' picks (and their times) without the new items', and popularity from them."""
    inter = dataset.interactions
    seqs, times = [], []
    for u in users:
        rows, stamps = inter.user_history(u), inter.user_times(u)
        keep = [j for j, r in enumerate(rows) if int(r) not in new]
        seqs.append([int(rows[j]) for j in keep])
        times.append([float(stamps[j]) for j in keep])
    pop = np.bincount([r for s in seqs for r in s], minlength=len(dataset.catalog)).astype(np.float64)
    return seqs, times, pop


def _new_items(eligible: np.ndarray, seed: int, draw: int) -> set[int]:
    rng = np.random.default_rng([seed, 7, draw])
    return set(rng.choice(eligible, size=int(len(eligible) * NEW_SHARE), replace=False).tolist())


def _eligible(dataset, users) -> np.ndarray:
    counts = np.bincount(np.concatenate([dataset.interactions.user_history(u) for u in users]),
                         minlength=len(dataset.catalog))
    return np.flatnonzero(counts >= MIN_PICKS)


def _score(dataset, fit_users, case_users, new: set[int], config: EvalConfig,
           slots: tuple[int, ...], queries: tuple[int, ...]) -> dict:
    """Per (slots, query length): hits of new-target cases and of the others; and the random-fill
    expectation per slot count."""
    seqs, times, pop = _counted(dataset, fit_users, new)
    base = CandidateGenerator(dataset.catalog, config=CandidateConfig(n_candidates=N), popularity=pop,
                              sequences=seqs, sequence_times=times)
    cases = make_cases(dataset, case_users, config)
    histories = [list(c.history) for c in cases]
    is_new = np.array([c.target in new for c in cases])
    by_n = np.array([c.n for c in cases])
    out: dict = {"is_new": is_new, "n": by_n, "hits": {}}
    for m in slots:
        for q in (queries if m else (0,)):
            cfg = CandidateConfig(n_candidates=N, new_item_slots=m, new_item_query=q)
            gen = CandidateGenerator(dataset.catalog, config=cfg, popularity=pop, index=base.index,
                                     cooccurrence=base.cooccurrence, first_picks=base.first_picks,
                                     session=base.session, sittings=base.sittings)
            lists = gen.generate_many(histories, None, N)
            out["hits"][(m, q)] = np.array([c.target in set(s.indices.tolist()) for c, s in zip(cases, lists)])
    # random fill: the slots' items drawn uniformly from the new items outside the list
    plain = base.generate_many(histories, None, N)
    unpicked = np.flatnonzero(pop < 1)
    is_unpicked = set(unpicked.tolist())
    for m in slots[1:]:
        expected = []
        for c, s in zip(cases, plain):
            listed = s.indices.tolist()
            held = int(np.isin(listed, unpicked).sum())
            need = max(0, m - held)
            outside = np.setdiff1d(unpicked, np.concatenate([listed, c.history]))
            if c.target in listed:  # listed already: it stays unless its place goes to a slot
                dropped = [i for i, r in enumerate(listed) if r not in is_unpicked][-need:] \
                    if need and len(outside) else []
                expected.append(0.0 if listed.index(c.target) in dropped else 1.0)
            elif need and c.target in set(outside.tolist()):
                expected.append(min(1.0, need / len(outside)))
            else:
                expected.append(0.0)
        out["hits"][(m, "random")] = np.array(expected)
    return out


def _pool(parts: list[dict]) -> dict:
    keys = parts[0]["hits"].keys()
    return {"is_new": np.concatenate([p["is_new"] for p in parts]), "n": np.concatenate([p["n"] for p in parts]),
            "hits": {k: np.concatenate([p["hits"][k] for p in parts]) for k in keys}}


def _rate(x: np.ndarray) -> dict:
    mean = float(np.mean(x)) if len(x) else float("nan")
    half = 1.96 * float(np.std(x, ddof=1)) / np.sqrt(len(x)) if len(x) > 1 else float("nan")
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "cases": int(len(x))}


def _summary(pooled: dict) -> dict:
    new, rest = pooled["is_new"], ~pooled["is_new"]
    out = {}
    for key, hits in pooled["hits"].items():
        out[f"{key[0]}/{key[1]}"] = {"new_target": _rate(hits[new]), "others": _rate(hits[rest]), "all": _rate(hits),
                                     "new_target_by_n": {int(n): _rate(hits[new & (pooled["n"] == n)])
                                                         for n in np.unique(pooled["n"])}}
    return out


def quality(draws: int, folds: int, slots: tuple[int, ...], queries: tuple[int, ...]) -> dict:
    dataset = load_dataset("ml-100k")
    config = EvalConfig(seed=0)
    train, test = split_users(dataset, config)
    eligible = _eligible(dataset, train)
    splits = validation_folds(dataset, config, train, FOLDS)[:folds]
    val_parts, test_parts = [], []
    for d in range(draws):
        new = _new_items(eligible, config.seed, d)
        for fit, val in splits:
            val_parts.append(_score(dataset, fit, val, new, config, slots, queries))
        test_parts.append(_score(dataset, train, test, new, config, slots, queries))
        print(f"draw {d}: {len(new)} new items", file=sys.stderr)
    val, tst = _summary(_pool(val_parts)), _summary(_pool(test_parts))

    def chosen_by(summary: dict) -> int:
        return max(queries, key=lambda q: (np.mean([summary[f"{m}/{q}"]["new_target"]["mean"] for m in slots[1:]]), -q))

    return {"draws": draws, "folds": folds, "slots": list(slots), "queries": list(queries), "eligible_items": int(len(eligible)),
            "new_items_per_draw": int(len(eligible) * NEW_SHARE), "validation": val, "test": tst,
            "chosen_query": chosen_by(val), "best_on_test": chosen_by(tst)}


def timing(sizes: list[str], users: int, slots: int) -> list[dict]:
    """ms a user for a shortlist with and without ``slots`` new-item slots (the shipped query length)."""
    from cooccurrence_scale import synthetic_log, synthetic_times
    from speed import synthetic_catalog

    base = load_dataset("ml-100k")
    rows = []
    for size in sizes:
        if size == "ml-100k":  # every item has picks: draw 0's new items have theirs taken out, as above
            catalog = base.catalog
            everyone = base.interactions.user_ids
            seqs, times, _ = _counted(base, everyone, _new_items(_eligible(base, everyone), 0, 0))
            config = CandidateConfig(n_candidates=N)
            label = "ML-100K (default shortlist; draw 0's new items)"
        else:
            n_items = int(size)
            catalog, _ = synthetic_catalog(base, n_items)
            seqs = synthetic_log(n_items, n_items * 10)
            times = synthetic_times(seqs)
            # at 1M items the default's indexes take minutes to count; the slots' cost does not depend on them
            big = n_items >= 1_000_000
            config = CandidateConfig(n_candidates=N, cooccurrence_weight=0.0, by_length=()) if big \
                else CandidateConfig(n_candidates=N)
            label = f"synthetic {n_items:,}" + (" (BM25 + popularity)" if big else " (default shortlist)")
        pop = np.bincount(np.concatenate([np.asarray(s, dtype=np.int64) for s in seqs]),
                          minlength=len(catalog)).astype(np.float64)
        t0 = time.perf_counter()
        plain = CandidateGenerator(catalog, config=config, popularity=pop, sequences=seqs, sequence_times=times)
        build = time.perf_counter() - t0
        slotted = CandidateGenerator(catalog, config=replace(config, new_item_slots=slots),
                                     popularity=pop, index=plain.index, cooccurrence=plain.cooccurrence,
                                     first_picks=plain.first_picks, session=plain.session, sittings=plain.sittings)
        rng = np.random.default_rng(1)
        jobs = [list(seqs[int(i)][: int(rng.integers(1, 11))]) for i in rng.integers(0, len(seqs), users)]
        ms = {}
        for name, gen in (("plain", plain), ("slots", slotted)):
            gen.generate(jobs[0], jobs[0])  # warm
            took = []
            for h in jobs:
                t0 = time.perf_counter()
                gen.generate(h, h)
                took.append(time.perf_counter() - t0)
            ms[name] = (1000 * float(np.percentile(took, 50)), 1000 * float(np.percentile(took, 99)))
        filled = [int(np.count_nonzero(c.new_item_slot)) if c.new_item_slot is not None else 0
                  for c in slotted.generate_many(jobs, jobs)]
        rows.append({"catalog": label, "items": len(catalog), "new_items": int(len(slotted._new_rows)),
                     "build_s": build, "plain_p50_ms": ms["plain"][0], "plain_p99_ms": ms["plain"][1],
                     "slots_p50_ms": ms["slots"][0], "slots_p99_ms": ms["slots"][1],
                     "slots_filled_mean": float(np.mean(filled))})
        print(f"timed {label}", file=sys.stderr)
    return rows


def _pct(r: dict) -> str:
    return f"{r['mean']:.3f} ({r['lo']:.3f}–{r['hi']:.3f})"


def markdown(result: dict, command: str) -> str:
    q = result["quality"]
    chosen = q["chosen_query"]
    slots, queries = q["slots"], q["queries"]
    tst, val = q["test"], q["validation"]
    lines = [
        "# New items in the shortlist (new-item slots)", "",
        f"Command: `{command}`  ", f"Machine: {machine_line(result['machine'])}  ",
        f"ML-100K, seed 0's split. In each of {q['draws']} draws, {q['new_items_per_draw']} of the "
        f"{q['eligible_items']} items that at least {MIN_PICKS} training users picked are made new (their picks "
        "taken out of everything the shortlist counts); a case whose target is one of them is a new-target case. "
        f"Shortlists of {N}, n = 1, 3, 5, 10; recall@{N} with a 95% interval (normal, over cases). "
        f"The query length (`new_item_query`: the shortlist's best items read before the history) was chosen on "
        f"validation users ({q['folds']} fold(s) of the training users x {q['draws']} draws) by the new-target "
        f"recall averaged over {', '.join(map(str, slots[1:]))} slots: **{chosen}** (the test users would choose {q['best_on_test']}).", "",
        f"## Test users, query length {chosen}", "",
        f"| slots | new-target cases: recall@{N} | new items at random (expected) | other cases | all cases |",
        "|---:|---:|---:|---:|---:|",
    ]
    for m in slots:
        row = tst[f"{m}/{chosen}" if m else "0/0"]
        rand = f"{tst[f'{m}/random']['new_target']['mean']:.3f}" if m else "-"
        lines.append(f"| {m} | {_pct(row['new_target'])} | {rand} | {_pct(row['others'])} | {_pct(row['all'])} |")
    cases = tst["0/0"]["new_target"]["cases"]
    lines += ["", f"{cases} new-target cases of {cases + tst['0/0']['others']['cases']} on the test users "
              f"(over the draws).", "", "## Query length, new-target recall@20 (validation / test)", "",
              "| slots | " + " | ".join(f"query {x}" for x in queries) + " |",
              "|---:|" + "---:|" * len(queries)]
    for m in slots[1:]:
        cells = [f"{val[f'{m}/{x}']['new_target']['mean']:.3f} / {tst[f'{m}/{x}']['new_target']['mean']:.3f}"
                 for x in queries]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", f"## New-target recall@20 by history length (test users, query length {chosen})", "",
              "| slots | " + " | ".join(f"n={n}" for n in tst["0/0"]["new_target_by_n"]) + " |",
              "|---:|" + "---:|" * len(tst["0/0"]["new_target_by_n"])]
    for m in slots:
        by = tst[f"{m}/{chosen}" if m else "0/0"]["new_target_by_n"]
        lines.append(f"| {m} | " + " | ".join(f"{r['mean']:.3f} ({r['cases']})" for r in by.values()) + " |")
    if result.get("timing"):
        slots = result["timing_slots"]
        lines += ["", f"## Time: one user's shortlist, without and with {slots} slots", "",
                  "Users with 1-10 picks (their own), one at a time; the items nobody has picked are the slots' pool.", "",
                  "| catalog | items | new items | p50 / p99 ms without | p50 / p99 ms with slots | slots filled (mean) |",
                  "|---|---:|---:|---|---|---:|"]
        for r in result["timing"]:
            lines.append(f"| {r['catalog']} | {r['items']:,} | {r['new_items']:,} | {r['plain_p50_ms']:.1f} / "
                         f"{r['plain_p99_ms']:.1f} | {r['slots_p50_ms']:.1f} / {r['slots_p99_ms']:.1f} | "
                         f"{r['slots_filled_mean']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--sizes", default="ml-100k,100000,1000000", help="catalogs to time the slots on")
    ap.add_argument("--users", type=int, default=300, help="users timed per catalog")
    ap.add_argument("--toy", action="store_true", help="one draw, one fold, 0 or 2 slots, query 0 or 10, ML-100K timing")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    draws, folds = (1, 1) if args.toy else (args.draws, FOLDS)
    slots, queries = ((0, 2), (0, 10)) if args.toy else (SLOTS, QUERIES)
    sizes = ["ml-100k"] if args.toy else [s for s in args.sizes.split(",") if s]
    t0 = time.time()
    result = {"machine": machine(), "quality": quality(draws, folds, slots, queries), "timing_slots": 2,
              "shipped_query": SHORTLIST_NEW_ITEM_QUERY}
    result["timing"] = timing(sizes, 30 if args.toy else args.users, 2)
    result["seconds"] = time.time() - t0
    command = "python benchmarks/new_items.py " + " ".join(sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "new_items.json").write_text(json.dumps(result, indent=1))
    (args.out / "new_items.md").write_text(markdown(result, command.strip()))
    print((args.out / "new_items.md").read_text())


if __name__ == "__main__":
    main()
