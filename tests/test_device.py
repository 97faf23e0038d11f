"""One device rule for training and evaluation."""

from __future__ import annotations

import pytest
import torch

from acoustic_ssl.device import pick_device
from acoustic_ssl.errors import ConfigError


def test_cpu_auto_and_bad_settings() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device("auto").type == expected
    with pytest.raises(ConfigError, match=r"--device=gpu: expected auto, cpu, cuda or cuda:N"):
        pick_device("gpu", setting="--device")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without a GPU")
def test_asking_for_a_missing_gpu_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"runtime.device=cuda:0: no CUDA device is available"):
        pick_device("cuda:0", setting="runtime.device")
