"""Modalities are named everywhere; the original's numbers map onto them at the command line only."""

from __future__ import annotations

import pytest

from acoustic_ssl.data.layout import KEY_ACOUSTIC, KEY_AUDIO, KEY_VIDEO, Modality, parse_modalities
from acoustic_ssl.errors import DataError


def test_numbers_keys_and_frames_of_each_modality() -> None:
    assert [Modality.from_number(n) for n in (0, 1, 2)] == [Modality.ACOUSTIC, Modality.AUDIO, Modality.VIDEO]
    assert [m.number for m in Modality] == [0, 1, 2]
    assert [m.record_key for m in Modality] == [KEY_ACOUSTIC, KEY_AUDIO, KEY_VIDEO]
    assert [m.batch_key for m in Modality] == ["acoustic", "spectrogram", "video"]
    assert [m.has_frames for m in Modality] == [True, False, True]


def test_parse_modalities_orders_and_rejects() -> None:
    assert parse_modalities(["video", "acoustic", "video"]) == (Modality.ACOUSTIC, Modality.VIDEO)
    for bad in ([], ["sound"], [1]):
        with pytest.raises(DataError, match="non-empty subset of acoustic, audio, video"):
            parse_modalities(bad)
