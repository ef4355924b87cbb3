"""`make gpu-check` (scripts/gpu_check.sh) on machines without a usable GPU: it says why and
stops at once with a non-zero status, before installing anything. On a GPU machine the
script itself is the check (it runs the GPU-marked tests and bench/labs/gpu_bench.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu_check.sh"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"


def run_check(tmp_path: Path, *, nvidia_smi: str | None, **env: str) -> subprocess.CompletedProcess:
    """The script with PATH limited to the basics, plus a fake nvidia-smi printing ``nvidia_smi``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if nvidia_smi is not None:
        fake = bin_dir / "nvidia-smi"
        fake.write_text(f"#!/bin/sh\necho '{nvidia_smi}'\n")
        fake.chmod(0o755)
    return subprocess.run(
        ["bash", str(SCRIPT)],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "GPU_CHECK_LOGS": str(tmp_path / "logs"),
             "GPU_VENV": str(tmp_path / "venv"), **env},
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )


def test_without_nvidia_smi_it_says_so_and_exits_3_before_installing(tmp_path):
    if any(Path(d, "nvidia-smi").exists() for d in ("/usr/bin", "/bin")):
        pytest.skip("this machine has nvidia-smi in /usr/bin")
    result = run_check(tmp_path, nvidia_smi=None)
    assert result.returncode == 3
    assert "no NVIDIA GPU here" in result.stdout and "make gpu-check" in result.stdout
    assert not (tmp_path / "venv").exists() and not (tmp_path / "logs").exists()


def test_a_driver_older_than_r580_is_refused_with_what_to_do(tmp_path):
    result = run_check(tmp_path, nvidia_smi="NVIDIA A100-SXM4-80GB, 550.54.15, 81920 MiB")
    assert result.returncode == 4
    assert "driver 550.54.15 is older than R580" in result.stdout and "forward-compatibility" in result.stdout
    assert not (tmp_path / "venv").exists()


@pytest.mark.skipif(not VENV_PYTHON.exists(), reason="needs the project's .venv")
def test_a_python_whose_torch_sees_no_cuda_is_refused(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine's PyTorch sees a GPU")
    result = run_check(tmp_path, nvidia_smi="NVIDIA H200, 580.159.03, 143771 MiB", GPU_PYTHON=str(VENV_PYTHON))
    assert result.returncode == 4, result.stdout + result.stderr
    assert "GPU: NVIDIA H200, 580.159.03" in result.stdout
    assert "sees no CUDA device" in result.stdout and "nothing installed" in result.stdout
    assert not (tmp_path / "venv").exists(), "GPU_PYTHON: nothing is installed"


def test_the_makefile_target_runs_the_script():
    text = (ROOT / "Makefile").read_text()
    assert "\ngpu-check:\n\t@bash scripts/gpu_check.sh\n" in text
    assert os.access(SCRIPT, os.X_OK)
