"""Acoustic imaging for any microphone array: geometry and camera (``geometry``), the imaging parameters
in one frozen object (``setup``), delay-and-sum beamforming into per-pixel power and MFCC (``beamform``,
``mfcc``), recordings and output files (``sources``, ``output``), and the ``beamform`` / ``show`` commands
(``cli``, ``render``).

The public classes are importable from here; they load lazily so that ``acoustic-ssl --help`` does not
import torch:

>>> from acoustic_ssl.imaging import ArrayGeometry, Beamformer, ImagingSetup, PinholeCamera
>>> setup = ImagingSetup(ArrayGeometry.default(), PinholeCamera(), rows=36, cols=48)
>>> Beamformer(setup).images(__import__("numpy").zeros((128, 1024))).shape
(1, 36, 48, 12)
"""

from __future__ import annotations

from acoustic_ssl.lazy import lazy_exports

_EXPORTS = {
    "ArrayGeometry": "acoustic_ssl.imaging.geometry",
    "PinholeCamera": "acoustic_ssl.imaging.geometry",
    "ImagingSetup": "acoustic_ssl.imaging.setup",
    "Beamformer": "acoustic_ssl.imaging.beamform",
    "direct_power": "acoustic_ssl.imaging.beamform",
    "open_recording": "acoustic_ssl.imaging.sources",
    "beamform_recording": "acoustic_ssl.imaging.output",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
