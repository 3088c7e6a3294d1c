"""Runs a benchmark script as a user would (its own process, from benchmarks/), writing under a test's
folder; shared by the benchmark test files."""

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def run_benchmark(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, *args, "--out", str(tmp_path)], cwd=BENCH, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc
