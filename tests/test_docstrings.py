"""The examples in the public docstrings run (doctest), so they stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ("acoustic_ssl.data", "acoustic_ssl.training", "acoustic_ssl.training.config")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
