"""The small-LM builder and the shipped datasets: deterministic, checked, and clear about bad rows."""

from __future__ import annotations

import json

import pytest

from apps.registry.builders import build_small_lm, tree_sha256
from apps.registry.datasets import SCHEMAS, DatasetError, dataset_validate, jsonl_validate, rag_rows

TEXTS = [
    "Attention lets every token look at every other token. " * 20,
    "A tokenizer splits text into pieces the model can embed. " * 20,
    "Gradient descent moves the weights against the gradient of the loss. " * 20,
]
TINY = {"vocab_size": 300, "n_layer": 1, "n_embd": 16, "n_positions": 32, "steps": 5, "batch_size": 2}


def test_same_seed_same_files_other_seed_other_weights(tmp_path):
    first = build_small_lm(tmp_path / "a", TEXTS, seed=7, **TINY)
    second = build_small_lm(tmp_path / "b", TEXTS, seed=7, **TINY)
    other = build_small_lm(tmp_path / "c", TEXTS, seed=8, **TINY)
    assert first["sha256"] == second["sha256"] == tree_sha256(tmp_path / "a")
    assert (tmp_path / "a/model.safetensors").read_bytes() == (tmp_path / "b/model.safetensors").read_bytes()
    assert other["sha256"] != first["sha256"]
    assert first["n_params"] > 0 and first["context_length"] == 32 and first["vocab_size"] <= 300
    assert {"config.json", "model.safetensors", "tokenizer.json", "registry.json"} <= {
        p.name for p in (tmp_path / "a").iterdir()
    }
    assert not (tmp_path / "a.partial").exists()


def test_the_loss_falls_and_progress_is_reported(tmp_path):
    seen = []
    meta = build_small_lm(
        tmp_path / "m", TEXTS, seed=1, **{**TINY, "steps": 30}, progress=lambda fraction, stage: seen.append(fraction)
    )
    assert meta["final_loss"] < meta["first_loss"]
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)


def test_too_little_text_is_refused(tmp_path):
    with pytest.raises(ValueError, match="too short"):
        build_small_lm(tmp_path / "m", ["tiny"], seed=1, **TINY)
    with pytest.raises(ValueError, match="non-empty text"):
        build_small_lm(tmp_path / "m", ["  "], seed=1, **TINY)


def _write(path, lines: list[bytes]):
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'{"instruction": "x", "input": "", "output": "caf\xe9"}', "row 3: not UTF-8 text"),
        (b'{"instruction": "x", "input": ""}', "row 3, column 'output': the column is missing"),
        (
            b'{"instruction": "x", "input": "", "output": 3}',
            "row 3, column 'output': expected non-empty text, got a number",
        ),
        (b'{"instruction": "", "input": "", "output": "y"}', "row 3, column 'instruction': expected non-empty text"),
        (
            b'{"instruction": "x", "input": null, "output": "y"}',
            "row 3, column 'input': expected text (may be empty), got null",
        ),
        (b'{"instruction": "x", "input": "", "output": "y"', "row 3: not valid JSON"),
        (b'["x", "", "y"]', "row 3: expected a JSON object of columns, got a list"),
    ],
)
def test_bad_rows_name_the_row_and_column(tmp_path, line, expected):
    good = json.dumps({"instruction": "Define", "input": "", "output": "ok"}).encode()
    path = _write(tmp_path / "train.jsonl", [good, good, line, good])
    with pytest.raises(DatasetError) as info:
        jsonl_validate(path, SCHEMAS["instruction"]["train.jsonl"])
    assert expected in info.value.message
    assert info.value.row == 3 and info.value.file == "train.jsonl"


def test_reference_contexts_must_be_a_list_of_texts(tmp_path):
    row = {"question": "q", "reference": "r", "reference_contexts": ["ok", ""]}
    path = _write(tmp_path / "questions.jsonl", [json.dumps(row).encode()])
    with pytest.raises(DatasetError, match=r"row 1, column 'reference_contexts': item 1 should be non-empty text"):
        jsonl_validate(path, SCHEMAS["rag-corpus"]["questions.jsonl"])
    with pytest.raises(DatasetError, match="the file is missing"):
        dataset_validate(tmp_path, "rag-corpus")


def test_shipped_datasets_are_valid_and_contexts_are_verbatim(registry_files):
    root, _manifest = registry_files
    meta = dataset_validate(root / "datasets/lora-instructions", "instruction")
    assert meta["rows"]["train.jsonl"] > 100 and meta["rows"]["heldout.jsonl"] > 10
    train = {json.loads(line)["id"] for line in (root / "datasets/lora-instructions/train.jsonl").open()}
    heldout = {json.loads(line)["id"] for line in (root / "datasets/lora-instructions/heldout.jsonl").open()}
    assert not train & heldout
    docs = {
        json.loads(line)["id"]: json.loads(line)["text"]
        for line in (root / "datasets/rag-curriculum/docs.jsonl").open()
    }
    for line in (root / "datasets/rag-curriculum/questions.jsonl").open():
        question = json.loads(line)
        assert question["reference_contexts"][0] in docs[question["doc_ids"][0]]
    assert (root / "datasets/rag-curriculum/README.md").read_text().startswith("# rag-curriculum")


def test_rag_rows_come_from_the_content(settings):
    docs, questions = rag_rows(settings.CONTENT_DIR)
    assert len(docs) >= 10 and len(questions) >= 20
    assert all(q["question"].endswith("?") and q["reference"] for q in questions)
