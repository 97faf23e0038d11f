"""Class names and class counts of a records tree, from its ``labels.json`` (written by ``import-video``).

ACIVW and the simulator have no ``labels.json``: their names are ``layout.CLASS_NAMES`` and their class count
is read from the data. A records tree made from ordinary videos has any number of classes with any names;
everything that shows a class name or sizes a classifier asks here instead of assuming ACIVW's ten.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from acoustic_ssl.data.layout import CLASS_NAMES
from acoustic_ssl.errors import DataError
from acoustic_ssl.io_utils import write_json_atomic

__all__ = ["LABELS_FILE", "class_names", "num_classes_of", "read_labels", "records_root_of", "write_labels"]

LABELS_FILE = "labels.json"
_CLASS_DIR = re.compile(r"^class_(\d+)$")


def read_labels(root: str | os.PathLike[str]) -> dict[str, int] | None:
    """``{name: class index}`` of ``root/labels.json``, or None when the tree has none."""
    path = Path(root) / LABELS_FILE
    if not path.is_file():
        return None
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read labels ({exc})") from exc
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
        for k, v in mapping.items()
    ):
        raise DataError(f"{path}: expected a JSON object mapping label names to class indices >= 0")
    if len(set(mapping.values())) != len(mapping):
        raise DataError(f"{path}: two labels share a class index")
    return mapping


def write_labels(root: str | os.PathLike[str], mapping: dict[str, int]) -> None:
    """Write ``root/labels.json`` (atomically), names in class order."""
    write_json_atomic(Path(root) / LABELS_FILE, dict(sorted(mapping.items(), key=lambda kv: kv[1])))


def records_root_of(spec: str | os.PathLike[str]) -> Path | None:
    """The records root (the folder holding ``class_K/``) behind a list file or a packed folder."""
    from acoustic_ssl.data.lists import read_list
    from acoustic_ssl.data.packed import INDEX_FILE, is_packed_dir

    if is_packed_dir(spec):
        try:
            paths = json.loads((Path(spec) / INDEX_FILE).read_text(encoding="utf-8")).get("paths", [])
        except (OSError, ValueError):
            return None
        first = Path(paths[0]) if paths else None
    else:
        entries = read_list(spec) if Path(spec).is_file() else []
        first = entries[0] if entries else None
    if first is None:
        return None
    for parent in first.parents:
        if _CLASS_DIR.match(parent.name):
            return parent.parent
    return None


def class_names(spec: str | os.PathLike[str] | None, classes: int) -> list[str]:
    """Names of classes ``0 .. classes-1``: the tree's ``labels.json``, else ACIVW's (past them, the index).

    ``spec`` is a records root, a list file or a packed folder (None: ACIVW's names).
    """
    mapping = None
    if spec is not None:
        root = Path(spec) if (Path(spec) / LABELS_FILE).is_file() else records_root_of(spec)
        mapping = read_labels(root) if root is not None else None
    if mapping is None:
        return [CLASS_NAMES[c] if c < len(CLASS_NAMES) else str(c) for c in range(classes)]
    by_index = {v: k for k, v in mapping.items()}
    return [by_index.get(c, str(c)) for c in range(classes)]


def num_classes_of(spec: str | os.PathLike[str]) -> int:
    """Classifier size for the records of a list or packed folder: from ``labels.json``, else max class + 1.

    Without ``labels.json`` the class of each record comes from its ``class_K`` folder (no record is read).
    """
    root = records_root_of(spec)
    mapping = read_labels(root) if root is not None else None
    if mapping:
        return max(mapping.values()) + 1
    from acoustic_ssl.data.lists import read_list
    from acoustic_ssl.data.packed import INDEX_FILE, is_packed_dir

    if is_packed_dir(spec):
        index = json.loads((Path(spec) / INDEX_FILE).read_text(encoding="utf-8"))
        classes = [int(c) for c in index.get("classes", [])]
    else:
        classes = [int(m.group(1)) for p in read_list(spec) if (m := _CLASS_DIR.match(p.parent.parent.name))]
    if not classes:
        raise DataError(f"{spec}: cannot tell the number of classes (no class_K records, no labels.json)")
    return max(classes) + 1
