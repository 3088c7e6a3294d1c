"""How long a Recommender (and so `zsrec serve`, or one `zsrec rank` run) takes to start, and its first
request: with every index built from the data, and with the index file `--index` saved.

A service restarts on every deploy, and `zsrec rank` starts one for each command, so at a million
items the start is what a user waits for most. Two processes per catalog size, each making the data
again (not timed): the first starts with no index file, building every index and writing the file
(`index=`); the second starts from that file, as every later start does. Both then answer their
first request and 20 more (a known user's 5 latest picks, the shortlist's order with reasons from the
data: no model, so only zsrec's own work is timed); the first request also builds what requests with
reasons from the data read (the evidence's counts). The second process then times, apart, the parts
a start with the file is made of: reading the index file, the catalog's title groups (which rows
share a title), reading title search from the file (and, to compare, making it from every title),
and, on the picks as loaded (the requests made the per-user lookup on the Recommender's own copy),
the first user's picks (which `zsrec rank --index FILE --user U` reads by a scan), that user's
facts (which a first request counts from its items' picks alone), the evidence's whole matrix
without the lookup, the lookup made from the picks, and from the file's arrays (what a start from
the file does since stop 66: the arrays read and checked against the picks' digest, which a start
takes anyway, timed apart; then the lookup made from them), and the evidence read off it.
Its memory (resident set, VmRSS) is read after the first request, and its peak (VmHWM, started again
once the data is made, so the data's making is left out), each less the data's.

ML-100K, and synthetic catalogs of 100k and 1M items (the ones `add_interactions.py` makes: ML-100K's
words and genres, power-law picks, 10 picks an item). Writes benchmarks/results/NAME.{json,md}.

    python benchmarks/start_up.py                           # ML-100K, 100k and 1M items (about 3 min; 10 GB)
    python benchmarks/start_up.py --toy                     # ML-100K alone, seconds; what CI runs to keep it working
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import RESULTS, machine, machine_line, memory_mb, reset_peak


REQUESTS = 20
SETTINGS = {"mode": "score", "reasons": "evidence", "fusion_weight": 0.0}


def _requests(rec, users: list[str]) -> tuple[float, float, list[list[str]]]:
    """The first request's seconds, the median of the rest, and every list (ids), to compare runs."""
    seconds, lists = [], []
    for user in users:
        t0 = time.perf_counter()
        result = rec.recommend_for_user(user, n_history=5)
        seconds.append(time.perf_counter() - t0)
        lists.append([(item.item_id, item.reason) for item in result.items])
    return seconds[0], statistics.median(seconds[1:]), lists


def one(size: str, index: Path, with_file: bool) -> dict:
    """One process's start (``with_file``: from the file the other wrote) and requests."""
    from add_interactions import _data

    import numpy as np

    from zsrec import saved_lookup
    from zsrec.candidates import CandidateGenerator, CandidateConfig
    from zsrec.data import Interactions
    from zsrec.evidence import EvidenceIndex
    from zsrec.recommender import Recommender
    from zsrec.titles import TitleMatcher

    data = _data(size)
    users = list(dict.fromkeys(str(u) for u in data.interactions.users[::max(1, len(data.interactions) // 997)]))
    users = users[:REQUESTS + 1]
    before = memory_mb()["VmRSS"]
    started_again = reset_peak()  # the peak from here: the start's and the requests', not the data's making
    t0 = time.perf_counter()
    rec = Recommender(data, index=index, **SETTINGS)
    start = time.perf_counter() - t0
    first, rest, lists = _requests(rec, users)
    after = memory_mb()
    out = {"start_s": start, "first_request_s": first, "request_p50_ms": rest * 1000,
           "data_mb": before, "rss_mb": after["VmRSS"] - before, "peak_rss_mb": after["VmHWM"],
           "peak_above_data_mb": after["VmHWM"] - before, "peak_started_again": started_again, "lists": lists}
    if with_file:  # the parts of a start with the file, each timed apart
        parts = {}
        t0 = time.perf_counter()
        generator = CandidateGenerator.with_saved_index(index, data.catalog, data.interactions, CandidateConfig())
        parts["index_file_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        data.catalog.title_groups()  # which rows share a title, which either way of making title search reads
        parts["title_groups_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        TitleMatcher.from_file(index, data.catalog, generator.popularity_counts)
        parts["title_search_file_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        TitleMatcher(data.catalog, generator.popularity_counts)
        parts["title_search_s"] = time.perf_counter() - t0
        picks = data.interactions  # as loaded: the Recommender made its lookup on a copy of its own
        alone = Interactions(users=picks.users, items=picks.items, timestamps=picks.timestamps, ratings=picks.ratings,
                             timed=picks.timed)  # no lookup made, no user asked about
        t0 = time.perf_counter()
        history = [int(i) for i in alone.user_history(users[0])[-5:]]  # the first user asked about: found by a scan
        parts["first_user_s"] = time.perf_counter() - t0
        shortlist = [int(i) for i in generator.generate(history, history).indices]
        t0 = time.perf_counter()
        evidence = EvidenceIndex(data.catalog, alone, generator.popularity_counts)
        evidence.facts(history, shortlist)  # counted from the picks of these items alone
        parts["first_facts_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        assert evidence.picks.nnz  # the whole matrix, counted without the lookup
        parts["evidence_no_lookup_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        assert alone.user_ids  # the per-user lookup, made
        parts["user_lookup_s"] = time.perf_counter() - t0
        kept = Interactions(users=picks.users, items=picks.items, timestamps=picks.timestamps, ratings=picks.ratings,
                            timed=picks.timed)
        t0 = time.perf_counter()
        kept.fingerprint()  # the picks' digest, which a start takes anyway (the co-occurrence index is checked by it)
        parts["picks_digest_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        assert saved_lookup.read(index, kept) is None  # the file's arrays, read and checked against that digest
        parts["user_lookup_read_s"] = time.perf_counter() - t0
        assert kept.user_ids  # and the lookup made from them
        parts["user_lookup_file_s"] = time.perf_counter() - t0
        made, read = alone._user_rows(), kept._user_rows()  # the same users, in the same order, with the same rows
        assert list(made) == list(read) and all(np.array_equal(made[u], read[u]) for u in made)
        t0 = time.perf_counter()
        EvidenceIndex(data.catalog, alone, generator.popularity_counts)  # read off the lookup just made
        parts["evidence_s"] = time.perf_counter() - t0
        out.update(parts)
    return out


def run(size: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index.npz"
        rows = {}
        for label, with_file in (("built", False), ("from_file", True)):
            cmd = [sys.executable, __file__, "--one", size, "--index", str(index)] + (["--with-file"] if with_file else [])
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            rows[label] = json.loads(done.stdout.strip().splitlines()[-1])
        rows["file_mb"] = index.stat().st_size / 1e6
    rows["same_lists"] = rows["built"].pop("lists") == rows["from_file"].pop("lists")
    return rows


def _table(results: dict) -> str:
    lines = ["| catalog | start, building every index s | start from the index file s | file MB | first request s "
             "(built / file) | later requests p50 ms | the data MB | memory after the first request MB, above the "
             "data (peak above the data): built / from the file | same lists |",
             "|---|---:|---:|---:|---|---|---:|---|---|"]
    for size, r in results.items():
        b, f = r["built"], r["from_file"]
        lines.append(f"| {size} | {b['start_s']:.2f} | {f['start_s']:.2f} | {r['file_mb']:.0f} | "
                     f"{b['first_request_s']:.3f} / {f['first_request_s']:.3f} | "
                     f"{b['request_p50_ms']:.1f} / {f['request_p50_ms']:.1f} | "
                     f"{f['data_mb']:,.0f} | {b['rss_mb']:,.0f} ({b['peak_above_data_mb']:,.0f}) / "
                     f"{f['rss_mb']:,.0f} ({f['peak_above_data_mb']:,.0f}) | {'yes' if r['same_lists'] else 'NO'} |")
    lines += ["", "A start from the file, in parts (each timed apart, after it):", "",
              "| catalog | read the index file s | the catalog's title groups s | title search, read from the file s | "
              "title search, made from the titles s | the first user's picks s | their facts, from their items' "
              "picks s | the per-user lookup s, from the file's arrays (of which reading them) / from the picks | evidence s (the lookup made / not) |",
              "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for size, r in results.items():
        f = r["from_file"]
        lines.append(f"| {size} | {f['index_file_s']:.2f} | {f['title_groups_s']:.2f} | {f['title_search_file_s']:.2f} | "
                     f"{f['title_search_s']:.2f} | {f['first_user_s']:.2f} | {f['first_facts_s']:.3f} | "
                     f"{f['user_lookup_file_s']:.2f} ({f['user_lookup_read_s']:.2f}) / {f['user_lookup_s']:.2f} | "
                     f"{f['evidence_s']:.2f} / {f['evidence_no_lookup_s']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="ml-100k,100000,1000000")
    ap.add_argument("--name", default="start_up")
    ap.add_argument("--toy", action="store_true", help="ML-100K alone (written as NAME-toy)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--index", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--with-file", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.index, args.with_file)))
        return
    if args.toy:
        args.sizes, args.name = "ml-100k", f"{args.name}-toy"
    command = "python benchmarks/start_up.py" + (" --toy" if args.toy else "".join(
        f" --{k} {v}" for k, v in (("sizes", args.sizes), ("name", args.name)) if v != ap.get_default(k)))
    results = {}
    for size in args.sizes.split(","):
        t0 = time.perf_counter()
        results[size] = run(size)
        print(f"{size}: {time.perf_counter() - t0:.0f} s", json.dumps(results[size]), flush=True)
    m = machine()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps({"command": command, "machine": m, "settings": SETTINGS,
                                                            "results": results}, indent=1))
    md = (f"# Start-up: a Recommender from the data, and from its index file\n\nCommand: `{command}`  \n"
          f"Machine: {machine_line(m)}  \nSettings: {SETTINGS} (the shortlist's defaults). Requests: a known "
          f"user's 5 latest picks; later requests: the median of {REQUESTS}. Memory: the data's resident set "
          "(made first, the same in both processes); the resident set the start and first request added, and the "
          "peak above the data's (the peak started again once the data was made).\n\n" + _table(results) + "\n")
    (args.out / f"{args.name}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
