"""The shared registry fixtures give what the lab runners rely on."""

from __future__ import annotations

import stat

from apps.registry.datasets import dataset_validate
from apps.registry.models import DatasetEntry, ModelEntry
from apps.registry.services import registry_params_resolve


def test_registry_ready_rows_files_and_resolution(registry_ready, settings):
    assert settings.LABS_MODEL_DIR == registry_ready.root
    assert set(ModelEntry.objects.filter(status="ready").values_list("slug", flat=True)) == {
        "zth-gpt2-small",
        "all-minilm-l6-v2",
    }
    assert set(DatasetEntry.objects.filter(status="ready").values_list("slug", flat=True)) == {
        "lora-instructions",
        "rag-curriculum",
    }
    schema = [
        {"name": "model", "type": "model", "registry_kind": "causal-lm"},
        {"name": "data", "type": "dataset", "registry_kind": "rag-corpus"},
        {"name": "steps", "type": "int"},
    ]
    resolved = registry_params_resolve(schema, {"model": "zth-gpt2-small", "data": "rag-curriculum", "steps": 3})
    assert resolved["steps"] == 3
    assert resolved["model"]["path"] == "/models/models/zth-gpt2-small"
    assert resolved["model"]["meta"]["n_layer"] == 2
    assert resolved["data"]["path"] == "/models/datasets/rag-curriculum"
    assert (
        dataset_validate(registry_ready.root / "datasets/rag-curriculum", "rag-corpus")["rows"]["questions.jsonl"] > 10
    )


def test_tiny_model_loads_and_generates(registry_ready):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = registry_ready.root / "models/zth-gpt2-small"
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    ids = tokenizer("Attention lets a token", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    assert out.shape[1] == ids.shape[1] + 5
    # Another uid (the sandbox's nobody) can read every file.
    for path in folder.iterdir():
        assert path.stat().st_mode & stat.S_IROTH, path
