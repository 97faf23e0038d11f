"""simulate concern: physics-based synthetic ACIVW-style data (see ``dataset.simulate_dataset``).

Modules: ``sounds`` (class sound models), ``objects`` (sizes, placement, motion), ``scene`` (one video's
sources, levels and noise), ``propagation`` (moving point sources and diffuse noise to the microphones),
``sprites`` (procedural frames), ``library`` (real objects: pictures and clips, ``--objects``), ``render``
(one raw video folder), ``dataset`` (many videos, parallel, resumable), ``cli``.
"""

from __future__ import annotations

from typing import Any


def simulate_dataset(*args: Any, **kwargs: Any):
    """See :func:`acoustic_ssl.simulate.dataset.simulate_dataset`."""
    from acoustic_ssl.simulate.dataset import simulate_dataset as run

    return run(*args, **kwargs)


__all__ = ["simulate_dataset"]
