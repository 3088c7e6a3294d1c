"""The converted-model cache: written atomically, and never pulled from under a process reading it."""

from types import SimpleNamespace

from zsrec.models import save_converted


class _Saves:
    """Stands in for a model or tokenizer: save_pretrained writes one file naming who wrote it."""

    def __init__(self, writer: str, filename: str):
        self.writer, self.filename = writer, filename
        self.config = SimpleNamespace()

    def save_pretrained(self, folder):
        (folder / self.filename).write_text(self.writer)


def _save(writer, target):
    save_converted(_Saves(writer, "config.json"), _Saves(writer, "tokenizer.json"), target)


def test_a_second_conversion_keeps_the_copy_already_there(tmp_path):
    target = tmp_path / "models" / "smollm2-abc"
    _save("first", target)
    assert (target / "config.json").read_text() == "first" and (target / "tokenizer.json").read_text() == "first"
    _save("second", target)  # another process converted the same file meanwhile: the first copy stays
    assert (target / "config.json").read_text() == "first"
    assert [p.name for p in target.parent.iterdir()] == ["smollm2-abc"]  # no half-written folders left


def test_a_copy_without_its_config_is_replaced(tmp_path):
    target = tmp_path / "models" / "smollm2-abc"
    target.mkdir(parents=True)
    (target / "tokenizer.json").write_text("stale")
    _save("fresh", target)
    assert (target / "config.json").read_text() == "fresh" and (target / "tokenizer.json").read_text() == "fresh"
    assert [p.name for p in target.parent.iterdir()] == ["smollm2-abc"]
