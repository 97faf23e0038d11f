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
def test_an_unwritable_output_is_one_line_naming_it(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    records = tmp_path / "r" / "class_0" / "data_000"
    records.mkdir(parents=True)
    for second in (1, 2):
        (records / f"Data_{second:03d}.tfrecord").touch()
    blocker = tmp_path / "lists"
    blocker.write_text("a file where the lists folder should go")
    assert main(["lists", str(tmp_path / "r"), str(blocker / "sub")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"acoustic-ssl lists: error: {blocker}/sub/training.txt: cannot write (Not a directory)"
    ]


def test_any_os_error_reaching_the_cli_is_one_line_with_its_path(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import errno
    import importlib

    framecount = importlib.import_module("acoustic_ssl.data.framecount")  # the module, not the function

    def refuse(*_args: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", "/data/class_0/video_time.txt")

    monkeypatch.setattr(framecount, "framecount", refuse)
    assert main(["framecount", "/data"]) == 2
    assert capsys.readouterr().err == (
        "acoustic-ssl framecount: error: /data/class_0/video_time.txt: Permission denied\n"
    )


def test_warnings_are_one_line(tmp_path) -> None:
    import warnings

    record = tmp_path / "r" / "class_0" / "data_000" / "Data_001.tfrecord"
    record.parent.mkdir(parents=True)
    record.touch()
    original = tmp_path / "original"
    original.mkdir()
    for name in ("training", "validation", "testing"):
        (original / f"{name}.txt").write_text("/Dataset/class_0/data_000/Data_001.tfrecord\n" * 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        assert main(["lists", str(tmp_path / "r"), str(tmp_path / "l"), "--from-lists", str(original)]) == 0
    # as Python prints them once main() has installed its formatter
    err = [warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in caught]
    assert err[0] == (
        f"acoustic-ssl: warning: {original}/training.txt: 1 record(s) listed more than once "
        f"(first: {record}, entries 1 and 2); their samples are drawn that many times more often\n"
    )
    assert len(err) == 3 and all(e.count("\n") == 1 for e in err)  # one line per list, nothing else
