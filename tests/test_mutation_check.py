"""The mutation script stays runnable: every mutation's fragment is in its file exactly once.

A refactor that moves a fragment would otherwise leave `scripts/mutation_check.py` failing at its first check,
found only when somebody next runs it (half an hour), not by CI.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_mutation_applies_once_and_ids_are_unique() -> None:
    listed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "mutation_check.py"), "--list"],
        capture_output=True, text=True, timeout=120,
    )
    assert listed.returncode == 0, listed.stderr.strip()
    ids = [line.split()[0] for line in listed.stdout.splitlines()]
    assert len(ids) >= 150
    assert len(set(ids)) == len(ids)
