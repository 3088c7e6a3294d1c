"""The wheel a user installs: built from this checkout, installed alone in a fresh virtual environment,
it lists and renders its own templates (not the repository's ``prompts/`` folder)."""

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(args, **kw):
    out = subprocess.run(args, capture_output=True, text=True, **kw)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A venv holding only the built zsrec wheel; the other dependencies are reached through a path
    file pointing at this environment's site-packages (whose own path files, such as the editable
    install of this checkout, are not processed there)."""
    tmp = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp / "dist"),
          str(ROOT)])
    wheel = next((tmp / "dist").glob("zsrec-*.whl"))
    env = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)])
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
    (site / "zz_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env, tmp


def test_the_installed_wheel_lists_and_renders_its_templates(installed):
    env, cwd = installed
    listed = _run([str(env / "bin" / "zsrec"), "templates"], cwd=cwd).splitlines()
    names = [line.split("\t")[0] for line in listed]
    assert {"listwise", "recency"} <= set(names)
    assert all(str(env) in line.split("\t")[1] for line in listed)  # inside the installed package
    script = (
        "import zsrec, zsrec.prompts as p\n"
        "from zsrec.data import Item\n"
        "h = [Item('1', 'Heat (1995)', {'genres': 'Action'})]\n"
        "c = [Item(str(i), f'Film {i} (1990)') for i in range(2, 6)]\n"
        "for name in p.available_templates():\n"
        "    for mode in ('generate', 'score'):\n"
        "        text = p.PromptTemplate(name).render(h, c, 3, 'movie', mode=mode)\n"
        "        assert 'Heat (1995)' in text and 'Film 5 (1990)' in text, (name, mode)\n"
        "from importlib import resources\n"
        "assert '__NEEDS_KEY__' in resources.files('zsrec.serving').joinpath('page.html').read_text()\n"
        "print(zsrec.__file__)\n")
    where = _run([str(env / "bin" / "python"), "-c", script], cwd=cwd).strip()
    assert where.startswith(str(env)) and str(ROOT) not in where
