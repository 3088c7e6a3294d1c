"""Events in a DataFrame read a column at a time give the dataset the rows give, or step aside for them.

Each frame is loaded twice with ``load_records``: as zsrec loads it, and with the column read turned
off (every event then read a row at a time, each cell made the text a file would hold). Both must
give the same columns byte for byte, or the same error, and with ``skip_bad_rows`` the same count;
and the plain frames must have been read by column, so that the comparison is not of the rows with
themselves."""

import struct
import warnings

import numpy as np
import pytest

from zsrec import records
from zsrec.errors import DataError
from zsrec.loaders import load_records
from conftest import bulk_and_rows, loaded

pd = pytest.importorskip("pandas")

ITEMS = pd.DataFrame({"item_id": ["1", "3", "sku-7", "007", "42"], "title": ["A", "B", "C", "D", "E"]})
USERS = [1, 1, 2, 3, 3, 10]
ITEM_IDS = ["1", "3", "sku-7", "007", "1", "42"]
SECONDS = [100, 200, 110, 140, 150, 5]
STARS = [5.0, 4.0, 3.0, 4.0, 3.0, 1.0]
OTHER_NAN = struct.unpack("<d", (0xFFF8000000000123).to_bytes(8, "little"))[0]  # not the NaN the rows store


def events(**changed):
    """The plain frame, with columns changed (None: dropped)."""
    data = {"user_id": USERS, "item_id": ITEM_IDS, "timestamp": SECONDS, "rating": STARS, **changed}
    return pd.DataFrame({k: v for k, v in data.items() if v is not None})


def outcome(load):
    """What a load gave (``conftest.loaded``) and the warnings it raised (the unit its times were read in)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = loaded(load)
    return got + ([str(w.message) for w in caught],)


def both(monkeypatch, frame, **kwargs):
    """The load as zsrec does it (and whether the columns gave the data), then row by row."""
    return bulk_and_rows(monkeypatch, records, "read_frame_events", lambda: load_records(ITEMS, frame, **kwargs), outcome)


BY_COLUMN = {
    "numbers": lambda: events(),
    "ids in text, stripped as the rows strip them": lambda: events(user_id=[" u1", "u1 ", "u2", "3", "3", "u\t10"]),
    "item ids as integers": lambda: events(item_id=[1, 3, 42, 42, 1, 3]),
    "unsigned ids": lambda: events(user_id=np.array(USERS, dtype=np.uint64)),
    "pandas' strings": lambda: events(user_id=pd.array([str(u) for u in USERS], dtype="string")),
    "float times": lambda: events(timestamp=[100.5, 200.25, 1e-3, 0.0, -0.0, 5.0]),
    "float32 times": lambda: events(timestamp=np.array([100.5, 200.1, 110, 140, 150, 5], dtype=np.float32)),
    "date-times": lambda: events(timestamp=pd.to_datetime(SECONDS, unit="s") + pd.Timedelta("1us")),
    "date-times in Berlin": lambda: events(timestamp=pd.to_datetime(SECONDS, unit="s").tz_localize("Europe/Berlin")),
    "milliseconds": lambda: events(timestamp=[t * 1000 + 1_700_000_000_000 for t in SECONDS]),
    "dates as text, as pd.read_csv leaves them": lambda: events(timestamp=[
        "2024-03-01", "2024-03-02T10:00:00Z", "2024-03-01 10:00:00.5", "2024-03-03T10:00+01:00", "1999-12-31", "2024-03-05"]),
    "dates as pandas' strings": lambda: events(timestamp=pd.array(["2024-03-01"] * 6, dtype="string")),
    "no time": lambda: events(timestamp=None),
    "no rating": lambda: events(rating=None),
    "integer ratings": lambda: events(rating=[5, 4, 3, 4, 3, 1]),
    "a missing rating": lambda: events(rating=[5.0, np.nan, 3.0, 4.0, 3.0, OTHER_NAN]),
    "a missing rating, nullable integers": lambda: events(rating=pd.array([5, None, 3, 4, 3, 1], dtype="Int64")),
    "another column": lambda: events(note=["x", None, 3, 4.5, "y", "z"]),
}

BY_ROWS = {
    "a missing time": lambda: events(timestamp=[100.0, np.nan, 110, 140, 150, 5]),
    "a NaT": lambda: events(timestamp=pd.to_datetime([100, None, 110, 140, 150, 5], unit="s")),
    "a date as text not read by column": lambda: events(timestamp=["2024-03-01", "2024-03-02t10:00:00", "2024-03-01",
                                                                   "2024-03-03", "2024-03-04", "2024-03-05"]),
    "dates as text, one missing": lambda: events(timestamp=["2024-03-01", None, "2024-03-01", "2024-03-03",
                                                            "2024-03-04", "2024-03-05"]),
    "numbers as text": lambda: events(timestamp=[str(t) for t in SECONDS]),
    "a date outside ASCII": lambda: events(timestamp=["2024-03-01", "２０２４-03-01", "2024-03-01", "2024-03-03",
                                                      "2024-03-04", "2024-03-05"]),
    "an infinite time": lambda: events(timestamp=[100.0, np.inf, 110, 140, 150, 5]),
    "an infinite rating": lambda: events(rating=[5.0, -np.inf, 3, 4, 3, 1]),
    "float ids": lambda: events(user_id=[1.0, 1.0, 2.0, 3.0, 3.0, 10.0]),
    "an empty id": lambda: events(user_id=["u1", "  ", "u2", "3", "3", "u10"]),
    "a missing id": lambda: events(user_id=["u1", None, "u2", "3", "3", "u10"]),
    "a missing id, nullable integers": lambda: events(user_id=pd.array([1, None, 2, 3, 3, 10], dtype="Int64")),
    "ids of two types": lambda: events(user_id=[1, "1", 2, 3, 3, 10]),
    "an unknown item": lambda: events(item_id=["1", "3", "sku-9", "007", "1", "42"]),
    "yes and no for times": lambda: events(timestamp=[True, False, True, True, False, True]),
    "two columns of one name": lambda: events().rename(columns={"rating": "timestamp"}),  # the rows' error
    "no events": lambda: events().iloc[:0],
}


@pytest.mark.parametrize("case", sorted(BY_COLUMN))
def test_plain_frames_are_read_by_column_to_the_same_dataset(monkeypatch, case):
    for skip in (False, True):
        by_column, by_rows, used = both(monkeypatch, BY_COLUMN[case](), skip_bad_rows=skip)
        assert used and by_column[0] == "data" and by_column == by_rows


@pytest.mark.parametrize("case", sorted(BY_ROWS))
def test_other_frames_are_left_to_the_rows(monkeypatch, case):
    for skip in (False, True):
        by_column, by_rows, used = both(monkeypatch, BY_ROWS[case](), skip_bad_rows=skip)
        assert not used and by_column == by_rows


def test_named_columns_and_ids_in_the_index(monkeypatch):
    """``columns=`` names the frame's columns; ids kept as its index are read as columns; a named
    column the frame lacks is the rows' error."""
    frame = events().rename(columns={"user_id": "who", "timestamp": "when"})
    named = {"user_id": "who", "timestamp": "when"}
    by_column, by_rows, used = both(monkeypatch, frame, columns=named)
    assert used and by_column == by_rows and by_column[0] == "data"
    by_column, by_rows, used = both(monkeypatch, frame.set_index(["who", "item_id"]), columns=named)
    assert used and by_column == by_rows and by_column[0] == "data"
    by_column, by_rows, used = both(monkeypatch, frame, columns={**named, "rating": "stars"})
    assert not used and by_column == by_rows and "no column 'stars' for rating" in by_column[1]


def test_the_frame_is_left_as_it_was():
    """The times and ratings are copies: a missing rating's NaN is made the rows' own in the copy."""
    frame = events(rating=[5.0, np.nan, 3.0, 4.0, 3.0, 1.0])
    before = frame.copy(deep=True)
    load_records(ITEMS, frame)
    pd.testing.assert_frame_equal(frame, before)


def test_each_user_is_one_string_object():
    users = load_records(ITEMS, events(user_id=[" u1", "u1", "u2", "3", "3", "10"])).interactions.users
    assert len({id(u) for u in users}) == len(set(users)) == 4
    assert users.dtype == object and all(type(u) is str for u in users)


def test_two_columns_of_one_name_are_a_clear_error():
    """Each row is read as one dict, where one of them would be lost: said, not a traceback."""
    with pytest.raises(DataError, match=r"^interactions: more than one column named 'timestamp'; rename them"):
        load_records(ITEMS, events().rename(columns={"rating": "timestamp"}))
    with pytest.raises(DataError, match=r"^items: more than one column named 'title'; rename them"):
        load_records(ITEMS.assign(other="x").rename(columns={"other": "title"}), events())
