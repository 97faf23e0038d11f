"""User-facing problems: errors the CLI reports as one line instead of a traceback, and warnings."""

from __future__ import annotations

import os
import warnings


class AcousticSSLError(Exception):
    """Base class: a user-facing problem (bad input file, bad flag, missing checkpoint)."""


class DataError(AcousticSSLError):
    """A raw folder, record, list or array is missing, corrupt or has the wrong shape."""


class ConfigError(AcousticSSLError):
    """A configuration key or value is invalid."""


class OutputError(AcousticSSLError):
    """A result cannot be written (full disk, no permission, read-only file system)."""


class AcousticSSLWarning(UserWarning):
    """Input that is accepted but may not be what was meant (trailing bytes, a record listed twice)."""


_WARNED: set[str] = set()


def warn_once(message: str) -> None:
    """Warn about ``message`` once per process: a file read every epoch is reported once, not every time."""
    if message in _WARNED:
        return
    _WARNED.add(message)
    warnings.warn(message, AcousticSSLWarning, stacklevel=2)


def printable_path(path: str | os.PathLike[str]) -> str:
    """``path`` as text that can always be printed: bytes that are not UTF-8 appear as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")
