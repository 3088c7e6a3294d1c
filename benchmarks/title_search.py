"""The search box of `zsrec serve` (GET /v1/items): how long one keystroke takes as the catalog grows.

The web page asks for matching titles as the user types, so every keystroke is one search. Until this
benchmark's change the search looked at every title in the catalog for each keystroke; now a sorted
index of title words gives the titles of a typed prefix as one slice. Both are measured side by side
in one run: ``scan`` is the old rule (every title, most picked first, kept when each typed word starts
one of its words), ``index`` is ``TitleMatcher.search``; they must return the same titles. A typo (no
title word starts with it) falls back to fuzzy matching among the most picked titles
(``FUZZY_SEARCH_TITLES``), and so do the closest titles an error suggests; both are timed, the
suggestions beside the old way (every title scored).

Catalogs are synthetic: titles of 1-5 words drawn from a Zipf-shaped vocabulary plus a year, and
power-law popularity. Keystrokes are every prefix of titles drawn by popularity (what people type).

Writes benchmarks/results/NAME.{json,md} (NAME: title_search).

    python benchmarks/title_search.py            # 10k, 100k and 1M titles (about 4 minutes on 2 cores)
    python benchmarks/title_search.py --toy      # seconds; what CI runs to keep this script working
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, machine, machine_line

from zsrec.data import Catalog, Item
from rapidfuzz import fuzz, process

from zsrec.titles import FUZZY_SEARCH_TITLES, TitleMatcher, _fuzzy_key, normalize_title


def catalog(n: int, seed: int = 0) -> tuple[Catalog, np.ndarray]:
    rng = np.random.default_rng(seed)
    vocab = np.array([f"{a}{b}" for a in ("star", "love", "night", "dark", "city", "man", "blue", "war", "king",
                                          "girl", "road", "time", "fire", "ghost", "island", "summer", "house")
                      for b in ("", "s", "er", "ing", "land", "ville", "berg", "wood", "ton", "more")]
                     + [f"w{i}" for i in range(max(100, n // 5))])
    weights = 1.0 / np.arange(1, len(vocab) + 1) ** 0.9  # Zipf: a few words in many titles
    weights /= weights.sum()
    lengths = rng.integers(1, 6, n)
    words = rng.choice(len(vocab), size=int(lengths.sum()), p=weights)
    years = rng.integers(1930, 2025, n)
    items, start = [], 0
    for i, k in enumerate(lengths):
        items.append(Item(str(i), " ".join(vocab[words[start:start + k]]).title() + f" ({years[i]})"))
        start += k
    return Catalog(items), rng.pareto(1.2, n)


def scan_search(by_popularity: list[int], words_by_row: list[list[str]], query: str, limit: int) -> list[int]:
    """The rule the index replaced: every title in popularity order (``by_popularity``: the rows, most
    picked first), kept when each typed word starts one of its words."""
    typed = normalize_title(query, keep_year=True).split()
    if not typed:
        return []
    hits = []
    for i in by_popularity:
        if all(any(w.startswith(q) for w in words_by_row[i]) for q in typed):
            hits.append(i)
            if len(hits) == limit:
                break
    return hits


def keystrokes(cat: Catalog, popularity: np.ndarray, n_titles: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(cat), size=n_titles, p=popularity / popularity.sum())
    out = []
    for i in chosen:
        typed = cat.items[int(i)].title.rsplit(" (", 1)[0].lower()
        out.extend(typed[:k] for k in range(1, len(typed) + 1) if not typed[k - 1].isspace())
    return out


def percentiles(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "mean_ms": round(float(np.mean(ms)), 3)}


def timed(fn, queries: list[str]) -> tuple[list[float], list]:
    ms, results = [], []
    for q in queries:
        t = time.perf_counter()
        results.append(fn(q))
        ms.append((time.perf_counter() - t) * 1000)
    return ms, results


def run(n: int, n_titles: int, scan_keystrokes: int, seed: int) -> dict:
    cat, popularity = catalog(n, seed)
    t = time.perf_counter()
    matcher = TitleMatcher(cat, popularity)
    build = time.perf_counter() - t
    words_by_row = [normalize_title(item.title).split() for item in cat.items]
    typed = keystrokes(cat, popularity, n_titles, seed + 1)
    index_ms, index_hits = timed(lambda q: matcher.search(q, 10), typed)
    sample = typed[:: max(1, len(typed) // scan_keystrokes)][:scan_keystrokes]
    by_popularity = matcher._order.tolist()
    scan_ms, scan_hits = timed(lambda q: scan_search(by_popularity, words_by_row, q, 10), sample)
    again = [matcher.search(q, 10) for q in sample]
    typos = [f"{q}qx" for q in typed[:: max(1, len(typed) // 20)][:20]]  # no title word starts with these
    typo_ms, _ = timed(lambda q: matcher.search(q, 10), typos)
    suggest_ms, _ = timed(matcher.suggestions, typos)
    every_title_ms, _ = timed(lambda q: process.extract(_fuzzy_key(q, False), matcher._choices_noyear,
                                                         scorer=fuzz.WRatio, limit=9),
                              typos[:5])  # the old suggestions: every title scored
    return {"titles": n, "build_s": round(build, 2), "keystrokes": len(typed), "scanned_keystrokes": len(sample),
            "same_titles": sum(a == b for a, b in zip(again, scan_hits)),
            "index": percentiles(index_ms), "scan": percentiles(scan_ms), "typo": percentiles(typo_ms),
            "suggestions": percentiles(suggest_ms), "suggestions_every_title": percentiles(every_title_ms),
            "speedup_p50": round(float(np.percentile(scan_ms, 50) / max(np.percentile(index_ms, 50), 1e-6)), 1),
            "found_any": sum(bool(h) for h in index_hits)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--titles", type=int, default=100, help="titles typed, each one keystroke a character")
    ap.add_argument("--scan-keystrokes", type=int, default=60, help="keystrokes timed with the old scan")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--toy", action="store_true", help="seconds: 2,000 titles, 10 typed")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--name", default="title_search")
    args = ap.parse_args()
    if args.toy:
        args.sizes, args.titles, args.scan_keystrokes = "2000", 10, 20
    cmd = "python benchmarks/title_search.py " + " ".join(sys.argv[1:])
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        rows.append(run(n, args.titles, args.scan_keystrokes, args.seed))
        print(json.dumps(rows[-1]), flush=True)
    m = machine()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps({"command": cmd.strip(), "machine": m, "rows": rows},
                                                          indent=2) + "\n")
    lines = [
        "# The search box: one keystroke's search as the catalog grows", "",
        f"Command: `{cmd.strip()}`  ",
        f"Machine: {machine_line(m)}", "",
        "Each keystroke of titles typed as people would (drawn by popularity, every prefix) is one "
        "`TitleMatcher.search(q, 10)`. `scan`: the old rule, titles looked at one by one per keystroke, most "
        "picked first, stopping at the 10th hit (the old code looked at every title every time; timed on "
        "an even sample of the keystrokes, its results compared with the index's); `index`: the sorted "
        f"title words. A typo falls back to fuzzy matching among the {FUZZY_SEARCH_TITLES:,} most picked titles; "
        "so do the closest titles an error suggests for an unknown title (`suggestions`), timed beside the old "
        "way, every title scored (5 typos).",
        "",
        "| titles | build (s) | keystrokes | index p50 / p99 (ms) | scan p50 / p99 (ms) | scan / index (p50) "
        "| same titles | typo p50 / p99 (ms) | suggestions p50 (ms) | every title p50 (ms) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['titles']:,} | {r['build_s']} | {r['keystrokes']} | {r['index']['p50_ms']} / "
                     f"{r['index']['p99_ms']} | {r['scan']['p50_ms']} / {r['scan']['p99_ms']} | "
                     f"{r['speedup_p50']}x | {r['same_titles']} of {r['scanned_keystrokes']} | "
                     f"{r['typo']['p50_ms']} / {r['typo']['p99_ms']} | {r['suggestions']['p50_ms']} | "
                     f"{r['suggestions_every_title']['p50_ms']} |")
    (args.out / f"{args.name}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
