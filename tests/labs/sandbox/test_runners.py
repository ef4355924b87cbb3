"""The lab runners, bare (protocol) and through the real sandbox (spam classifier, char GPT)."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from apps.labs.sandbox import resolve_artifact_path
from gpu_workers.runners import protocol
from gpu_workers.runners.spam_classifier import load_messages

from .conftest import run_job

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[3]


def test_emitter_writes_numbered_json_lines(tmp_path):
    out = io.StringIO()
    emitter = protocol.Emitter(tmp_path, out=out)
    (tmp_path / "model.bin").write_bytes(b"weights")
    emitter.progress(1.5, "clamped")
    emitter.metric("loss", float("nan"), step=3)
    emitter.artifact("model.bin", "checkpoint")
    emitter.result({"accuracy": 0.9})
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["seq"] for line in lines] == [1, 2, 3, 4]
    assert lines[0]["payload"] == {"fraction": 1.0, "message": "clamped"}
    assert lines[1]["payload"] == {"name": "loss", "value": None, "step": 3}
    assert lines[2]["payload"]["sha256"] == hashlib.sha256(b"weights").hexdigest()
    assert lines[2]["payload"]["size"] == 7
    assert lines[3] == {"seq": 4, "type": "result", "payload": {"status": "ok", "metrics": {"accuracy": 0.9}}}
    with pytest.raises(ValueError):
        emitter.emit("shell", {})


def test_unknown_runner_exits_1_with_error_result(tmp_path):
    (tmp_path / "spec.json").write_text(json.dumps({"job_id": "x", "runner": "nope", "params": {}}))
    proc = subprocess.run(
        [sys.executable, "-m", "gpu_workers.runners", "nope", str(tmp_path / "spec.json")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["type"] == "result" and result["payload"]["status"] == "error"
    assert "Traceback" in proc.stderr


def test_dataset_is_shipped_and_balanced_enough():
    texts, labels = load_messages()
    assert len(texts) >= 250 and 0.3 < sum(labels) / len(labels) < 0.5
    assert len(set(texts)) == len(texts)
    corpus = (ROOT / "gpu_workers/runners/data/ml_prose.txt").read_text()
    assert 30_000 <= len(corpus) <= 50_000


def test_spam_classifier_in_the_sandbox(bwrap_backend, work_dir):
    run = run_job(
        bwrap_backend,
        work_dir,
        runner="spam_classifier",
        params={"max_features": 3000, "ngram_max": 2, "C": 10.0, "test_size": 0.25},
    )
    assert run.status.reason == "succeeded", run.text
    assert run.of_type("progress") and run.of_type("progress")[-1].payload["fraction"] == 1.0
    assert {e.payload["name"] for e in run.of_type("metric")} == {"accuracy", "precision", "recall", "f1"}
    assert run.result["status"] == "ok" and run.result["metrics"]["accuracy"] > 0.95
    artifact = run.of_type("artifact")[0].payload
    summary_path = resolve_artifact_path(work_dir, artifact["path"])
    assert hashlib.sha256(summary_path.read_bytes()).hexdigest() == artifact["sha256"]
    summary = json.loads(summary_path.read_text())
    assert summary["vocabulary_size"] > 100 and summary["top_spam_terms"]


def test_spam_classifier_rejects_bad_params(bwrap_backend, work_dir):
    run = run_job(bwrap_backend, work_dir, runner="spam_classifier", params={"ngram_max": 9})
    assert run.status.reason == "failed"
    assert "ngram_max" in run.result["error"]


def test_char_gpt_learns_and_saves_a_checkpoint(bwrap_backend, work_dir):
    run = run_job(
        bwrap_backend,
        work_dir,
        runner="char_gpt",
        params={"steps": 60, "lr": 3e-3, "block_size": 32, "n_layer": 2, "n_embd": 64, "seed": 1},
        memory_mb=2048,
        wall_seconds=60,
    )
    assert run.status.reason == "succeeded", run.text
    losses = run.metrics("loss")
    assert [e.payload["step"] for e in losses] == list(range(1, 61))
    first = sum(e.payload["value"] for e in losses[:5]) / 5
    last = sum(e.payload["value"] for e in losses[-5:]) / 5
    assert last < first - 0.5
    assert run.result["metrics"]["final_loss"] < run.result["metrics"]["initial_loss"]
    assert run.metrics("val_loss")
    assert isinstance(run.result["sample"], str) and len(run.result["sample"]) == 200
    artifact = run.of_type("artifact")[0].payload
    assert artifact["kind"] == "checkpoint"

    import torch

    checkpoint = torch.load(resolve_artifact_path(work_dir, artifact["path"]), weights_only=True)
    assert checkpoint["config"]["n_layer"] == 2 and checkpoint["steps"] == 60
    assert sum(t.numel() for t in checkpoint["model"].values()) == artifact["parameters"]
