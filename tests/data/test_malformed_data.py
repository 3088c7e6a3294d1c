"""Bad data. Malformed rows, wrong encodings, duplicate ids, unknown ids, empty files: a clear
error naming the file and line (or, with skip_bad_rows, a count), and from the CLI one line and exit 2,
never a traceback."""

import io
import struct
import zipfile

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import TINY_RATINGS, ScriptedBackend, write_ml100k
from zsrec.backends import BUILTIN
from zsrec.batch import UserRequest, read_users_file
from zsrec.cli import app
from zsrec.cooccurrence import CoOccurrenceIndex
from zsrec.errors import DataError, UnknownUserError
from zsrec.loaders import load_directory, load_table
from zsrec.recommender import Recommender


def test_malformed_row_names_file_and_line(tmp_path):
    folder = write_ml100k(tmp_path / "bad", extra_data_lines=["9\t1\tfive\t100", "only two\tfields"])
    with pytest.raises(DataError) as e:
        load_directory(folder)
    msg = str(e.value)
    assert f"{folder / 'u.data'}:{len(TINY_RATINGS) + 1}:" in msg and "rating 'five' is not a number" in msg



def test_skip_bad_rows_counts_them(tmp_path):
    folder = write_ml100k(tmp_path / "bad", extra_data_lines=["9\t1\tfive\t100", "only two\tfields", "9\t999\t3\t5"])
    ds = load_directory(folder, skip_bad_rows=True)
    assert ds.skipped_rows == 3
    assert len(ds.interactions) == len(TINY_RATINGS)



def test_unknown_item_in_interactions(tmp_path):
    folder = write_ml100k(tmp_path / "bad", extra_data_lines=["9\t999\t3\t5"])
    with pytest.raises(DataError, match=r"item id '999' is not in the catalog"):
        load_directory(folder)



def test_duplicate_item_ids(tmp_path):
    (tmp_path / "i.csv").write_text("item_id,title\n1,A\n1,B\n")
    (tmp_path / "e.csv").write_text("user_id,item_id\nu,1\n")
    with pytest.raises(DataError, match=r"i.csv:3: duplicate item id '1'"):
        load_table(tmp_path / "i.csv", tmp_path / "e.csv")



def test_empty_file_and_bad_encoding(tmp_path):
    (tmp_path / "i.csv").write_text("")
    (tmp_path / "e.csv").write_text("user_id,item_id\nu,1\n")
    with pytest.raises(DataError, match="file is empty"):
        load_table(tmp_path / "i.csv", tmp_path / "e.csv")
    (tmp_path / "i.csv").write_bytes(b"item_id,title\n1,caf\xe9\n")
    with pytest.raises(DataError, match=r"i.csv:2: not valid utf-8"):
        load_table(tmp_path / "i.csv", tmp_path / "e.csv")
    # files are read a chunk at a time; the line named is still the bad byte's, deep in a large file
    rows = "".join(f"{n},item {n}\n" for n in range(1, 6000))
    (tmp_path / "i.csv").write_bytes(b"item_id,title\n" + rows.encode() + b"6000,caf\xe9\n")
    with pytest.raises(DataError, match=r"i.csv:6001: not valid utf-8"):
        load_table(tmp_path / "i.csv", tmp_path / "e.csv")
    # a file of blank lines is empty too; old Mac line ends (CR only) are lines
    (tmp_path / "i.csv").write_text("\n \n\n")
    with pytest.raises(DataError, match="file is empty"):
        load_table(tmp_path / "i.csv", tmp_path / "e.csv")
    (tmp_path / "i.csv").write_bytes(b"item_id,title\r1,One\r2,Two\r")
    assert load_table(tmp_path / "i.csv", tmp_path / "e.csv").catalog.ids == ["1", "2"]



def test_unknown_user(ml100k_dir):
    ds = load_directory(ml100k_dir)
    with pytest.raises(UnknownUserError, match="unknown user id '77'"):
        ds.interactions.user_history("77")



def test_wrong_encoding_can_be_named(tmp_path):
    (tmp_path / "i.csv").write_bytes("item_id,title\n1,Café Society\n".encode("latin-1"))
    (tmp_path / "e.csv").write_text("user_id,item_id\nu,1\n")
    ds = load_table(tmp_path / "i.csv", tmp_path / "e.csv", encoding="latin-1")
    assert ds.catalog.get("1").title == "Café Society"


def test_a_byte_order_mark_is_dropped_and_the_header_must_hold_the_named_columns(tmp_path):
    """Spreadsheets save CSV with a byte-order mark, which would glue itself to the first column's name
    and make every row look id-less; a named column the header lacks is one error naming the header."""
    (tmp_path / "i.csv").write_bytes("\ufeffsku,name\nA,Red Shoe\nB,Blue Shoe\n".encode("utf-8"))
    (tmp_path / "e.tsv").write_bytes("\ufeffcustomer\tsku\tts\nc1\tA\t5\nc1\tB\t9\n".encode("utf-8"))
    cols = {"item_id": "sku", "title": "name", "user_id": "customer", "timestamp": "ts"}
    ds = load_table(tmp_path / "i.csv", tmp_path / "e.tsv", cols)
    assert [it.title for it in ds.catalog] == ["Red Shoe", "Blue Shoe"] and len(ds.interactions) == 2
    with pytest.raises(DataError, match=r"e.tsv:1: no column 'time' for timestamp in the header \(customer, sku, ts\); "
                                        r"name it with --column timestamp=NAME"):
        load_table(tmp_path / "i.csv", tmp_path / "e.tsv", {**cols, "timestamp": "time"})
    with pytest.raises(DataError, match=r"i.csv:1: no column 'title' for title"):  # named, so it must be there
        load_table(tmp_path / "i.csv", tmp_path / "e.tsv", {**cols, "title": "title"})
    without = {k: v for k, v in cols.items() if k not in ("title", "timestamp")}  # optional when not named
    ds = load_table(tmp_path / "i.csv", tmp_path / "e.tsv", without)
    assert ds.catalog.get("A").title == "A" and ds.catalog.get("A").fields["name"] == "Red Shoe"


def test_jsonl_line_that_is_not_an_object(tmp_path):
    (tmp_path / "i.jsonl").write_text('{"item_id": "1", "title": "A"}\n[1, 2]\n{"item_id": "2", "title": \n')
    (tmp_path / "e.csv").write_text("user_id,item_id\nu,1\n")
    with pytest.raises(DataError, match=r"i.jsonl:2: not a JSON object"):
        load_table(tmp_path / "i.jsonl", tmp_path / "e.csv")
    ds = load_table(tmp_path / "i.jsonl", tmp_path / "e.csv", skip_bad_rows=True)
    assert len(ds.catalog) == 1 and ds.skipped_rows == 2


def _cli(args):
    result = CliRunner().invoke(app, ["rank", *args])
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 3
    return " ".join(result.stderr.split())


def _files(tmp_path, items: bytes, inter: bytes, suffix="csv"):
    (tmp_path / f"i.{suffix}").write_bytes(items)
    (tmp_path / f"e.{suffix}").write_bytes(inter)
    return ["--items", str(tmp_path / f"i.{suffix}"), "--interactions", str(tmp_path / f"e.{suffix}"), "-H", "A"]


@pytest.mark.parametrize("items, inter, message", [
    (b"", b"user_id,item_id\nu,1\n", "i.csv: file is empty"),
    (b"item_id,title\n1,caf\xe9\n", b"user_id,item_id\nu,1\n", "i.csv:2: not valid utf-8 text"),
    (b"item_id,title\n1,A\n1,B\n", b"user_id,item_id\nu,1\n", "i.csv:3: duplicate item id '1'"),
    (b"item_id,title\n1,A\n", b"user_id,item_id\nu,1\nu,7\n", "e.csv:3: item id '7' is not in the catalog"),
    (b"item_id,title\n1,A\n", b"user_id,item_id,timestamp\nu,1,yesterday\n", "e.csv:2: timestamp 'yesterday' is neither a number"),
    (b"item_id,title\n1,A\n", b"user_id,item_id\nu\n", "e.csv:2: expected 2 fields as in the header, got 1"),
    (b"item_id,title\n,A\n", b"user_id,item_id\nu,1\n", "i.csv:2: no item id (column 'item_id')"),
    (b"title\nA\n", b"user_id,item_id\nu,1\n", "i.csv:1: no column 'item_id' for item_id in the header (title)"),
])
def test_cli_names_file_and_line(tmp_path, items, inter, message):
    assert message in _cli(_files(tmp_path, items, inter))


class FirstPick(ScriptedBackend):
    def __init__(self, **_):
        super().__init__(lambda prompt: "[1]")


def test_cli_skip_bad_rows_reports_the_count(tmp_path, monkeypatch):
    monkeypatch.setitem(BUILTIN, "first-pick", "test_malformed_data:FirstPick")
    args = _files(tmp_path, b"item_id,title\n1,A\n2,B\n2,C\n", b"user_id,item_id\nu,1\nu,9\nv,2\n")
    result = CliRunner().invoke(app, ["rank", *args, "--skip-bad-rows", "--backend", "first-pick", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert "skipped 2 malformed rows" in " ".join(result.stderr.split())


def test_cli_malformed_movielens_row(tmp_path):
    folder = write_ml100k(tmp_path / "d", extra_data_lines=["1\t2\tthree\t4"])
    assert "u.data:10: rating 'three' is not a number" in _cli(["--data-path", str(folder), "-H", "Fargo"])


def test_cli_unknown_encoding(tmp_path):
    args = _files(tmp_path, b"item_id,title\n1,A\n", b"user_id,item_id\nu,1\n")
    assert "unknown encoding 'klingon'" in _cli([*args, "--encoding", "klingon"])


@pytest.mark.parametrize("content, message", [
    (b"", "no users listed"),
    (b"# only a comment\n\n", "no users listed"),
    (b"1\n2\n1\n", "users.txt:3: user '1' is listed twice (first on line 1)"),
    (b'{"user_id": "a", "history": ["x"]}\n{"user_id": \n', "users.txt:2: not valid JSON"),
    (b'{"history": ["x"]}\n', 'users.txt:1: expected an object with a "user_id"'),
    (b'{"user_id": "a", "history": "Toy Story"}\n', 'users.txt:1: "history" must be a list'),
    (b'{"user_id": "a", "history": [50, true]}\n', 'users.txt:1: "history" must be a list'),
    (b'{"user_id": "a", "history": [50], "exclude": [1.5]}\n', 'users.txt:1: "exclude" must be a list'),
    (b'{"user_id": "a", "only": "181"}\n', 'users.txt:1: "only" must be a list of item ids or titles'),
    (b'{"user_id": "a", "only_genres": ["Comedy", 3]}\n', 'users.txt:1: "only_genres" must be a list of genres'),
    (b'{"user_id": "a", "only_genre": ["Comedy"]}\n',
     "users.txt:1: unknown field 'only_genre' (fields: user_id, history, exclude, only, only_genres)"),
    (b"caf\xe9\n", "not valid UTF-8"),
])
def test_users_file_errors(tmp_path, content, message):
    path = tmp_path / "users.txt"
    path.write_bytes(content)
    with pytest.raises(DataError) as e:
        read_users_file(path)
    assert message in str(e.value)
    assert message in _cli(["--users-file", str(path)])


def test_users_file_ids_may_be_json_numbers(tmp_path):
    path = tmp_path / "users.txt"
    path.write_text('{"user_id": 7, "history": [50, "Fargo (1996)"], "exclude": [181]}\n')
    assert read_users_file(path)[0] == UserRequest("7", ("50", "Fargo (1996)"), ("181",))
    path.write_text('{"user_id": 7, "only": [181, "Fargo (1996)"], "only_genres": ["Comedy"]}\n')
    assert read_users_file(path)[0] == UserRequest("7", None, (), ("181", "Fargo (1996)"), ("Comedy",))


def test_users_file_missing(tmp_path):
    assert "nope.txt: file not found" in _cli(["--users-file", str(tmp_path / "nope.txt")])


def test_cli_says_in_one_line_why_the_session_signal_is_off(tmp_path, monkeypatch, capsys):
    """Data without timestamps has no sittings to count: the shortlist goes on without that signal, and
    the command says so as one plain warning line (no Python source line)."""
    from zsrec.cli import main

    monkeypatch.setitem(BUILTIN, "first-pick", "test_malformed_data:FirstPick")
    args = _files(tmp_path, b"item_id,title\n1,A\n2,B\n3,C\n", b"user_id,item_id\nu,1\nu,2\nv,2\nv,3\n")
    with pytest.raises(SystemExit) as done:
        main(["rank", *args, "--backend", "first-pick", "--format", "json"])
    err = capsys.readouterr().err
    assert done.value.code == 0, err
    assert "warning: the session signal (session_share 0.2) is off" in " ".join(err.split())
    assert "have no timestamps" in " ".join(err.split()) and "UserWarning" not in err
    with pytest.raises(SystemExit) as done:
        main(["rank", *args, "--backend", "first-pick", "--format", "json", "--session-share", "0"])
    assert done.value.code == 0 and "session signal" not in capsys.readouterr().err


def _damaged(good: bytes, damage: str) -> bytes:
    """``good`` (an index file's bytes) with ``damage`` done to it."""
    if damage == "not a zip":
        return b"not an index\n"
    if damage == "empty":
        return b""
    if damage == "cut short":  # a copy that stopped half way: the archive's directory, at its end, is gone
        return good[:len(good) // 2]
    if damage == "a byte changed":  # in the middle of the text index's scores, which every start reads
        with zipfile.ZipFile(io.BytesIO(good)) as z:
            info = z.getinfo("data.npy")
        name_len, extra_len = struct.unpack("<HH", good[info.header_offset + 26:info.header_offset + 30])
        at = info.header_offset + 30 + name_len + extra_len + info.compress_size // 2
        return good[:at] + bytes([good[at] ^ 0xFF]) + good[at + 1:]
    out = io.BytesIO()
    if damage == "another program's .npz":
        np.savez(out, ratings=np.arange(3))
    else:  # one array alone, as np.save writes it
        np.save(out, np.arange(3))
    return out.getvalue()


@pytest.mark.parametrize("damage, problem", [
    ("not a zip", "not a .npz file (it does not start as a zip archive does)"),
    ("empty", "not a .npz file (it is empty)"),
    ("cut short", "the archive is damaged (File is not a zip file)"),
    ("a byte changed", "the archive is damaged (Bad CRC-32 for file 'data.npy')"),
    ("another program's .npz", "an array is missing (meta is not a file in the archive)"),
    ("a .npy", "not a .npz file (it does not start as a zip archive does)"),
])
def test_an_index_file_that_cannot_be_read_says_why_and_is_left_as_it_is(tmp_path, damage, problem):
    folder = write_ml100k(tmp_path / "d")
    index = tmp_path / "index.npz"
    args = ["--data-path", str(folder), "-H", "Fargo", "--index", str(index), "--reasons", "evidence",
            "--fusion-weight", "0", "--format", "json"]
    written = CliRunner().invoke(app, ["rank", *args])  # ranked by the shortlist: no model is loaded
    assert written.exit_code == 0, written.stderr
    bad = _damaged(index.read_bytes(), damage)
    index.write_bytes(bad)
    want = f"{index}: cannot read index: {problem}; delete the file (or name another) to have it built again"
    assert want in _cli(args)
    with pytest.raises(DataError) as e:
        Recommender(load_directory(folder), index=index, reasons="evidence", fusion_weight=0)
    assert str(e.value) == want
    assert index.read_bytes() == bad  # a user's file is never written over: it may not be an index at all
    if damage == "not a zip":  # read alone, the co-occurrence index says what it is; deleting does nothing there
        with pytest.raises(DataError, match=r"cannot read co-occurrence index: not a \.npz file \(it does not start"):
            CoOccurrenceIndex.load(index)
