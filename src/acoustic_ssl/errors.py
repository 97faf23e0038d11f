"""Errors that the CLI reports as one clear line instead of a traceback."""

from __future__ import annotations


class AcousticSSLError(Exception):
    """Base class: a user-facing problem (bad input file, bad flag, missing checkpoint)."""


class DataError(AcousticSSLError):
    """A raw folder, record, list or array is missing, corrupt or has the wrong shape."""


class ConfigError(AcousticSSLError):
    """A configuration key or value is invalid."""
