"""The transformers backend's own logic: the repeated-line stop and its option (the backend's
generation itself runs on the real model in the ranking, prompt and benchmark tests)."""

import pytest
import torch

from zsrec.backends.transformers_backend import TransformersBackend, _repeated_line_stop
from zsrec.errors import OptionError


class LinesTokenizer:
    """Token id t decodes to line t of ``lines``; a negative id is an unfinished line (no newline)."""

    def __init__(self, lines):
        self.lines = lines

    def decode(self, ids, skip_special_tokens=True):
        ids = ids.tolist() if hasattr(ids, "tolist") else ids
        return "".join(self.lines[i] + "\n" if i >= 0 else "Unfinished" for i in ids)


def _stops(lines, rows, repeats=3):
    stop = _repeated_line_stop(LinesTokenizer(lines), repeats)
    out = stop(torch.tensor(rows), None)
    assert out.dtype == torch.bool and out.shape == (len(rows),)
    return out.tolist()


def test_a_row_stops_once_its_last_lines_repeat_numbering_aside():
    lines = ["1. Fargo", "2. Heat", "9. Heat", "10. Heat", "Other", ""]
    # rows: three "Heat" lines (numbers differ) / two only / three with a blank line between
    assert _stops(lines, [[0, 1, 2, 3], [0, 4, 2, 3], [1, 5, 2, 3]]) == [True, False, True]


def test_an_unfinished_line_does_not_count_and_fewer_repeats_can_be_asked():
    lines = ["1. Heat", "2. Heat", "3. Heat"]
    assert _stops(lines, [[0, 1, -1]]) == [False]  # two finished, the third still being written
    assert _stops(lines, [[0, 1, -1]], repeats=2) == [True]


@pytest.mark.parametrize("bad", [-1, 1])
def test_stop_repeated_lines_option_is_checked_before_any_load(bad):
    with pytest.raises(OptionError, match="stop_repeated_lines"):
        TransformersBackend(stop_repeated_lines=bad)
