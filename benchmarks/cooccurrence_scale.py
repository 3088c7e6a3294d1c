"""The co-occurrence index at scale: build time, peak memory, index size, a user's shortlist latency,
and adding new interactions without a rebuild.

ML-100K, then synthetic interaction logs with power-law item popularity (p(i) ~ 1/(i+10)^1.1) and
log-normal user history lengths: 100k items with 1M interactions, 1M items with 10M interactions.
Each size runs in its own process, so its peak memory (max RSS) is its own. The shortlist is the full
generator (BM25 over a synthetic catalog whose words follow ML-100K's, popularity, co-occurrence),
timed for single users with 1-10 picks; the co-occurrence lookup alone is timed beside it.

Writes benchmarks/results/cooccurrence_scale.{json,md}.

    python benchmarks/cooccurrence_scale.py [--sizes ml-100k,100000,1000000] [--users 300]
    python benchmarks/cooccurrence_scale.py --toy    # tiny sizes; what CI runs
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, in_child, machine, machine_line

INTERACTIONS_PER_ITEM = 10
ADD_EVENTS = 10_000  # new interactions counted into a built index


def synthetic_log(n_items: int, n_interactions: int, seed: int = 0) -> list[np.ndarray]:
    """Per user, their picks (catalog rows) in time order."""
    rng = np.random.default_rng(seed)
    p = 1.0 / (np.arange(n_items) + 10.0) ** 1.1
    p /= p.sum()
    lengths = np.maximum(2, rng.lognormal(3.2, 1.0, size=n_interactions // 20).astype(np.int64))
    lengths = lengths[np.cumsum(lengths) <= n_interactions]
    picks = rng.choice(n_items, size=int(lengths.sum()), p=p)
    return np.split(picks, np.cumsum(lengths)[:-1])


def synthetic_times(sequences: list[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    """Per user, a timestamp (seconds) for each pick: people pick in sittings, so 70% of the gaps are
    short (exponential, mean 20 s) and the rest long (exponential, mean two days). Only the session
    signal reads them."""
    rng = np.random.default_rng(seed + 1)
    out = []
    for seq in sequences:
        short = rng.random(len(seq)) < 0.7
        gaps = np.where(short, rng.exponential(20.0, len(seq)), rng.exponential(2 * 86_400.0, len(seq)))
        out.append(8.8e8 + np.cumsum(gaps))
    return out


def one(size: str, users: int, toy: bool) -> dict:
    from dataclasses import replace

    from speed import synthetic_catalog

    from zsrec.candidates import CandidateConfig, CandidateGenerator
    from zsrec.cooccurrence import CoOccurrenceIndex
    from zsrec.loaders import load_dataset

    base = load_dataset("ml-100k")
    if size == "ml-100k":
        catalog = base.catalog
        sequences = [base.interactions.user_history(u) for u in base.interactions.user_ids]
        times = [base.interactions.user_times(u) for u in base.interactions.user_ids]
    else:
        n_items = int(size)
        catalog, _ = synthetic_catalog(base, n_items)
        sequences = synthetic_log(n_items, n_items * INTERACTIONS_PER_ITEM)
        times = synthetic_times(sequences)
    n_items = len(catalog)
    # the last users' second halves are "new": added after the build, at least ADD_EVENTS of them
    n_held, events = 0, 0
    while events < ADD_EVENTS and n_held < len(sequences) // 2:
        n_held += 1
        events += len(sequences[-n_held]) - len(sequences[-n_held]) // 2
    held_out = sequences[-n_held:]
    fit = sequences[:-n_held] + [s[: len(s) // 2] for s in held_out]
    fit_times = times[:-n_held] + [t[: len(t) // 2] for t in times[-n_held:]]
    pop = np.bincount(np.concatenate(fit), minlength=n_items).astype(np.float64)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # the default's indexes of counted picks first, then (below) its session signal, timed apart
    config = replace(CandidateConfig(), session_share=0.0, sittings_share=0.0)
    t0 = time.perf_counter()
    co = CoOccurrenceIndex.build(fit, n_items, config.cooccurrence)
    build = time.perf_counter() - t0
    # the default's short-history entries count their own index from users' first K picks
    t0 = time.perf_counter()
    firsts = {k: CoOccurrenceIndex.build(fit, n_items, config.first_picks_config(k)) for k in config.first_picks_counts}
    build_first = time.perf_counter() - t0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gen = CandidateGenerator(catalog, config=config, popularity=pop, cooccurrence=co, first_picks=firsts)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "index.npz"
        t0 = time.perf_counter()
        gen.save_index(path)
        save = time.perf_counter() - t0
        t0 = time.perf_counter()
        CandidateGenerator.with_saved_index(path, catalog, popularity=pop, config=config)
        load = time.perf_counter() - t0
        file_mb = path.stat().st_size / 2**20
    rng = np.random.default_rng(1)
    jobs = [sequences[int(i)][: int(rng.integers(1, 11))].tolist() for i in rng.integers(0, len(fit), users)]
    full, lookup = [], []
    for h in jobs:
        t0 = time.perf_counter()
        gen.generate(h, h)
        full.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        co.neighbour_scores(h, config.recency_decay)
        lookup.append(time.perf_counter() - t0)
    new = [s[len(s) // 2:] for s in held_out]
    tails = [s[: len(s) // 2] for s in held_out]
    events = sum(len(s) for s in new)
    t0 = time.perf_counter()
    for index in (co, *firsts.values()):
        index.add(new, tails)
    add = time.perf_counter() - t0
    t0 = time.perf_counter()  # then one more pick: what a service counting picks as they come pays each time
    for index in (co, *firsts.values()):
        index.add([held_out[0][-1:]], [held_out[0]])
    add_one = time.perf_counter() - t0
    peak_default = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    session = _session_costs(catalog, CandidateConfig(), pop, co, firsts, gen.index, fit, fit_times, jobs, held_out,
                             times[-n_held:])
    return {"catalog": "ML-100K" if size == "ml-100k" else f"synthetic {n_items:,}", "items": n_items,
            "interactions": int(sum(len(s) for s in sequences)), "users": len(sequences),
            "build_s": build, "first_picks": sorted(firsts), "first_picks_build_s": build_first,
            "first_picks_neighbours_kept": int(sum(f.counts.nnz for f in firsts.values())), "peak_rss_mb": peak_default,
            "build_peak_rss_growth_mb": rss1 - rss0, "neighbours_kept": int(co.counts.nnz),
            "index_mb": _held_mb(co.counts, co.scores),
            "index_file_mb": file_mb, "save_s": save, "load_s": load,
            "shortlist_p50_ms": 1000 * float(np.percentile(full, 50)),
            "shortlist_p99_ms": 1000 * float(np.percentile(full, 99)),
            "cooc_lookup_p50_ms": 1000 * float(np.percentile(lookup, 50)),
            "added_events": events, "added_users": len(new), "add_s": add, "add_one_s": add_one,
            **session}


def _held_mb(*matrices) -> float:
    """The arrays the matrices hold, each counted once (the scores share the counts' pattern)."""
    held = {(a.__array_interface__["data"][0], a.nbytes) for m in matrices for a in (m.data, m.indices, m.indptr)}
    return sum(nbytes for _, nbytes in held) / 2**20


def _session_costs(catalog, config, pop, co, firsts, text_index, fit, fit_times, jobs, held_out, held_times) -> dict:
    """The default's session signal (``config``'s share and sitting length) and its similar sittings:
    each index's build, size and update, and the whole default shortlist with the session signal, then
    with both (the shipped default), measured after everything above (so the peak memory without them
    is its own)."""
    from dataclasses import replace

    from zsrec.candidates import CandidateGenerator
    from zsrec.cooccurrence import CoOccurrenceIndex
    from zsrec.sittings import SittingIndex

    def shortlist_ms(gen) -> tuple[float, float]:
        full = []
        for h in jobs:
            t0 = time.perf_counter()
            gen.generate(h, h)
            full.append(time.perf_counter() - t0)
        return 1000 * float(np.percentile(full, 50)), 1000 * float(np.percentile(full, 99))

    t0 = time.perf_counter()
    session = CoOccurrenceIndex.build(fit, len(catalog), config.session_config, fit_times)
    build = time.perf_counter() - t0
    p50, p99 = shortlist_ms(CandidateGenerator(catalog, config=replace(config, sittings_share=0.0), popularity=pop,
                                               index=text_index, cooccurrence=co, first_picks=firsts, session=session))
    t0 = time.perf_counter()
    sittings = SittingIndex.build(fit, fit_times, len(catalog), config.session_seconds)
    sittings_build = time.perf_counter() - t0
    both_p50, both_p99 = shortlist_ms(CandidateGenerator(catalog, config=config, popularity=pop, index=text_index,
                                                         cooccurrence=co, first_picks=firsts, session=session,
                                                         sittings=sittings))
    new, tails = [s[len(s) // 2:] for s in held_out], [s[: len(s) // 2] for s in held_out]
    t0 = time.perf_counter()
    session.add(new, tails, times=[t[len(t) // 2:] for t in held_times],
                tail_times=[t[: len(t) // 2] for t in held_times])
    add = time.perf_counter() - t0
    t0 = time.perf_counter()  # the held-out users are the last ones the sittings were cut from, named by position
    sittings.add([str(len(fit) - len(held_out) + j) for j in range(len(held_out))], new,
                 [t[len(t) // 2:] for t in held_times])
    sittings_add = time.perf_counter() - t0
    last = float(held_times[0][-1]) + 1.0  # then one more pick, a second after the user's last
    t0 = time.perf_counter()
    session.add([held_out[0][-1:]], [held_out[0]], times=[[last]], tail_times=[list(held_times[0])])
    session_one = time.perf_counter() - t0
    t0 = time.perf_counter()
    sittings.add([str(len(fit) - len(held_out))], [held_out[0][-1:]], [[last]])
    sittings_one = time.perf_counter() - t0
    m = sittings.members
    return {"session_build_s": build, "session_pairs_kept": int(session.counts.nnz),
            "session_shortlist_p50_ms": p50, "session_shortlist_p99_ms": p99, "session_add_s": add,
            "sittings_build_s": sittings_build, "sittings": sittings.n_sittings,
            "sittings_mb": sum(a.nbytes for a in (m.data, m.indices, m.indptr, sittings.listed.data,
                                                  sittings.listed.indices, sittings.listed.indptr, sittings.ends,
                                                  sittings.owners, sittings.sizes)) / 2**20,
            "default_shortlist_p50_ms": both_p50, "default_shortlist_p99_ms": both_p99, "sittings_add_s": sittings_add,
            "session_add_one_s": session_one, "sittings_add_one_s": sittings_one,
            "session_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="ml-100k,100000,1000000")
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--toy", action="store_true")
    ap.add_argument("--one", default="", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.users, args.toy)))
        return
    sizes = ["ml-100k", "5000"] if args.toy else args.sizes.split(",")
    users = 20 if args.toy else args.users
    rows = []
    for size in sizes:
        rows.append(in_child(__file__, "--one", size, "--users", str(users)))
        print(json.dumps(rows[-1]), flush=True)
    m = machine()
    cmd = "python benchmarks/cooccurrence_scale.py " + " ".join(sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cooccurrence_scale.json").write_text(json.dumps({"command": cmd.strip(), "machine": m, "rows": rows},
                                                                 indent=1))
    lines = ["# Co-occurrence at scale", "", f"Command: `{cmd.strip()}`  ", f"Machine: {machine_line(m)}  ",
             "Default shortlist settings, the session signal and similar sittings timed apart below (co-occurrence: cosine, all pairs of a user's last 200 picks, 100 neighbours "
             "per item; one-pick histories on a second index counted from each user's first "
             f"{'/'.join(str(k) for k in rows[0].get('first_picks', []))} picks, built and timed separately: "
             "\"first-picks build s\"). Each size in its own process. Shortlist: the whole generator (BM25 + popularity + "
             f"co-occurrence) for one user with 1-10 picks, {users} users. Add: the second half of the last users' "
             f"histories (at least {ADD_EVENTS:,} events), counted after the build into both indexes, then one more pick "
             "(a service counting picks as they come pays that each time). Index MB: the "
             "main index (counts and scores, on one shared pattern); the file holds both.", "",
             "| catalog | items | interactions | build s | first-picks build s | peak RSS MB | neighbours kept | "
             "index MB | file MB | save / load s | shortlist p50 / p99 ms without the session signal or similar sittings | co-occurrence lookup "
             "p50 ms | add events in s; one pick s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---|"]
    for r in rows:
        lines.append(f"| {r['catalog']} | {r['items']:,} | {r['interactions']:,} | {r['build_s']:.1f} | "
                     f"{r['first_picks_build_s']:.1f} | "
                     f"{r['peak_rss_mb']:.0f} | {r['neighbours_kept']:,} | {r['index_mb']:.1f} | {r['index_file_mb']:.1f} | "
                     f"{r['save_s']:.1f} / {r['load_s']:.1f} | {r['shortlist_p50_ms']:.1f} / {r['shortlist_p99_ms']:.1f} | "
                     f"{r['cooc_lookup_p50_ms']:.2f} | {r['added_events']:,} in {r['add_s']:.1f}; {r['add_one_s']:.2f} |")
    from zsrec.candidates import CandidateConfig

    cfg = CandidateConfig()
    lines += ["", f"The default's session signal (`--session-share {cfg.session_share:g}`, pairs picked within "
              f"{cfg.session_seconds:g} s) and similar sittings (`--sittings-share {cfg.sittings_share:g}`, the "
              f"{cfg.sittings_neighbours} sittings most like the history; zsrec.sittings), measured after the above in "
              "the same process: each index's build and size, the whole shortlist with the session signal and then "
              "with both (the shipped default), and the same new events added to each, then one more pick. Synthetic picks get synthetic "
              "times (70% of gaps short, mean 20 s; the rest mean two days); ML-100K its own. Peak RSS: the process's, "
              "after the above.", "",
              "| catalog | session build s | pairs kept | sittings build s | sittings | sittings MB | shortlist p50 / "
              "p99 ms: neither / session / **default (both)** | add s: session / sittings; one pick | peak RSS MB |",
              "|---|---:|---:|---:|---:|---:|---|---|---:|"]
    for r in rows:
        lines.append(f"| {r['catalog']} | {r['session_build_s']:.1f} | {r['session_pairs_kept']:,} | "
                     f"{r['sittings_build_s']:.1f} | {r['sittings']:,} | {r['sittings_mb']:.1f} | "
                     f"{r['shortlist_p50_ms']:.1f} / {r['shortlist_p99_ms']:.1f}; "
                     f"{r['session_shortlist_p50_ms']:.1f} / {r['session_shortlist_p99_ms']:.1f}; "
                     f"**{r['default_shortlist_p50_ms']:.1f} / {r['default_shortlist_p99_ms']:.1f}** | "
                     f"{r['session_add_s']:.1f} / {r['sittings_add_s']:.1f}; {r['session_add_one_s']:.2f} / {r['sittings_add_one_s']:.2f} | "
                     f"{r['session_peak_rss_mb']:.0f} |")
    (args.out / "cooccurrence_scale.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
