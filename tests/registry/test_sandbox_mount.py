"""Sandboxes see the registry folder read-only at /models, and only that folder."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from apps.labs.sandbox import SandboxUnavailable
from apps.labs.sandbox.bubblewrap import BubblewrapBackend
from apps.labs.sandbox.docker import DockerBackend
from apps.labs.sandbox.models_mount import model_dir_problem
from apps.labs.sandbox.workdirs import work_dir_release
from tests.labs.sandbox.conftest import make_spec, run_job

PROBE = textwrap.dedent("""
    import json, os
    out = {"listing": sorted(os.listdir("/models")),
           "config": json.load(open("/models/models/zth-gpt2-small/config.json"))["model_type"]}
    for target in ("/models/models/zth-gpt2-small/config.json", "/models/new-file"):
        try:
            with open(target, "a") as handle:
                handle.write("x")
            out[target] = "written"
        except OSError as exc:
            out[target] = type(exc).__name__ + ":" + str(exc.errno)
    for line in open("/proc/self/mountinfo"):
        fields = line.split()
        if fields[4] == "/models":
            out["mount_options"] = fields[5].split(",")
    print("PROBE " + json.dumps(out))
""")


@pytest.fixture
def work_dir(tmp_path: Path):
    path = tmp_path / "work"
    yield path
    work_dir_release(path)


@pytest.mark.sandbox
def test_a_sandboxed_job_reads_models_and_cannot_write_them(registry_files, settings, work_dir):
    root, _manifest = registry_files
    settings.LABS_MODEL_DIR = root
    backend = BubblewrapBackend()
    try:
        backend.check_available()
    except SandboxUnavailable as exc:
        pytest.skip(f"bubblewrap sandbox unavailable here: {exc.message}")
    before = (root / "models/zth-gpt2-small/config.json").read_bytes()
    run = run_job(backend, work_dir, PROBE)
    line = next(line for line in run.lines if line.startswith("PROBE "))
    seen = json.loads(line.removeprefix("PROBE "))
    assert seen["listing"] == ["datasets", "manifest.json", "models"]
    assert seen["config"] == "gpt2"
    # The bind itself is read-only (not just files the job's uid does not own).
    assert "ro" in seen["mount_options"]
    assert seen["/models/models/zth-gpt2-small/config.json"] in ("OSError:30", "PermissionError:13")
    assert seen["/models/new-file"] in ("OSError:30", "PermissionError:13")
    assert (root / "models/zth-gpt2-small/config.json").read_bytes() == before
    assert not (root / "new-file").exists()


def test_bwrap_binds_only_the_registry_dir_and_only_when_it_exists(tmp_path, settings):
    models = tmp_path / "models"
    settings.LABS_MODEL_DIR = models
    backend = BubblewrapBackend()
    spec = make_spec(tmp_path / "work")

    def binds() -> list[tuple[str, str]]:
        args = backend._bwrap_args(spec, tmp_path / "work", 0, [])
        return [(args[i + 1], args[i + 2]) for i, a in enumerate(args) if a == "--ro-bind" and args[i + 2] == "/models"]

    assert binds() == []  # not built yet: no /models (the folder may appear later)
    models.mkdir()
    assert binds() == [(str(models), "/models")]
    assert BubblewrapBackend(model_dir=None)._bwrap_args(spec, tmp_path / "work", 0, []).count("/models") == 0


def test_docker_mounts_the_registry_read_only(tmp_path, settings):
    pytest.importorskip("docker")
    settings.LABS_MODEL_DIR = tmp_path / "models"
    (tmp_path / "models").mkdir()
    (tmp_path / "work").mkdir()
    kwargs = DockerBackend().container_kwargs(make_spec(tmp_path / "work"))
    mounts = {m["Target"]: m for m in kwargs["mounts"]}
    assert mounts["/models"]["Source"] == str((tmp_path / "models").resolve())
    assert mounts["/models"]["ReadOnly"] is True
    assert mounts["/work"].get("ReadOnly") in (None, False)


def test_a_registry_dir_holding_platform_data_is_refused(tmp_path, settings):
    data = tmp_path / "data"
    (data / "models").mkdir(parents=True)
    settings.DATA_DIR = data
    assert model_dir_problem(data / "models") is None
    for bad in (data, tmp_path, Path("/")):
        assert "sandboxes would see it" in model_dir_problem(bad)
    settings.LABS_MODEL_DIR = tmp_path
    with pytest.raises(SandboxUnavailable, match="Point LABS_MODEL_DIR at a folder"):
        BubblewrapBackend().check_available()
