"""Index files written whole or not at all, and read back with errors a user can act on: the text
index, the co-occurrence index and title search save this way, in one file or several."""

from __future__ import annotations

import os
import secrets
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .errors import DataError

# how a zip archive (what np.savez writes) begins: its first entry, or an empty archive's end record
ZIP_STARTS = (b"PK\x03\x04", b"PK\x05\x06")
# what to do about an index file that cannot be used: it is a cache of what the data gives
REBUILD = "delete the file (or name another) to have it built again"


def write_npz(path: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    """``arrays`` in one .npz file at exactly ``path``. The data goes to a temporary file beside it
    that replaces ``path`` only once complete, so a crash or a full disk never leaves half an index
    where a later run would load it; a failed write removes its temporary file. The file gets the
    permissions any new file gets (the umask's), where a temporary file's owner-only ones made a file
    built by one user (an image build) unreadable to the service's."""
    path = Path(path)
    tmp = path.parent / f"{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def read_npz(path: str | Path, what: str = "index", remedy: str = "") -> Iterator[np.lib.npyio.NpzFile]:
    """The arrays of a file ``write_npz`` wrote, open for reading. Whatever keeps them from being
    read, from the file or from what the ``with`` block makes of them, is a ``DataError`` naming the
    file and ``what`` it was to hold, and ending with ``remedy`` where one is given. numpy's own errors
    say nothing a user can act on: a file that is not an archive gets an offer to unpickle it "if you
    trust the file", and a damaged one (a copy cut short) a traceback from deep in zipfile."""
    def fail(problem: str) -> DataError:
        return DataError(f"cannot read {what}{problem}" + (f"; {remedy}" if remedy else ""), str(path))

    try:
        with open(path, "rb") as f:
            first = f.read(4)
    except OSError as e:
        raise fail(f" ({e.strerror or e})") from None
    if first not in ZIP_STARTS:
        raise fail(": not a .npz file (" + ("it is empty)" if not first else "it does not start as a zip archive does)"))
    try:
        with np.load(path, allow_pickle=False) as f:
            yield f
    except KeyError as e:  # numpy's text: "words is not a file in the archive"
        raise fail(f": an array is missing ({e.args[0] if e.args else e})") from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise fail(f": the archive is damaged ({e})") from None
    except OSError as e:
        raise fail(f" ({e.strerror or e})") from None
    except (ValueError, TypeError) as e:  # arrays of the wrong size, type or content for what reads them
        raise fail(f" ({type(e).__name__}: {e})") from None
