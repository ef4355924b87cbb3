"""docker/*.Dockerfile: multi-stage, non-root, health-checked, no build tools in the final stage.

No Docker engine runs here, so the images are not built: the Dockerfiles are parsed and the
properties the deployment relies on are asserted on their final stage.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.dockerfile import stages

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((ROOT / "docker").glob("*.Dockerfile"))
BUILD_TOOLS = re.compile(r"\b(build-essential|gcc|g\+\+|make|clang|libpq-dev|python3-dev|git)\b")


def test_the_images_exist():
    assert {p.name for p in DOCKERFILES} == {"web.Dockerfile", "sandbox-cpu.Dockerfile", "sandbox-gpu.Dockerfile"}


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_multi_stage_non_root_without_build_tools(path):
    all_stages = stages(path)
    assert len(all_stages) >= 2, "multi-stage: build and runtime"
    final = all_stages[-1]
    users = [args for word, args in final if word == "USER"]
    assert users, "the final stage sets a USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0") and (not user.isdigit() or int(user) >= 1000)
    for word, args in final:
        if word == "RUN":
            if path.name == "sandbox-gpu.Dockerfile":
                # Triton (vLLM) compiles its C launchers at run time: gcc stays, nothing else.
                args = re.sub(r"\b(gcc|libc6-dev)\b", "", args)
            assert not BUILD_TOOLS.search(args), f"build tools in the final stage: {args}"
    assert any(word == "COPY" and "--from=" in args for word, args in final), (
        "the final stage copies from a build stage"
    )
    assert any(word == "HEALTHCHECK" for word, _ in final), "a HEALTHCHECK (or an explicit HEALTHCHECK NONE)"


def test_web_image_collects_static_and_checks_health():
    all_stages = stages(ROOT / "docker" / "web.Dockerfile")
    build, final = all_stages[0], all_stages[-1]
    assert any(word == "RUN" and "collectstatic --noinput" in args for word, args in build)
    (check,) = [args for word, args in final if word == "HEALTHCHECK"]
    assert "CMD" in check and "docker/healthcheck.py" in check and "NONE" not in check
    env = " ".join(args for word, args in final if word == "ENV")
    assert "DJANGO_STATIC_ROOT=/app/staticfiles" in env and "config.settings.production" in env
    assert (ROOT / "docker" / "healthcheck.py").is_file()


@pytest.mark.parametrize("name", ["sandbox-cpu.Dockerfile", "sandbox-gpu.Dockerfile"])
def test_sandbox_images_run_the_runners_as_nobody(name):
    final = stages(ROOT / "docker" / name)[-1]
    assert [args for word, args in final if word == "USER"][-1] == "65534:65534"
    env = " ".join(args for word, args in final if word == "ENV")
    assert "HF_HUB_OFFLINE=1" in env and "PYTHONPATH=/opt/app" in env
    assert any(word == "COPY" and "/opt/app" in args for word, args in final)
    cmd = [args for word, args in final if word == "CMD"][-1]
    assert "gpu_workers.runners" in cmd


def test_gpu_sandbox_has_the_gpu_stack():
    text = (ROOT / "docker" / "sandbox-gpu.Dockerfile").read_text()
    assert "requirements/gpu.txt" in text  # vLLM
    for package in ("peft", "ragas", "sentence-transformers"):
        assert package in text
    assert "vllm" in (ROOT / "requirements" / "gpu.txt").read_text()


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".data", ".env"} <= ignored
