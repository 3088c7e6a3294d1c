"""Index files written whole or not at all: the text index and the co-occurrence index save this way."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np


def write_npz(path: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    """``arrays`` in one .npz file at exactly ``path``. The data goes to a temporary file beside it
    that replaces ``path`` only once complete, so a crash or a full disk never leaves half an index
    where a later run would load it; a failed write removes its temporary file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
