"""TOML tables → typed dataclasses, and ``--set key=value`` overrides: the one machinery of every config.

Training configs (``training.config``) and demo presets (``demo.config``) describe their sections as
dataclasses; ``build_section`` checks every key of a table against the fields' types (ints are accepted for
floats; lists become tuples where the field says so; strings become paths where it says ``Path``; a field
whose type is a dataclass is a sub-table) and a field without a default is required. Errors are
``ConfigError`` naming the file (or ``--set``) and the dotted key. A field's TOML key is its name unless
``field(metadata={"key": ...})`` says otherwise (``lambda``, ``set``).
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from acoustic_ssl.errors import ConfigError


def toml_key(f: dataclasses.Field[Any]) -> str:
    """The TOML key of a dataclass field."""
    return f.metadata.get("key", f.name)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def check_value(value: Any, tp: Any, where: str, source: str) -> Any:
    """``value`` checked (and coerced: int → float, list → tuple) against the field type ``tp``."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return build_section(tp, value, where, source)
    if origin in (list, tuple):
        item_type = typing.get_args(tp)[0]
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {where}: expected a list of {_type_name(item_type)}, got {value!r}")
        items = [check_value(v, item_type, where, source) for v in value]
        return items if origin is list else tuple(items)
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {where}: expected a table, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: {where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: {where}: expected a number, got {value!r}")
        return float(value)
    if tp in (str, Path):
        if not isinstance(value, str):
            raise ConfigError(f"{source}: {where}: expected a string, got {value!r}")
        return Path(value) if tp is Path else value
    raise TypeError(f"unsupported config field type {tp!r}")  # programming error, not a user error


def build_section(cls: type, table: Any, where: str, source: str) -> Any:
    """An instance of dataclass ``cls`` from the TOML table at dotted path ``where`` of ``source``."""
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [{where}] must be a table, got {table!r}")
    hints = typing.get_type_hints(cls)
    by_key = {toml_key(f): f for f in dataclasses.fields(cls) if f.init}
    values = {}
    for key, value in table.items():
        if key not in by_key:
            raise ConfigError(f"{source}: unknown key '{where}.{key}' (known: {', '.join(sorted(by_key))})")
        f = by_key[key]
        values[f.name] = check_value(value, hints[f.name], f"{where}.{key}", source)
    for key, f in by_key.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and f.name not in values:
            raise ConfigError(f"{source}: {where}.{key}: missing (required)")
    return cls(**values)


def build_sections(
    sections: Mapping[str, type], raw: Mapping[str, Any], source: str, *, extra: Iterable[str] = ()
) -> dict[str, Any]:
    """Every section of a parsed file; a section that is neither in ``sections`` nor ``extra`` is an error.

    A missing section is built from an empty table (its defaults; required keys then fail).
    """
    known = [*sections, *extra]
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{source}: unknown section '{unknown[0]}' (known: {', '.join(known)})")
    return {name: build_section(cls, raw.get(name, {}), name, source) for name, cls in sections.items()}


def as_toml_table(obj: Any) -> dict[str, Any]:
    """A section dataclass as its TOML table (keys per ``toml_key``)."""
    return {toml_key(f): getattr(obj, f.name) for f in dataclasses.fields(obj)}


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b=1"`` → (["a", "b"], 1). The value is a TOML literal, else a plain string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE with a dotted key, e.g. loss.alpha=0.3")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.split("."), value


def apply_overrides(raw: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Set each dotted key of ``overrides`` in the nested dict ``raw`` (in place; also returned)."""
    for text in overrides:
        path, value = parse_override(text)
        node = raw
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {text!r}: '{part}' is a value, not a section")
            node = child
        node[path[-1]] = value
    return raw


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file (or a run's ``config.json``); a missing or malformed file is a ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None
    return parse_toml(text, path)


def parse_toml(text: str, path: Path) -> dict[str, Any]:
    """Parse config text; ``path`` names it in errors (a ``.json`` suffix reads JSON)."""
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
