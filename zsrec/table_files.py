"""CSV, TSV, JSON Lines and JSON-array files read as {column: text} rows, with the line each starts
on, and ``load_table``: an items file and an events file made a ``Dataset`` by a column mapping."""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from .columns import DEFAULT_COLUMNS, Place, check_columns, needed_columns, rows_to_dataset
from . import bulk_items, bulk_json, bulk_ratings
from .data import Catalog, Dataset, Interactions
from .errors import DataError
from .row_reading import RowSink, read_lines


JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")  # read as JSON by table_rows, never as a table


def table_rows(path: Path, sink: RowSink, encoding: str, needed: Mapping[str, str],
                layout: str | None = None, piped: str | None = None) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows as {column: text}. A CSV/TSV header that lacks a ``needed`` column ({zsrec name: file
    column}) is one error naming the header, not the same error on every row; for a file of a fixed
    ``layout`` it says which layout was expected, since no ``--column`` can fix it. A JSON list in the
    ``piped`` column is joined with "|", so that "Running Shoes" stays one genre."""
    if path.suffix.lower() in JSON_SUFFIXES:
        lines = read_lines(path, encoding)
        first = next(lines, None)
        if path.suffix.lower() == ".json" and first is not None and first[1].lstrip().startswith("["):
            # one JSON array of objects (what pandas' to_json(orient="records") and most APIs write)
            text_lines: list[str] = []
            for lineno, line in itertools.chain([first], lines):  # blank lines back in place: true line numbers
                text_lines.extend([""] * (lineno - 1 - len(text_lines)))
                text_lines.append(line)
            for lineno, obj in _json_array("\n".join(text_lines), path):
                if not isinstance(obj, dict):
                    sink.bad("not a JSON object", path, lineno)
                    continue
                yield lineno, _json_fields(obj, piped)
            return
        for lineno, line in itertools.chain([first] if first else [], lines):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                sink.bad(f"not a JSON object ({e.msg})", path, lineno)
                continue
            if not isinstance(obj, dict):
                sink.bad("not a JSON object", path, lineno)
                continue
            yield lineno, _json_fields(obj, piped)
        return
    numbered = read_lines(path, encoding)
    line_numbers: list[int] = []

    def texts() -> Iterator[str]:  # csv reads one line per row here; the number goes beside it
        for lineno, text in numbered:
            line_numbers[:] = [lineno]
            yield text

    delimiter = _delimiter(path)
    header: list[str] | None = None
    for parts in _csv_rows(texts(), delimiter, path, line_numbers):
        lineno = line_numbers[0]
        if header is None:
            header = [h.strip() for h in parts]
            for key, column in needed.items():
                if column in header:
                    continue
                advice = (f"not {layout}" if layout else
                          f"name it with --column {key}=NAME (columns={{'{key}': NAME}})")
                raise DataError(f"no column {column!r} for {key} in the header ({', '.join(header)}); {advice}",
                                str(path), lineno)
            continue
        if len(parts) != len(header):
            sink.bad(f"expected {len(header)} fields as in the header, got {len(parts)}", path, lineno)
            continue
        yield lineno, dict(zip(header, parts))


def _csv_rows(texts: Iterator[str], delimiter: str, path: Path, line_numbers: list[int]) -> Iterator[list[str]]:
    """csv's rows; its one error (a field longer than its limit, 131,072 characters) named as a bad
    file's line is, not a traceback. csv cannot go on past it, so no ``--skip-bad-rows`` drops it."""
    try:
        yield from csv.reader(texts, delimiter=delimiter)
    except csv.Error as e:
        raise DataError(f"not a CSV row csv can read ({e})", str(path), line_numbers[0] if line_numbers else None) from None


def _delimiter(path: Path) -> str:
    return "\t" if path.suffix.lower() in (".tsv", ".tab") else ","


def _json_fields(obj: dict, piped: str | None = None) -> dict[str, str]:
    """A JSON object's values as text: lists joined by spaces (tags), or by "|" in the ``piped``
    column (genres, whose names may hold spaces), null as empty."""
    return {k: "" if v is None else (("|" if k == piped else " ").join(map(str, v)) if isinstance(v, list) else str(v))
            for k, v in obj.items()}


def _json_array(text: str, path: Path) -> Iterator[tuple[int, object]]:
    """The elements of a JSON array, one at a time, each with the line it starts on (so an error can
    name it). Broken JSON is one error for the file: past it, no element can be trusted."""
    decoder = json.JSONDecoder()
    pos, n = text.index("[") + 1, len(text)
    counted = [0, 1]  # (position, its line), moved forward only: lines are counted once, not per element

    def line_at(at: int) -> int:
        counted[1] += text.count("\n", counted[0], at)
        counted[0] = at
        return counted[1]

    def skip(at: int) -> int:
        while at < n and text[at] in " \t\r\n":
            at += 1
        return at

    def broken(at: int, what: str) -> DataError:
        return DataError(f"not a valid JSON array ({what})", str(path), line_at(max(at, counted[0])))

    pos = skip(pos)
    if pos < n and text[pos] == "]":
        return
    while True:
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise broken(e.pos, e.msg) from None
        yield line_at(pos), obj
        pos = skip(end)
        if pos < n and text[pos] == ",":
            pos = skip(pos + 1)
            continue
        if pos < n and text[pos] == "]":
            if skip(pos + 1) < n:
                raise broken(skip(pos + 1), "text after the closing ]")
            return
        raise broken(pos, "expected , or ]" if pos < n else "the array is never closed")


def load_table(items_path: str | Path, interactions_path: str | Path,
               columns: Mapping[str, str] | None = None, name: str | None = None,
               skip_bad_rows: bool = False, encoding: str = "utf-8") -> Dataset:
    """CSV/TSV/JSONL files; ``columns`` maps zsrec's names (item_id, title, user_id, timestamp, rating,
    genres) to the file's. Every other item column becomes a text field the retriever and prompts can use."""
    cols = {**DEFAULT_COLUMNS, **(columns or {})}
    given = check_columns(columns)
    item_needs, event_needs = needed_columns(cols, given)
    items_path, interactions_path = Path(items_path), Path(interactions_path)
    sink = RowSink(skip_bad_rows)

    def placed(path: Path, needed: dict[str, str]) -> Iterator[tuple[Place, dict[str, str]]]:
        for lineno, row in table_rows(path, sink, encoding, needed, piped=cols["genres"]):
            yield (path, lineno), row

    def in_bulk(catalog: Catalog) -> Interactions | None:  # a plain CSV/TSV or JSON Lines file, as table_rows reads it
        if interactions_path.suffix.lower() in JSON_SUFFIXES:  # one JSON array is left to the rows: its first line is no object
            return bulk_json.read_json_events(interactions_path, cols, catalog, encoding)
        roles = {cols["user_id"]: "user", cols["item_id"]: "item", cols["timestamp"]: "timestamp",
                 cols["rating"]: "rating"}
        if len(roles) < 4:  # two of zsrec's names on one column: left to the rows
            return None
        return bulk_ratings.read_with_header(interactions_path, _delimiter(interactions_path), roles,
                                             event_needs.values(), catalog, encoding, iso_times=True)

    def items_in_bulk() -> Catalog | None:  # a plain CSV/TSV or JSON Lines file, as table_rows reads it
        if items_path.suffix.lower() in JSON_SUFFIXES:
            return bulk_items.read_items_json(items_path, cols, item_needs, encoding)
        return bulk_items.read_items_table(items_path, _delimiter(items_path), cols, item_needs, encoding)

    return rows_to_dataset(placed(items_path, item_needs), placed(interactions_path, event_needs), cols, sink,
                            items_path, interactions_path, name or items_path.stem,
                            f"{items_path} + {interactions_path}", in_bulk, items_in_bulk)
