"""Presets shipped inside the package: a training config per experiment (``train/``), the demo's (``demo/``).

Training presets hold only what differs from the dataclass defaults of ``training.config`` (the original's
hyperparameters), plus named ``[variants]``: ``--set`` lists applied on top (``tiny``: CPU-sized). Demo
presets name a training preset per run plus their own ``set`` lists. Commands accept a packaged name
(``--config transfer``) or a file (``--config my.toml``); ``find`` decides which.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from acoustic_ssl.errors import ConfigError

FAMILIES = ("train", "demo")


def folder(family: str) -> Path:
    """The folder of a family's preset files (the package is installed as files, not zipped)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown preset family {family!r}")
    return Path(str(files(__name__) / family))


def names(family: str) -> list[str]:
    """The packaged presets of ``family`` ("train" or "demo"), sorted."""
    return sorted(p.stem for p in folder(family).glob("*.toml"))


def looks_like_path(text: str) -> bool:
    """A config argument is a file when it has a suffix or a folder part; else a packaged preset name."""
    path = Path(text)
    return bool(path.suffix) or len(path.parts) > 1


def find(family: str, name_or_path: str | Path, *, relative_to: Path | None = None) -> Path:
    """The file of a packaged preset name, or the existing file ``name_or_path`` is.

    With ``relative_to`` (a demo preset's own folder) a relative path is looked up there first, then in the
    current directory, and must exist.
    """
    text = str(name_or_path)
    if not looks_like_path(text):
        path = folder(family) / f"{text}.toml"
        if not path.is_file():
            raise ConfigError(
                f"no packaged {family} preset named {text!r} (packaged: {', '.join(names(family))}); "
                "give a .toml file to use your own"
            )
        return path
    path = Path(text).expanduser()
    if relative_to is None:
        return path  # reading it reports a missing file
    candidates = [path] if path.is_absolute() else [relative_to / path, path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise ConfigError(f"{text}: config file not found (looked in {', '.join(str(c) for c in candidates)})")
