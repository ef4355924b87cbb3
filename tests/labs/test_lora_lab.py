"""The LoRA fine-tune lab: runner (gpu_workers/runners/lora_finetune.py) on a tiny GPT-2, the
kind's memory preflight, and one run end to end through the real worker and bubblewrap."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from gpu_workers.runners import lora_finetune
from gpu_workers.runners.protocol import Emitter
from tests.registry import fixtures as registry_fixtures

# The shared registry fixtures: a tiny zth-gpt2-small and the real datasets in a temp registry
# that workers started by the tests bind read-only at /models.
registry_files = registry_fixtures.registry_files
registry_ready = registry_fixtures.registry_ready

COLOURS = ["red", "blue", "green", "yellow", "black", "white", "orange", "purple"]
THINGS = ["apple", "sky", "leaf", "sun", "night", "snow", "carrot", "plum", "brick", "cloud", "grass", "coal",
          "lemon", "milk", "rose", "sea", "lime", "ink", "pumpkin", "violet", "cherry", "ocean", "frog", "banana"]


def instruction_rows() -> tuple[list[dict], list[dict]]:
    """A tiny instruction set with a consistent answer style, so a few LoRA steps visibly help."""
    rows = [
        {"instruction": f"What colour is the {thing}?", "input": "" if i % 3 else "Answer in one sentence.",
         "output": f"The {thing} is {COLOURS[i % len(COLOURS)]}."}
        for i, thing in enumerate(THINGS)
    ]
    return rows[:20], rows[20:]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def build_tiny_model(out_dir: Path, texts: list[str], steps: int = 150) -> Path:
    """A byte-level BPE tokenizer and a 2-layer, 32-wide GPT-2 briefly pre-trained on ``texts``
    (a random base gives LoRA nothing to steer), saved like a registry entry (until
    tests/registry/fixtures.py provides one)."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=400, min_frequency=1, special_tokens=["<|endoftext|>"])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>",
                                        bos_token="<|endoftext|>", unk_token="<|endoftext|>")
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=128, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.set_num_threads(1)  # tiny matmuls: more threads only spin on a busy machine
    torch.manual_seed(0)
    model = GPT2LMHeadModel(config)
    ids = torch.tensor(tokenizer("<|endoftext|>".join(texts))["input_ids"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        starts = torch.randint(len(ids) - 33, (16,), generator=generator)
        batch = torch.stack([ids[s : s + 32] for s in starts])
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("lora-registry")
    train_rows, heldout_rows = instruction_rows()
    dataset = root / "datasets" / "tiny-instructions"
    dataset.mkdir(parents=True)
    write_jsonl(dataset / "train.jsonl", train_rows)
    write_jsonl(dataset / "heldout.jsonl", heldout_rows)
    # Pre-training text: the same facts in another shape (the instruction format is what LoRA adds).
    texts = [f"{t} {c}. the {t} looks {c}. ask what colour and say it." for t, c in
             ((r["output"].split()[1], r["output"].split()[-1].rstrip(".")) for r in train_rows + heldout_rows)]
    texts += [lora_finetune.prompt_text(r) for r in train_rows]
    model = build_tiny_model(root / "models" / "tiny-gpt2", texts)
    return {"root": root, "model": model, "dataset": dataset}


def spec_for(tiny: dict, work_dir: Path, **params) -> dict:
    base = {
        "model": {"slug": "tiny-gpt2", "path": str(tiny["model"]), "meta": {}},
        "dataset": {"slug": "tiny-instructions", "path": str(tiny["dataset"]), "meta": {}},
        "steps": 25, "lr": 5e-3, "rank": 8, "alpha": 16, "batch_size": 4, "max_seq_len": 64,
        "seed": 7, "samples": 2, "max_new_tokens": 8, "threads": 1,
    }
    return {"params": {**base, **params}, "work_dir": str(work_dir)}


def run_runner(spec: dict) -> tuple[dict, list[dict]]:
    out = io.StringIO()
    payload = lora_finetune.train(spec, Emitter(spec["work_dir"], out=out))
    return payload, [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.fixture(scope="module")
def default_run(tiny, tmp_path_factory) -> tuple[dict, list[dict], Path]:
    work = tmp_path_factory.mktemp("lora-work")
    payload, events = run_runner(spec_for(tiny, work))
    return payload, events, work


def _metric_values(events: list[dict], name: str) -> list[tuple[int | None, float]]:
    return [(e["payload"].get("step"), e["payload"]["value"]) for e in events
            if e["type"] == "metric" and e["payload"]["name"] == name]


# --- runner ------------------------------------------------------------------------------------


def test_only_the_adapters_train_and_the_loss_falls(default_run):
    payload, events, work = default_run
    metrics = payload["metrics"]
    # c_attn is 32 -> 96 in each of 2 blocks: rank 8 x (32 + 96) x 2 adapter weights.
    assert metrics["trainable_params"] == 8 * (32 + 96) * 2
    assert metrics["total_params"] > 20 * metrics["trainable_params"]
    assert metrics["trainable_percent"] == pytest.approx(100 * 2048 / metrics["total_params"], abs=1e-3)
    from safetensors.torch import load_file

    saved = load_file(work / "adapter" / "adapter_model.safetensors")
    assert saved and all("lora_A" in k or "lora_B" in k for k in saved), sorted(saved)
    assert sum(t.numel() for t in saved.values()) == metrics["trainable_params"]

    losses = _metric_values(events, "loss")
    assert [step for step, _ in losses] == list(range(1, 26))
    assert metrics["train_loss_drop"] > 0 and metrics["final_loss"] < metrics["initial_loss"]
    assert metrics["eval_loss_after"] < metrics["eval_loss_before"] and metrics["eval_loss_delta"] < 0
    assert metrics["eval_perplexity_after"] < metrics["eval_perplexity_before"]
    evals = _metric_values(events, "eval_loss")
    assert evals[0] == (0, metrics["eval_loss_before"]) and evals[-1] == (25, metrics["eval_loss_after"])


def test_result_records_generations_versions_device_and_runner(default_run):
    payload, events, work = default_run
    assert payload["device"] == "cpu" and payload["engine"] == "peft-lora" and payload["seed"] == 7
    assert {"torch", "transformers", "peft"} <= payload["versions"].keys()
    assert payload["runner_version"] == lora_finetune.RUNNER_VERSION and len(payload["runner_sha256"]) == 64
    saved = json.loads((work / "generations.json").read_text())
    assert len(saved["samples"]) == 2 and saved["samples"] == payload["generations"]
    first = saved["samples"][0]
    assert first["reference"] == "The cherry is black." and {"before", "after"} <= first.keys()
    artifacts = [e["payload"]["path"] for e in events if e["type"] == "artifact"]
    assert artifacts == ["generations.json", "adapter/adapter_model.safetensors", "adapter/adapter_config.json"]
    result = [e for e in events if e["type"] == "result"]
    assert len(result) == 1 and result[0]["payload"]["status"] == "ok"
    fractions = [e["payload"]["fraction"] for e in events if e["type"] == "progress"]
    assert fractions == sorted(fractions) and fractions[-1] < 1.0  # the worker marks 1.0 at the end


def test_same_seed_same_numbers_other_seed_other_numbers(tiny, default_run, tmp_path):
    payload, events, _ = default_run
    again, again_events = run_runner(spec_for(tiny, tmp_path))
    assert _metric_values(again_events, "loss") == _metric_values(events, "loss")
    skip = {"train_seconds", "steps_per_second", "peak_memory_mb"}
    assert {k: v for k, v in again["metrics"].items() if k not in skip} == {
        k: v for k, v in payload["metrics"].items() if k not in skip}
    assert again["generations"] == payload["generations"]
    (tmp_path / "other").mkdir()
    _, other_events = run_runner(spec_for(tiny, tmp_path / "other", seed=8))
    assert _metric_values(other_events, "loss") != _metric_values(events, "loss")


def test_an_extra_trainable_parameter_is_refused(tiny, tmp_path, monkeypatch):
    import peft

    real = peft.get_peft_model

    def leaky(model, config, **kw):
        wrapped = real(model, config, **kw)
        wrapped.base_model.model.transformer.wte.weight.requires_grad_(True)
        return wrapped

    monkeypatch.setattr(peft, "get_peft_model", leaky)
    with pytest.raises(RuntimeError, match=r"Only LoRA adapter parameters may train.*wte"):
        run_runner(spec_for(tiny, tmp_path, steps=1))


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('{"instruction": "Say hi", "input": ""}', ["row 3", "column 'output' is missing"]),
        ('{"instruction": "Say hi", "input": 42, "output": "hi"}', ["row 3, column 'input'", "a number (42)"]),
        (b'{"instruction": "Say hi", "input": "", "output": "h\xffi"}', ["row 3, column 'output'", "not valid UTF-8",
                                                                          "0xff"]),
        ('{"instruction": "Say \\ud800 hi", "input": "", "output": "hi"}', ["row 3, column 'instruction'",
                                                                             "lone surrogate"]),
        ('["Say hi", "", "hi"]', ["row 3", "expected an object"]),
        ('{"instruction": "Say hi", "output": "hi"', ["row 3", "not valid JSON"]),
        ('{"instruction": " ", "input": "", "output": "hi"}', ["row 3, column 'instruction'", "empty"]),
    ],
)
def test_a_bad_dataset_row_is_named_by_file_row_and_column(tiny, tmp_path, line, words):
    dataset = tmp_path / "bad"
    dataset.mkdir()
    good = instruction_rows()[0][:2]
    raw = line if isinstance(line, bytes) else line.encode()
    (dataset / "train.jsonl").write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in good) + raw + b"\n")
    write_jsonl(dataset / "heldout.jsonl", good)
    spec = spec_for(tiny, tmp_path, dataset={"slug": "bad-set", "path": str(dataset), "meta": {}})
    out = io.StringIO()
    with pytest.raises(SystemExit):
        lora_finetune.run(spec, Emitter(tmp_path, out=out))
    result = json.loads(out.getvalue().splitlines()[-1])
    assert result["type"] == "result" and result["payload"]["status"] == "error"
    error = result["payload"]["error"]
    assert "Dataset bad-set, train.jsonl" in error, error
    for word in words:
        assert word in error, error


def test_one_file_with_a_split_column_is_accepted_and_a_bad_split_named(tmp_path):
    train_rows, heldout_rows = instruction_rows()
    path = tmp_path / "all.jsonl"
    write_jsonl(path, [{**r, "split": "train"} for r in train_rows] + [{**r, "split": "heldout"} for r in heldout_rows])
    train, heldout, _ = lora_finetune.load_dataset({"slug": "s", "path": str(tmp_path), "meta": {}})
    assert len(train) == 20 and len(heldout) == 4
    write_jsonl(path, [{**train_rows[0], "split": "train"}, {**train_rows[1], "split": "dev"}])
    with pytest.raises(lora_finetune.LabInputError, match=r"row 2, column 'split'.*'dev'"):
        lora_finetune.load_dataset({"slug": "s", "path": str(path), "meta": {}})


def test_qlora_without_cuda_is_refused_in_the_runner(tiny, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(lora_finetune.LabInputError, match="needs a CUDA GPU"):
        run_runner(spec_for(tiny, tmp_path, qlora=True))


def test_target_modules_missing_from_the_model_are_named(tiny, tmp_path):
    with pytest.raises(lora_finetune.LabInputError, match=r"'q_proj,v_proj' do not exist in tiny-gpt2.*c_attn"):
        run_runner(spec_for(tiny, tmp_path, target_modules="q_proj,v_proj", steps=1))


def test_all_linear_adapts_every_block_matrix(tiny, tmp_path):
    payload, _ = run_runner(spec_for(tiny, tmp_path, target_modules="all-linear", steps=2, samples=0))
    # c_attn 32->96, attn c_proj 32->32, c_fc 32->128, mlp c_proj 128->32 per block; lm_head excluded.
    assert payload["metrics"]["trainable_params"] == 8 * ((32 + 96) + (32 + 32) + (32 + 128) + (128 + 32)) * 2


def test_memory_estimate_grows_with_the_work_and_quarters_weights_under_qlora():
    meta = {"n_params": 124_000_000, "n_layer": 12, "n_embd": 768, "vocab_size": 50_257}
    small = lora_finetune.memory_estimate_mb(meta, batch_size=1, max_seq_len=128, rank=8)
    big = lora_finetune.memory_estimate_mb(meta, batch_size=16, max_seq_len=512, rank=64)
    assert small["total"] < big["total"] and small["weights"] == pytest.approx(124e6 * 4 / 2**20, rel=1e-3)
    assert lora_finetune.memory_estimate_mb(meta, batch_size=1, max_seq_len=128, rank=8, qlora=True)["weights"] \
        == pytest.approx(small["weights"] / 8, rel=1e-3)


NO_CUDA = not __import__("torch").cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(NO_CUDA, reason="needs a CUDA GPU; this machine has none")
def test_lora_on_gpu_trains_only_adapters_and_repeats_with_the_seed(tiny, tmp_path):
    first, _ = run_runner(spec_for(tiny, tmp_path, device="cuda"))
    (tmp_path / "again").mkdir()
    again, _ = run_runner(spec_for(tiny, tmp_path / "again", device="cuda"))
    assert first["device"].startswith("cuda:0") and first["engine"] == "peft-lora"
    assert first["metrics"]["trainable_params"] == 8 * (32 + 96) * 2
    assert first["metrics"]["train_loss_drop"] > 0 and first["metrics"]["eval_loss_delta"] < 0
    assert first["metrics"]["eval_loss_after"] == again["metrics"]["eval_loss_after"]


@pytest.mark.gpu
@pytest.mark.skipif(NO_CUDA, reason="QLoRA needs a CUDA GPU; this machine has none")
def test_qlora_trains_4bit_base_with_only_adapters_on_gpu(tiny, tmp_path):
    pytest.importorskip("bitsandbytes", reason="QLoRA needs bitsandbytes (GPU image)")
    payload, _ = run_runner(spec_for(tiny, tmp_path, qlora=True, device="cuda"))
    metrics = payload["metrics"]
    assert payload["engine"] == "peft-lora-4bit" and payload["device"].startswith("cuda:0")
    assert metrics["trainable_params"] == 8 * (32 + 96) * 2
    assert metrics["train_loss_drop"] > 0


# --- the kind: schema, preflight -----------------------------------------------------------------


def test_the_kind_offers_what_the_runner_accepts():
    from apps.labs import kinds

    kind = kinds.get_kind("lora-finetune")
    specs = {p["name"]: p for p in kind.schema_json()}
    assert kind.runner_file() == Path(lora_finetune.__file__)
    assert specs["model"]["registry_kind"] == "causal-lm" and specs["dataset"]["registry_kind"] == "instruction"
    assert tuple(specs["target_modules"]["choices"]) == lora_finetune.TARGET_PRESETS
    for name, (low, high) in lora_finetune.LIMITS.items():
        if name in specs and specs[name]["type"] == "int":
            assert low <= specs[name]["min"] <= specs[name]["default"] <= specs[name]["max"] <= high, name
    assert all(low <= r <= high for r in specs["rank"]["choices"] for low, high in [lora_finetune.LIMITS["rank"]])
    defaults = {k: v for k, v in kind.defaults().items() if k not in ("model", "dataset")}
    assert lora_finetune._params({**defaults, "model": "/m", "dataset": "/d"})["rank"] == defaults["rank"]
    assert {t.metric for t in kind.targets} == {"train_loss_drop", "eval_loss_delta"}
    assert set(kind.chart_metrics) == {"loss", "eval_loss"}


GPT2_SMALL_META = {"n_params": 124_439_808, "n_layer": 12, "n_embd": 768, "vocab_size": 50_257,
                   "context_length": 1024}


def test_preflight_sizes_the_model_and_refuses_with_the_estimate():
    from apps.core.errors import ApplicationError
    from apps.labs.kinds import get_kind

    kind = get_kind("lora-finetune")
    entry = {"model": {"slug": "gpt2", "kind": "causal-lm", "path": "/models/models/gpt2", "meta": GPT2_SMALL_META}}
    params = kind.defaults()
    kind.preflight(params, entry)  # the defaults fit, even on GPT-2 small
    with pytest.raises(ApplicationError) as info:
        kind.preflight({**params, "batch_size": 32, "max_seq_len": 512}, entry)
    message = info.value.message
    assert info.value.field == "params.batch_size"
    assert "gpt2 (124.4M parameters)" in message and "batch size 32" in message and "4096 MB" in message
    estimate = lora_finetune.memory_estimate_mb(GPT2_SMALL_META, batch_size=32, max_seq_len=512, rank=8)
    assert f"about {estimate['total']:.0f} MB" in message and estimate["total"] > 4096
    # The sequence is capped at the model's context, as the runner caps it.
    with pytest.raises(ApplicationError):
        kind.preflight({**params, "batch_size": 8, "max_seq_len": 512}, entry)
    short = {"model": {**entry["model"], "meta": {**GPT2_SMALL_META, "context_length": 64}}}
    kind.preflight({**params, "batch_size": 8, "max_seq_len": 512}, short)
    kind.preflight(params, {})  # nothing to size: the sandbox's limit still applies


def test_submit_refuses_an_oversized_run_and_qlora_without_gpu_workers_writing_no_job(
    registry_ready, labs, learner, settings
):
    from apps.core.errors import ApplicationError
    from apps.labs.models import LabJob
    from apps.labs.services import lab_job_submit
    from apps.registry.services import model_entry_register

    tiny_entry = registry_ready.entries["zth-gpt2-small"]
    # A big model's metadata over the tiny model's files: only the metadata sizes the run.
    model_entry_register(slug="big-gpt2", title="Big GPT-2", kind="causal-lm", path=tiny_entry.path,
                         metadata=GPT2_SMALL_META)
    with pytest.raises(ApplicationError) as info:
        lab_job_submit(user=learner, lab="lora-finetune",
                       params={"model": "big-gpt2", "batch_size": 32, "max_seq_len": 512})
    assert info.value.field == "params.batch_size" and "needs about" in info.value.message
    settings.LABS_USE_GPU_QUEUE = False
    with pytest.raises(ApplicationError) as info:
        lab_job_submit(user=learner, lab="lora-finetune", params={"qlora": True})
    assert info.value.field == "params.qlora" and "needs a CUDA GPU" in info.value.message
    assert not LabJob.objects.exists()
    settings.LABS_USE_GPU_QUEUE = True  # GPU workers exist: the runner checks for CUDA + bitsandbytes there
    from apps.labs.kinds import get_kind

    get_kind("lora-finetune").preflight({**get_kind("lora-finetune").defaults(), "qlora": True}, {})


def test_lab_page_says_what_it_teaches_links_its_topics_and_offers_registry_entries(
    client, registry_ready, labs, learner
):
    from django.urls import reverse

    from apps.labs.kinds import get_kind, params_clean

    kind = get_kind("lora-finetune")
    assert params_clean(kind.schema_json(), {}) == kind.defaults()  # every default valid with the registry
    client.force_login(learner)
    html = client.get(reverse("labs:detail", args=["lora-finetune"])).content.decode()
    assert "Fine-tune with LoRA" in html and "low-rank correction" in html
    assert reverse("curriculum:topic", args=["lora-qlora"]) in html
    assert reverse("curriculum:topic", args=["fine-tune-vs-prompt"]) in html
    assert 'value="zth-gpt2-small"' in html and 'value="lora-instructions"' in html
    assert 'value="all-minilm-l6-v2"' not in html and 'value="rag-curriculum"' not in html  # wrong kinds


# --- end to end: real worker, bubblewrap sandbox, registry mounted at /models ----------------------


@pytest.mark.sandbox
@pytest.mark.timeout(240)
def test_lora_lab_runs_end_to_end_in_the_sandbox(
    bubblewrap_available, purged_queues, registry_ready, labs, learner, celery_worker_process, tmp_path
):
    from apps.labs.models import Artifact, LabJobEvent
    from apps.labs.services import lab_job_submit
    from tests.labs.conftest import job_final

    params = {"steps": 20, "lr": 0.01, "batch_size": 4, "max_seq_len": 64, "seed": 11}
    job = lab_job_submit(user=learner, lab="lora-finetune", params=params)
    job = job_final(job.pk, 200)
    assert job.status == "succeeded", job.reason
    metrics = job.metrics
    assert 0 < metrics["trainable_params"] < metrics["total_params"]
    assert metrics["train_loss_drop"] > 0 and metrics["eval_loss_after"] < metrics["eval_loss_before"]
    assert job.grade["passed"] is True, job.grade
    assert metrics["peak_memory_mb"] <= metrics["memory_estimate_mb"]  # the preflight's estimate is not low
    result = job.result
    assert result["device"] == "cpu" and result["runner_version"] == lora_finetune.RUNNER_VERSION
    assert result["model"]["path"] == "/models/models/zth-gpt2-small" and result["seed"] == 11
    assert {"torch", "transformers", "peft"} <= result["versions"].keys()
    steps = sorted(e.payload["step"] for e in LabJobEvent.objects.filter(job=job, type="metric",
                                                                          payload__name="loss"))
    assert steps == list(range(1, 21))
    names = set(Artifact.objects.filter(job=job).values_list("name", flat=True))
    assert names == {"generations.json", "adapter/adapter_model.safetensors", "adapter/adapter_config.json"}

    # Same params and seed outside the sandbox, same machine and thread count: the same numbers.
    root = registry_ready.root
    bare, _ = run_runner({"params": {
        **job.params, "threads": result["threads"],
        "model": {"slug": "zth-gpt2-small", "path": str(root / "models" / "zth-gpt2-small"), "meta": {}},
        "dataset": {"slug": "lora-instructions", "path": str(root / "datasets" / "lora-instructions"), "meta": {}},
    }, "work_dir": str(tmp_path)})
    same = ("eval_loss_before", "eval_loss_after", "train_loss_before", "train_loss_after", "trainable_params")
    assert {k: bare["metrics"][k] for k in same} == {k: metrics[k] for k in same}


def test_through_the_protocol_a_bad_row_ends_with_its_message_exit_2_and_no_traceback(tiny, tmp_path):
    """What the sandbox runs: ``python -m gpu_workers.runners lora_finetune spec.json``."""
    import subprocess
    import sys

    dataset = tmp_path / "bad"
    dataset.mkdir()
    good = instruction_rows()[0][:2]
    write_jsonl(dataset / "train.jsonl", good)
    write_jsonl(dataset / "heldout.jsonl", [*good, {"instruction": "Say hi", "input": "", "answer": "hi"}])
    spec = spec_for(tiny, tmp_path, dataset={"slug": "bad-set", "path": str(dataset), "meta": {}})
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    done = subprocess.run([sys.executable, "-m", "gpu_workers.runners", "lora_finetune", str(tmp_path / "spec.json")],
                          cwd=Path(lora_finetune.__file__).parents[2], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["type"] == "result" and result["payload"]["status"] == "error"
    assert result["payload"]["error"].startswith(
        "Dataset bad-set, heldout.jsonl, row 3: column 'output' is missing (each row needs 'instruction', 'input', "
        "'output'; it has 'instruction', 'input', 'answer')."
    ), result


def test_the_job_page_shows_the_adapter_summary_and_answers_side_by_side(default_run):
    """The generic result partial picks up the kind's own section (labs/kinds/lora_finetune/result.html)."""
    from apps.labs.live import kind_result_template, render_result

    payload, _, _ = default_run
    assert kind_result_template("lora-finetune") == "labs/kinds/lora_finetune/result.html"
    assert kind_result_template("spam-classifier") is None and kind_result_template("../etc") is None
    snapshot = {"id": "x", "lab": "lora-finetune", "kind": "lora-finetune", "final": True, "status": "succeeded",
                "metrics": payload["metrics"], "result": payload, "grade": {}, "artifacts": []}
    html = render_result(snapshot, is_owner=False)
    assert "What the adapter changed" in html and "Answers before and after fine-tuning" in html
    trained = payload["metrics"]["trainable_params"]
    assert f"{trained} of {payload['metrics']['total_params']}" in html
    assert html.count('class="generation-pair"') == len(payload["generations"])
    assert "The cherry is black." in html  # the reference beside the two answers
