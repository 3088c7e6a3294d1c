"""From a GroupLens download to the first shortlist: how long, and how much memory, as the data grows.

A user who picks `--dataset ml-25m` (or unzips it for `--data-path`) waits for two things before the
first ranking: the files read into a ``Dataset``, and the shortlist's indexes (BM25 over the titles,
co-occurrence, the session signal, similar sittings) built from it. Both are measured here on
synthetic folders in GroupLens' current layout (``movies.csv`` + ``ratings.csv``, headers, quoted titles),
at the sizes of ml-latest-small (100k ratings), ml-1m (1M) and ml-10m (10M) by default; ml-25m is
``--sizes 25000000``. Users and movies grow with the ratings as in GroupLens' sets (about 150 ratings a
user; popularity power-law). Each size runs in its own process, so peak memory is that size's alone.
The load is timed again with the bulk read of the ratings off (row by row, as every file was read
before zsrec/bulk_ratings.py), in another process, and both must read the same columns.

Then, at each size, what a user types: ``zsrec rank --data-path FOLDER --user U --index FILE`` twice,
timed whole (Python's start, reading the files, the indexes, the embedded model's load and the
ranking). The first builds the indexes and writes FILE; the next must read them from it (FILE is
not written again) and print the same recommendations.

Writes benchmarks/results/NAME.{json,md} (NAME: load_data).

    python benchmarks/load_data.py           # 100k, 1M and 10M ratings (about 5 minutes on 2 cores)
    python benchmarks/load_data.py --toy     # seconds; what CI runs to keep this script working
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, in_child, machine, machine_line, memory_mb  # (this checkout's zsrec, here and in the commands)

RATINGS_PER_USER = 150
WORDS = ("Night", "Love", "Story", "Man", "City", "Last", "Dark", "Blue", "King", "Girl", "War", "Summer",
         "House", "Dead", "Time", "Lost", "Road", "Star", "Fire", "Heart", "Ghost", "Money", "Island")
GENRES = ("Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
          "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War")


def movies_for(n_ratings: int) -> int:
    """Movies for a set of this many ratings, shaped like GroupLens' own: ml-latest-small has 9.7k
    movies for 100k ratings, ml-25m 62k for 25M."""
    return max(200, int(30 * n_ratings ** 0.5))


def write_folder(folder: Path, n_ratings: int, seed: int = 0) -> dict:
    """movies.csv and ratings.csv as GroupLens writes them: quoted titles with commas, a year in each
    title, genres joined by |, a few films with '(no genres listed)', ratings in half stars."""
    rng = np.random.default_rng(seed)
    n_movies = movies_for(n_ratings)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "movies.csv", "w", encoding="utf-8") as f:
        f.write("movieId,title,genres\n")
        for m in range(1, n_movies + 1):
            words = " ".join(WORDS[int(w)] for w in rng.integers(0, len(WORDS), 1 + m % 3))
            title = f"{words}, The ({1930 + m % 90})" if m % 4 == 0 else f"{words} {m} ({1930 + m % 90})"
            title = f'"{title}"' if "," in title else title
            picked = rng.choice(len(GENRES), 1 + m % 3, replace=False)
            genres = "(no genres listed)" if m % 50 == 0 else "|".join(GENRES[int(g)] for g in picked)
            f.write(f"{m},{title},{genres}\n")
    # each user's picks in time order; a power law over movies (Zipf-like popularity)
    p = 1.0 / np.arange(1, n_movies + 1) ** 0.9
    p /= p.sum()
    chunk = 1_000_000
    with open(folder / "ratings.csv", "w", encoding="utf-8") as f:
        f.write("userId,movieId,rating,timestamp\n")
        for start in range(0, n_ratings, chunk):
            n = min(chunk, n_ratings - start)
            rows = np.arange(start, start + n)
            users = rows // RATINGS_PER_USER + 1
            movies = rng.choice(n_movies, n, p=p) + 1
            stars = rng.integers(1, 11, n) / 2
            times = 9e8 + users * 1e5 + (rows % RATINGS_PER_USER) * rng.exponential(600.0, n).round()
            f.write("".join(f"{u},{m},{s:.1f},{int(t)}\n" for u, m, s, t in zip(users, movies, stars, times)))
    return {"movies": n_movies, "users": -(-n_ratings // RATINGS_PER_USER),
            "ratings_file_mb": (folder / "ratings.csv").stat().st_size / 2**20}


def peak_mb() -> float:
    """This process's peak resident set (VmHWM): ``ru_maxrss`` would keep the parent's, inherited across
    fork and exec, and at small sizes report that in place of this load's."""
    return memory_mb()["VmHWM"]


def rss_mb() -> float:
    """Resident memory now (the peak cannot say what a loaded dataset holds once imports peaked higher),
    once the heap's freed memory is handed back (glibc's malloc_trim): what is held, not the freed
    temporaries of a read that the heap has kept for its next use."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20


def digest(ds) -> str:
    """Every column of the loaded ratings: who, what, when (the saved indexes' fingerprint) and the rating."""
    return hashlib.sha256(ds.interactions.fingerprint().encode() + ds.interactions.ratings.tobytes()).hexdigest()[:16]


def row_by_row(folder: Path) -> dict:
    """The load with the bulk read of the ratings off, as zsrec read every file before: how much the
    bulk read saves, in the same run, and that it reads the same columns."""
    from zsrec import bulk_ratings
    from zsrec.loaders import load_directory

    bulk_ratings.read_ratings = lambda *args, **kwargs: None
    t0 = time.perf_counter()
    ds = load_directory(folder)
    return {"load_rows_s": time.perf_counter() - t0, "load_rows_peak_mb": peak_mb(), "load_rows_digest": digest(ds)}


def one(folder: Path) -> dict:
    """Load the folder and make one user's shortlist, in this process, as `zsrec rank` does."""
    from zsrec.candidates import CandidateConfig, CandidateGenerator
    from zsrec.loaders import load_directory

    base = rss_mb()
    t0 = time.perf_counter()
    ds = load_directory(folder)
    load_s = time.perf_counter() - t0
    held, load_peak = rss_mb() - base, peak_mb()
    loaded = digest(ds)
    t0 = time.perf_counter()
    gen = CandidateGenerator(ds.catalog, ds.interactions, CandidateConfig())
    users = ds.interactions.user_ids
    history = ds.interactions.user_history(users[len(users) // 2])[:5].tolist()
    gen.generate(history, history)  # the first shortlist builds whatever is built lazily
    first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for u in users[:50]:
        h = ds.interactions.user_history(u)[:5].tolist()
        gen.generate(h, h)
    import zsrec

    return {"zsrec_from": str(Path(zsrec.__file__).resolve().parents[1]),
            "ratings": len(ds.interactions), "movies_loaded": len(ds.catalog), "users_loaded": len(users),
            "load_s": load_s, "load_digest": loaded, "load_peak_mb": load_peak, "imports_mb": base, "dataset_mb": held,
            "bytes_per_rating": held * 2**20 / len(ds.interactions),
            "indexes_s": first_s, "peak_mb": peak_mb(), "shortlist_ms": (time.perf_counter() - t0) / 50 * 1000}


def rank_twice(folder: Path, user: str) -> dict:
    """``zsrec rank --index`` run twice on the folder as a user runs it (score mode, reasons from the
    data): wall-clock seconds of each whole command, the index file's size, and whether the two
    printed the same recommendations."""
    index = folder / "zsrec-index.npz"
    cmd = [sys.executable, "-m", "zsrec", "rank", "--data-path", str(folder), "--user", user,
           "--index", str(index), "--mode", "score", "--reasons", "evidence", "--format", "json"]
    runs, written = [], []
    for _ in range(2):
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=folder,
                             env=os.environ)
        if out.returncode:
            sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
        runs.append((time.perf_counter() - t0, json.loads(out.stdout)))
        written.append(index.stat().st_mtime_ns)
    (first_s, first), (next_s, again) = runs
    picks = [[r["item_id"] for r in res["items"]] for res in (first, again)]
    timed = again["info"]["timings"]  # the command's own: the model's load, and the ranking after it
    return {"rank_first_s": first_s, "rank_next_s": next_s, "index_file_mb": index.stat().st_size / 2**20,
            "rank_same": picks[0] == picks[1] and len(picks[0]) > 0,
            "rank_next_read_file": written[1] == written[0],  # not built and written again
            "rank_next_model_load_s": timed["model_load"], "rank_next_ranking_s": timed["total"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000,10000000", help="ratings per synthetic set")
    ap.add_argument("--toy", action="store_true")
    ap.add_argument("--one", default="", help=argparse.SUPPRESS)
    ap.add_argument("--row-by-row", default="", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--name", default="load_data")
    args = ap.parse_args()
    if args.one or args.row_by_row:
        print(json.dumps(one(Path(args.one)) if args.one else row_by_row(Path(args.row_by_row))))
        return
    sizes = [3000, 30000] if args.toy else [int(s) for s in args.sizes.split(",")]
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as d:
            folder = Path(d) / f"synthetic-{n}"
            t0 = time.perf_counter()
            shape = write_folder(folder, n)
            write_s = time.perf_counter() - t0
            row = {"size": n, **shape, "write_s": write_s}
            for flag in ("--one", "--row-by-row"):  # each in its own process: its own peak memory
                row.update(in_child(__file__, flag, str(folder)))
            row["load_same"] = row["load_digest"] == row["load_rows_digest"]
            if not args.toy or n == sizes[0]:  # the toy run checks the commands once (each loads the model)
                row.update(rank_twice(folder, str(shape["users"] // 2 + 1)))
        rows.append(row)
        print(json.dumps(row), flush=True)
    m = machine()
    cmd = "python benchmarks/load_data.py " + " ".join(sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps({"command": cmd.strip(), "machine": m, "rows": rows},
                                                           indent=1))
    lines = ["# From a GroupLens download to the first shortlist", "", f"Command: `{cmd.strip()}`  ",
             f"Machine: {machine_line(m)}  ",
             "Synthetic folders in GroupLens' current layout (movies.csv + ratings.csv; ~150 ratings a user, "
             "power-law popularity), each size in its own process. Load: `load_directory` (files to a Dataset); row by row: "
             "the same with the bulk read of the ratings off (how every file was read before), in a process of its own, "
             "and whether both read the same columns (a digest of users, items, times and ratings). "
             "Indexes: the default shortlist's (BM25, co-occurrence, first-picks, session signal, similar sittings) "
             "built for the first user's shortlist. Dataset MB: resident memory after loading less before it, freed heap handed back first (what "
             "the loaded data holds); bytes a rating: that over the ratings; peak RSS: the process's, at the end. Shortlist: one user (5 picks) after that, mean of 50. "
             "`zsrec rank --index`: `zsrec rank --data-path FOLDER --user U --index FILE --mode score --reasons evidence`, "
             "each whole command timed (start, files, indexes, the embedded model's load, the ranking), the first "
             "building and writing FILE, the next reading it; in brackets, the next one's model load and ranking (its own "
             "timings); same: both printed the same recommendations, and the next did not write FILE again.", "",
             "| ratings | movies | users | ratings.csv MB | load s | row by row s (same) | peak RSS MB after loading, row by row | "
             "dataset MB | bytes a rating | indexes s | peak RSS MB | shortlist ms | `zsrec rank --index` first / next s (next: model load, ranking) | index file MB | same |",
             "|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|"]
    for r in rows:
        lines.append(f"| {r['ratings']:,} | {r['movies_loaded']:,} | {r['users_loaded']:,} | "
                     f"{r['ratings_file_mb']:.0f} | {r['load_s']:.1f} | {r['load_rows_s']:.1f} "
                     f"({'yes' if r['load_same'] else 'NO'}) | {r['load_peak_mb']:.0f}, {r['load_rows_peak_mb']:.0f} | "
                     f"{r['dataset_mb']:.0f} | {r['bytes_per_rating']:.0f} | "
                     f"{r['indexes_s']:.1f} | {r['peak_mb']:.0f} | {r['shortlist_ms']:.1f} | " +
                     (f"{r['rank_first_s']:.1f} / {r['rank_next_s']:.1f} ({r['rank_next_model_load_s']:.1f}, "
                      f"{r['rank_next_ranking_s']:.1f}) | {r['index_file_mb']:.0f} | "
                      f"{'yes' if r['rank_same'] and r['rank_next_read_file'] else 'NO'} |" if "rank_same" in r
                      else "not run | | |"))
    (args.out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
