"""The top-level CLI: help works and every registered subcommand has help text."""

from __future__ import annotations

import pytest

from acoustic_ssl.cli import build_parser, main


def test_help_lists_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "acoustic-ssl" in capsys.readouterr().out


def test_every_subcommand_has_help() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    for name, sub in subparsers.choices.items():
        assert sub.format_help().strip(), name


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out


def test_help_and_package_imports_stay_light() -> None:
    """``--help`` and ``import acoustic_ssl.<package>`` load no torch (lazy handlers and package exports)."""
    import subprocess
    import sys

    code = (
        "import sys, acoustic_ssl.cli as c, acoustic_ssl.data, acoustic_ssl.training, "
        "acoustic_ssl.evaluation; c.build_parser().format_help(); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
