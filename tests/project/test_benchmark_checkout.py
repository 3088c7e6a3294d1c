"""A benchmark measures the zsrec of the checkout it sits in, in its own process and in every process it
starts: ``python benchmarks/x.py`` puts only ``benchmarks/`` on the path, so a worktree of an older
commit used to time whichever zsrec pip had installed (``benchmarks/_common.py`` fixes that, once)."""

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"

PROBE = """
import subprocess, sys
from _common import CHECKOUT
import zsrec
child = subprocess.run([sys.executable, "-c", "import zsrec; print(zsrec.__file__)"], capture_output=True, text=True)
print(zsrec.__file__)
print(child.stdout.strip())
"""


def _copy(where: Path) -> Path:
    for part in ("zsrec", "benchmarks"):
        shutil.copytree(BENCH.parent / part, where / part, ignore=shutil.ignore_patterns("results", "__pycache__"))
    (where / "benchmarks" / "probe.py").write_text(PROBE)
    return where


def _zsrec_files(checkout: Path, python_path: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if python_path is not None:
        env["PYTHONPATH"] = python_path
    out = subprocess.run([sys.executable, "probe.py"], cwd=checkout / "benchmarks", env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.split()


def test_a_benchmark_and_its_children_import_their_own_checkout(tmp_path):
    this = _copy(tmp_path / "this")
    own = str(this.resolve() / "zsrec" / "__init__.py")
    assert _zsrec_files(this, None) == [own, own]  # not the zsrec pip installed (the repository's)
    assert _zsrec_files(this, "/nowhere/else") == [own, own]  # a PYTHONPATH naming no zsrec changes nothing
    # a PYTHONPATH naming another checkout is the caller's choice (the --before runs): it is kept
    before = _copy(tmp_path / "before")
    theirs = str(before.resolve() / "zsrec" / "__init__.py")
    assert _zsrec_files(this, str(before)) == [theirs, theirs]


def test_every_benchmark_imports_the_rule_before_zsrec():
    """One rule in one place: each script imports ``_common`` before its first zsrec import, and none
    puts a checkout on the path itself."""
    for script in sorted(BENCH.glob("*.py")):
        if script.name == "_common.py":
            continue
        tree = ast.parse(script.read_text(encoding="utf-8"))
        order = []
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module:
                order.append(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                order += [a.name.split(".")[0] for a in node.names]
        assert "_common" in order, script.name
        assert "zsrec" not in order[: order.index("_common")], script.name
        assert "sys.path.insert" not in script.read_text(encoding="utf-8"), script.name
