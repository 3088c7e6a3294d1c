"""How long the per-user lookup takes to make (each user's picks, in time order), for logs kept in
the orders real logs come in: what a service's first request for a known user waits for, and every
`zsrec rank --user` (with `--index`, the most of its first request at 1M items; `start_up.py`).

The lookup (`zsrec.data._rows_by_user`) is timed against the way it was made before (kept below as
`_previous`: two passes of a dict over every pick's id, then every pick sorted by time and by user),
each in a fresh process, taking turns, on the same log: the 1M-item synthetic log of `start_up.py`
and `add_interactions.py` (10M picks, about 250k users, each user's picks in turn), put in each
order below. Both must give the same groups (a hash of every user's rows, compared). Memory: the
peak resident set during the call, over the set before it, in MB.

    python benchmarks/user_lookup.py            # 10M picks, 6 orders, 2 runs each way (about 5 min)
    python benchmarks/user_lookup.py --toy      # ML-100K, seconds; what CI runs to keep it working

Writes benchmarks/results/user_lookup.{json,md} (--toy: user_lookup-toy.*).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import RESULTS, machine, machine_line, memory_mb, reset_peak


ORDERS = {
    "by user, each in time order": "a file written user by user (an export, RecBole's atomic files)",
    "in time order": "a log appended as picks come",
    "in time order, 1 pick in 1,000 logged late": "each such pick written 100,000 rows after its time",
    "two servers' logs, one after the other": "each pick on one of two servers at random, each log in time order",
    "by user and item": "MovieLens 1M-25M's ratings files",
    "in no order": "ML-100K's u.data",
}


def _previous(users: np.ndarray, timestamps: np.ndarray) -> dict[str, np.ndarray]:
    """The lookup as it was made before this benchmark's change (a1fc60e's ``_rows_by_user``, string
    ids): every id once, sorted, then each pick's place in a second pass, every pick sorted by time,
    then by that place."""
    n = len(users)
    if not n:
        return {}
    ids = list(dict.fromkeys(users.tolist()))
    ids.sort()
    place = dict(zip(ids, range(len(ids))))
    user_place = np.fromiter(map(place.__getitem__, users), dtype=np.int64, count=n)
    sizes = np.bincount(user_place, minlength=len(ids))
    in_time = np.argsort(timestamps, kind="stable")
    key = user_place[in_time]
    del user_place
    key <<= 34
    key |= np.arange(n)
    key.sort()
    key &= (1 << 34) - 1
    return dict(zip(ids, np.split(in_time[key], np.cumsum(sizes)[:-1])))


def _write_log(toy: bool, path: Path) -> dict:
    """The log as each pick's user code, item and time, saved for the child processes."""
    from zsrec.loaders import load_dataset

    if toy:
        inter = load_dataset("ml-100k").interactions
        ids = {}
        codes = np.fromiter((ids.setdefault(u, len(ids)) for u in inter.users.tolist()), np.int64, len(inter))
        names, items, stamps = list(ids), inter.items, inter.timestamps
    else:
        from cooccurrence_scale import INTERACTIONS_PER_ITEM, synthetic_log, synthetic_times

        sequences = synthetic_log(1_000_000, 1_000_000 * INTERACTIONS_PER_ITEM)
        stamps = np.concatenate(synthetic_times(sequences))
        codes = np.repeat(np.arange(len(sequences)), [len(s) for s in sequences])
        items, names = np.concatenate(sequences), [f"u{i}" for i in range(len(sequences))]
    np.savez(path, codes=codes, items=items, stamps=stamps, names=np.array(names, dtype=str))
    return {"picks": int(len(codes)), "users": len(names)}


def _in_order(order: str, codes: np.ndarray, items: np.ndarray, stamps: np.ndarray) -> np.ndarray:
    """The rows of the log, by user then time as written, put in ``order``."""
    rng = np.random.default_rng(0)
    n = len(codes)
    by_time = np.argsort(stamps, kind="stable")
    if order == "by user, each in time order":
        return np.lexsort((stamps, codes))
    if order == "in time order":
        return by_time
    if order == "in time order, 1 pick in 1,000 logged late":
        place = np.arange(n, dtype=np.float64)
        late = rng.random(n) < 0.001
        place[late] += min(100_000, n // 10) + 0.5
        return by_time[np.argsort(place, kind="stable")]
    if order == "two servers' logs, one after the other":
        server = rng.random(n) < 0.5
        return np.concatenate([by_time[server[by_time]], by_time[~server[by_time]]])
    if order == "by user and item":
        return np.lexsort((items, codes))
    if order == "in no order":
        return rng.permutation(n)
    raise ValueError(order)


def child(log: Path, order: str, way: str) -> dict:
    """One process: the log in ``order`` as a loader gives it (one string per user, shared by their
    picks), then one lookup made ``way``."""
    from zsrec.data import _rows_by_user

    saved = np.load(log)
    codes, stamps = saved["codes"], saved["stamps"]
    rows = _in_order(order, codes, saved["items"], stamps)
    pool = np.empty(len(saved["names"]), dtype=object)
    pool[:] = saved["names"].tolist()
    users, times = pool[codes[rows]], stamps[rows]
    del rows, codes, stamps, saved
    make = _rows_by_user if way == "this code" else _previous
    base = memory_mb()["VmRSS"]
    reset_peak()  # making the log's order peaks higher than some lookups do
    t0 = time.perf_counter()
    groups = make(users, times)
    seconds = time.perf_counter() - t0
    digest = hashlib.sha256()
    for user, mine in groups.items():
        digest.update(user.encode())
        digest.update(mine.tobytes())
    return {"seconds": seconds, "added_peak_mb": max(0.0, memory_mb()["VmHWM"] - base), "groups": digest.hexdigest()[:16]}


def _seconds(s: float) -> str:
    return f"{s:.3f}" if s < 1 else f"{s:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toy", action="store_true", help="ML-100K, one run each way")
    parser.add_argument("--runs", type=int, default=2, help="runs of each way per order, taking turns")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", nargs=3, metavar=("LOG", "ORDER", "WAY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child[0]), args.child[1], args.child[2])))
        return
    runs = 1 if args.toy else args.runs
    name = "user_lookup-toy" if args.toy else "user_lookup"
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "log.npz"
        size = _write_log(args.toy, log)
        rows = []
        for order in ORDERS:
            times: dict[str, list[dict]] = {"this code": [], "before": []}
            for _ in range(runs):
                for way in times:
                    out = subprocess.run([sys.executable, __file__, "--child", str(log), order, way],
                                         check=True, capture_output=True, text=True).stdout
                    times[way].append(json.loads(out.strip().splitlines()[-1]))
            digests = {r["groups"] for runs_ in times.values() for r in runs_}
            rows.append({"order": order, "like": ORDERS[order], "same_groups": len(digests) == 1,
                         **{way: {"seconds": [round(r["seconds"], 3) for r in rs],
                                  "added_peak_mb": [round(r["added_peak_mb"]) for r in rs]} for way, rs in times.items()}})
            print(order, rows[-1], flush=True)
    command = "python benchmarks/user_lookup.py" + (" --toy" if args.toy else "")
    m = machine()
    result = {"command": command, "machine": m, "log": size, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=1))
    lines = [
        "# The per-user lookup: each user's picks in time order, by the order the log is in", "",
        f"Command: `{command}`  ",
        f"Machine: {machine_line(m)}  ",
        f"Log: {size['picks']:,} picks by {size['users']:,} users"
        + (" (ML-100K)" if args.toy else " (the 1M-item synthetic log)")
        + f". Each way in a fresh process, {runs} run(s) each, taking turns. Memory: the peak resident set during the call, over the set before it.", "",
        "| the log's order | like | this code s | before s | before / this code | this code MB | before MB | same groups |",
        "|---|---|---|---|---:|---|---|---|",
    ]
    for row in rows:
        new, old = row["this code"], row["before"]
        ratio = (sum(old["seconds"]) / len(old["seconds"])) / max(1e-9, sum(new["seconds"]) / len(new["seconds"]))
        lines.append(f"| {row['order']} | {row['like']} | {', '.join(_seconds(s) for s in new['seconds'])} | "
                     f"{', '.join(_seconds(s) for s in old['seconds'])} | {ratio:.2f} | "
                     f"{', '.join(str(x) for x in new['added_peak_mb'])} | {', '.join(str(x) for x in old['added_peak_mb'])} | "
                     f"{'yes' if row['same_groups'] else 'NO'} |")
    (args.out / f"{name}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
