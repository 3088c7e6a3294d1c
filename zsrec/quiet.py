"""Keep machine-readable output alone on stdout.

Model engines print as they please: vLLM logs to stdout through its own handler, C++ runtimes write
to file descriptor 1 directly, loaders draw progress bars. ``--format json`` piped into another
program must still parse, so while a model loads and runs, both ``sys.stdout`` and descriptor 1
point at stderr, and the engines' loggers are turned down unless ``--verbose`` asked for them.
The real stdout is handed to the caller for the one thing that belongs there.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from collections.abc import Iterator
from typing import TextIO

# Loggers of the engines zsrec drives; set to WARNING unless verbose.
ENGINE_LOGGERS = ("vllm", "transformers", "torch", "accelerate", "huggingface_hub", "urllib3")
ENGINE_ENV = {  # read by the engines when they are imported
    "VLLM_LOGGING_LEVEL": "WARNING",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TQDM_DISABLE": "1",
}


def quiet_engines(verbose: bool) -> None:
    """Turn the engines' own logging down (or leave it, with ``verbose``), before they are imported."""
    if verbose:
        return
    for key, value in ENGINE_ENV.items():
        os.environ.setdefault(key, value)
    for name in ENGINE_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[TextIO]:
    """Within the block, everything written to stdout (Python or C level) lands on stderr; the
    stream yielded writes to the real stdout."""
    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        fd = None  # stdout is not a file (a test runner's buffer): Python-level redirection is all there is
    real = sys.stdout
    if fd is None:
        with contextlib.redirect_stdout(sys.stderr):
            yield real
        return
    saved = os.dup(fd)
    real_out = open(saved, "w", encoding=getattr(real, "encoding", None) or "utf-8", closefd=False)  # noqa: SIM115
    try:
        sys.stderr.flush()
        os.dup2(sys.stderr.fileno(), fd)
        with contextlib.redirect_stdout(sys.stderr):
            yield real_out
    finally:
        real_out.flush()
        sys.stderr.flush()
        os.dup2(saved, fd)
        os.close(saved)
