"""Acoustic imaging: microphone-array geometry and camera (``geometry``), delay-and-sum beamforming into
36 × 48 × 512 power images (``beamform``), the dataset's per-pixel MFCC recipe and its inverse (``mfcc``), and
the ``beamform`` / ``show`` commands (``cli``, ``sources``, ``render``).

Nothing is imported here so that ``acoustic-ssl --help`` does not load torch.
"""
