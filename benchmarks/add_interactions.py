"""New picks counted into a running Recommender (``Recommender.add_interactions``, ``POST
/v1/interactions``): what an add costs against loading everything again, and what the shortlist
gains from it against one that never hears of the new picks. New items put in its catalog
(``Recommender.add_items``, ``POST /v1/items``): what that costs.

Cost: the data without its latest picks is loaded into a Recommender with the default settings (the
evidence index built, as a service has it after its first request); then batches of 1, 10, 100,
1,000 and 10,000 of the held-out picks, in time order, are added one batch after another, each size
timed several times for a median, with how long each held the lock shortlists take. Then 10 more
adds of one pick each while a second thread prepares known users' shortlists back to back, and that
thread alone for as long: what a request waits while picks are counted; then the same again with
the objects held left out of the garbage collector's passes, as ``zsrec serve`` runs (its full
passes over millions of objects stop every thread). Then batches of 1, 10, 100
and 1,000 new items (each another
item's text and genres under a new id and title) are put in the catalog the same way. Beside it,
in the same process: building the Recommender from all the picks (every index and the evidence),
what a restart costs. ML-100K, and a synthetic catalog (ML-100K's words and genres, power-law picks
in sittings, as ``cooccurrence_scale.py`` makes them).

The two parts of an item add that grow with the catalog, the text index and title search, are timed
apart for one new item, both ways side by side in one process: built again over every item (what
an add did before, and what the first add after loading a saved index still does) and grown from
what the index and search keep (the two results compared to the bit). So is title search after one
more pick (built again with the new popularity, and reordered from what it keeps: what a pick add
does). ML-100K, 100k and 1M synthetic items (the catalog alone: no Recommender is built).

Quality (ML-100K): the picks in time order are cut at 80% and 90%. The first 80% are loaded; the next
10% arrive. For each user with a pick in the last 10% and one before it: the history is their last 5
picks before it, the target their first pick in it, and what they saw before is excluded. Recall@20
of three shortlists: loaded from the first 80% and never told of the rest (stale), told of the next
10% by adds of 1,000 picks (added), and loaded from the first 90% (rebuilt). Added and rebuilt
differ only where the default's pruning of each item's neighbours to 100 treats pairs differently
(``CoOccurrenceIndex.add``); their lists are compared item by item too.

Writes benchmarks/results/add_interactions.{json,md}.

    python benchmarks/add_interactions.py           # ML-100K and 100k items; the parts up to 1M (about 3 minutes)
    python benchmarks/add_interactions.py --toy     # seconds; what CI runs to keep this script working
    python benchmarks/add_interactions.py --sizes 1000000 --parts-sizes ml-100k   # 1M items: 8 minutes,
        # 10 GB; written to add_interactions-1000000.{json,md}
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, machine, machine_line

from zsrec.bm25 import SparseBM25
from zsrec.data import Dataset, Interactions, Item
from zsrec.loaders import load_dataset
from zsrec.recommender import Recommender
from zsrec.serving.service import settle_objects
from zsrec.text import tokenize
from zsrec.titles import TitleMatcher

BATCHES = (1, 10, 100, 1_000, 10_000)
REPEATS = {1: 20, 10: 10, 100: 5, 1_000: 3, 10_000: 1}
ITEM_BATCHES = (1, 10, 100, 1_000)
ITEM_REPEATS = {1: 5, 10: 3, 100: 3, 1_000: 1}
DURING = 10  # one-pick adds made while requests are served
PART_SIZES = "ml-100k,100000,1000000"
PART_REPEATS = 3


def _data(size: str) -> Dataset:
    base = load_dataset("ml-100k")
    if size == "ml-100k":
        return base
    from cooccurrence_scale import INTERACTIONS_PER_ITEM, synthetic_log, synthetic_times
    from speed import synthetic_catalog

    catalog, _ = synthetic_catalog(base, int(size))
    sequences = synthetic_log(int(size), int(size) * INTERACTIONS_PER_ITEM)
    times = synthetic_times(sequences)
    users = np.concatenate([np.full(len(s), f"u{i}", dtype=object) for i, s in enumerate(sequences)])
    items, stamps = np.concatenate(sequences), np.concatenate(times)
    return Dataset(f"synthetic {int(size):,}", catalog,
                   Interactions(users=users, items=items.astype(np.int64), timestamps=stamps,
                                ratings=np.full(len(items), np.nan)))


def _cut(data: Dataset, rows: np.ndarray) -> Dataset:
    inter = data.interactions
    rows = np.sort(rows)
    return Dataset(data.name, data.catalog, Interactions(users=inter.users[rows], items=inter.items[rows],
                                                         timestamps=inter.timestamps[rows], ratings=inter.ratings[rows]))


def _records(data: Dataset, rows: np.ndarray) -> list[dict]:
    inter, items = data.interactions, data.catalog.items
    return [{"user_id": str(inter.users[r]), "item_id": items[inter.items[r]].id, "timestamp": float(inter.timestamps[r])}
            for r in rows]


def _recommender(data: Dataset) -> tuple[Recommender, float]:
    t0 = time.perf_counter()
    rec = Recommender(data, mode="score", reasons="evidence")
    rec.ranker.evidence  # built, as a service's is after its first request
    return rec, time.perf_counter() - t0


class _TimedLock:
    """The Recommender's lock, timing how long it is held (requests being prepared wait that long)."""

    def __init__(self, lock):
        self.lock, self.held, self._since = lock, 0.0, 0.0

    def __enter__(self):
        self.lock.acquire()
        self._since = time.perf_counter()

    def __exit__(self, *exc):
        self.held += time.perf_counter() - self._since
        self.lock.release()


def cost(size: str) -> dict:
    data = _data(size)
    inter = data.interactions
    order = np.lexsort((np.arange(len(inter)), inter.timestamps))
    held = sum(b * REPEATS[b] for b in BATCHES) + 2 * DURING
    _, rebuild = _recommender(data)  # everything counted from scratch: a restart's cost
    rec, build = _recommender(_cut(data, order[:-held]))
    late = order[-held:]
    rows, at = [], 0
    lock = rec._counting = _TimedLock(rec._counting)  # how long shortlists wait: the lock's share of an add
    for batch in BATCHES:
        seconds, waits = [], []
        for _ in range(REPEATS[batch]):
            records = _records(data, late[at:at + batch])
            at += batch
            lock.held = 0.0
            t0 = time.perf_counter()
            rec.add_interactions(records)
            seconds.append(time.perf_counter() - t0)
            waits.append(lock.held)
        median = float(np.median(seconds))
        rows.append({"batch": batch, "repeats": REPEATS[batch], "median_s": median, "events_per_s": batch / median,
                     "lock_held_s": float(np.median(waits)), "share_of_rebuild": median / rebuild})
    during = _requests_during_adds(rec, [_records(data, late[at + i:at + i + 1]) for i in range(DURING)])
    at += DURING
    settled = _requests_during_adds(rec, [_records(data, late[at + i:at + i + 1]) for i in range(DURING)], settle=True)
    at += DURING
    n_items = len(data.catalog)
    users = rec.dataset.interactions.user_ids[:200]
    item_rows, made = [], 0
    for batch in ITEM_BATCHES:
        seconds, waits, after = [], [], []
        for _ in range(ITEM_REPEATS[batch]):
            new = []
            for k in range(made, made + batch):
                like = data.catalog.items[(k * 7919) % n_items]  # another item's text, under a new id and title
                new.append({"item_id": f"new-{k}", "title": f"{like.title} Redux {k}", **like.fields})
            made += batch
            lock.held = 0.0
            t0 = time.perf_counter()
            rec.add_items(new)
            seconds.append(time.perf_counter() - t0)
            waits.append(lock.held)
            t0 = time.perf_counter()  # the next request: does it read every item again (titles held twice)?
            rec.prepare_user(users[made % len(users)], n_history=5)
            after.append(time.perf_counter() - t0)
        median = float(np.median(seconds))
        item_rows.append({"batch": batch, "repeats": ITEM_REPEATS[batch], "median_s": median,
                          "lock_held_s": float(np.median(waits)), "share_of_rebuild": median / rebuild,
                          "next_request_s": after})
    return {"catalog": "ML-100K" if size == "ml-100k" else data.name, "items": n_items,
            "interactions": len(inter), "rebuild_s": rebuild, "build_without_held_out_s": build, "rows": rows,
            "added": at, "interactions_after": len(rec.dataset.interactions), "during": during,
            "during_settled": settled, "item_rows": item_rows,
            "items_added": made, "items_after": len(rec.dataset.catalog)}


def _requests_during_adds(rec: Recommender, batches: list[list[dict]], settle: bool = False) -> dict:
    """What a request waits while picks are added: one thread prepares known users' shortlists (with
    their evidence) back to back, timing each, while this one adds ``batches`` one after another;
    then the same thread alone for as long, the requests' time without adds. ``settle``: the objects
    held are left out of the garbage collector's passes first and after each add, as ``zsrec serve``
    does (``settle_objects``; undone at the end)."""
    users = rec.dataset.interactions.user_ids[:200]
    if settle:
        settle_objects()

    def serving(run) -> tuple[list[float], float]:
        stop, seconds = threading.Event(), []

        def serve() -> None:
            i = 0
            while not stop.is_set():
                t0 = time.perf_counter()
                rec.prepare_user(users[i % len(users)], n_history=5)
                seconds.append(time.perf_counter() - t0)
                i += 1
        thread = threading.Thread(target=serve)
        thread.start()
        t0 = time.perf_counter()
        run()
        spent = time.perf_counter() - t0
        stop.set()
        thread.join()
        return seconds, spent

    add_s: list[float] = []

    def adds() -> None:
        for records in batches:
            t0 = time.perf_counter()
            rec.add_interactions(records)
            if settle:
                settle_objects()
            add_s.append(time.perf_counter() - t0)
    beside, spent = serving(adds)
    alone, _ = serving(lambda: time.sleep(spent))
    if settle:
        gc.unfreeze()

    def summary(seconds: list[float]) -> dict:
        x = np.asarray(seconds) * 1e3
        return {"requests": len(x), "p50_ms": float(np.percentile(x, 50)), "p99_ms": float(np.percentile(x, 99)),
                "max_ms": float(x.max())}
    return {"adds": len(batches), "picks_each": len(batches[0]), "add_median_s": float(np.median(add_s)),
            "seconds": spent, "alone": summary(alone), "beside_adds": summary(beside)}


def parts(size: str) -> dict:
    """One new item's text index and title search: built over every item, and grown."""
    base = load_dataset("ml-100k")
    if size == "ml-100k":
        catalog, pop = base.catalog, base.interactions.item_counts(len(base.catalog)).astype(np.float64)
    else:
        from speed import synthetic_catalog

        catalog, pop = synthetic_catalog(base, int(size))
    like = catalog.items[len(catalog) // 2]
    new = [Item("new-0", f"{like.title} Redux", dict(like.fields))]
    grown_pop = np.concatenate([pop, np.zeros(1)])
    index = SparseBM25.build([tokenize(it.text(())) for it in catalog.items])
    matcher = TitleMatcher(catalog, pop)
    larger = catalog.with_items(new)

    def timed(make) -> tuple[float, object]:
        seconds, made = [], None
        for _ in range(PART_REPEATS):
            t0 = time.perf_counter()
            made = make()
            seconds.append(time.perf_counter() - t0)
        return float(np.median(seconds)), made

    text_whole, whole = timed(lambda: SparseBM25.build([tokenize(it.text(())) for it in larger.items]))
    text_grown, grown = timed(lambda: index.with_docs([tokenize(it.text(())) for it in new]))
    same_text = all(np.array_equal(getattr(whole.term_docs, a), getattr(grown.term_docs, a))
                    for a in ("data", "indices", "indptr")) and list(whole.vocabulary) == list(grown.vocabulary)
    titles_whole, m_whole = timed(lambda: TitleMatcher(larger, grown_pop))
    titles_grown, m_grown = timed(lambda: matcher.with_items(larger, grown_pop))
    same_titles = (m_whole._exact == m_grown._exact and m_whole._norm == m_grown._norm
                   and m_whole._norm_noyear == m_grown._norm_noyear and m_whole._choices == m_grown._choices
                   and np.array_equal(m_whole._posting, m_grown._posting))
    # one more pick of an item that shares its title's words with others: the popularity title search follows
    picked = pop.copy()
    picked[len(catalog) // 3] += 1
    moved_whole, m_moved_whole = timed(lambda: TitleMatcher(catalog, picked))
    moved, m_moved = timed(lambda: matcher.with_popularity(picked))
    same_moved = (m_moved_whole._exact == m_moved._exact and m_moved_whole._norm == m_moved._norm
                  and m_moved_whole._norm_noyear == m_moved._norm_noyear
                  and np.array_equal(m_moved_whole._order, m_moved._order)
                  and np.array_equal(m_moved_whole._posting, m_moved._posting))
    return {"catalog": "ML-100K" if size == "ml-100k" else f"synthetic {int(size):,}", "items": len(catalog),
            "postings": int(index.term_docs.nnz), "repeats": PART_REPEATS,
            "text_whole_s": text_whole, "text_grown_s": text_grown, "text_same": bool(same_text),
            "titles_whole_s": titles_whole, "titles_grown_s": titles_grown, "titles_same": bool(same_titles),
            "titles_new_popularity_whole_s": moved_whole, "titles_reordered_s": moved,
            "titles_reordered_same": bool(same_moved)}


def quality(toy: bool) -> dict:
    data = load_dataset("ml-100k")
    inter = data.interactions
    order = np.lexsort((np.arange(len(inter)), inter.timestamps))
    a, b = int(0.8 * len(order)), int(0.9 * len(order))
    stale, _ = _recommender(_cut(data, order[:a]))
    added, _ = _recommender(_cut(data, order[:a]))
    for start in range(a, b, 1_000):
        added.add_interactions(_records(data, order[start:min(b, start + 1_000)]))
    rebuilt, _ = _recommender(_cut(data, order[:b]))
    seen_before = _cut(data, order[:b]).interactions
    firsts: dict[str, int] = {}
    for r in order[b:]:
        firsts.setdefault(str(inter.users[r]), int(inter.items[r]))
    users = [u for u in sorted(firsts) if seen_before.has_user(u)]
    if toy:
        users = users[:20]
    hits = {"stale": [], "added": [], "rebuilt": []}
    same_list, shared = 0, []
    for u in users:
        picks = seen_before.user_history(u).tolist()
        history, exclude = picks[-5:], picks
        lists = {name: rec.generator.generate(history, exclude, 20).indices.tolist()
                 for name, rec in (("stale", stale), ("added", added), ("rebuilt", rebuilt))}
        for name, got in lists.items():
            hits[name].append(int(firsts[u] in got))
        same_list += lists["added"] == lists["rebuilt"]
        shared.append(len(set(lists["added"]) & set(lists["rebuilt"])))
    h = {k: np.asarray(v) for k, v in hits.items()}
    return {"users": len(users), "first_picks": int(a), "arrived": int(b - a),
            "recall_at_20": {k: float(v.mean()) for k, v in h.items()},
            "added_not_stale": int(((h["added"] == 1) & (h["stale"] == 0)).sum()),
            "stale_not_added": int(((h["stale"] == 1) & (h["added"] == 0)).sum()),
            "added_not_rebuilt": int(((h["added"] == 1) & (h["rebuilt"] == 0)).sum()),
            "rebuilt_not_added": int(((h["rebuilt"] == 1) & (h["added"] == 0)).sum()),
            "same_list": int(same_list), "mean_shared_items": float(np.mean(shared)) if shared else 0.0}


def markdown(out: dict) -> str:
    lines = ["# Adding new picks to a running Recommender", "",
             f"Command: `{out['command']}`  ", f"Machine: {machine_line(out['machine'])}", "",
             "Default settings (co-occurrence, first-picks index, session signal, similar sittings, evidence). Each "
             "batch is the next held-out picks in time order, added to the Recommender the previous batches grew; the "
             "median of its repeats; the picks are counted into copies of the indexes and put in place under the lock "
             "shortlists take: in brackets, how long it was held. Rebuild: a Recommender built from all the picks, every "
             "index and the evidence, in the same process.", "",
             "| catalog | items | interactions | rebuild s | " + " | ".join(f"add {b:,} s" for b in BATCHES)
             + " | 10,000 picks / s | add 10,000 / rebuild |",
             "|---|---:|---:|---:|" + "---:|" * len(BATCHES) + "---:|---:|"]
    for c in out["cost"]:
        by = {r["batch"]: r for r in c["rows"]}
        lines.append(f"| {c['catalog']} | {c['items']:,} | {c['interactions']:,} | {c['rebuild_s']:.2f} | "
                     + " | ".join(f"{by[b]['median_s']:.3f} ({by[b]['lock_held_s'] * 1e3:.1f} ms)" for b in BATCHES)
                     + f" | {by[10_000]['events_per_s']:,.0f} | {by[10_000]['share_of_rebuild']:.2f} |")
    lines += ["", f"Requests served while picks are added: one thread prepares known users' shortlists (with their "
              f"evidence) back to back while {out['cost'][0]['during']['adds']} adds of "
              f"{out['cost'][0]['during']['picks_each']} pick each are made one after another, then alone for as long "
              "(the request's time, ms). As built; then with the objects held left out of the garbage collector's "
              "passes first and after each add (`settle_objects`, as `zsrec serve` does: the add's time includes it):", "",
              "| catalog | add s (median) | requests alone | p50 | p99 | max | requests beside the adds | p50 | p99 | max |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in out["cost"]:
        for name, d in (("as built", c["during"]), ("objects settled", c["during_settled"])):
            a, b = d["alone"], d["beside_adds"]
            lines.append(f"| {c['catalog']}, {name} | {d['add_median_s']:.3f} | {a['requests']:,} | {a['p50_ms']:.1f} | "
                         f"{a['p99_ms']:.1f} | {a['max_ms']:.1f} | {b['requests']:,} | {b['p50_ms']:.1f} | "
                         f"{b['p99_ms']:.1f} | {b['max_ms']:.1f} |")
    lines += ["", "New items, put in the catalog after those picks (batches of each size in turn, the median of its "
              "repeats; the text index and title search are grown aside and put in place "
              "under the lock shortlists take: in brackets, how long it was held):", "",
              "| catalog | items before | " + " | ".join(f"add {b:,} item{'s' if b > 1 else ''} s" for b in ITEM_BATCHES)
              + " | add 1 item / rebuild |", "|---|---:|" + "---:|" * len(ITEM_BATCHES) + "---:|"]
    for c in out["cost"]:
        by = {r["batch"]: r for r in c["item_rows"]}
        lines.append(f"| {c['catalog']} | {c['items']:,} | "
                     + " | ".join(f"{by[b]['median_s']:.3f} ({by[b]['lock_held_s'] * 1e3:.1f} ms)" for b in ITEM_BATCHES)
                     + f" | {by[1]['share_of_rebuild']:.2f} |")
    lines += ["", "The request right after each item add (a known user's shortlist with its evidence, as above): "
              f"ms, the median and the slowest of the {sum(ITEM_REPEATS.values())} adds, beside the requests alone "
              "(p50, objects settled). A request that read every item again (titles held twice, made again "
              "after each add before) would show it here.", "",
              "| catalog | requests alone p50 | right after an item add: median | slowest |", "|---|---:|---:|---:|"]
    for c in out["cost"]:
        after = np.asarray([x for r in c["item_rows"] for x in r.get("next_request_s", [])]) * 1e3
        if len(after):
            lines.append(f"| {c['catalog']} | {c['during_settled']['alone']['p50_ms']:.1f} | "
                         f"{np.median(after):.1f} | {after.max():.1f} |")
    lines += ["", "The parts of one item's add that grow with the catalog, both ways in one process (the median of "
              f"{out['parts'][0]['repeats']}): built again over every item (before; still the first add after a saved "
              "index is loaded) and grown from the counts and names kept (now); each pair equal to the bit "
              "(compared).", "",
              "| catalog | items | text index: whole s | grown s | whole / grown | title search: whole s | grown s "
              "| whole / grown | equal |", "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for p in out["parts"]:
        lines.append(f"| {p['catalog']} | {p['items']:,} | {p['text_whole_s']:.3f} | {p['text_grown_s']:.3f} | "
                     f"{p['text_whole_s'] / p['text_grown_s']:.0f}x | {p['titles_whole_s']:.3f} | "
                     f"{p['titles_grown_s']:.3f} | {p['titles_whole_s'] / p['titles_grown_s']:.0f}x | "
                     f"{'yes' if p['text_same'] and p['titles_same'] else 'NO'} |")
    lines += ["", "Title search after one more pick (its popularity moved: which film an ambiguous title means and the "
              "search box's order follow it, as they do on each pick add): built again over every item, and "
              "reordered from what it keeps (`TitleMatcher.with_popularity`), the median of "
              f"{out['parts'][0]['repeats']}, compared to the bit.", "",
              "| catalog | items | built whole s | reordered s | whole / reordered | equal |", "|---|---:|---:|---:|---:|---|"]
    for p in out["parts"]:
        if "titles_reordered_s" in p:
            lines.append(f"| {p['catalog']} | {p['items']:,} | {p['titles_new_popularity_whole_s']:.3f} | "
                         f"{p['titles_reordered_s']:.4f} | {p['titles_new_popularity_whole_s'] / p['titles_reordered_s']:.0f}x | "
                         f"{'yes' if p['titles_reordered_same'] else 'NO'} |")
    q = out["quality"]
    r = q["recall_at_20"]
    lines += ["", f"Quality on ML-100K: {q['first_picks']:,} picks loaded, the next {q['arrived']:,} arriving; "
              f"{q['users']} users with a pick after both and one before.", "",
              "| shortlist | recall@20 |", "|---|---:|",
              f"| stale: loaded from the first 80%, never told of the rest | {r['stale']:.3f} |",
              f"| added: the next 10% added in batches of 1,000 | {r['added']:.3f} |",
              f"| rebuilt: loaded from the first 90% | {r['rebuilt']:.3f} |", "",
              f"Added against stale: {q['added_not_stale']} users hit only with the adds, {q['stale_not_added']} only "
              f"without. Added against rebuilt: {q['added_not_rebuilt']} hit only added, {q['rebuilt_not_added']} only "
              f"rebuilt; {q['same_list']} of {q['users']} lists identical, {q['mean_shared_items']:.1f} of 20 items "
              "shared on average."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="ml-100k,100000")
    ap.add_argument("--toy", action="store_true")
    ap.add_argument("--parts-sizes", default=PART_SIZES)
    ap.add_argument("--one", default="", help=argparse.SUPPRESS)
    ap.add_argument("--part", default="", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.one or args.part:
        print(json.dumps(cost(args.one) if args.one else parts(args.part)))
        return

    def each(flag: str, sizes: list[str]) -> list[dict]:  # each in its own process, so one size's memory does not slow the next
        got = []
        for size in sizes:
            proc = subprocess.run([sys.executable, __file__, flag, size], capture_output=True, text=True)
            if proc.returncode:
                sys.exit(proc.stderr)
            got.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        return got

    costs = each("--one", ["ml-100k"] if args.toy else args.sizes.split(","))
    part_rows = each("--part", ["ml-100k"] if args.toy else args.parts_sizes.split(","))
    out = {"command": "python benchmarks/add_interactions.py" + (" --toy" if args.toy else "")
           + (f" --sizes {args.sizes}" if args.sizes != "ml-100k,100000" and not args.toy else "")
           + (f" --parts-sizes {args.parts_sizes}" if args.parts_sizes != PART_SIZES and not args.toy else ""),
           "machine": machine(), "cost": costs, "parts": part_rows, "quality": quality(args.toy)}
    args.out.mkdir(parents=True, exist_ok=True)
    name = "add_interactions" + ("-toy" if args.toy else "") + (
        f"-{args.sizes.replace(',', '-')}" if args.sizes != "ml-100k,100000" and not args.toy else "")
    (args.out / f"{name}.json").write_text(json.dumps(out, indent=2) + "\n")
    (args.out / f"{name}.md").write_text(markdown(out))
    print(markdown(out))


if __name__ == "__main__":
    main()
