"""What a filter costs: a user's shortlist drawn only from some items (``--only``, ``--only-genre``,
``only_genres`` in a request) against the same users' unfiltered shortlist, side by side in one run.

A filter picks which items compete and never how one scores, so every filtered shortlist must equal
the unfiltered order of the whole catalog with the other items left out; the first users of each
filter are checked against that order, every item scored. Two ways give it: a small filter (at most
``FILTER_SCORED_MAX`` items) is scored item by item; a larger one is cut from the unfiltered shortlist
widened until it holds n allowed items. Both are timed: ``widened`` forces the second way on small
filters too, ``item by item`` the first on large ones (what it would cost without widening).

Hidden items (``Recommender.hide_items``, ``POST /v1/items/hide``) are the other side: no request may
be shown them. The generator keeps them as a mask and a popularity order without them
(``hide_rows``), set once per change; each shortlist is then timed as before. For a random 1% and 10%
of the catalog and the 1,000 most picked items (each in nearly every shortlist), checked against the
whole order with the hidden items left out. Beside it, the same items passed as every user's
``exclude`` instead, which is what hiding would cost without the mask.

Filters: a genre, three genres, random "in stock" sets of 0.1% to 90% of the catalog, and a shelf of
the 1,000 items least likely to be shortlisted (the worst case for widening). ML-100K with its own
genres, and a synthetic catalog (words and genres as ML-100K's, power-law picks, as
``cooccurrence_scale.py`` builds it) with its co-occurrence counted; the session signal and similar
sittings are off (they add the same cost filtered or not; ``cooccurrence_scale.md`` times them).

Writes benchmarks/results/filtered_shortlist.{json,md}.

    python benchmarks/filtered_shortlist.py                 # ML-100K and 1M items, 10M picks (about 6 minutes)
    python benchmarks/filtered_shortlist.py --toy           # seconds; what CI runs to keep this script working
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from _common import RESULTS, in_child, machine, machine_line

from zsrec.candidates import CandidateConfig, CandidateGenerator
from zsrec.cooccurrence import CoOccurrenceIndex
from zsrec.item_filter import GenreIndex
from zsrec.loaders import load_dataset

CHECKED_USERS = 10  # per filter, compared with the whole catalog's order


def _timed(gen: CandidateGenerator, jobs: list[list[int]], allowed: np.ndarray | None) -> tuple[list, list[float]]:
    out, seconds = [], []
    for h in jobs:
        t0 = time.perf_counter()
        out.append(gen.generate(h, h, 20, allowed))
        seconds.append(time.perf_counter() - t0)
    return out, seconds


def _ms(seconds: list[float]) -> dict[str, float]:
    return {"p50_ms": 1000 * float(np.percentile(seconds, 50)), "p99_ms": 1000 * float(np.percentile(seconds, 99))}


def one(size: str, users: int) -> dict:
    from cooccurrence_scale import INTERACTIONS_PER_ITEM, synthetic_log
    from speed import synthetic_catalog

    base = load_dataset("ml-100k")
    if size == "ml-100k":
        catalog = base.catalog
        sequences = [base.interactions.user_history(u) for u in base.interactions.user_ids]
    else:
        catalog, _ = synthetic_catalog(base, int(size))
        sequences = synthetic_log(int(size), int(size) * INTERACTIONS_PER_ITEM)
    n_items = len(catalog)
    pop = np.bincount(np.concatenate(sequences), minlength=n_items).astype(np.float64)
    config = replace(CandidateConfig(), session_share=0.0, sittings_share=0.0)
    t0 = time.perf_counter()
    co = CoOccurrenceIndex.build(sequences, n_items, config.cooccurrence)
    firsts = {k: CoOccurrenceIndex.build(sequences, n_items, config.first_picks_config(k))
              for k in config.first_picks_counts}
    gen = CandidateGenerator(catalog, config=config, popularity=pop, cooccurrence=co, first_picks=firsts)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    genres = GenreIndex(catalog)
    genre_build = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    jobs = [np.asarray(sequences[int(i)][: int(rng.integers(1, 11))]).tolist()
            for i in rng.integers(0, len(sequences), users)]
    by_size = sorted(genres.counts().items(), key=lambda g: -g[1])
    one_genre = by_size[len(by_size) // 2][0]  # a middling genre
    three = [g for g, _ in by_size[1:len(by_size):max(1, len(by_size) // 3)]][:3]
    _, plain_s = _timed(gen, jobs, None)
    wholes = [gen.generate(h, h, n_items) for h in jobs[:CHECKED_USERS]]  # every unseen item, in order
    filters: list[tuple[str, np.ndarray]] = [
        (f"genre {one_genre}", genres.rows([one_genre])),
        (f"genres {', '.join(three)}", genres.rows(three)),
    ]
    for share in (0.001, 0.01, 0.1, 0.5, 0.9):
        filters.append((f"in stock: a random {share:.1%}", np.sort(rng.choice(n_items, max(1, int(share * n_items)),
                                                                             replace=False))))
    # the items the unfiltered order of the first user puts last: widening finds none of them
    filters.append(("the 1,000 items the first user's order puts last", np.sort(wholes[0].indices[-1000:])))
    rows = []
    scored_max = CandidateGenerator.FILTER_SCORED_MAX
    for name, allowed in filters:
        results, seconds = _timed(gen, jobs, allowed)
        same = 0
        for whole, got in zip(wholes, results):
            keep = np.isin(whole.indices, allowed)
            same += int(np.array_equal(whole.indices[keep][:20], got.indices)
                        and np.array_equal(whole.scores[keep][:20], got.scores))
        other = "item by item" if len(allowed) > scored_max else "widened"
        CandidateGenerator.FILTER_SCORED_MAX = 0 if other == "widened" else n_items  # the other way, timed apart
        try:
            other_results, other_s = _timed(gen, jobs, allowed)
        finally:
            CandidateGenerator.FILTER_SCORED_MAX = scored_max
        rows.append({"filter": name, "items": int(len(allowed)),
                     "way": "widened" if len(allowed) > scored_max else "item by item",
                     **_ms(seconds), "ratio_p50": float(np.percentile(seconds, 50) / np.percentile(plain_s, 50)),
                     "other_way": other, "other": _ms(other_s),
                     "same_as_other": sum(np.array_equal(a.indices, b.indices) for a, b in zip(results, other_results)),
                     "checked": len(wholes), "same_as_whole_order": same,
                     "full": sum(len(r) == 20 for r in results)})
    hidden_rows = []
    for name, hidden in ((f"a random 1% ({max(1, n_items // 100):,})", rng.choice(n_items, max(1, n_items // 100),
                                                                                    replace=False)),
                         (f"a random 10% ({n_items // 10:,})", rng.choice(n_items, n_items // 10, replace=False)),
                         ("the 1,000 most picked", np.argsort(-pop, kind="stable")[:1000])):
        hidden = np.sort(hidden).astype(np.int64)
        excluded_s = []
        for h in jobs:  # without the mask: the hidden rows joined to every user's exclude
            t0 = time.perf_counter()
            gen.generate(h, np.concatenate([np.asarray(h, dtype=np.int64), hidden]), 20)
            excluded_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        gen.hide_rows(hidden)
        set_s = time.perf_counter() - t0
        results, seconds = _timed(gen, jobs, None)
        gen.hide_rows([])
        same = 0
        for whole, got in zip(wholes, results):
            keep = ~np.isin(whole.indices, hidden)
            same += int(np.array_equal(whole.indices[keep][:20], got.indices)
                        and np.array_equal(whole.scores[keep][:20], got.scores))
        hidden_rows.append({"hidden": name, "items": int(len(hidden)), "set_ms": 1000 * set_s, **_ms(seconds),
                            "ratio_p50": float(np.percentile(seconds, 50) / np.percentile(plain_s, 50)),
                            "as_exclude": _ms(excluded_s),
                            "checked": len(wholes), "same_as_whole_order": same,
                            "none_hidden": sum(not np.isin(r.indices, hidden).any() for r in results)})
    return {"catalog": "ML-100K" if size == "ml-100k" else f"synthetic {n_items:,}", "items": n_items,
            "interactions": int(sum(len(s) for s in sequences)), "users": users, "build_s": build,
            "genres": len(by_size), "genre_index_s": genre_build, "unfiltered": _ms(plain_s), "rows": rows,
            "hidden": hidden_rows}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="ml-100k,1000000")
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--toy", action="store_true")
    ap.add_argument("--one", default="", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.users)))
        return
    sizes = ["ml-100k", "30000"] if args.toy else args.sizes.split(",")
    users = 20 if args.toy else args.users
    results = []
    for size in sizes:  # each in its own process, so one size's memory does not slow the next
        results.append(in_child(__file__, "--one", size, "--users", str(users)))
    m = machine()
    cmd = ("python benchmarks/filtered_shortlist.py " + " ".join(sys.argv[1:])).strip()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "filtered_shortlist.json").write_text(json.dumps({"command": cmd, "machine": m, "sizes": results},
                                                                 indent=1))
    lines = ["# A filtered shortlist (and one without hidden items) against the unfiltered one", "", f"Command: `{cmd}`  ",
             f"Machine: {machine_line(m)}  ",
             f"Per catalog: {users} users with 1-10 picks (their picks excluded), a shortlist of 20, each filter "
             "timed on the same users as the unfiltered shortlist, in one process. Ratio: filtered p50 / unfiltered "
             f"p50. Way: how the filter was applied (a filter of at most {CandidateGenerator.FILTER_SCORED_MAX:,} "
             "items is scored item by item; a larger one is cut from a widened unfiltered shortlist); the other way is "
             f"timed beside it and must give the same lists. Checked: the first {CHECKED_USERS} users' filtered "
             "shortlists against the whole catalog's unfiltered order with the other items left out (scores "
             "included). Session signal and similar sittings off in both.", ""]
    for r in results:
        lines += [f"## {r['catalog']} ({r['interactions']:,} picks, {r['genres']} genres)", "",
                  f"Unfiltered shortlist: p50 {r['unfiltered']['p50_ms']:.2f} ms, p99 {r['unfiltered']['p99_ms']:.2f} ms. "
                  f"Indexes built in {r['build_s']:.1f} s; the genre index (once per process, on the first genre "
                  f"filter) in {r['genre_index_s']:.2f} s.", "",
                  "| filter | items | way | p50 ms | p99 ms | ratio (p50) | other way: p50 / p99 ms | same lists "
                  "as the other way | same as the whole order | shortlists of 20 |",
                  "|---|---:|---|---:|---:|---:|---|---:|---:|---:|"]
        for row in r["rows"]:
            lines.append(f"| {row['filter']} | {row['items']:,} | {row['way']} | {row['p50_ms']:.2f} | "
                         f"{row['p99_ms']:.2f} | {row['ratio_p50']:.2f} | {row['other_way']}: "
                         f"{row['other']['p50_ms']:.2f} / {row['other']['p99_ms']:.2f} | {row['same_as_other']} of "
                         f"{r['users']} | {row['same_as_whole_order']} of {row['checked']} | {row['full']} of {r['users']} |")
        lines += ["", "Hidden items (set once with `hide_rows`; then no shortlist may hold them). Beside it, the "
                  "same items passed as every user's `exclude` instead:", "",
                  "| hidden | items | set once ms | p50 ms | p99 ms | ratio (p50) | as exclude: p50 / p99 ms | "
                  "same as the whole order | no hidden item shown |",
                  "|---|---:|---:|---:|---:|---:|---|---:|---:|"]
        for row in r["hidden"]:
            lines.append(f"| {row['hidden']} | {row['items']:,} | {row['set_ms']:.1f} | {row['p50_ms']:.2f} | "
                         f"{row['p99_ms']:.2f} | {row['ratio_p50']:.2f} | {row['as_exclude']['p50_ms']:.2f} / "
                         f"{row['as_exclude']['p99_ms']:.2f} | {row['same_as_whole_order']} of {row['checked']} | "
                         f"{row['none_hidden']} of {r['users']} |")
        lines.append("")
    (args.out / "filtered_shortlist.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
