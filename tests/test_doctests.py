"""The examples in the public API's docstrings run and print what they say (``doctest``)."""

from __future__ import annotations

import doctest
import importlib

import pytest

# Modules whose docstrings carry runnable examples; add a module here when you give it one.
MODULES = [
    "acoustic_ssl.data",
    "acoustic_ssl.data.audio",
    "acoustic_ssl.models.generator",
    "acoustic_ssl.evaluation.synthesize",
    "acoustic_ssl.training",
    "acoustic_ssl.training.config",
    "acoustic_ssl.imaging",
    "acoustic_ssl.imaging.geometry",
    "acoustic_ssl.imaging.setup",
    "acoustic_ssl.imaging.beamform",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, verbose=False)
    assert result.attempted > 0, f"{name} has no docstring example"
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples failed in {name}"
