import io
import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY_ITEMS, TINY_RATINGS, write_ml100k, write_ml1m, write_movielens_csv, write_recbole
from zsrec import loaders
from zsrec.errors import DataError, DatasetNotFound, UnknownUserError
from zsrec.loaders import load_dataset, load_directory, load_table


def _check_tiny(ds):
    assert len(ds.catalog) == len(TINY_ITEMS)
    assert len(ds.interactions) == len(TINY_RATINGS)
    assert ds.catalog.get("3").title == "Fargo (1996)"
    assert "Crime" in ds.catalog.get("3").fields["genres"]
    # user 1's history comes back oldest first, as catalog rows
    rows = ds.interactions.user_history("1")
    assert [ds.catalog.items[i].id for i in rows] == ["1", "3", "4"]
    assert ds.interactions.user_ratings("1").tolist() == [5.0, 4.0, 5.0]  # in the same order


def test_raw_ml100k(ml100k_dir):
    ds = load_directory(ml100k_dir)
    _check_tiny(ds)
    assert ds.catalog.get("1").fields["genres"] == "Animation Children's Comedy"


def test_raw_ml1m(tmp_path):
    _check_tiny(load_directory(write_ml1m(tmp_path / "ml-1m")))


def test_grouplens_csv_layout(tmp_path):
    """ml-latest-small, ml-25m and the other current GroupLens sets: movies.csv + ratings.csv."""
    ds = load_directory(write_movielens_csv(tmp_path / "ml-latest-small"))
    _check_tiny(ds)
    assert ds.name == "ml-latest-small"  # the folder's name, as GroupLens' zip names it
    assert ds.catalog.get("5").title == "Usual Suspects, The (1995)"  # a quoted title with a comma
    assert ds.catalog.get("5").fields == {"genres": "Crime Thriller", "year": "1995"}
    assert ds.interactions.timed and ds.interactions.user_times("1").tolist() == [100.0, 200.0, 300.0]
    # GroupLens writes "(no genres listed)" for a film without genres: no genres, not three words of text
    movies = tmp_path / "ml-latest-small" / "movies.csv"
    movies.write_text(movies.read_text() + "7,Amélie (2001),(no genres listed)\n", encoding="utf-8")
    assert load_directory(movies.parent).catalog.get("7").fields == {"year": "2001"}
    assert load_directory(movies.parent).catalog.get("7").title == "Amélie (2001)"
    # its header is fixed: no --column can fix a wrong one, so the error names the layout instead
    (movies.parent / "ratings.csv").write_text("user,movie,stars,when\n1,1,5,100\n")
    with pytest.raises(DataError, match=r"ratings.csv:1: no column 'userId' for user_id in the header "
                                        r"\(user, movie, stars, when\); not GroupLens' movies.csv"):
        load_directory(movies.parent)


def test_movie_titles_in_either_encoding(tmp_path):
    """ml-1m wrote titles in latin-1, ml-10m in UTF-8; both read as written, under the name asked for."""
    latin = write_ml1m(tmp_path / "ml-1m")
    (latin / "movies.dat").write_bytes("1::Café Society (1995)::Comedy\n".encode("latin-1"))
    (latin / "ratings.dat").write_text("1::1::5::100\n")
    assert load_directory(latin).catalog.get("1").title == "Café Society (1995)"
    assert load_directory(latin).name == "ml-1m"
    utf8 = write_ml1m(tmp_path / "ml-10m" / "ml-10M100K")
    (utf8 / "movies.dat").write_bytes("1::Amélie (2001)::Comedy|Romance\n".encode("utf-8"))
    (utf8 / "ratings.dat").write_text("1::1::5::100\n")
    ds = load_directory(tmp_path / "ml-10m", name="ml-10m")  # the zip's folder one level down, named as asked
    assert ds.catalog.get("1").title == "Amélie (2001)" and ds.name == "ml-10m"


def test_a_folder_of_several_datasets_is_not_a_guess(tmp_path):
    """One level down is where a GroupLens zip unpacks; two datasets there name both, not the first."""
    write_ml1m(tmp_path / "sets" / "ml-1m")
    assert load_directory(tmp_path / "sets").name == "ml-1m"
    write_movielens_csv(tmp_path / "sets" / "ml-latest-small")
    with pytest.raises(DataError, match=r"sets: 2 datasets in folders here \(ml-1m, ml-latest-small\); pass the one"):
        load_directory(tmp_path / "sets")


def test_recbole_atomic(tmp_path):
    ds = load_directory(write_recbole(tmp_path / "tiny"))
    _check_tiny(ds)
    # RecBole keeps the year apart; the display title puts it back as people type it
    assert ds.catalog.get("5").title == "Usual Suspects, The (1995)"
    assert ds.catalog.get("5").fields["year"] == "1995"


def test_csv_and_jsonl_with_column_mapping(tmp_path):
    (tmp_path / "items.csv").write_text('sku,name,desc\nA,"Red, Shoe",running shoe\nB,Blue Hat,wool hat\n')
    (tmp_path / "events.jsonl").write_text(
        '{"who": "u1", "sku": "A", "when": 5}\n{"who": "u1", "sku": "B", "when": 3}\n{"who": "u2", "sku": "B"}\n')
    ds = load_table(tmp_path / "items.csv", tmp_path / "events.jsonl",
                    columns={"item_id": "sku", "title": "name", "user_id": "who", "timestamp": "when"})
    assert ds.catalog.get("A").title == "Red, Shoe"
    assert ds.catalog.get("A").fields == {"desc": "running shoe"}
    assert [ds.catalog.items[i].id for i in ds.interactions.user_history("u1")] == ["B", "A"]
    assert ds.interactions.user_times("u1").tolist() == [3.0, 5.0]
    with pytest.raises(UnknownUserError, match="unknown user id 'nobody'"):
        ds.interactions.user_times("nobody")
    assert np.isnan(ds.interactions.ratings).all() and np.isnan(ds.interactions.user_ratings("u1")).all()


def test_a_category_column_is_the_genres(tmp_path):
    """A shop keeps a "category", not "genres": named with --column genres=category it is what the
    prompt shows and the reasons share; a list of them keeps each whole (joined with |)."""
    from zsrec.evidence import item_genres
    from zsrec.prompts import PromptTemplate

    (tmp_path / "items.jsonl").write_text(
        '{"sku": "A", "name": "Red Shoe", "category": "Running Shoes", "tags": ["red", "light"]}\n'
        '{"sku": "B", "name": "Rain Jacket", "category": ["Outdoor Jackets", "Rain"]}\n')
    (tmp_path / "events.csv").write_text("who,sku\nu1,A\nu1,B\n")
    cols = {"item_id": "sku", "title": "name", "user_id": "who", "genres": "category"}
    ds = load_table(tmp_path / "items.jsonl", tmp_path / "events.csv", columns=cols)
    assert ds.catalog.get("A").fields == {"genres": "Running Shoes", "tags": "red light"}
    assert item_genres(ds.catalog.get("B")) == ("Outdoor Jackets", "Rain")
    shown = PromptTemplate("listwise").render([ds.catalog.get("A")], [ds.catalog.get("B")], 1, "product")
    assert "Red Shoe (Running Shoes)" in shown and "Rain Jacket (Outdoor Jackets|Rain)" in shown
    records = loaders.load_records([{"sku": "A", "name": "Red Shoe", "category": ("Running Shoes", "Sale")}], [{"who": "u", "sku": "A"}],
                                   columns=cols)
    assert item_genres(records.catalog.get("A")) == ("Running Shoes", "Sale")
    (tmp_path / "items.csv").write_text("sku,name,kind\nA,Red Shoe,Shoes\n")
    with pytest.raises(DataError, match="no column 'category' for genres in the header"):
        load_table(tmp_path / "items.csv", tmp_path / "events.csv", columns=cols)


def test_event_times_may_be_iso_dates(tmp_path):
    """Logs exported from databases stamp events as ISO 8601 text, not epoch seconds; both load, to the
    same seconds (a time without a zone is UTC), and the order and gaps the session signal needs hold."""
    (tmp_path / "items.csv").write_text("sku,name\nA,Red Shoe\nB,Blue Hat\nC,Green Sock\n")
    (tmp_path / "events.csv").write_text(
        "who,sku,ts\n"
        "u1,B,2024-03-01T10:00:30Z\n"        # Z
        "u1,A,2024-03-01 10:00:00\n"         # no zone: UTC
        "u1,C,2024-03-01T12:00:45.5+02:00\n"  # another zone, fractions of a second
        "u2,A,2024-03-02\n"                  # a date alone: its midnight
        "u2,B,1709287200\n")                  # epoch seconds in the same column
    cols = {"item_id": "sku", "title": "name", "user_id": "who", "timestamp": "ts"}
    ds = load_table(tmp_path / "items.csv", tmp_path / "events.csv", columns=cols)
    assert [ds.catalog.items[i].id for i in ds.interactions.user_history("u1")] == ["A", "B", "C"]
    assert ds.interactions.user_times("u1").tolist() == [1709287200.0, 1709287230.0, 1709287245.5]
    assert ds.interactions.user_times("u2").tolist() == [1709287200.0, 1709337600.0]
    assert ds.interactions.timed
    (tmp_path / "events.csv").write_text("who,sku,ts\nu1,A,2024-03-01\nu1,B,yesterday\n")
    with pytest.raises(DataError, match=r"events.csv:3: timestamp 'yesterday' is neither a number \(seconds "
                                        r"since 1970\) nor an ISO 8601 date"):
        load_table(tmp_path / "items.csv", tmp_path / "events.csv", columns=cols)
    assert len(load_table(tmp_path / "items.csv", tmp_path / "events.csv", columns=cols,
                          skip_bad_rows=True).interactions) == 1


@pytest.mark.parametrize("unit,per_second", [("milliseconds", 1e3), ("microseconds", 1e6), ("nanoseconds", 1e9)])
def test_epoch_numbers_in_smaller_units_are_read_as_such(tmp_path, unit, per_second):
    """JavaScript, Java and Kafka stamp milliseconds since 1970; as seconds those would fall after the
    year 5000, and picks a minute apart would look 17 hours apart to the session signal."""
    (tmp_path / "items.csv").write_text("sku,name\nA,Red Shoe\nB,Blue Hat\n")
    stamps = [1709287200, 1709287260, 1709290000]
    (tmp_path / "events.csv").write_text("who,sku,ts\n" + "".join(
        f"u1,{item},{int(t * per_second)}\n" for item, t in zip("ABA", stamps)))
    cols = {"item_id": "sku", "title": "name", "user_id": "who", "timestamp": "ts"}
    with pytest.warns(UserWarning, match=f"events.csv: timestamps read as {unit} since 1970"):
        ds = load_table(tmp_path / "items.csv", tmp_path / "events.csv", columns=cols)
    assert ds.interactions.user_times("u1").tolist() == [float(t) for t in stamps]
    (tmp_path / "events.csv").write_text("who,sku,ts\n" + "".join(
        f"u1,{item},{t}\n" for item, t in zip("ABA", stamps)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # seconds: read as they are, without a word
        assert load_table(tmp_path / "items.csv", tmp_path / "events.csv",
                          columns=cols).interactions.user_times("u1").tolist() == [float(t) for t in stamps]


def test_a_json_file_may_hold_one_array_of_objects(tmp_path):
    """What pandas' to_json(orient="records") and most APIs write: one array, pretty or on one line.
    Rows keep the array's order; an element that is not an object names its line."""
    items = [{"sku": "A", "name": "Red Shoe", "tags": ["running", "red"]}, {"sku": "B", "name": "Blue Hat"}]
    (tmp_path / "items.json").write_text(json.dumps(items, indent=2))
    events = [{"who": "u1", "sku": "B"}, {"who": "u1", "sku": "A"}, {"who": "u2", "sku": "A"}]
    (tmp_path / "events.json").write_text(json.dumps(events))
    cols = {"item_id": "sku", "title": "name", "user_id": "who"}
    ds = load_table(tmp_path / "items.json", tmp_path / "events.json", columns=cols)
    assert ds.catalog.get("A").title == "Red Shoe" and ds.catalog.get("A").fields == {"tags": "running red"}
    assert [ds.catalog.items[i].id for i in ds.interactions.user_history("u1")] == ["B", "A"]  # array order
    # JSON lines in a .json file still read as lines
    (tmp_path / "lines.json").write_text("\n".join(json.dumps(e) for e in events) + "\n")
    assert len(load_table(tmp_path / "items.json", tmp_path / "lines.json", columns=cols).interactions) == 3
    (tmp_path / "items.json").write_text('[\n  {"sku": "A", "name": "Red Shoe"},\n\n  "B",\n  {"sku": "C"}\n]\n')
    with pytest.raises(DataError, match=r"items.json:4: not a JSON object \(use skip_bad_rows"):
        load_table(tmp_path / "items.json", tmp_path / "events.json", columns=cols)
    assert load_table(tmp_path / "items.json", tmp_path / "lines.json", columns=cols,
                      skip_bad_rows=True).catalog.ids == ["A", "C"]
    for text, message in (('[{"sku": "A"},\n {"sku": "B"\n', r"items.json:2: not a valid JSON array"),
                          ('[{"sku": "A"}\n {"sku": "B"}]', r"items.json:2: not a valid JSON array \(expected , or \]\)"),
                          ('[{"sku": "A"}] x', r"items.json:1: not a valid JSON array \(text after the closing \]\)")):
        (tmp_path / "items.json").write_text(text)
        with pytest.raises(DataError, match=message):
            load_table(tmp_path / "items.json", tmp_path / "events.json", columns=cols, skip_bad_rows=True)


def _same_data(a, b):
    assert [(i.id, i.title, i.fields) for i in a.catalog] == [(i.id, i.title, i.fields) for i in b.catalog]
    for column in ("items", "timestamps"):
        assert getattr(a.interactions, column).tolist() == getattr(b.interactions, column).tolist()
    assert a.interactions.users.tolist() == b.interactions.users.tolist()
    np.testing.assert_array_equal(a.interactions.ratings, b.interactions.ratings)
    assert a.interactions.timed == b.interactions.timed


def test_records_already_in_python_load_as_their_files_would(tmp_path):
    """Rows from a database cursor or an API are dicts, and dates are datetimes: a Python user should
    not have to write files to get the same dataset that load_table reads from them."""
    from datetime import date, datetime, timedelta, timezone

    (tmp_path / "items.jsonl").write_text(
        '{"sku": "A", "name": "Red Shoe", "tags": ["running", "red"]}\n'
        '{"sku": "B", "name": "Blue Hat", "tags": null}\n{"sku": "C", "name": "Green Sock"}\n')
    (tmp_path / "events.csv").write_text(
        "who,sku,ts,stars\nu1,B,2024-03-01T10:00:30Z,4\nu1,A,2024-03-01T10:00:00Z,\n"
        "u1,C,2024-03-01T10:00:45.5Z,5\nu2,A,2024-03-02,3\n")
    cols = {"item_id": "sku", "title": "name", "user_id": "who", "timestamp": "ts", "rating": "stars"}
    from_files = load_table(tmp_path / "items.jsonl", tmp_path / "events.csv", columns=cols)
    t0 = datetime(2024, 3, 1, 10, 0, tzinfo=timezone.utc)
    items = [{"sku": "A", "name": "Red Shoe", "tags": ("running", "red")}, {"sku": "B", "name": "Blue Hat",
             "tags": None}, {"sku": "C", "name": "Green Sock"}]
    events = [{"who": "u1", "sku": "B", "ts": t0 + timedelta(seconds=30), "stars": 4},
              {"who": "u1", "sku": "A", "ts": t0.replace(tzinfo=None), "stars": None},  # naive: UTC
              {"who": "u1", "sku": "C", "ts": "2024-03-01T10:00:45.5Z", "stars": 5.0},
              {"who": "u2", "sku": "A", "ts": date(2024, 3, 2), "stars": np.int64(3)}]
    from_records = loaders.load_records(iter(items), (e for e in events), columns=cols, name="shop")
    _same_data(from_records, from_files)
    assert (from_records.name, from_records.source) == ("shop", "shop (Python records)")
    assert from_records.catalog.get("A").fields == {"tags": "running red"}


def test_records_name_a_bad_row_by_its_position():
    items = [{"item_id": "A"}, {"item_id": "B"}, {"item_id": "A"}]
    events = [{"user_id": "u1", "item_id": "A", "timestamp": 1}, {"user_id": "u1", "item_id": "Z"},
              ["u1", "B"], {"user_id": "u2", "item_id": "B", "timestamp": "yesterday"}]
    with pytest.raises(DataError, match=r"^items\[2\]: duplicate item id 'A'"):
        loaders.load_records(items, events)
    with pytest.raises(DataError, match=r"^interactions\[1\]: item id 'Z' is not in the catalog"):
        loaders.load_records(items[:2], events)
    with pytest.raises(DataError, match=r"^interactions\[1\]: not a mapping of column to value \(a list\)"):
        loaders.load_records(items[:2], [events[0], events[2]])
    ds = loaders.load_records(items, events, skip_bad_rows=True)
    assert (ds.skipped_rows, len(ds.catalog), len(ds.interactions)) == (4, 2, 1)
    with pytest.raises(DataError, match=r"^items\[0\]: no column 'sku' for item_id \(columns: item_id\); name it "
                                        r"with columns=\{'item_id': NAME\}"):
        loaders.load_records(items, events, columns={"item_id": "sku"})
    with pytest.raises(DataError, match="got a str; for files use load_table"):
        loaders.load_records("items.csv", events)
    with pytest.raises(DataError, match=r"^interactions: expected records .*, got one dict; pass \[interactions\]"):
        loaders.load_records(items[:2], events[0])
    with pytest.raises(DataError, match=r"^interactions: no usable interactions"):
        loaders.load_records(items[:2], [])
    untimed = loaders.load_records(items[:2], [{"user_id": "u", "item_id": "B"}, {"user_id": "u", "item_id": "A"}])
    assert not untimed.interactions.timed  # no clock: the records' order is the order
    assert [untimed.catalog.items[i].id for i in untimed.interactions.user_history("u")] == ["B", "A"]


def test_dataframes_load_with_their_types():
    """pandas is how most Python users hold a table: datetime columns, integer ids, NaN and NaT for the
    empty cells, epoch milliseconds from a JavaScript log."""
    import pandas as pd
    items = pd.DataFrame({"item_id": [10, 20, 30], "title": ["Red Shoe", "Blue Hat", None],
                          "price": [9.5, np.nan, 3.0]})
    events = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [20, 10, 30],
                           "timestamp": pd.to_datetime(["2024-03-01 10:00:30", "2024-03-01 10:00:00", None]),
                           "rating": [4.0, np.nan, 5.0]})
    ds = loaders.load_records(items, events)
    assert [(i.id, i.title, i.fields) for i in ds.catalog] == [
        ("10", "Red Shoe", {"price": "9.5"}), ("20", "Blue Hat", {}), ("30", "30", {"price": "3.0"})]
    assert not ds.interactions.timed  # a NaT is a row without a time, as an empty cell is
    ds = loaders.load_records(items, events.iloc[:2])
    assert ds.interactions.timed
    assert [ds.catalog.items[i].id for i in ds.interactions.user_history("1")] == ["10", "20"]
    assert ds.interactions.user_times("1").tolist() == [1709287200.0, 1709287230.0]
    np.testing.assert_array_equal(ds.interactions.user_ratings("1"), [np.nan, 4.0])
    by_index = loaders.load_records(items.set_index("item_id"), events.iloc[:2].set_index(["user_id", "item_id"]))
    assert [i.id for i in by_index.catalog] == ["10", "20", "30"] and len(by_index.interactions) == 2
    berlin = events.iloc[:2].assign(timestamp=events.timestamp.iloc[:2].dt.tz_localize("Europe/Berlin"))  # UTC+1
    assert loaders.load_records(items, berlin).interactions.user_times("1").tolist() == [1709283600.0, 1709283630.0]
    millis = events.iloc[:2].assign(timestamp=[1709287230000, 1709287200000])
    with pytest.warns(UserWarning, match="interactions: timestamps read as milliseconds since 1970"):
        ds = loaders.load_records(items, millis)
    assert ds.interactions.user_times("1").tolist() == [1709287200.0, 1709287230.0]
    with pytest.raises(DataError, match=r"^interactions: no column 'when' for timestamp \(columns: user_id, "
                                        r"item_id, timestamp, rating\)"):
        loaders.load_records(items, events, columns={"timestamp": "when"})


def test_ml100k_through_dataframes_is_the_same_dataset(ml100k):
    """The whole of ML-100K handed over as pandas frames (epoch seconds as a datetime column) loads as
    the very dataset the files give: the same items, picks, times and ratings, in the same order."""
    import pandas as pd

    items = pd.DataFrame([{"item_id": it.id, "title": it.title, **it.fields} for it in ml100k.catalog])
    inter = ml100k.interactions
    events = pd.DataFrame({"user_id": inter.users, "item_id": [ml100k.catalog.items[i].id for i in inter.items],
                           "timestamp": pd.to_datetime(inter.timestamps, unit="s"), "rating": inter.ratings})
    _same_data(loaders.load_records(items, events), ml100k)


def test_resolution_prefers_explicit_path(ml100k_dir):
    ds = load_dataset("ml-100k", data_path=ml100k_dir)
    assert len(ds.catalog) == len(TINY_ITEMS)


def test_packaged_ml100k(ml100k):
    assert len(ml100k.catalog) == 1682 and len(ml100k.interactions) == 100_000
    assert ml100k.catalog.get("1").title == "Toy Story (1995)"
    assert "recbole" in ml100k.source


def _zip_of(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in folder.iterdir():
            zf.write(f, f"ml-100k/{f.name}")
    return buf.getvalue()


def test_a_downloaded_zip_loads_as_it_is(tmp_path, monkeypatch):
    """`--data-path ml-latest-small.zip`: the file GroupLens serves, not yet unpacked, is unpacked once
    into the cache and loaded; a newer zip of the same name is unpacked again."""
    monkeypatch.setenv("ZSREC_CACHE_DIR", str(tmp_path / "cache"))
    src = write_movielens_csv(tmp_path / "ml-latest-small")
    archive = tmp_path / "downloads" / "ml-latest-small.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        for f in src.iterdir():
            zf.write(f, f"ml-latest-small/{f.name}")
    ds = load_dataset("ml-100k", data_path=archive)
    assert ds.name == "ml-latest-small" and len(ds.catalog) == len(load_directory(src).catalog)
    unpacked = tmp_path / "cache" / "data" / "unzipped" / "ml-latest-small"
    first = (unpacked / ".zsrec-source").stat().st_mtime_ns
    assert len(load_directory(archive).interactions) == len(ds.interactions)
    assert (unpacked / ".zsrec-source").stat().st_mtime_ns == first  # not unpacked again
    with zipfile.ZipFile(archive, "w") as zf:  # a newer download: one rating fewer
        zf.writestr("ml-latest-small/movies.csv", (src / "movies.csv").read_text())
        zf.writestr("ml-latest-small/ratings.csv", "".join((src / "ratings.csv").read_text().splitlines(True)[:-1]))
    assert len(load_directory(archive).interactions) == len(ds.interactions) - 1
    (tmp_path / "notes.zip").write_text("not a zip")
    with pytest.raises(DataError, match=r"notes.zip: not a folder \(pass a dataset's folder, or the .zip"):
        load_directory(tmp_path / "notes.zip")


def test_download_path_unpacks_and_caches(tmp_path, monkeypatch):
    """The GroupLens path, served from a local file:// URL, unpacks into the cache and loads."""
    archive = tmp_path / "ml-100k.zip"
    archive.write_bytes(_zip_of(write_ml100k(tmp_path / "src")))
    monkeypatch.setenv("ZSREC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(loaders, "packaged_recbole_path", lambda name: None)
    monkeypatch.setitem(loaders.GROUPLENS_URLS, "ml-100k", archive.as_uri())
    ds = load_dataset("ml-100k")
    assert len(ds.catalog) == len(TINY_ITEMS)
    archive.unlink()  # second load comes from the cache, no download
    assert len(load_dataset("ml-100k").interactions) == len(TINY_RATINGS)


def test_every_grouplens_set_downloads_by_name(tmp_path, monkeypatch):
    """A current GroupLens set by name: fetched, unpacked into its folder, loaded and named."""
    src = write_movielens_csv(tmp_path / "src")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in src.iterdir():
            zf.write(f, f"ml-latest-small/{f.name}")
    (tmp_path / "ml-latest-small.zip").write_bytes(buf.getvalue())
    monkeypatch.setenv("ZSREC_CACHE_DIR", str(tmp_path / "cache"))
    assert loaders.GROUPLENS_URLS["ml-25m"] == "https://files.grouplens.org/datasets/movielens/ml-25m.zip"
    monkeypatch.setitem(loaders.GROUPLENS_URLS, "ml-latest-small", (tmp_path / "ml-latest-small.zip").as_uri())
    ds = load_dataset("ml-latest-small")
    _check_tiny(ds)
    assert ds.name == "ml-latest-small"
    assert (tmp_path / "cache" / "data" / "ml-latest-small" / "ml-latest-small" / "ratings.csv").is_file()


def test_download_failure_is_clear(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSREC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(loaders, "packaged_recbole_path", lambda name: None)
    monkeypatch.setitem(loaders.GROUPLENS_URLS, "ml-1m", (tmp_path / "missing.zip").as_uri())
    with pytest.raises(DatasetNotFound, match=r"pass --data-path to a local copy \(the .zip GroupLens serves, or its unzipped"):
        load_dataset("ml-1m")
    (tmp_path / "page.zip").write_text("<html>moved</html>")  # a server that answers with a page
    monkeypatch.setitem(loaders.GROUPLENS_URLS, "ml-1m", (tmp_path / "page.zip").as_uri())
    with pytest.raises(DatasetNotFound, match="page.zip is not a zip archive"):
        load_dataset("ml-1m")
    assert not (tmp_path / "cache" / "data" / "ml-1m").exists()  # nothing half-made is left in the cache


def test_unknown_dataset_name():
    with pytest.raises(DatasetNotFound, match="unknown dataset 'nope'"):
        load_dataset("nope")
