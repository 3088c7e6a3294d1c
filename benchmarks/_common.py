"""What every benchmark records beside its numbers: the machine it ran on."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
CHECKOUT = Path(__file__).resolve().parents[1]  # the zsrec a benchmark measures: the one beside it


def _names_a_checkout(python_path: str) -> bool:
    return any((Path(entry) / "zsrec" / "__init__.py").is_file() for entry in python_path.split(os.pathsep) if entry)


def measure_this_checkout() -> None:
    """Put this checkout's zsrec first, here and in every process a benchmark starts (``python -m
    zsrec``, a child run of the script): ``python benchmarks/x.py`` puts only ``benchmarks/`` on the
    path, so from another checkout (a ``git worktree`` of an older commit) it timed whichever zsrec pip
    had installed. A ``PYTHONPATH`` that already names a zsrec checkout is the caller's choice and is
    kept: the ``--before`` runs start their children that way."""
    if _names_a_checkout(os.environ.get("PYTHONPATH", "")):
        return
    sys.path.insert(0, str(CHECKOUT))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(CHECKOUT), os.environ.get("PYTHONPATH")) if p)


measure_this_checkout()  # on import: every benchmark imports this module before zsrec


def machine() -> dict[str, str]:
    import torch

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    out = {"cpu": cpu, "cores": str(os.cpu_count()), "python": platform.python_version(),
           "torch": torch.__version__, "torch_threads": str(torch.get_num_threads())}
    if torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
    return out


def machine_line(m: dict[str, str]) -> str:
    gpu = f", GPU {m['gpu']}" if m.get("gpu") else ""
    return (f"{m['cpu']}, {m['cores']} cores{gpu}, Python {m['python']}, torch {m['torch']} "
            f"({m['torch_threads']} threads)")


def memory_mb() -> dict[str, float]:
    """This process's resident set now (VmRSS) and at its peak (VmHWM), MB (Linux)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def reset_peak() -> bool:
    """Start this process's peak (VmHWM) again from its resident set now (Linux: /proc/self/clear_refs),
    so a later peak is a step's own, not the data's made before it; False where it cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return memory_mb()["VmHWM"] <= memory_mb()["VmRSS"] + 1


def in_child(script: str, *args: str, python_path: Path | None = None) -> dict:
    """What ``script`` prints last (one JSON line), run with ``args`` in a process of its own, so that
    its time and peak memory are its own; the benchmark stops with the child's error if it fails.
    ``python_path`` goes first on the child's path: another checkout's zsrec, measured beside."""
    env = None if python_path is None else {**os.environ, "PYTHONPATH": str(python_path.resolve())}
    out = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, cwd=Path(script).parent,
                         env=env)
    if out.returncode:
        sys.exit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def commit_of(tree: Path) -> str:
    """The short commit a checkout (``--before``'s) holds, for a report that measures it beside."""
    return subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()


def load_arguments(name: str, sizes: str, what: str, *more: tuple[tuple, dict]) -> argparse.Namespace:
    """What the load benchmarks (load_own_logs, load_catalog) take: ``--sizes``, ``--toy``, ``--out``,
    ``--name`` and the hidden ``--load``, the four words a child process is given; ``more`` adds
    (args, kwargs) of an argument of the script's own."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default=sizes, help=what)
    for args, kwargs in more:
        ap.add_argument(*args, **kwargs)
    ap.add_argument("--toy", action="store_true")
    ap.add_argument("--load", nargs=4, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--name", default=name)
    return ap.parse_args()
