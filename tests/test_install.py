"""``pip install`` of this checkout into a fresh virtual environment, used from outside the checkout.

The presets must ship inside the package: the installed ``acoustic-ssl demo --preset test`` runs end to end
and ``acoustic-ssl train --config NAME`` trains a packaged preset on its data. The wheel is built from a copy
of the checkout and installed without dependencies into a new venv that borrows the test environment's
site-packages for them (torch, numpy, ...), so the check needs no network; the test environment's editable
install is not visible there (the ``.pth`` files of a borrowed folder are not processed), which is asserted.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(argv: list[str | Path], cwd: Path, timeout: float = 600) -> str:
    env = {**os.environ, "ACOUSTIC_SSL_NO_PROGRESS": "1", "PYTHONPATH": ""}
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel of this checkout installed; returns its bin folder."""
    work = tmp_path_factory.mktemp("install")
    source = work / "source"  # a copy, so the build leaves nothing in the checkout
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    offline = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *offline, "-w", work / "dist", source]
    _run(build, cwd=work)
    (wheel,) = (work / "dist").glob("acoustic_ssl-*.whl")
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=work)
    python = venv / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(_run([python, "-c", purelib], cwd=work).strip())
    borrowed = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "borrowed_dependencies.pth").write_text("".join(f"{p}\n" for p in sorted(borrowed)))
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel], cwd=work)
    return venv / "bin"


@pytest.mark.slow
def test_installed_package_runs_the_test_demo_and_trains_a_packaged_preset(
    installed: Path, tmp_path: Path
) -> None:
    where = _run([installed / "python", "-c", "import acoustic_ssl; print(acoustic_ssl.__file__)"], tmp_path)
    assert Path(where.strip()).is_relative_to(installed.parent), where  # not the checkout
    assert "selfsup_audio_video" in _run([installed / "acoustic-ssl", "train", "--help"], cwd=tmp_path)

    _run([installed / "acoustic-ssl", "demo", "--preset", "test", "--out", "demo"], cwd=tmp_path)
    report = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert report["preset"] == "test" and set(report["audio_knn_accuracy"]) >= {"random", "transfer"}

    data = tmp_path / "demo"
    out = _run(
        [
            installed / "acoustic-ssl", "train", "--config", "supervised_hearnet", "--variant", "tiny",
            "--set", f"data.train_list={data / 'packed' / 'training'}",
            "--set", f"data.valid_list={data / 'packed' / 'validation'}",
            "--set", f"data.stats_dir={data / 'stats'}",
            "--set", "experiment.epochs=1", "--set", "data.num_workers=0", "--set", "runtime.device=cpu",
            "--out", "runs",
        ],
        cwd=tmp_path,
    )
    run_dir = Path(out.strip().splitlines()[-1])
    assert run_dir.parent == tmp_path / "runs" and (run_dir / "checkpoints" / "best.safetensors").is_file()
