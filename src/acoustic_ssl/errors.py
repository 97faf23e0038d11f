"""User-facing problems: errors the CLI reports as one line instead of a traceback, and warnings."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any


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


def describe_non_finite(
    values: Any, axes: Sequence[str] = ("sample",), first: Sequence[int] = ()
) -> str | None:
    """None when every value is finite; else how many are NaN or infinite and where the first is, e.g.
    ``"3 values are NaN or infinite (first: sample 1204, channel 7 = nan)"``. ``axes`` names the dimensions
    and ``first`` offsets their indices (a block read from the middle of a recording). Images, embeddings or
    statistics computed from such values are NaN or meaningless, so readers refuse them with this text."""
    import numpy as np

    array = np.asarray(values)
    bad = ~np.isfinite(array)
    count = int(np.count_nonzero(bad))
    if count == 0:
        return None
    index = np.unravel_index(int(np.argmax(bad)), array.shape)
    offsets = [*first, *([0] * (len(index) - len(first)))]
    where = ", ".join(f"{name} {int(i) + off}" for name, i, off in zip(axes, index, offsets, strict=False))
    noun = "value is" if count == 1 else "values are"
    return f"{count} {noun} NaN or infinite (first: {where} = {array[index]})"
