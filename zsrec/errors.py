"""Errors a user can act on.

Every failure caused by input (a bad file, an unknown id, a broken template) is raised as a
``ZsrecError`` subclass with a one-line message, so the CLI can print it without a traceback and exit 2,
and Python callers can catch one type.
"""

from __future__ import annotations


class ZsrecError(Exception):
    """Base class: the message is complete and fit to show a user as is."""


class DataError(ZsrecError):
    """A data file is missing, unreadable or malformed; the message names the file and line."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line


class DatasetNotFound(DataError):
    """No local copy, no packaged copy, and the download failed."""


class UnknownUserError(ZsrecError):
    """A user id that the interactions do not contain."""


class UnknownItemError(ZsrecError):
    """History titles or ids that match nothing in the catalog (each is listed, with suggestions)."""

    def __init__(self, message: str, unmatched: list[str]):
        super().__init__(message)
        self.unmatched = unmatched


class EmptyHistoryError(ZsrecError):
    """Nothing to recommend from, where the caller asked for history-based recommendations."""


class TemplateError(ZsrecError):
    """A prompt template is missing, does not parse, uses an undefined variable or breaks the sandbox."""


class PromptTooLongError(ZsrecError):
    """The prompt does not fit the model's context even with the whole history cut."""


class ModelLoadError(ZsrecError):
    """The model could not be found or loaded (missing package, bad path, no network for a hub id)."""


class ModelUnavailableError(ModelLoadError):
    """The model exists but cannot be brought up here and now (out of memory, device busy, server
    down). Unlike a typo in a model name, this is not the user's input: rankings fall back to the
    generator order, flagged, instead of failing."""


class OptionError(ZsrecError, ValueError):
    """An option value, or a combination of options, that cannot work (``k`` above the shortlist
    size, say). A ValueError too, so callers that caught the old plain ValueError still do."""
