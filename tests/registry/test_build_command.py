"""`manage.py registry_build`: builds and registers, skips what is ready, rebuilds what changed;
the labs catalogue shows its progress; the admin verifies hand-registered entries."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.urls import reverse

from apps.registry import shipped
from apps.registry.builders import tree_sha256
from apps.registry.management.commands import registry_build
from apps.registry.models import DatasetEntry, ModelEntry
from apps.registry.services import registry_entry_verify
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiny_build(settings, tmp_path, monkeypatch):
    settings.LABS_MODEL_DIR = tmp_path / "registry"
    monkeypatch.setattr(
        shipped,
        "SMALL_LM_CONFIG",
        {
            **shipped.SMALL_LM_CONFIG,
            "vocab_size": 300,
            "n_layer": 1,
            "n_embd": 16,
            "n_positions": 32,
            "steps": 3,
            "batch_size": 2,
        },
    )
    return tmp_path / "registry"


def _run(*args) -> str:
    out = io.StringIO()
    call_command("registry_build", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_builds_registers_then_skips_and_rebuilds_what_changed(tiny_build, monkeypatch):
    progress = []
    real = registry_build.registry_entry_progress
    monkeypatch.setattr(
        registry_build,
        "registry_entry_progress",
        lambda row, percent, stage: (progress.append((row.slug, percent)), real(row, percent=percent, stage=stage)),
    )
    out = _run("--only", "zth-gpt2-small", "lora-instructions", "rag-curriculum")
    assert "zth-gpt2-small: ready" in out
    model = ModelEntry.objects.get(slug="zth-gpt2-small")
    assert model.status == "ready" and model.kind == "causal-lm" and model.path == "models/zth-gpt2-small"
    assert model.metadata["sha256"] == tree_sha256(tiny_build / "models/zth-gpt2-small")
    assert model.metadata["context_length"] == 32 and model.metadata["n_params"] > 0 and "license" in model.metadata
    assert set(DatasetEntry.objects.filter(status="ready").values_list("slug", flat=True)) == {
        "lora-instructions",
        "rag-curriculum",
    }
    model_percents = [p for slug, p in progress if slug == "zth-gpt2-small"]
    assert model_percents[-1] == 100 and model_percents == sorted(model_percents) and len(model_percents) > 3

    stamp = (tiny_build / "models/zth-gpt2-small/model.safetensors").stat().st_mtime_ns
    assert "every shipped entry is ready" in _run("--only", "zth-gpt2-small", "lora-instructions", "rag-curriculum")
    assert (tiny_build / "models/zth-gpt2-small/model.safetensors").stat().st_mtime_ns == stamp

    (tiny_build / "datasets/rag-curriculum/docs.jsonl").write_text('{"id": "x"}\n')  # tampered
    out = _run("--only", "zth-gpt2-small", "lora-instructions", "rag-curriculum")
    assert "rag-curriculum: files differ from the recorded sha256; rebuilding." in out
    assert "zth-gpt2-small: ready" not in out and "lora-instructions: ready" not in out
    row = DatasetEntry.objects.get(slug="rag-curriculum")
    assert row.status == "ready" and row.metadata["sha256"] == tree_sha256(tiny_build / "datasets/rag-curriculum")


def test_a_failed_build_marks_the_entry_broken_and_says_why(tiny_build, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(registry_build, "build_shipped_entry", boom)
    with pytest.raises(Exception, match="Could not build: lora-instructions"):
        _run("--only", "lora-instructions")
    row = DatasetEntry.objects.get(slug="lora-instructions")
    assert row.status == "broken" and row.metadata["error"] == "OSError: disk full"


def test_catalogue_shows_the_build_progress_until_the_model_is_ready(client, learner):
    client.force_login(learner)
    html = client.get(reverse("labs:index")).content.decode()
    assert "Preparing the model: 0%" in html and "waiting to start" in html
    row = ModelEntry.objects.create(
        slug="zth-gpt2-small",
        title="t",
        kind="causal-lm",
        path="models/zth-gpt2-small",
        status="building",
        metadata={"progress": 42, "stage": "training the model"},
    )
    html = client.get(reverse("labs:index")).content.decode()
    assert "Preparing the model: 42%" in html and "training the model" in html and 'hx-trigger="every 10s"' in html
    row.status = "ready"
    row.save()
    assert "Preparing the model" not in client.get(reverse("labs:index")).content.decode()


def test_admin_verify_marks_ready_or_broken(tmp_path, settings):
    settings.LABS_MODEL_DIR = tmp_path
    (tmp_path / "models/real").mkdir(parents=True)
    (tmp_path / "models/real/config.json").write_text('{"model_type": "llama", "max_position_embeddings": 4096}')
    entry = ModelEntry.objects.create(slug="real", title="Real", kind="causal-lm", path="models/real")
    entry = registry_entry_verify(entry)
    assert entry.status == "ready" and entry.metadata["context_length"] == 4096 and len(entry.metadata["sha256"]) == 64
    (tmp_path / "models/real/config.json").write_text("{}")
    entry = registry_entry_verify(entry)
    assert entry.status == "broken" and "sha256 differs" in entry.metadata["error"]
    missing = registry_entry_verify(
        ModelEntry.objects.create(slug="gone", title="G", kind="causal-lm", path="models/g")
    )
    assert missing.status == "broken" and "No folder 'models/g'" in missing.metadata["error"]
    assert str(tmp_path) not in missing.metadata["error"]


def test_admin_needs_an_explicit_permission_not_just_staff(client, tmp_path, settings):
    settings.LABS_MODEL_DIR = tmp_path
    staff = make_user("stan", is_staff=True)
    client.force_login(staff)
    url = reverse("admin:registry_modelentry_changelist")
    assert client.get(url).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_modelentry"))
    assert client.get(url).status_code == 200
    ModelEntry.objects.create(slug="x", title="X", kind="causal-lm", path="models/x")
    # Viewing does not allow the verify action (a change).
    response = client.post(url, {"action": "verify_files", "_selected_action": [ModelEntry.objects.get().pk]})
    assert ModelEntry.objects.get().status == "building"
    assert response.status_code in (200, 302)


def test_path_must_stay_inside_the_registry():
    from django.core.exceptions import ValidationError

    for bad in ("/etc", "../secrets", "models/../../x"):
        with pytest.raises(ValidationError, match="relative to the registry folder"):
            ModelEntry(slug="s", title="t", kind="causal-lm", path=bad).full_clean()
