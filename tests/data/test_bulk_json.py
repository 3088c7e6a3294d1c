"""The bulk read of a JSON Lines events file gives the dataset the row reader gives, or steps aside for it.

Every case is loaded with ``load_table`` twice, with and without ``skip_bad_rows``: once as zsrec
loads it, once with the bulk read off. Both must give the same columns byte for byte, or the same
error, and with ``skip_bad_rows`` the same count; and the cases meant for the bulk read must have
been read by it, so that no case compares the rows with themselves."""

import json

import numpy as np
import pytest

from zsrec import bulk_json
from zsrec.loaders import load_table
from conftest import bulk_and_rows

pytestmark = pytest.mark.filterwarnings("ignore:events.jsonl. timestamps read as")  # milli- or nanoseconds, both ways

ITEMS = [("1", "Toy Story (1995)"), ("3", "Fargo (1996)"), ("sku-7", "Text Id (2003)"), ("café", "Accent (2001)")]


def line(user, item, rating=4, timestamp=100, **more) -> str:
    return json.dumps({"user_id": user, "item_id": item, "rating": rating, "timestamp": timestamp, **more}, ensure_ascii=False)


PLAIN = [line("u1", "1", 5, 100), line("u1", "3", 4, 200), line("u2", "sku-7", 3, 110), line("u3", "1", 4, 140)]

READ_IN_BULK = {
    "plain": "\n".join(PLAIN) + "\n",
    "no line end at the end": "\n".join(PLAIN),
    "integer ids, the same users and items as in text": "\n".join(
        [line(1, 1), line("1", 3), line(2, "1"), line(" 2 ", 3)]) + "\n",
    "spaces around ids, stripped": line(" u1", "1 ") + "\n" + line("u1", "\t3") + "\n",
    "ids outside ASCII and escaped": line("zoë", "café") + "\n" + '{"user_id": "zo\\u00eb", "item_id": "1", "timestamp": 3}\n',
    "float times and ratings": "\n".join([line("u1", "1", 4.5, 100.25), line("u2", "3", 1e-3, 1.5e9)]) + "\n",
    "milliseconds": "\n".join([line("u1", "1", 5, 1709287200123), line("u2", "3", 4, 1709287201000)]) + "\n",
    "a big integer time": line("u1", "1", 5, 2**64 + 1) + "\n",
    "no rating, a null rating": '{"user_id": "u1", "item_id": "1", "timestamp": 5}\n' + line("u2", "3", None, 6) + "\n",
    "dates": "\n".join([line("u1", "1", 5, "2024-03-01T10:00:00Z"), line("u1", "3", 4, "2024-03-01 10:00:00.5+01:00"),
                        line("u2", "1", 3, "2024-03-01")]) + "\n",
    "no times: each line's number its clock, blank lines counted": (
        '\n{"user_id": "u1", "item_id": "1"}\n   \n\t\n{"user_id": "u1", "item_id": "3", "rating": 2}\n\n'
        '{"user_id": "u2", "item_id": "1", "timestamp": null}\n'),
    "lists in objects": line("u1", "1", 4, 5, tags=["a", "b]"], seen=[]) + "\n" + line("u2", "3", 3, 6, n=[[1], [2]]) + "\n",
    "keys in any order, more keys, nested values": (
        '{"timestamp": 7, "extra": {"a": [1, 2, {"b": null}]}, "item_id": "1", "tags": ["x", "y"], "user_id": "u1"}\n'
        '{"item_id": "3", "user_id": "u1", "ok": true, "rating": 3, "timestamp": 9, "note": "a \\" quote"}\n'),
    "white space around objects": "  " + PLAIN[0] + " \t\n\t" + PLAIN[1] + "\n",
    "Windows line ends and a byte-order mark": "\ufeff" + "\r\n".join(PLAIN) + "\r\n",
    "repeated keys, the last one read": '{"user_id": "u1", "item_id": "9", "item_id": "1", "timestamp": 3}\n',
}

LEFT_TO_ROWS = {  # the rows read them, name the bad line, or count it
    "a line that is not JSON": PLAIN[0] + "\nuser,item\n",
    "two objects on one line": PLAIN[0] + PLAIN[1] + "\n",
    "two objects on one line with a comma": PLAIN[0] + "," + PLAIN[1] + "\n",
    "an object across two lines": '{"user_id": "u1",\n "item_id": "1", "timestamp": 1}\n',
    "an array": "[" + PLAIN[0] + "]\n",
    "a string": '"u1"\n',
    "a float id": line("u1", 1.0) + "\n",
    "a true id": line(True, "1") + "\n",
    "a null user": line(None, "1") + "\n",
    "an empty user": line("", "1") + "\n" + PLAIN[1] + "\n",
    "a user of spaces": line("  ", "1") + "\n",
    "no item": '{"user_id": "u1", "timestamp": 5}\n',
    "a list for an id": line(["u", "1"], "1") + "\n",
    "an unknown item": PLAIN[0] + "\n" + line("u1", "999") + "\n",
    "a time in some objects only": PLAIN[0] + "\n" + '{"user_id": "u1", "item_id": "3"}\n',
    "a NaN time": PLAIN[0] + "\n" + '{"user_id": "u1", "item_id": "3", "timestamp": NaN}\n',
    "an infinite rating": '{"user_id": "u1", "item_id": "3", "rating": Infinity, "timestamp": 1}\n',
    "a time past a double": '{"user_id": "u1", "item_id": "3", "timestamp": 1' + "0" * 400 + "}\n",
    "a rating in text": line("u1", "1", "5") + "\n",
    "a true rating": line("u1", "1", True) + "\n",
    "a time in text as a number": line("u1", "1", 5, "100") + "\n",
    "an empty time": line("u1", "1", 5, "") + "\n",
    "a date not read in bulk": line("u1", "1", 5, "2024-03-01t10:00:00") + "\n",
    "a date and a number": line("u1", "1", 5, "2024-03-01") + "\n" + line("u1", "3", 4, 100) + "\n",
    "a list for a time": line("u1", "1", 5, [1, 2]) + "\n",
    "a carriage return alone": PLAIN[0] + "\r" + PLAIN[1] + "\n",
    "a carriage return inside an object": '{"user_id": "u1",\r"item_id": "1", "timestamp": 1}\n',  # JSON's white space
    "only blank lines": "\n \n\n",
    "a control character in a string": '{"user_id": "u\x01", "item_id": "1"}\n',
    # lines that are no JSON alone but would join into some: each line must be read as itself
    "an object across two lines, two on one": (
        '{"user_id": "u1", "item_id": "1", "timestamp": 1, "x": [{"b": 1}\n{"c": 2}]}\n'
        '{"user_id": "u1", "item_id": "3", "timestamp": 2},{"user_id": "u2", "item_id": "1", "timestamp": 3}\n'),
    "a string across two lines": '{"user_id": "u1", "item_id": "1", "timestamp": 1, "note": "x}\n{y"}\n',
    "a no-break space before an object": "\xa0" + PLAIN[0] + "\n",  # str.strip's white space, not JSON's
}


def write(tmp_path, text: str, encoding: str = "utf-8", name: str = "events.jsonl"):
    (tmp_path / "items.csv").write_text("item_id,title\n" + "".join(f"{i},{t}\n" for i, t in ITEMS), encoding=encoding)
    (tmp_path / name).write_bytes(text.encode(encoding))
    return tmp_path / "items.csv", tmp_path / name


def both(monkeypatch, load):
    """The load as zsrec does it (and whether the bulk read gave the data), then row by row."""
    return bulk_and_rows(monkeypatch, bulk_json, "read_json_events", load)


def check(tmp_path, monkeypatch, text: str, in_bulk: bool, encoding: str = "utf-8") -> tuple:
    items, events = write(tmp_path, text, encoding)
    for skip in (False, True):
        bulk, rows, used = both(monkeypatch, lambda: load_table(items, events, skip_bad_rows=skip, encoding=encoding))
        assert used == in_bulk, f"{'not ' if in_bulk else ''}read in bulk"
        assert bulk == rows and (bulk[0] == "data" or not in_bulk)
    return bulk


@pytest.mark.parametrize("case", sorted(READ_IN_BULK))
def test_plain_json_lines_are_read_in_bulk_to_the_same_dataset(tmp_path, monkeypatch, case):
    check(tmp_path, monkeypatch, READ_IN_BULK[case], in_bulk=True)


@pytest.mark.parametrize("case", sorted(LEFT_TO_ROWS))
def test_other_json_lines_are_left_to_the_row_reader(tmp_path, monkeypatch, case):
    check(tmp_path, monkeypatch, LEFT_TO_ROWS[case], in_bulk=False)


def test_what_the_bulk_read_gives(tmp_path, monkeypatch):
    """Not only what the rows give: the users, items, clock and ratings themselves."""
    got = check(tmp_path, monkeypatch, READ_IN_BULK["no times: each line's number its clock, blank lines counted"],
                in_bulk=True)
    users, items, times, ratings, timed = got[1], got[2], got[3], got[4], got[5]
    assert users == ["u1", "u1", "u2"] and np.frombuffer(items, dtype=np.int64).tolist() == [0, 1, 0]
    assert np.frombuffer(times, dtype=np.float64).tolist() == [2.0, 5.0, 7.0] and not timed
    assert np.isnan(np.frombuffer(ratings, dtype=np.float64)[[0, 2]]).all()
    assert np.frombuffer(ratings, dtype=np.float64)[1] == 2.0


@pytest.mark.parametrize("encoding,in_bulk", [("latin-1", True), ("utf-16", True), ("utf-8", False)])
def test_the_files_encoding_is_read_as_the_rows_read_it(tmp_path, monkeypatch, encoding, in_bulk):
    """Latin-1 and UTF-16 decode as they do for the rows; bytes that are not UTF-8 are the rows' error."""
    text = line("zoë", "café") + "\n" + PLAIN[0] + "\n"
    if in_bulk:
        check(tmp_path, monkeypatch, text, in_bulk=True, encoding=encoding)
    else:
        items, events = write(tmp_path, text, "utf-8")
        events.write_bytes(text.encode("latin-1"))
        bulk, rows, used = both(monkeypatch, lambda: load_table(items, events))
        assert not used and bulk == rows and bulk[0] == "error" and "not valid utf-8" in bulk[1]


@pytest.mark.parametrize("size", [1, 7, 64])
def test_blocks_cut_anywhere_give_the_same_columns(tmp_path, monkeypatch, size):
    """A block ends inside a line, inside a character of several bytes or between a carriage return
    and its line end: the lines come out whole all the same, and each keeps its number."""
    text = "\ufeff" + "\r\n".join(PLAIN * 3 + ['{"user_id": "zoë", "item_id": "café", "timestamp": 1}', "", "  "] * 3) + "\r\n"
    monkeypatch.setattr(bulk_json, "BLOCK_CHARS", size)
    check(tmp_path, monkeypatch, text, in_bulk=True)
    untimed = "\n".join(['{"user_id": "u1", "item_id": "1"}', "", '{"user_id": "zoë", "item_id": "café"}'] * 5) + "\n"
    (tmp_path / "untimed").mkdir()
    check(tmp_path / "untimed", monkeypatch, untimed, in_bulk=True)


def test_times_in_early_blocks_and_none_in_later_ones_go_to_the_rows(tmp_path, monkeypatch):
    """The rows' clock would mix times and line numbers: left to them (here, blocks of one line)."""
    monkeypatch.setattr(bulk_json, "BLOCK_CHARS", 8)
    check(tmp_path, monkeypatch, PLAIN[0] + "\n" + '{"user_id": "u1", "item_id": "3"}\n', in_bulk=False)


def test_a_missing_file_is_the_rows_error(tmp_path, monkeypatch):
    items, events = write(tmp_path, PLAIN[0] + "\n")
    events.unlink()
    bulk, rows, used = both(monkeypatch, lambda: load_table(items, events))
    assert not used and bulk == rows and bulk[0] == "error" and "file not found" in bulk[1]


def test_a_json_array_is_read_by_the_rows(tmp_path, monkeypatch):
    """One JSON array (.json) is the rows' to read, element by element with its line."""
    items, events = write(tmp_path, "[\n" + ",\n".join(PLAIN) + "\n]\n", name="events.json")
    bulk, rows, used = both(monkeypatch, lambda: load_table(items, events))
    assert not used and bulk == rows and bulk[0] == "data" and len(bulk[1]) == 4
