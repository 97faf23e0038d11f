"""The machine record of a report."""

from __future__ import annotations

import torch

from acoustic_ssl.evaluation.machine import _config_version, machine_info


def test_machine_info_names_cpu_threads_and_versions() -> None:
    info = machine_info()
    assert info["cpu_model"] and info["torch_version"] == torch.__version__
    assert info["torch_threads"] == torch.get_num_threads() >= 1
    assert info == machine_info()  # stable within a process: reports stay identical


def test_onednn_version_parsed_from_the_build_config() -> None:
    config = "  - Intel(R) MKL-DNN v3.12.0 (Git Hash 80afa71)\n  - CPU capability usage: AVX512\n"
    assert _config_version(config, r"(?:MKL-DNN|oneDNN)\s+v?([\d.]+)") == "3.12.0"
    assert _config_version(config, r"CPU capability usage: (\S+)") == "AVX512"
    assert _config_version("", r"CPU capability usage: (\S+)") is None
