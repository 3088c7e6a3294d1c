"""The bulk read of a ratings file gives the dataset the row reader gives, or steps aside for it.

Every case is loaded twice, in each of the four layouts that hold ratings (raw ml-100k's ``u.data``,
ml-1m's ``ratings.dat``, GroupLens' ``ratings.csv``, RecBole's ``.inter``) and as your own events file
(``load_table``, a TSV with a column mapping): once as zsrec loads it, once
with the bulk read turned off. Both must give the same columns byte for byte, or the same error, and
with ``skip_bad_rows`` the same count; and the plain files must have been read in bulk, so that the
comparison is not of the row reader with itself."""

from pathlib import Path

import numpy as np
import pytest

from zsrec import bulk_ratings
from zsrec.loaders import load_dataset, load_directory, load_table, packaged_recbole_path
from conftest import bulk_and_rows

# Both readers say a file's 15-digit times are microseconds (zsrec.columns.to_seconds), to the same columns.
pytestmark = pytest.mark.filterwarnings("ignore:events.tsv. timestamps read as microseconds")

ITEMS = [("1", "Toy Story (1995)"), ("3", "Fargo (1996)"), ("4", "Star Wars (1977)"), ("6", "Aladdin (1992)"),
         ("98765432109", "Big Id (2001)"),  # past the table's reach: a sorted search finds it
         ("sku-7", "Text Id (2003)"), ("007", "Zeros (1962)"), ("1.5", "Point (1999)")]  # ids in text
PLAIN = ["1|1|5|100", "1|3|4|200", "2|4|3|110", "3|6|4|140", "3|1|3|150", "10|3|1|5"]
LAYOUTS = ("u.data", "ratings.dat", "ratings.csv", "recbole", "events.tsv")  # the last: your own files (load_table)
SEPS = {"u.data": "\t", "ratings.dat": "::", "ratings.csv": ",", "recbole": "\t", "events.tsv": "\t"}
HEADERS = {"ratings.csv": "userId,movieId,rating,timestamp", "recbole": "user_id:token\titem_id:token\trating:float\ttimestamp:float",
           "events.tsv": "who\tsku\tstars\twhen"}
OWN_COLUMNS = {"user_id": "who", "item_id": "sku", "rating": "stars", "timestamp": "when"}


def write(folder: Path, layout: str, text: str, header: str | None = None) -> Path:
    """A folder of ITEMS and the ratings ``text`` (rows' fields joined by "|", made the layout's separator)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = text.replace("|", SEPS[layout])
    head = HEADERS.get(layout) if header is None else header
    if head is not None:
        text = head + "\n" + text
    data = text.encode("utf-8")
    if layout == "u.data":
        flags = "|".join(["0"] * 19)
        (folder / "u.item").write_text("".join(f"{i}|{t}|01-Jan-1995||http://x|{flags}\n" for i, t in ITEMS))
        (folder / "u.data").write_bytes(data)
    elif layout == "ratings.dat":
        (folder / "movies.dat").write_text("".join(f"{i}::{t}::Drama\n" for i, t in ITEMS))
        (folder / "ratings.dat").write_bytes(data)
    elif layout == "events.tsv":
        (folder / "items.csv").write_text("sku,title\n" + "".join(f"{i},{t}\n" for i, t in ITEMS))
        (folder / "events.tsv").write_bytes(data)
    elif layout == "ratings.csv":
        (folder / "movies.csv").write_text("movieId,title,genres\n" + "".join(f"{i},{t},Drama\n" for i, t in ITEMS))
        (folder / "ratings.csv").write_bytes(data)
    else:
        (folder / "tiny.item").write_text("item_id:token\tmovie_title:token_seq\n"
                                          + "".join(f"{i}\t{t}\n" for i, t in ITEMS))
        (folder / "tiny.inter").write_bytes(data)
    return folder


def load(folder: Path, skip_bad_rows: bool = False, columns: dict[str, str] = OWN_COLUMNS):
    """The folder as a user loads it: by its layout, or your own files by a column mapping."""
    if (folder / "events.tsv").is_file():
        return load_table(folder / "items.csv", folder / "events.tsv", columns=columns, skip_bad_rows=skip_bad_rows)
    return load_directory(folder, skip_bad_rows=skip_bad_rows)


def both(monkeypatch, load):
    """The load as zsrec does it (and whether the bulk read gave the data), then row by row."""
    return bulk_and_rows(monkeypatch, bulk_ratings, "read_ratings", load)


# Files the bulk read takes: the row reader reads them without a complaint.
READ_IN_BULK = {
    "plain": "\n".join(PLAIN) + "\n",
    "no line end at the end": "\n".join(PLAIN),
    "blank lines between and after": "\n".join(PLAIN[:2]) + "\n\n" + "\n".join(PLAIN[2:]) + "\n\n\n",
    "points": "1|1|3.|100.5\n1|3|.5|200\n2|4|4.25|110.0\n3|6|0.0|0\n",
    "15 digits": "1|1|5|123456789012345\n2|3|4|999999999999999\n",
    "a user id past the table's reach": "123456789012|1|5|100\n7|3|4|200\n123456789012|4|3|300\n",
    "an item id past the table's reach": "1|98765432109|5|100\n2|1|4|200\n",
    "zero as an id": "0|1|5|100\n1|3|0|0\n",
    "ids in text": "u-1|sku-7|5|100\nA3R5OBKS7OM2IR|1|4|200\nu-1|007|3|110\n10|1.5|1|5\n",
    "a user id with a leading zero": "01|1|5|100\n1|3|4|200\n",  # two users, "01" and "1"
    "a user id with a point": "1.0|1|5|100\n",
    "an item id with a leading zero": "1|007|5|100\n",
    "an item id with a point": "1|1.5|5|100\n",
    "ids past 15 digits": "1234567890123456789|1|5|100\n1|98765432109|4|200\n",
    "ids of 128 bytes": "u" * 128 + "|1|5|100\n",
    "punctuation in ids": "a!#$%&'()*+-/;<=>?@[\\]^_`{}~z|1|5|100\n",
}

# Files it leaves to the row reader, which reads them, or names the bad row, or counts it.
LEFT_TO_ROWS = {
    "Windows line ends": "\r\n".join(PLAIN) + "\r\n",
    "a space around an id": "1| 3|4|200\n2 |4|3|110\n",
    "an unknown item id with a point": "1|1.0|5|100\n",
    "an unknown item id in text": "1|1|5|100\n1|sku-9|4|200\n",
    "an id past 128 bytes": "u" * 129 + "|1|5|100\n",
    "a space inside an id": "u 1|1|5|100\n",
    "a letter in a rating": "1|1|5a|100\n",
    "a letter outside ASCII in an id": "\xe9|1|5|100\n",
    "a point alone": "1|1|.|100\n",
    "two points": "1|1|3.5.1|100\n",
    "a sign": "1|1|-1|100\n1|3|+2|100\n",
    "an exponent": "1|1|5|1e9\n",
    "not a number": "1|1|nan|100\n",
    "16 digits": "1|1|5|1234567890123456\n",
    "16 digits and a point": "1|1|5|1234567890.123456\n",
    "an unknown item": "1|1|5|100\n1|999|4|200\n",
    "three fields": "1|1|5|100\n1|3|4\n",
    "five fields": "1|1|5|100|7\n",
    "an empty field": "1||5|100\n",
    "an empty user": "|1|5|100\n",
    "a quoted id": '"1"|1|5|100\n',
    "a letter outside ASCII": "1|1|5|10\xe90\n",
    "a tab in a row": "1|1|5|100\t\n",
    "only blank lines": "\n\n",
    "a lone colon": "1|1|5|1:00\n",
    "three colons": "1|:1|5|100\n",
    "lone colons that pair up wrong": "1|3:5|1:100\n",  # in ratings.dat, as many colons as three "::"
}


# Times as ISO 8601 dates: RecBole's .inter and your own files read them (zsrec.row_reading.parse_timestamp),
# and so does the bulk read; MovieLens' own files hold epoch seconds, and there a date is the row reader's error.
READS_DATES = ("recbole", "events.tsv")
DATES_IN_BULK = {
    "a date for a time": "1|1|5|2024-03-01T10:00:00Z\n",
    "every shape read in bulk": "1|1|5|2024-03-01T10:00:00Z\n1|3|4|2024-03-01 10:00:05\n2|4|3|2024-03-01\n"
                                "3|6|4|2024-02-29T23:59:59.5+01:00\n3|1|3|1999-12-31T23:59-0530\n"
                                "10|3|1|2000-02-29T10:00:00.123456+05\n10|1|2|1970-01-01T00:00:00.000001-00:00\n"
                                "10|4|2|1969-12-31 23:59:59.999999\n",
    "a space in a time, ids in text": "u-1|sku-7|5|2024-03-01 10:00:00\nu-2|007|4|2024-03-01 10:00:00.250\n",
    "JavaScript's toISOString": "1|1|5|2024-03-01T10:00:00.000Z\n1|3|4|2024-03-01T10:00:01.999Z\n",
    "Postgres' timestamptz": "1|1|5|2024-03-01 10:00:00+00\n1|3|4|2024-03-01 10:00:00.5-08\n",
}
DATES_LEFT_TO_ROWS = {  # the row reader reads some, names the line of the others
    "a date that does not exist": "1|1|5|2023-02-29\n",
    "hour 24": "1|1|5|2024-03-01T24:00:00\n",
    "second 60": "1|1|5|2024-03-01T10:00:60\n",
    "year 0": "1|1|5|0000-01-01\n",
    "an offset of 24 hours": "1|1|5|2024-03-01T10:00:00+24:00\n",
    "seven digits of a second": "1|1|5|2024-03-01T10:00:00.1234567\n",
    "a point without digits": "1|1|5|2024-03-01T10:00:00.\n",
    "a comma before the fraction": "1|1|5|2024-03-01T10:00:00,5\n",
    "a lower-case t": "1|1|5|2024-03-01t10:00:00\n",
    "an hour alone": "1|1|5|2024-03-01T10\n",
    "a week date": "1|1|5|2024-W09\n",
    "a space after a time": "1|1|5|2024-03-01 10:00:00 \n",
    "a space before a time": "1|1|5| 2024-03-01\n",
    "two spaces in a time": "1|1|5|2024-03-01  10:00:00\n",
    "a space inside an id beside a date": "u 1|1|5|2024-03-01 10:00:00\n",
    "a space in a rating beside a date": "1|1|5 |2024-03-01\n",
    "a year before 1686": "1|1|5|1600-01-01\n",  # microseconds past 2**53: one rounding more in a double
    "a year after 2254": "1|1|5|2300-01-01\n",
    "a number and a date in one block": "1|1|5|100\n1|3|4|2024-03-01\n",
    "a letter after the zone": "1|1|5|2024-03-01T10:00:00Zx\n",
    "a day of one digit": "1|1|5|2024-03-1\n",
}


def check_every_layout(tmp_path, monkeypatch, text: str, in_bulk: bool | tuple[str, ...]) -> None:
    """``text`` in each layout, with and without skip_bad_rows: read in bulk (or not) as ``in_bulk``
    says (or in bulk in the layouts it names alone), and to what the row reader gives."""
    for layout in LAYOUTS:
        folder = write(tmp_path / layout, layout, text)
        bulk_here = in_bulk if isinstance(in_bulk, bool) else layout in in_bulk
        for skip in (False, True):
            bulk, rows, used = both(monkeypatch, lambda: load(folder, skip))
            assert used == bulk_here, f"{layout}: {'not ' if bulk_here else ''}read in bulk"
            assert bulk == rows and (bulk[0] == "data" or not bulk_here), layout


@pytest.mark.parametrize("case", sorted(READ_IN_BULK))
def test_plain_files_are_read_in_bulk_to_the_same_dataset(tmp_path, monkeypatch, case):
    check_every_layout(tmp_path, monkeypatch, READ_IN_BULK[case], in_bulk=True)


@pytest.mark.parametrize("case", sorted(LEFT_TO_ROWS))
def test_other_files_are_left_to_the_row_reader(tmp_path, monkeypatch, case):
    check_every_layout(tmp_path, monkeypatch, LEFT_TO_ROWS[case], in_bulk=False)


@pytest.mark.parametrize("case", sorted(DATES_IN_BULK))
def test_dates_are_read_in_bulk_where_the_rows_read_dates(tmp_path, monkeypatch, case):
    check_every_layout(tmp_path, monkeypatch, DATES_IN_BULK[case], in_bulk=READS_DATES)


@pytest.mark.parametrize("case", sorted(DATES_LEFT_TO_ROWS))
def test_other_dates_are_left_to_the_row_reader(tmp_path, monkeypatch, case):
    check_every_layout(tmp_path, monkeypatch, DATES_LEFT_TO_ROWS[case], in_bulk=False)


def test_dates_are_read_as_the_seconds_they_name(tmp_path):
    """Not only as the rows read them: the seconds themselves, zone and fraction included."""
    folder = write(tmp_path / "d", "events.tsv", DATES_IN_BULK["every shape read in bulk"])
    it = load(folder).interactions
    assert it.timed and it.timestamps.tolist() == [
        1709287200.0, 1709287205.0, 1709251200.0, 1709247599.5, 946704540.0, 951800400.123456, 1e-06, -1e-06]


TYPED = {"userId": "user_id:token", "movieId": "item_id:token", "rating": "rating:float", "timestamp": "timestamp:float"}


@pytest.mark.parametrize("columns,before,in_bulk", [
    (["movieId", "userId", "timestamp", "rating"], "", (True, True)),  # any order
    (["userId", "movieId", "rating", "timestamp"], "\ufeff", (True, True)),  # a spreadsheet's byte-order mark
    (["userId", "movieId", "rating", "timestamp", "tag"], "", (True, True)),  # a column of numbers passed over
    (["userId", "movieId", "rating", "timestamp", "note"], "", (True, True)),  # ... of text
    (["userId", "movieId", "rating"], "", (False, True)),  # GroupLens' rows need a time, RecBole's not
    (["userId", "movieId", "rating", "userId"], "", (False, False)),
    (['"userId"', "movieId", "rating", "timestamp"], "", (False, False)),
    (["user", "movie", "stars", "when"], "", (False, False)),  # the row reader names the header
    (["userId", "movieId", "rating", "timestamp"], "\n", (False, False)),  # a blank first line
])
def test_a_header_names_the_columns_or_the_file_goes_row_by_row(tmp_path, monkeypatch, columns, before, in_bulk):
    """In GroupLens' ratings.csv and RecBole's .inter, in the order given: (csv, RecBole)."""
    order = {"userId": 0, "movieId": 1, "rating": 2, "timestamp": 3}
    rows = "".join("|".join(line.split("|")[order[c]] if c in order else {"note": "x"}.get(c, "0") for c in columns)
                   + "\n" for line in PLAIN)
    for layout, expected in zip(("ratings.csv", "recbole"), in_bulk):
        names = [TYPED.get(c, c) for c in columns] if layout == "recbole" else columns
        folder = write(tmp_path / layout, layout, rows, header=before + SEPS[layout].join(names))
        bulk, by_rows, used = both(monkeypatch, lambda: load_directory(folder))
        assert used == expected, layout
        assert bulk == by_rows, layout
        if expected:
            it = load_directory(folder).interactions
            assert it.user_history("1").tolist() == [0, 1] and it.user_ratings("1").tolist() == [5.0, 4.0]
            assert it.timed == ("timestamp" in columns)


@pytest.mark.parametrize("block", [1 << 20, 5])
def test_a_file_without_times_keeps_file_order_as_the_rows_do(tmp_path, monkeypatch, block):
    """No time column: each row's line number is its clock, blank lines and the header counted, as the
    row reader counts them (and ``timed`` is off), whatever the blocks; and your own file may leave
    the rating out too, or hold a column of numbers zsrec passes over."""
    monkeypatch.setattr(bulk_ratings, "BLOCK_BYTES", block)
    rows = ["1|1|5", "", "1|3|4", "2|4|3", "", "", "3|6|4", "1|4|2"]
    inter = write(tmp_path / "recbole", "recbole", "\n".join(rows) + "\n",
                  header="user_id:token\titem_id:token\trating:float")
    own = write(tmp_path / "own", "events.tsv", "\n".join(r.rsplit("|", 1)[0] + "|7" for r in rows if r) + "\n",
                header="who\tsku\tsession")
    ids_only = {"user_id": "who", "item_id": "sku"}
    for folder in (inter, own):
        bulk, by_rows, used = both(monkeypatch, lambda: load(folder, columns=ids_only))
        assert used and bulk == by_rows
        assert not load(folder, columns=ids_only).interactions.timed
    assert load(inter).interactions.user_times("1").tolist() == [2.0, 4.0, 9.0]
    assert load(own, columns=ids_only).interactions.user_times("1").tolist() == [2.0, 3.0, 6.0]
    assert np.isnan(load(own, columns=ids_only).interactions.ratings).all()


@pytest.mark.parametrize("encoding,in_bulk", [("utf-8", True), ("cp1252", True), ("utf-7", False)])
def test_ids_in_text_are_read_in_bulk_only_in_an_encoding_that_keeps_ascii(tmp_path, monkeypatch, encoding, in_bulk):
    """The bulk read takes an id's bytes as its text; in UTF-7 "a+AGE-" is "aa", so such a file goes
    row by row, and reads as the row reader reads it."""
    folder = write(tmp_path / "d", "events.tsv", "a+AGE-|1|5|100\nb|3|4|200\n")
    bulk, rows, used = both(monkeypatch, lambda: load_table(folder / "items.csv", folder / "events.tsv",
                                                            columns=OWN_COLUMNS, encoding=encoding))
    assert used == in_bulk and bulk == rows and bulk[0] == "data"
    assert bulk[1][0] == ("a+AGE-" if in_bulk else "aa")


def test_json_lines_are_never_read_as_a_table(tmp_path, monkeypatch):
    """An events file named .jsonl is read as JSON, whatever it holds: here the row reader's error."""
    folder = write(tmp_path / "d", "events.tsv", "")
    (folder / "events.jsonl").write_text("who,sku,stars,when\n" + "\n".join(PLAIN).replace("|", ",") + "\n")
    bulk, rows, used = both(monkeypatch, lambda: load_table(folder / "items.csv", folder / "events.jsonl",
                                                            columns=OWN_COLUMNS))
    assert not used and bulk == rows and bulk[0] == "error" and "not a JSON object" in bulk[1]


@pytest.mark.parametrize("text", [
    "\n".join(PLAIN * 5 + ["123456789012|98765432109|2.5|7"] * 3),
    # ids as numbers in some blocks and in text in others, user 1 in both: one user all the same
    "\n".join(PLAIN * 3 + ["u-9|sku-7|2.5|7", "1|007|3|8", "u-9|1|1|9"] * 2 + PLAIN * 2 + ["01|1.5|4|10"]),
], ids=["numbers", "numbers and text"])
def test_blocks_cut_anywhere_give_the_same_columns(tmp_path, monkeypatch, text):
    """A block ends inside a row, or holds no line end at all: the rows come out whole all the same,
    and ids looked up in an early block keep their rows in a later one."""
    folder = write(tmp_path / "d", "ratings.csv", text)
    _, rows, _ = both(monkeypatch, lambda: load_directory(folder))
    for size in (1, 7, 16, 64):
        monkeypatch.setattr(bulk_ratings, "BLOCK_BYTES", size)
        bulk, _, used = both(monkeypatch, lambda: load_directory(folder))
        assert used and bulk == rows


def test_ml100k_reads_in_bulk_to_the_same_dataset(monkeypatch):
    """The real thing: RecBole's copy of MovieLens-100K, every column and the fingerprint the saved
    indexes are checked by, read in blocks of 64 kB."""
    if packaged_recbole_path("ml-100k") is None:
        pytest.skip("the recbole package (which ships ML-100K) is not installed")
    monkeypatch.setattr(bulk_ratings, "BLOCK_BYTES", 1 << 16)
    bulk, rows, used = both(monkeypatch, lambda: load_dataset("ml-100k"))
    assert used and bulk[0] == "data" and bulk == rows
    assert len(bulk[1]) == 100_000 and len(set(bulk[1])) == 943


@pytest.mark.parametrize("text", ["\n".join(PLAIN * 3), "\n".join(PLAIN * 3 + ["u-1|sku-7|5|1", "1|1|5|2"])],
                         ids=["numbers", "and text"])
def test_each_user_is_one_string_object(tmp_path, monkeypatch, text):
    """As the row reader keeps them: 10M ratings hold 70k user strings, not 10M. User 1 in a block of
    numbers and in one of text is one user, one string."""
    monkeypatch.setattr(bulk_ratings, "BLOCK_BYTES", 64)
    users = load_directory(write(tmp_path / "d", "u.data", text)).interactions.users
    assert len({id(u) for u in users}) == len(set(users)) == 4 + ("u-1" in text)
    assert users.dtype == object and all(type(u) is str for u in users)


def test_digits_are_the_exact_double_float_reads():
    """digits / 10**places is the correctly rounded double, as float() is, for every digit count and place."""
    rng = np.random.default_rng(0)
    texts = []
    for digits in range(1, 16):
        for _ in range(40):
            number = "".join(str(d) for d in rng.integers(0, 10, digits))
            at = int(rng.integers(0, digits + 1))
            texts.append(number[:at] + "." + number[at:] if rng.random() < 0.8 else number)
    b = np.frombuffer(("\n".join(texts) + "\n").encode(), dtype=np.uint8)
    ends = np.flatnonzero(b == 10)
    starts = np.concatenate([[0], ends[:-1] + 1])
    value, places = bulk_ratings._digits(b, starts, ends)
    got = value / 10.0 ** places
    assert got.tolist() == [float(t) for t in texts]
