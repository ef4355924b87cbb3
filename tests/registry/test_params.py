"""`model`/`dataset` launch parameters: validation, the form's select, and resolution at execute time."""

from __future__ import annotations

import pytest

from apps.core.errors import ApplicationError
from apps.labs.forms import LabLaunchForm
from apps.labs.kinds import Param, param_range_text, params_clean
from apps.labs.models import Lab
from apps.labs.services import lab_job_claim, lab_job_execute, lab_job_submit
from apps.registry.models import DatasetEntry, ModelEntry
from apps.registry.services import RegistryError, registry_params_resolve
from tests.labs.fakes import ScriptedBackend

SCHEMA = [
    Param("model", "model", "Model", "zth-gpt2-small", registry_kind="causal-lm").to_json(),
    Param("data", "dataset", "Dataset", "lora-instructions", registry_kind="instruction").to_json(),
    Param("steps", "int", "Steps", 5, min=1, max=10).to_json(),
]


def test_param_json_keeps_the_registry_kind():
    assert SCHEMA[0] == {
        "name": "model",
        "type": "model",
        "label": "Model",
        "default": "zth-gpt2-small",
        "registry_kind": "causal-lm",
    }


def test_only_ready_entries_of_the_kind_validate(registry_ready):
    assert params_clean(SCHEMA, {}) == {"model": "zth-gpt2-small", "data": "lora-instructions", "steps": 5}
    ModelEntry.objects.create(slug="half-built", title="Half", kind="causal-lm", path="models/x", status="building")
    for bad in ("half-built", "all-minilm-l6-v2", "https://example.com/model.bin", 3, None):
        with pytest.raises(ApplicationError) as info:
            params_clean(SCHEMA, {"model": bad})
        assert info.value.field == "params.model"
        # The message lists what may be chosen: only the ready causal LM.
        assert "one of the ready models: zth-gpt2-small;" in info.value.message
    with pytest.raises(ApplicationError, match="one of the ready datasets: lora-instructions;"):
        params_clean(SCHEMA, {"data": "rag-curriculum"})


@pytest.mark.django_db
def test_range_text_says_when_nothing_is_ready():
    assert param_range_text(SCHEMA[0]) == "a ready model from the registry (none is ready yet)"
    with pytest.raises(ApplicationError, match="none is ready yet"):
        params_clean(SCHEMA, {})


def test_form_offers_a_select_of_ready_entries(registry_ready):
    ModelEntry.objects.create(slug="broken-one", title="Broken", kind="causal-lm", path="models/b", status="broken")
    form = LabLaunchForm(SCHEMA)
    html = str(form["model"])
    assert "<select" in html and 'value="zth-gpt2-small"' in html
    assert "broken-one" not in html and "all-minilm-l6-v2" not in html
    assert 'value="lora-instructions"' in str(form["data"]) and "rag-curriculum" not in str(form["data"])


def test_resolve_gives_sandbox_paths_and_metadata(registry_ready):
    params = {"model": "zth-gpt2-small", "data": "lora-instructions", "steps": 5}
    resolved = registry_params_resolve(SCHEMA, params)
    assert params["model"] == "zth-gpt2-small"  # not modified in place
    assert resolved["steps"] == 5
    assert resolved["model"]["path"] == "/models/models/zth-gpt2-small" and resolved["model"]["kind"] == "causal-lm"
    assert resolved["model"]["meta"]["context_length"] == 64 and len(resolved["model"]["meta"]["sha256"]) == 64
    assert resolved["data"]["path"] == "/models/datasets/lora-instructions"
    assert resolved["data"]["meta"]["rows"]["heldout.jsonl"] > 0
    # The host's registry folder is never sent into the sandbox.
    assert str(registry_ready.root) not in repr(resolved)


def test_resolve_names_the_model_and_how_to_register_it(registry_ready, tmp_path, settings):
    with pytest.raises(RegistryError) as info:
        registry_params_resolve(SCHEMA, {"model": "gone"})
    assert "'gone' is not in the registry" in info.value.message and "Admin" in info.value.message
    ModelEntry.objects.filter(slug="zth-gpt2-small").update(status="broken", metadata={"error": "sha256 differs"})
    with pytest.raises(RegistryError, match=r"'zth-gpt2-small' is not ready \(status: broken; sha256 differs\)"):
        registry_params_resolve(SCHEMA, {"model": "zth-gpt2-small"})
    ModelEntry.objects.filter(slug="zth-gpt2-small").update(status="ready")
    settings.LABS_MODEL_DIR = tmp_path  # a ready row whose files are not there
    with pytest.raises(RegistryError, match="its files are missing"):
        registry_params_resolve(SCHEMA, {"model": "zth-gpt2-small"})
    assert str(tmp_path) not in str(info.value.message)


def _model_lab() -> Lab:
    lab = Lab.objects.get(slug="char-gpt")
    lab.param_schema = SCHEMA
    lab.save(update_fields=["param_schema"])
    return lab


@pytest.mark.django_db(transaction=True)  # the event writer has its own connection
def test_execute_hands_the_runner_resolved_entries(registry_ready, labs, learner, no_celery, settings):
    settings.LABS_SANDBOX_BACKEND = "tests.labs.fakes.ScriptedBackend"
    settings.LABS_SANDBOX_OPTIONS = {}
    ScriptedBackend.runs.clear()
    job = lab_job_submit(user=learner, lab=_model_lab(), params={"steps": 3})
    assert job.params["model"] == "zth-gpt2-small"  # the job stores the slug, never a path or URL
    done = lab_job_execute(lab_job_claim(job.pk, worker="w@test", task_id="t"))
    assert done.status == "succeeded"
    spec = ScriptedBackend.runs[0]
    assert spec.params["model"]["path"] == "/models/models/zth-gpt2-small"
    assert spec.params["data"]["slug"] == "lora-instructions" and spec.params["steps"] == 3


@pytest.mark.django_db(transaction=True)
def test_execute_fails_the_job_when_its_model_broke_after_submit(registry_ready, labs, learner, no_celery, settings):
    settings.LABS_SANDBOX_BACKEND = "tests.labs.fakes.ScriptedBackend"
    settings.LABS_SANDBOX_OPTIONS = {}
    ScriptedBackend.runs.clear()
    job = lab_job_submit(user=learner, lab=_model_lab(), params={})
    DatasetEntry.objects.filter(slug="lora-instructions").delete()
    done = lab_job_execute(lab_job_claim(job.pk, worker="w@test", task_id="t"))
    assert done.status == "failed" and ScriptedBackend.runs == []
    assert "The dataset 'lora-instructions' is not in the registry" in done.reason
    assert "registry_build" in done.reason
