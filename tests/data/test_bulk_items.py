"""Items files and frames read in blocks give the catalog the rows give, or step aside for them.

Each items file (and DataFrame) is loaded twice: as zsrec loads it, and with the bulk read turned off
(every item then made from its own {column: text} row). Both must give the same items in the same
order, each with the same id, title and fields in the same order (what the retriever's text and the
index fingerprint are made of), or the same error, and with ``skip_bad_rows`` the same count; the
plain ones must have been read in bulk, so that the comparison is not of the rows with themselves."""

import gc
import json

import numpy as np
import pytest

from zsrec import bulk_items, bulk_json, records
from zsrec import records as records_module
from zsrec.errors import DataError
from zsrec.loaders import load_records, load_table
from conftest import bulk_and_rows

EVENTS = "user_id,item_id,timestamp\nu1,1,100\nu1,3,200\nu2,1,300\n"


def catalog_of(load) -> tuple:
    """What a load gave: every item's id, title and fields in order, the skipped count and the
    fingerprint, or the error."""
    try:
        ds = load()
    except DataError as e:
        return ("error", str(e))
    return ("data", [(item.id, item.title, list(item.fields.items())) for item in ds.catalog], ds.skipped_rows,
            ds.catalog.fingerprint(), len(ds.interactions))


def file_both(monkeypatch, tmp_path, text: str | bytes, name: str = "items.csv", encoding: str = "utf-8",
              reader: str = "read_items_table", **kwargs):
    """``text`` as the items file ``name`` (events.csv beside it, its columns named as ``columns``
    names them), loaded with ``load_table`` in bulk and row by row."""
    items = tmp_path / name
    items.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    events = tmp_path / "events.csv"
    named = kwargs.get("columns", {})
    header = ",".join(named.get(key, key) for key in ("user_id", "item_id", "timestamp"))
    events.write_text(EVENTS.replace("user_id,item_id,timestamp", header), encoding=encoding)
    return bulk_and_rows(monkeypatch, bulk_items, reader,
                         lambda: load_table(items, events, encoding=encoding, **kwargs), catalog_of)


PLAIN = "item_id,title,genres\n1,Toy Story (1995),Animation|Comedy\n3,Fargo (1996),Crime\n7,Heat (1995),\n"

READ_IN_BULK = {
    "plain": (PLAIN, {}),
    "no line end at the end": (PLAIN.rstrip("\n"), {}),
    "spaces stripped, around ids, titles, fields and names": (
        " item_id , title ,genres, year\n 1 ,  Toy Story ,Animation , 1995\n3,Fargo, ,\n  7,Heat,Crime,  \n", {}),
    "an empty title is the id": ("item_id,title,genres\n1,,Comedy\n3,  ,Crime\n7,Heat,Action\n", {}),
    "no title column": ("item_id,genres\n1,Comedy\n3,Crime\n7,Action\n", {}),
    "ids alone": ("item_id\n1\n3\n7\n", {}),
    "many fields, some empty": ("item_id,title,year,genres,description\n1,Toy Story,1995,,Toys\n3,Fargo,,Crime,\n"
                                "7,Heat,1995,Action,A heist\n", {}),
    "named columns, the category renamed genres and moved last": (
        "sku,category,name,colour\n1,Shoes,Runner,red\n3,,Boot,\n7,Hats,Cap,blue\n",
        {"columns": {"item_id": "sku", "title": "name", "genres": "category"}}),
    "a category named beside a genres column": (
        "item_id,genres,title,category\n1,Comedy,Toy Story,Family\n3,Crime,Fargo,\n7,,Heat,Action\n",
        {"columns": {"genres": "category"}}),
    "the title named as the id": ("item_id,genres\n1,Comedy\n3,Crime\n7,Action\n", {"columns": {"title": "item_id"}}),
    "a byte-order mark": ("\ufeff" + PLAIN, {}),
    "Windows line ends": (PLAIN.replace("\n", "\r\n"), {}),
    "old Mac line ends": (PLAIN.replace("\n", "\r"), {}),
    "blank and white-space lines": ("\n\nitem_id,title\n\n1,Toy Story\n \t\n3,Fargo\n\u3000\n7,Heat\n\n", {}),
    "text outside ASCII, a NUL, a vertical tab and a line separator inside a field": (
        "item_id,title,genres\n1,Amélie \u2028 (2001),Comédie\n3,Far\x00go,Cri\x0bme\n7,東京物語,ドラマ\n", {}),
    "tab-separated": (PLAIN.replace(",", "\t"), {"name": "items.tsv"}),
    "commas inside tab-separated fields": ("item_id\ttitle\n1\tToy Story, the first\n3\tFargo\n7\tHeat\n",
                                           {"name": "items.tsv"}),
    "a long line within csv's limit": (f"item_id,title,description\n1,Toy Story,{'x' * 5000}\n3,Fargo,\n7,Heat,\n", {}),
    "a quoted title holding the separator, as pandas' to_csv writes it": (
        'item_id,title\n1,"Toy Story, the first"\n3,Fargo\n7,Heat\n', {}),
    "quoted ids, header names and empty fields; a doubled quote": (
        '"item_id","title","genres"\n"1","Toy ""Story""",""\n" 3 ","Fargo","Crime"\n7,Heat,\n', {}),
    "a quoted field across lines, a blank line inside it": (
        'item_id,title,genres\n1,"Toy\nStory\n\n(1995)",Comedy\n3,Fargo,Crime\n7,Heat,\n', {}),
    "a quote inside an unquoted field": ('item_id,title\n1,Toy 12" Story\n3,Fargo\n7,Heat\n', {}),
    "quoted tab-separated fields": ('item_id\ttitle\n1\t"Toy\tStory"\n3\tFargo\n7\tHeat\n', {"name": "items.tsv"}),
}

LEFT_TO_ROWS = {
    "an empty quoted id": ('item_id,title\n1,Toy Story\n"",Nobody\n3,Fargo\n7,Heat\n', {}),
    "a row short of a field": ("item_id,title,genres\n1,Toy Story\n3,Fargo,Crime\n7,Heat,Action\n", {}),
    "a row with a field too many": ("item_id,title\n1,Toy Story,Comedy\n3,Fargo\n7,Heat\n", {}),
    "an empty id": ("item_id,title\n1,Toy Story\n,Nobody\n3,Fargo\n7,Heat\n", {}),
    "an id of spaces": ("item_id,title\n1,Toy Story\n   ,Nobody\n3,Fargo\n7,Heat\n", {}),
    "an id held twice": ("item_id,title\n1,Toy Story\n3,Fargo\n1,Toy Story again\n7,Heat\n", {}),
    "an id held twice, once with spaces": ("item_id,title\n1,Toy Story\n3,Fargo\n 1 ,Again\n7,Heat\n", {}),
    "a column named twice": ("item_id,title,title\n1,Toy Story,A\n3,Fargo,B\n7,Heat,C\n", {}),
    "a named column missing": (PLAIN, {"columns": {"genres": "category"}}),
    "no id column": ("sku,title\n1,Toy Story\n3,Fargo\n7,Heat\n", {}),
    "a header alone": ("item_id,title\n", {}),
    "an empty file": ("", {}),
    "blank lines alone": ("\n \n\n", {}),
    "a line past csv's field limit": (f"item_id,title\n1,{'x' * 140_000}\n3,Fargo\n7,Heat\n", {}),  # the rows' error
}


@pytest.mark.parametrize("case", sorted(READ_IN_BULK))
def test_plain_items_files_are_read_in_bulk_to_the_same_catalog(tmp_path, monkeypatch, case):
    text, kwargs = READ_IN_BULK[case]
    for skip in (False, True):
        bulk, rows, used = file_both(monkeypatch, tmp_path, text, **kwargs, skip_bad_rows=skip)
        assert used and bulk[0] == "data" and bulk == rows


@pytest.mark.parametrize("case", sorted(LEFT_TO_ROWS))
def test_other_items_files_are_left_to_the_rows(tmp_path, monkeypatch, case):
    text, kwargs = LEFT_TO_ROWS[case]
    for skip in (False, True):
        bulk, rows, used = file_both(monkeypatch, tmp_path, text, **kwargs, skip_bad_rows=skip)
        assert not used and bulk == rows


def test_what_the_bulk_read_gives(tmp_path, monkeypatch):
    """Not only what the rows give: the items themselves, as the README describes them."""
    text, kwargs = READ_IN_BULK["named columns, the category renamed genres and moved last"]
    bulk, _, used = file_both(monkeypatch, tmp_path, text, **kwargs)
    assert used and bulk[1] == [("1", "Runner", [("colour", "red"), ("genres", "Shoes")]), ("3", "Boot", []),
                                ("7", "Cap", [("colour", "blue"), ("genres", "Hats")])]
    bulk, _, used = file_both(monkeypatch, tmp_path, READ_IN_BULK["an empty title is the id"][0])
    assert used and [title for _, title, _ in bulk[1]] == ["1", "3", "Heat"]


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16", "utf-8-sig"])
def test_the_files_encoding_is_read_as_the_rows_read_it(tmp_path, monkeypatch, encoding):
    text = "item_id,title\n1,Amélie\n3,Fargo\n7,Heat\n"
    bulk, rows, used = file_both(monkeypatch, tmp_path, text, encoding=encoding)
    assert used and bulk == rows and bulk[1][0][1] == "Amélie"


def test_bytes_that_do_not_decode_are_the_rows_error(tmp_path, monkeypatch):
    bulk, rows, used = file_both(monkeypatch, tmp_path, b"item_id,title\n1,Am\xe9lie\n3,Fargo\n7,Heat\n")
    assert not used and bulk == rows and "not valid utf-8 text" in bulk[1]


@pytest.mark.parametrize("size", [1, 7, 64])
def test_chunks_cut_anywhere_give_the_same_catalog(tmp_path, monkeypatch, size):
    """A chunk of rows ends after a byte-order mark's line, blank lines, a quoted field across lines;
    a short row in a late chunk still sends the whole file to the rows."""
    monkeypatch.setattr(bulk_items, "CHUNK_ROWS", size)
    text = "\ufeff" + READ_IN_BULK["blank and white-space lines"][0].replace("\n", "\r\n") + "9,Ninth\r\n" * 20
    bulk, rows, used = file_both(monkeypatch, tmp_path, text, skip_bad_rows=True)  # 9 held 20 times: skipped
    assert not used and bulk == rows and bulk[2] == 19
    bulk, rows, used = file_both(monkeypatch, tmp_path, text.replace("9,Ninth\r\n" * 20, "".join(
        f"{9 + k},Item {k}\r\n" for k in range(20))))
    assert used and bulk == rows and len(bulk[1]) == 23
    bulk, rows, used = file_both(monkeypatch, tmp_path, text.replace("9,Ninth\r\n" * 20, '9,"Ninth\r\nItem"\r\n'))
    assert used and bulk == rows and bulk[1][-1][1] == "NinthItem"  # a quoted field across lines, in the last chunk
    bulk, rows, used = file_both(monkeypatch, tmp_path, text.replace("9,Ninth\r\n" * 20, "9\r\n"))
    assert not used and bulk == rows  # a short row in a late chunk


def test_a_missing_items_file_is_the_rows_error(tmp_path, monkeypatch):
    events = tmp_path / "events.csv"
    events.write_text(EVENTS)
    bulk, rows, used = bulk_and_rows(monkeypatch, bulk_items, "read_items_table",
                                     lambda: load_table(tmp_path / "nope.csv", events), catalog_of)
    assert not used and bulk == rows and "file not found" in bulk[1]


# ---------------------------------------------------------------- DataFrames

pd = pytest.importorskip("pandas")
EVENT_FRAME = pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": ["1", "3", "1"], "timestamp": [100, 200, 300]})


def items_frame(**changed):
    data = {"item_id": ["1", "3", "7"], "title": ["Toy Story", "Fargo", "Heat"], "genres": ["Comedy", "Crime", ""],
            **changed}
    return pd.DataFrame({k: v for k, v in data.items() if v is not None})


def frame_both(monkeypatch, frame, events=EVENT_FRAME, **kwargs):
    return bulk_and_rows(monkeypatch, records, "read_items_frame",
                         lambda: load_records(frame, events, **kwargs), catalog_of)


FRAMES_IN_BULK = {
    "text": lambda: items_frame(),
    "spaces stripped": lambda: items_frame(item_id=[" 1", "3 ", "7"], title=["  Toy Story", "", " "]),
    "an integer column": lambda: items_frame(year=[1995, 1996, 1995]),
    "an unsigned column": lambda: items_frame(year=np.array([1995, 1996, 1995], dtype=np.uint16)),
    "a float column with a NaN": lambda: items_frame(price=[9.5, np.nan, 1e-7]),
    "integer ids": lambda: items_frame(item_id=[1, 3, 7]),
    "missing cells as None and NaN among text": lambda: items_frame(genres=["Comedy", None, np.nan]),
    "mixed cells: text, integers, floats": lambda: items_frame(note=["x", 3, 4.5]),
    "categories": lambda: items_frame(genres=pd.Categorical(["Comedy", "Crime", "Comedy"])),
    "pandas' strings": lambda: items_frame(title=pd.array(["Toy Story", "Fargo", "Heat"], dtype="string")),
    "no title column": lambda: items_frame(title=None),
    "a column of yes and no": lambda: items_frame(seen=[True, False, True]),
    "yes and no among text": lambda: items_frame(note=[True, "x", None]),
    "genres and tags as lists (genres joined by |, tags by spaces)": lambda: items_frame(
        genres=[["Comedy", "Family Film"], ["Crime"], []], tags=[["a", "b"], [], ["c"]]),
}

FRAMES_TO_ROWS = {
    "a date-time column": lambda: items_frame(released=pd.to_datetime([1, 2, 3], unit="D")),
    "genres as a list holding a number": lambda: items_frame(genres=[["Comedy", 1], ["Crime"], []]),
    "a missing cell among pandas' strings": lambda: items_frame(title=pd.array(["Toy Story", None, "Heat"], dtype="string")),
    "numpy integers in an object column": lambda: items_frame(year=pd.Series([np.int64(1995)] * 3, dtype=object)),
    "a missing id": lambda: items_frame(item_id=["1", None, "7"]),
    "an id held twice": lambda: items_frame(item_id=["1", "3", "1"]),
    "two columns of one name": lambda: items_frame().rename(columns={"genres": "title"}),
    "no items": lambda: items_frame().iloc[:0],
}


@pytest.mark.parametrize("case", sorted(FRAMES_IN_BULK))
def test_plain_item_frames_are_read_in_bulk_to_the_same_catalog(monkeypatch, case):
    for skip in (False, True):
        bulk, rows, used = frame_both(monkeypatch, FRAMES_IN_BULK[case](), skip_bad_rows=skip)
        assert used and bulk[0] == "data" and bulk == rows


@pytest.mark.parametrize("case", sorted(FRAMES_TO_ROWS))
def test_other_item_frames_are_left_to_the_rows(monkeypatch, case):
    for skip in (False, True):
        bulk, rows, used = frame_both(monkeypatch, FRAMES_TO_ROWS[case](), skip_bad_rows=skip)
        assert not used and bulk == rows


# ---------------------------------------------------------------- JSON Lines files

def json_both(monkeypatch, tmp_path, text: str | bytes, name: str = "items.jsonl", **kwargs):
    return file_both(monkeypatch, tmp_path, text, name, reader="read_items_json", **kwargs)


def jsonl(*objects) -> str:
    return "".join(json.dumps(o) + "\n" for o in objects)


TOY, FARGO, HEAT = ({"item_id": "1", "title": "Toy Story", "genres": ["Animation", "Comedy"]},
                    {"item_id": "3", "title": "Fargo", "genres": ["Crime"]}, {"item_id": "7", "title": "Heat", "genres": []})

JSON_IN_BULK = {
    "plain": (jsonl(TOY, FARGO, HEAT), {}),
    "genres joined by |, other lists by spaces, numbers, bools and nulls as the rows write them": (jsonl(
        {**TOY, "tags": ["toys", "pixar"], "year": 1995, "price": 9.5, "new": True, "note": None},
        {**FARGO, "tags": [], "year": 1996, "price": 1e-07, "new": False, "note": "snow"},
        {**HEAT, "tags": ["heist"], "year": 1995, "price": 3, "new": None, "note": ""}), {}),
    "an object inside an object (the line-by-line parse)": (jsonl({**TOY, "meta": {"a": 1}}, {**FARGO, "meta": {}},
                                                                  {**HEAT, "meta": None}), {}),
    "ids as integers, titles as numbers": (jsonl({"item_id": 1, "title": 1917}, {"item_id": 3, "title": "Fargo"},
                                                 {"item_id": 7, "title": None}), {}),
    "spaces stripped, an empty title": (jsonl({"item_id": " 1 ", "title": " "}, {"item_id": "3", "title": "Fargo "},
                                              {"item_id": "7", "title": "Heat"}), {}),
    "named keys, the category renamed genres": (jsonl(
        {"sku": "1", "name": "Runner", "category": ["Shoes", "Running Shoes"]}, {"sku": "3", "name": "Boot", "category": None},
        {"sku": "7", "name": "Cap", "category": "Hats"}),
        {"columns": {"item_id": "sku", "title": "name", "genres": "category"}}),
    "blank lines, Windows line ends and a byte-order mark": ("\ufeff\r\n" + jsonl(TOY, FARGO).replace("\n", "\r\n") + "  \n"
                                                          + jsonl(HEAT), {}),
    "text outside ASCII": (jsonl({"item_id": "1", "title": "Amélie"}, {"item_id": "3", "title": "東京物語"},
                                 {"item_id": "7", "title": "Heat \u2028"}), {}),
    ".ndjson": (jsonl(TOY, FARGO, HEAT), {"name": "items.ndjson"}),
    ".json holding one object a line": (jsonl(TOY, FARGO, HEAT), {"name": "items.json"}),
}

JSON_TO_ROWS = {
    "keys in another order": (jsonl(TOY, {"title": "Fargo", "item_id": "3", "genres": []}, HEAT), {}),
    "a key missing": (jsonl(TOY, {"item_id": "3", "title": "Fargo"}, HEAT), {}),
    "a key more": (jsonl(TOY, {**FARGO, "year": 1996}, HEAT), {}),
    "a line that is no JSON": (jsonl(TOY, FARGO) + "{item_id: 7}\n", {}),
    "a line that is no object": (jsonl(TOY, FARGO, [HEAT]), {}),
    "an empty id": (jsonl(TOY, {**FARGO, "item_id": " "}, HEAT), {}),
    "a null id": (jsonl(TOY, {**FARGO, "item_id": None}, HEAT), {}),
    "no id key": (jsonl({"title": "Toy Story"}, {"title": "Fargo"}), {}),
    "an id held twice": (jsonl(TOY, FARGO, {**HEAT, "item_id": "1"}), {}),
    "one JSON array": (json.dumps([TOY, FARGO, HEAT], indent=1), {"name": "items.json"}),
    "a carriage return alone": (jsonl(TOY, FARGO).replace("\n", "\r", 1) + jsonl(HEAT), {}),
    "no objects": ("\n \n", {}),
}


@pytest.mark.parametrize("case", sorted(JSON_IN_BULK))
def test_plain_json_lines_catalogs_are_read_in_bulk_to_the_same_catalog(tmp_path, monkeypatch, case):
    text, kwargs = JSON_IN_BULK[case]
    for skip in (False, True):
        bulk, rows, used = json_both(monkeypatch, tmp_path, text, **kwargs, skip_bad_rows=skip)
        assert used and bulk[0] == "data" and bulk == rows


@pytest.mark.parametrize("case", sorted(JSON_TO_ROWS))
def test_other_json_lines_catalogs_are_left_to_the_rows(tmp_path, monkeypatch, case):
    text, kwargs = JSON_TO_ROWS[case]
    for skip in (False, True):
        bulk, rows, used = json_both(monkeypatch, tmp_path, text, **kwargs, skip_bad_rows=skip)
        assert not used and bulk == rows


def test_json_lines_values_as_the_rows_write_them(tmp_path, monkeypatch):
    bulk, _, used = json_both(monkeypatch, tmp_path, JSON_IN_BULK[
        "genres joined by |, other lists by spaces, numbers, bools and nulls as the rows write them"][0])
    assert used and bulk[1][0] == ("1", "Toy Story", [("genres", "Animation|Comedy"), ("tags", "toys pixar"),
                                                      ("year", "1995"), ("price", "9.5"), ("new", "True")])
    assert bulk[1][2] == ("7", "Heat", [("tags", "heist"), ("year", "1995"), ("price", "3")])


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_a_json_lines_catalogs_encoding_is_read_as_the_rows_read_it(tmp_path, monkeypatch, encoding):
    text = jsonl({**TOY, "title": "Amélie"}, FARGO, HEAT).replace("\\u00e9", "é")
    bulk, rows, used = json_both(monkeypatch, tmp_path, text, encoding=encoding)
    assert used and bulk == rows and bulk[1][0][1] == "Amélie"


@pytest.mark.parametrize("size", [1, 7, 64])
def test_json_lines_blocks_cut_anywhere_give_the_same_catalog(tmp_path, monkeypatch, size):
    monkeypatch.setattr(bulk_json, "BLOCK_CHARS", size)
    text = "\ufeff" + jsonl(TOY, FARGO, HEAT, *({"item_id": f"x{k}", "title": "É", "genres": ["a"]} for k in range(20)))
    bulk, rows, used = json_both(monkeypatch, tmp_path, text.replace("\n", "\r\n"))
    assert used and bulk == rows and len(bulk[1]) == 23
    bulk, rows, used = json_both(monkeypatch, tmp_path, text + jsonl({"title": "x19", "item_id": "y"}))
    assert not used and bulk == rows  # keys in another order in the last block


# ---------------------------------------------------------------- lists of dicts

def dicts_both(monkeypatch, make, events=EVENT_FRAME, **kwargs):
    """The records ``make()`` gives (made again for each load: an iterator is read once) loaded in
    bulk and row by row."""
    return bulk_and_rows(monkeypatch, records_module, "read_items_dicts",
                         lambda: load_records(make(), events, **kwargs), catalog_of)


DICTS_IN_BULK = {
    "plain": lambda: [dict(TOY), dict(FARGO), dict(HEAT)],
    "a tuple of them": lambda: (dict(TOY), dict(FARGO), dict(HEAT)),
    "cells of every kind taken": lambda: [{**TOY, "year": 1995, "price": float("nan"), "new": True, "tags": ["a", "b"]},
                                          {**FARGO, "year": 1996, "price": 2.5, "new": None, "tags": []},
                                          {**HEAT, "year": 0, "price": 1e300, "new": False, "tags": ["c"]}],
    "named keys": lambda: [{"sku": "1", "kind": "Shoes", "name": "Runner"}, {"sku": "3", "kind": None, "name": "Boot"},
                           {"sku": "7", "kind": ["Hats", "Caps"], "name": " "}],
}

DICTS_TO_ROWS = {
    "an iterator": lambda: iter([dict(TOY), dict(FARGO), dict(HEAT)]),
    "keys in another order": lambda: [dict(TOY), {"title": "Fargo", "item_id": "3", "genres": []}, dict(HEAT)],
    "a key missing": lambda: [dict(TOY), {"item_id": "3", "title": "Fargo"}, dict(HEAT)],
    "a mapping that is not a dict": lambda: [dict(TOY), __import__("collections").OrderedDict(FARGO), dict(HEAT)],
    "a key that is not text": lambda: [{**TOY, 1: "x"}, {**FARGO, 1: "y"}, {**HEAT, 1: "z"}],
    "a date": lambda: [{**TOY, "day": __import__("datetime").date(1995, 1, 1)}, {**FARGO, "day": None}, {**HEAT, "day": None}],
    "a numpy number": lambda: [{**TOY, "year": np.int64(1995)}, {**FARGO, "year": 1}, {**HEAT, "year": 2}],
    "a list holding a number": lambda: [{**TOY, "genres": ["a", 1]}, dict(FARGO), dict(HEAT)],
    "a missing id": lambda: [dict(TOY), {**FARGO, "item_id": None}, dict(HEAT)],
    "no records": lambda: [],
    "something other than a record": lambda: [dict(TOY), "Fargo", dict(HEAT)],
}


@pytest.mark.parametrize("case", sorted(DICTS_IN_BULK))
def test_plain_lists_of_dicts_are_read_in_bulk_to_the_same_catalog(monkeypatch, case):
    named = {"columns": {"item_id": "sku", "title": "name", "genres": "kind"}} if case == "named keys" else {}
    events = EVENT_FRAME.rename(columns={"item_id": "sku"}) if named else EVENT_FRAME
    for skip in (False, True):
        bulk, rows, used = dicts_both(monkeypatch, DICTS_IN_BULK[case], events, **named, skip_bad_rows=skip)
        assert used and bulk[0] == "data" and bulk == rows


@pytest.mark.parametrize("case", sorted(DICTS_TO_ROWS))
def test_other_lists_of_dicts_are_left_to_the_rows(monkeypatch, case):
    for skip in (False, True):
        bulk, rows, used = dicts_both(monkeypatch, DICTS_TO_ROWS[case], skip_bad_rows=skip)
        assert not used and bulk == rows


def test_lists_of_dicts_chunked(monkeypatch):
    monkeypatch.setattr(bulk_items, "CHUNK_ROWS", 2)
    long = [dict(TOY), dict(FARGO), dict(HEAT), *({"item_id": f"x{k}", "title": "X", "genres": []} for k in range(3))]
    bulk, rows, used = dicts_both(monkeypatch, lambda: long)
    assert used and bulk == rows and len(bulk[1]) == 6
    long[-1]["item_id"] = ""
    bulk, rows, used = dicts_both(monkeypatch, lambda: long)
    assert not used and bulk == rows  # an empty id in a later chunk


def test_item_frames_named_indexed_and_chunked(monkeypatch):
    """``columns=`` names the frame's columns, an id kept as the index is read as a column, and a
    frame longer than a chunk reads the same."""
    frame = items_frame().rename(columns={"item_id": "sku", "genres": "kind"})
    named = {"item_id": "sku", "genres": "kind"}
    for given in (frame, frame.set_index("sku")):
        bulk, rows, used = frame_both(monkeypatch, given, EVENT_FRAME.rename(columns={"item_id": "sku"}), columns=named)
        assert used and bulk == rows and bulk[1][0] == ("1", "Toy Story", [("genres", "Comedy")])
    monkeypatch.setattr(bulk_items, "CHUNK_ROWS", 2)
    long = pd.concat([items_frame(), items_frame(item_id=[f"x{k}" for k in range(3)])], ignore_index=True)
    bulk, rows, used = frame_both(monkeypatch, long)
    assert used and bulk == rows and len(bulk[1]) == 6
    bulk, rows, used = frame_both(monkeypatch, long.assign(item_id=["1", "3", "7", "x0", "x1", None]))
    assert not used and bulk == rows  # a missing id in a later chunk


def test_the_collector_is_paused_for_the_catalog_and_as_it_was_after(tmp_path, monkeypatch):
    """The catalog is made with Python's garbage collector paused; it is on again after, even after
    an error, and stays off where the caller had it off."""
    items, events = tmp_path / "items.csv", tmp_path / "events.csv"
    items.write_text(PLAIN)
    events.write_text(EVENTS)
    real, states = bulk_items.read_items_table, []
    monkeypatch.setattr(bulk_items, "read_items_table", lambda *a: states.append(gc.isenabled()) or real(*a))
    assert gc.isenabled()
    load_table(items, events)
    assert gc.isenabled() and states == [False]
    with pytest.raises(DataError):
        load_table(tmp_path / "nope.csv", events)
    assert gc.isenabled()
    gc.disable()
    try:
        load_table(items, events)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_field_past_csvs_limit_is_a_clear_error_naming_its_line(tmp_path):
    """csv stops at a field over 131,072 characters; that is said with the line, not a traceback
    (in an items file and in an events file alike)."""
    items, events = tmp_path / "items.csv", tmp_path / "events.csv"
    items.write_text(f"item_id,title\n1,Toy Story\n3,{'x' * 140_000}\n")
    events.write_text("user_id,item_id\nu1,1\n")
    with pytest.raises(DataError, match=r"items\.csv:3: not a CSV row csv can read \(field larger than field limit"):
        load_table(items, events, skip_bad_rows=True)
    items.write_text("item_id,title\n1,Toy Story\n")
    events.write_text(f"user_id,item_id\nu1,1\nu2,1{'0' * 140_000}\n")
    with pytest.raises(DataError, match=r"events\.csv:3: not a CSV row"):
        load_table(items, events)


@pytest.mark.parametrize("name", ["items.csv", "items.jsonl"])
def test_an_encoding_python_does_not_know_is_the_rows_error(tmp_path, monkeypatch, name):
    items, events = tmp_path / name, tmp_path / "events.csv"
    items.write_text(PLAIN if name.endswith("csv") else jsonl(TOY, FARGO, HEAT))
    events.write_text(EVENTS)
    reader = "read_items_table" if name.endswith("csv") else "read_items_json"
    real, got = getattr(bulk_items, reader), []
    monkeypatch.setattr(bulk_items, reader, lambda *a: got.append(real(*a)) or got[-1])
    with pytest.raises(LookupError, match="unknown encoding: klingon"):  # the rows' (the CLI says it first)
        load_table(items, events, encoding="klingon")
    assert got == [None]
