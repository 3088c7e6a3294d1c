"""User-supplied templates run in Jinja's sandbox, with undefined variables as errors. A
template that reaches for Python internals, files or typos fails with a clear one-line message."""

import pytest
from typer.testing import CliRunner

from zsrec.cli import app
from zsrec.data import Item
from zsrec.errors import TemplateError
from zsrec.prompts import PromptTemplate

H = [Item(str(i), f"Old Film {i} (1990)", {"genres": "Drama"}) for i in range(3)]
C = [Item("c1", "Alpha (1995)", {"genres": "Comedy"}), Item("c2", "Beta (1996)", {"genres": "Horror"})]


def _template(tmp_path, body, name="user.j2"):
    path = tmp_path / name
    path.write_text(body)
    return PromptTemplate(path)


def test_missing_variable_is_an_error_not_a_hole(tmp_path):
    with pytest.raises(TemplateError, match=r"undefined variable.*'histroy' is undefined.*available: candidates"):
        _template(tmp_path, "History: {{ histroy }}\n").render(H, C, 2)


def test_syntax_error_names_file_and_line(tmp_path):
    with pytest.raises(TemplateError, match=r"user.j2:2: template syntax error"):
        _template(tmp_path, "ok\n{% for x in %}\n")


@pytest.mark.parametrize("body", [
    "{{ candidates.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__.__base__.__subclasses__() }}",
    "{{ history[0].title.__class__.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ self._TemplateReference__context }}",
    "{{ candidates[0].update({'title': 'x'}) }}{{ candidates.append(1) }}",
])
def test_sandbox_blocks_python_internals(tmp_path, body):
    with pytest.raises(TemplateError, match="(blocked unsafe access|undefined variable)"):
        _template(tmp_path, body).render(H, C, 2)


def test_templates_cannot_include_files_outside_their_folder(tmp_path):
    (tmp_path / "secret.txt").write_text("TOP SECRET")
    folder = tmp_path / "templates"
    folder.mkdir()
    for body in ("{% include '../secret.txt' %}", "{% include '/etc/passwd' %}"):
        with pytest.raises(TemplateError):
            _template(folder, body).render(H, C, 2)


def test_missing_template_file(tmp_path):
    with pytest.raises(TemplateError, match="template file not found"):
        PromptTemplate(tmp_path / "nope.j2")


def test_undecodable_template(tmp_path):
    (tmp_path / "latin.j2").write_bytes(b"Caf\xe9 {{ k }}")
    with pytest.raises(TemplateError, match="cannot read template"):
        PromptTemplate(tmp_path / "latin.j2")


def test_cli_reports_template_errors_in_one_line(tmp_path, ml100k):
    evil = tmp_path / "evil.j2"
    evil.write_text("{{ ''.__class__.__base__.__subclasses__() }}")
    result = CliRunner().invoke(app, ["rank", "-H", "Fargo (1996)", "--template", str(evil)])
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "blocked unsafe access" in " ".join(result.stderr.split())
