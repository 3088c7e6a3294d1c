"""The MovieLens files as GroupLens and RecBole ship them: RecBole's atomic files (``.item`` and
``.inter``, what the ``recbole`` wheel holds), raw ml-100k, raw ml-1m / ml-10m, and the current
``movies.csv`` + ``ratings.csv`` layout (ml-latest-small to ml-32m)."""

from __future__ import annotations

from pathlib import Path

from . import bulk_ratings
from .data import Catalog, Dataset, Interactions, Item
from .errors import DataError
from .row_reading import (InteractionBuilder, RowSink, build_catalog, parse_number, parse_timestamp, read_lines,
                          split_rows)
from .table_files import table_rows

ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
    "War", "Western",
]

GROUPLENS_CSV = "GroupLens' movies.csv + ratings.csv layout (movieId,title,genres and userId,movieId,rating,timestamp)"

TITLE_COLUMNS = ("title", "movie_title", "name", "item_name")
YEAR_COLUMNS = ("release_year", "year")


RECBOLE_ROLES = {"user_id": "user", "item_id": "item", "rating": "rating", "timestamp": "timestamp"}
RECBOLE_NEEDS = ("user_id", "item_id")  # the .inter columns the row reader requires (rating and time are optional)
GROUPLENS_ROLES = {"userId": "user", "movieId": "item", "rating": "rating", "timestamp": "timestamp"}


# ---------------------------------------------------------------- RecBole atomic files

def _recbole_header(path: Path, encoding: str) -> list[str]:
    for _, line in read_lines(path, encoding):
        return [col.split(":")[0] for col in line.split("\t")]
    raise DataError("file is empty", str(path))


def load_recbole(directory: str | Path, name: str | None = None, skip_bad_rows: bool = False,
                 encoding: str = "utf-8") -> Dataset:
    """A RecBole atomic dataset: ``<name>.item`` and ``<name>.inter`` with ``field:type`` headers."""
    directory = Path(directory)
    name = name or directory.name
    item_path, inter_path = directory / f"{name}.item", directory / f"{name}.inter"
    sink = RowSink(skip_bad_rows)

    cols = _recbole_header(item_path, encoding)
    if "item_id" not in cols:
        raise DataError(f"no item_id column in header {cols}", str(item_path), 1)
    title_col = next((c for c in TITLE_COLUMNS if c in cols), None)
    year_col = next((c for c in YEAR_COLUMNS if c in cols), None)
    items, lines = [], []
    for lineno, parts in split_rows(item_path, "\t", len(cols), sink, encoding, header=True):
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
    catalog = build_catalog(items, sink, item_path, lines)

    icols = _recbole_header(inter_path, encoding)
    for need in RECBOLE_NEEDS:
        if need not in icols:
            raise DataError(f"no {need} column in header {icols}", str(inter_path), 1)
    bulk = bulk_ratings.read_with_header(inter_path, "\t", RECBOLE_ROLES, RECBOLE_NEEDS, catalog, encoding,
                                         lambda name: name.split(":")[0], iso_times=True)
    if bulk is not None:
        return Dataset(name, catalog, bulk, source=str(directory), skipped_rows=sink.skipped)
    builder = InteractionBuilder(catalog, sink)
    for lineno, parts in split_rows(inter_path, "\t", len(icols), sink, encoding, header=True):
        row = dict(zip(icols, parts))
        ts = parse_timestamp(row["timestamp"], inter_path, lineno, sink) if "timestamp" in row else None
        rating = parse_number(row["rating"], "rating", inter_path, lineno, sink) if "rating" in row else None
        if ("timestamp" in row and ts is None) or ("rating" in row and rating is None):
            continue
        builder.add(row["user_id"], row["item_id"], ts, rating, inter_path, lineno)
    return Dataset(name, catalog, builder.build(inter_path), source=str(directory), skipped_rows=sink.skipped)


# ---------------------------------------------------------------- raw MovieLens

def _movielens_ratings(path: Path, sep: str, catalog: Catalog, sink: RowSink) -> Interactions:
    """MovieLens rating rows: user, item, rating, timestamp."""
    bulk = bulk_ratings.read_ratings(path, sep, bulk_ratings.ROLES, catalog)
    if bulk is not None:
        return bulk
    builder = InteractionBuilder(catalog, sink)
    for lineno, parts in split_rows(path, sep, 4, sink, "latin-1"):
        ts = parse_number(parts[3], "timestamp", path, lineno, sink)
        rating = parse_number(parts[2], "rating", path, lineno, sink)
        if ts is not None and rating is not None:
            builder.add(parts[0].strip(), parts[1].strip(), ts, rating, path, lineno)
    return builder.build(path)


def load_movielens_100k(directory: str | Path, skip_bad_rows: bool = False, name: str = "ml-100k") -> Dataset:
    """GroupLens' raw ml-100k: ``u.item`` (pipe-separated, latin-1) and ``u.data`` (tab-separated)."""
    directory = Path(directory)
    sink = RowSink(skip_bad_rows)
    item_path, data_path = directory / "u.item", directory / "u.data"
    genres = ML100K_GENRES
    if (directory / "u.genre").is_file():
        names = [ln.split("|")[0] for _, ln in read_lines(directory / "u.genre", "latin-1")]
        genres = [g for g in names if g] or genres
    items, lines = [], []
    for lineno, parts in split_rows(item_path, "|", 0, sink, "latin-1", min_fields=5 + len(genres)):
        flags = parts[5:5 + len(genres)]
        item_genres = [g for g, f in zip(genres, flags) if f.strip() == "1"]
        fields = {"genres": " ".join(item_genres)}
        date = parts[2].strip()
        if date[-4:].isdigit():
            fields["year"] = date[-4:]
        items.append(Item(parts[0].strip(), parts[1].strip() or parts[0].strip(), fields))
        lines.append(lineno)
    catalog = build_catalog(items, sink, item_path, lines)
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
    sink = RowSink(skip_bad_rows)
    item_path, data_path = directory / "movies.dat", directory / "ratings.dat"
    items, lines = [], []
    for lineno, parts in split_rows(item_path, "::", 3, sink, _titles_encoding(item_path)):
        items.append(_movie(parts[0], parts[1], parts[2]))
        lines.append(lineno)
    catalog = build_catalog(items, sink, item_path, lines)
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
    sink = RowSink(skip_bad_rows)
    item_path, data_path = directory / "movies.csv", directory / "ratings.csv"
    items, lines = [], []
    movie_cols = {"item_id": "movieId", "title": "title", "genres": "genres"}
    for lineno, row in table_rows(item_path, sink, "utf-8", movie_cols, GROUPLENS_CSV):
        if not row["movieId"].strip():
            sink.bad("no movie id (column 'movieId')", item_path, lineno)
            continue
        items.append(_movie(row["movieId"], row["title"], row["genres"]))
        lines.append(lineno)
    catalog = build_catalog(items, sink, item_path, lines)
    bulk = bulk_ratings.read_with_header(data_path, ",", GROUPLENS_ROLES, GROUPLENS_ROLES, catalog, "utf-8")
    if bulk is not None:
        return Dataset(name or directory.name, catalog, bulk, source=str(directory), skipped_rows=sink.skipped)
    builder = InteractionBuilder(catalog, sink)
    rating_cols = {"user_id": "userId", "item_id": "movieId", "rating": "rating", "timestamp": "timestamp"}
    for lineno, row in table_rows(data_path, sink, "utf-8", rating_cols, GROUPLENS_CSV):
        ts = parse_number(row["timestamp"], "timestamp", data_path, lineno, sink)
        rating = parse_number(row["rating"], "rating", data_path, lineno, sink)
        if ts is not None and rating is not None:
            builder.add(row["userId"].strip(), row["movieId"].strip(), ts, rating, data_path, lineno)
    return Dataset(name or directory.name, catalog, builder.build(data_path), source=str(directory),
                   skipped_rows=sink.skipped)
