"""The LLM inference lab: its runner on a tiny model, its preflight, and (GPU only) vLLM."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from apps.core.errors import ApplicationError
from apps.labs.kinds.llm_inference.preflight import MEMORY_MB, memory_estimate_mb, preflight
from gpu_workers.runners import llm_inference
from gpu_workers.runners.protocol import Emitter
from tests.registry import fixtures as registry_fixtures

# The shared registry fixtures (a tiny zth-gpt2-small and the datasets in a temp registry).
registry_files = registry_fixtures.registry_files
registry_ready = registry_fixtures.registry_ready


def build_vllm_lm(out: Path) -> Path:
    """A random 2-layer GPT-2 with a 300-token byte-level BPE tokenizer and head size 64, which
    every vLLM attention backend supports (the registry's tiny test model has head size 8)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    text = (Path(llm_inference.__file__).parent / "data" / "ml_prose.txt").read_text(encoding="utf-8")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        text.splitlines(),
        trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False),
    )
    eos = "<|endoftext|>"
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, bos_token=eos, unk_token=eos)
    fast.save_pretrained(out)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(fast), n_positions=128, n_embd=64, n_layer=2, n_head=1,
                        eos_token_id=fast.eos_token_id, bos_token_id=fast.eos_token_id)
    GPT2LMHeadModel(config).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny_lm(registry_files) -> Path:
    """The registry fixture's tiny zth-gpt2-small (trained a few steps; 64-token context)."""
    root, _ = registry_files
    return root / "models" / "zth-gpt2-small"


@pytest.fixture(scope="module")
def vllm_lm(tmp_path_factory) -> Path:
    return build_vllm_lm(tmp_path_factory.mktemp("vllm-lm"))


def run_lab(work: Path, model: Path, **params) -> tuple[list[dict], dict]:
    """Run the runner in-process; return (events, result payload)."""
    work.mkdir(parents=True, exist_ok=True)
    out = io.StringIO()
    spec = {"work_dir": str(work), "params": {"model": {"slug": "tiny", "path": str(model)}, **params}}
    llm_inference.run(spec, Emitter(work, out=out))
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    result = [e["payload"] for e in events if e["type"] == "result"]
    assert len(result) == 1
    return events, result[0]


def run_lab_process(work: Path, model: Path, **params) -> dict:
    """Run the runner as the sandbox does (its own process: vLLM keeps GPU memory until exit)."""
    work.mkdir(parents=True, exist_ok=True)
    spec = work / "spec.json"
    spec.write_text(json.dumps({"params": {"model": {"slug": "tiny", "path": str(model)}, **params}}))
    proc = subprocess.run([sys.executable, "-m", "gpu_workers.runners", "llm_inference", str(spec)],
                          capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[2])
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{"seq"')]
    result = [e["payload"] for e in events if e["type"] == "result"]
    assert proc.returncode == 0 and result and result[0]["status"] == "ok", proc.stderr[-3000:]
    return result[0]


SMALL = {"batch_sizes": "1,2,4", "max_new_tokens": 8}


def outputs(result: dict, setting: str) -> list[str]:
    """The sample outputs the result shows for one sampling setting (greedy, yours, hot)."""
    return next([o["output"] for o in row["outputs"]] for row in result["samples"] if row["name"] == setting)


def test_runner_measures_speed_per_batch_size_and_records_what_ran(tiny_lm, tmp_path):
    events, result = run_lab(tmp_path / "a", tiny_lm, temperature=0.8, seed=3, **SMALL)
    metrics = result["metrics"]
    assert metrics["tokens_per_s"] > 0 and metrics["throughput_tokens_per_s"] > 0 and metrics["ttft_ms"] > 0
    # One chart point per batch size for each speed metric, in sweep order.
    for name in ("ttft_ms", "tokens_per_s", "throughput_tokens_per_s"):
        steps = [e["payload"]["step"] for e in events if e["type"] == "metric" and e["payload"]["name"] == name]
        assert steps == [1, 2, 4], name
    assert [row["batch_size"] for row in result["sweep"]] == [1, 2, 4]
    assert all(row["new_tokens"] > 0 for row in result["sweep"])
    assert result["seed"] == 3 and result["runner_version"].startswith("llm_inference/")
    assert {"python", "torch", "transformers"} <= result["versions"].keys()
    assert result["device"] == "cpu" or result["device"].startswith("cuda:0 ")
    fractions = [e["payload"]["fraction"] for e in events if e["type"] == "progress"]
    assert fractions == sorted(fractions)
    # The three settings are shown with their outputs; a random model's greedy answers repeat
    # tokens, while sampling at a high temperature spreads over the vocabulary.
    assert [row["name"] for row in result["samples"]] == ["greedy", "yours", "hot"]
    assert all(len(row["outputs"]) == llm_inference.SHOWN_SAMPLES for row in result["samples"])
    assert metrics["distinct_1_hot"] > metrics["distinct_1_greedy"]
    artifact = next(e["payload"] for e in events if e["type"] == "artifact")
    report = json.loads((tmp_path / "a" / artifact["path"]).read_text())
    assert len(report["settings"][0]["outputs"]) == len(llm_inference.PROMPTS)
    assert report["metrics"] == metrics and report["model"]["parameters"] == result["parameters"]


def test_result_section_shows_the_sweep_and_each_settings_outputs(tiny_lm, tmp_path):
    from django.template.loader import render_to_string

    _, result = run_lab(tmp_path, tiny_lm, temperature=0.7, seed=2, **SMALL)
    html = render_to_string("labs/kinds/llm_inference/result.html", {"s": {"result": result}})
    assert html.count('<th scope="row">') == 3  # batch sizes 1, 2, 4
    assert "Greedy (temperature 0)" in html and 'Your settings: <span class="muted">temperature 0.7,' in html
    assert html.count("<dt>") == 3 * llm_inference.SHOWN_SAMPLES and llm_inference.PROMPTS[0] in html
    assert f"engine <strong>{result['engine']}</strong>" in html.lower() and "transformers" in html


@pytest.mark.skipif(
    llm_inference.vllm_unavailable_reason() is None, reason="vLLM can run here, so engine auto picks vLLM"
)
def test_without_a_gpu_or_vllm_the_engine_is_hugging_face_generate(tiny_lm, tmp_path):
    events, result = run_lab(tmp_path, tiny_lm, max_new_tokens=4, batch_sizes="1")
    assert result["engine"] == "hf" and result["metrics"]["tokens_per_s"] > 0
    assert any("using Hugging Face generate" in e["payload"].get("line", "") for e in events if e["type"] == "log")


def test_temperature_zero_gives_the_same_output_for_the_same_seed(tiny_lm, tmp_path):
    _, first = run_lab(tmp_path / "1", tiny_lm, temperature=0.0, seed=11, engine="hf", **SMALL)
    _, second = run_lab(tmp_path / "2", tiny_lm, temperature=0.0, seed=11, engine="hf", **SMALL)
    greedy = outputs(first, "yours")
    assert greedy == outputs(second, "yours")
    assert greedy == outputs(first, "greedy")  # temperature 0 is greedy
    assert first["metrics"]["greedy_repeatable"] == 1 and first["metrics"]["seeded_repeatable"] == 1
    # Greedy needs no seed at all; sampling does: another seed gives other words.
    _, other_seed = run_lab(tmp_path / "3", tiny_lm, temperature=0.0, seed=12, engine="hf", **SMALL)
    assert outputs(other_seed, "yours") == greedy
    _, hot_a = run_lab(tmp_path / "4", tiny_lm, temperature=1.0, top_k=0, top_p=1.0, seed=11, engine="hf", **SMALL)
    _, hot_b = run_lab(tmp_path / "5", tiny_lm, temperature=1.0, top_k=0, top_p=1.0, seed=12, engine="hf", **SMALL)
    sampled_a = outputs(hot_a, "yours")
    assert sampled_a != greedy and sampled_a != outputs(hot_b, "yours")
    assert hot_a["metrics"]["seeded_repeatable"] == 1


def test_bad_requests_fail_with_what_to_do(tiny_lm, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"registry_build.*Verify files and mark ready"):
        run_lab(tmp_path, tmp_path / "missing", max_new_tokens=4)
    with pytest.raises(ValueError, match="context of 64 tokens"):
        run_lab(tmp_path, tiny_lm, max_new_tokens=64, engine="hf")
    with pytest.raises(ValueError, match="batch_sizes"):
        run_lab(tmp_path, tiny_lm, batch_sizes="1,two")
    if llm_inference.vllm_unavailable_reason():
        with pytest.raises(RuntimeError, match="engine vllm was asked for but cannot run"):
            run_lab(tmp_path, tiny_lm, engine="vllm", max_new_tokens=4)


# --- preflight ------------------------------------------------------------------------------


def _entry(**meta) -> dict:
    return {"slug": "big-lm", "kind": "causal-lm", "path": "/models/models/big-lm", "meta": meta}


def test_preflight_refuses_what_would_not_fit_with_the_estimate(settings, tmp_path):
    settings.LABS_MODEL_DIR = tmp_path
    params = {"batch_sizes": "1,2,4", "max_new_tokens": 64}
    small = _entry(n_params=5_000_000, n_layer=4, n_embd=256, vocab_size=8000, context_length=256)
    preflight(params, {"model": small})  # fits: no error

    big = _entry(n_params=1_500_000_000, n_layer=48, n_embd=1600, vocab_size=50257, context_length=1024)
    with pytest.raises(ApplicationError) as exc:
        preflight(params, {"model": big})
    message = exc.value.message
    assert "big-lm" in message and "1500.0M parameters" in message and "batch size 4" in message
    assert f"sandbox has {MEMORY_MB} MB" in message and "needs about" in message
    assert exc.value.field == "params.batch_sizes"

    # The KV cache grows with batch x tokens: a model whose weights fit (GPT-2 large's shape) is
    # refused at a large batch.
    mid = _entry(n_params=774_000_000, n_layer=36, n_embd=1280, vocab_size=50257, context_length=1024)
    preflight({"batch_sizes": "1", "max_new_tokens": 32}, {"model": mid})
    with pytest.raises(ApplicationError, match="KV cache"):
        preflight({"batch_sizes": "1,4,16", "max_new_tokens": 256}, {"model": mid})
    shape = {"n_params": 774_000_000, "n_layer": 36, "kv_width": 1280, "vocab": 50257, "context": 1024}
    assert memory_estimate_mb(shape, 16, 256)["kv_cache"] > 8 * memory_estimate_mb(shape, 1, 256)["kv_cache"]


def test_preflight_refuses_more_new_tokens_than_the_context(settings, tmp_path):
    settings.LABS_MODEL_DIR = tmp_path
    with pytest.raises(ApplicationError, match="context length of 128") as exc:
        preflight({"batch_sizes": "1", "max_new_tokens": 128}, {"model": _entry(n_params=40_000, context_length=128)})
    assert exc.value.field == "params.max_new_tokens"


def test_preflight_reads_the_models_config_when_the_registry_metadata_is_thin(settings, tmp_path):
    settings.LABS_MODEL_DIR = tmp_path
    folder = tmp_path / "models" / "big-lm"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(
        {"num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8,
         "vocab_size": 32000, "max_position_embeddings": 4096}
    ))
    with pytest.raises(ApplicationError, match=r"needs about \d+ MB"):
        preflight({"batch_sizes": "1", "max_new_tokens": 16}, {"model": _entry()})  # ~7B parameters from config
    preflight({"batch_sizes": "1", "max_new_tokens": 16}, {})  # no registry entry: nothing to size


# --- GPU ------------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.skipif(
    llm_inference.vllm_unavailable_reason() is not None,
    reason=f"vLLM needs a CUDA GPU and the vllm package: {llm_inference.vllm_unavailable_reason()}",
)
def test_vllm_engine_runs_and_is_greedy_deterministic(vllm_lm, tmp_path):
    result = run_lab_process(tmp_path / "v1", vllm_lm, engine="vllm", temperature=0.0, seed=5, **SMALL)
    again = run_lab_process(tmp_path / "v2", vllm_lm, engine="vllm", temperature=0.0, seed=5, **SMALL)
    assert result["engine"] == "vllm" and "vllm" in result["versions"]
    assert result["device"].startswith("cuda:0 ")
    assert result["metrics"]["tokens_per_s"] > 0 and result["metrics"]["greedy_repeatable"] == 1
    assert outputs(result, "yours") == outputs(again, "yours")
    hf = run_lab_process(tmp_path / "h", vllm_lm, engine="hf", temperature=0.0, seed=5, **SMALL)
    assert hf["engine"] == "hf" and hf["metrics"]["tokens_per_s"] > 0


# --- the lab through the platform -----------------------------------------------------------
# registry_ready: a TINY zth-gpt2-small in a temp registry that sandboxes see at /models.

E2E = {"batch_sizes": "1,2", "max_new_tokens": 8, "temperature": 0.0, "seed": 5}


def test_submit_refuses_a_launch_that_would_not_fit_before_queueing(
    registry_ready, labs, learner, no_celery, settings, tmp_path
):
    from apps.labs.models import LabJob
    from apps.labs.services import lab_job_submit
    from apps.registry.services import model_entry_register

    # A registry holding the tiny model and a 7B-shaped checkpoint (its config only: the
    # preflight reads the shape from config.json when the registry metadata has just n_params).
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "zth-gpt2-small").symlink_to(registry_ready.root / "models" / "zth-gpt2-small")
    (tmp_path / "models" / "huge-lm").mkdir()
    (tmp_path / "models" / "huge-lm" / "config.json").write_text(json.dumps(
        {"num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32, "vocab_size": 32000,
         "max_position_embeddings": 4096}
    ))
    settings.LABS_MODEL_DIR = tmp_path
    model_entry_register(slug="huge-lm", title="A huge LM", kind="causal-lm", path="models/huge-lm",
                         metadata={"n_params": 7_000_000_000})
    with pytest.raises(ApplicationError, match=r"huge-lm \(7000.0M parameters\).*needs about \d+ MB") as exc:
        lab_job_submit(user=learner, lab="llm-inference", params={**E2E, "model": "huge-lm"})
    assert exc.value.field == "params.batch_sizes"
    with pytest.raises(ApplicationError, match="context length of 64"):
        lab_job_submit(user=learner, lab="llm-inference", params={**E2E, "max_new_tokens": 64})
    assert not LabJob.objects.exists() and no_celery == []
    # The shipped default fits, and is queued.
    job = lab_job_submit(user=learner, lab="llm-inference", params=E2E)
    assert job.params["model"] == "zth-gpt2-small" and job.status == "queued"


def test_lab_page_says_what_it_teaches_links_its_topics_and_offers_registry_models(
    client, registry_ready, labs, learner
):
    from django.urls import reverse

    from apps.labs.kinds import get_kind, params_clean

    kind = get_kind("llm-inference")
    assert params_clean(kind.schema_json(), {}) == kind.defaults()  # every default valid with the registry
    client.force_login(learner)
    html = client.get(reverse("labs:detail", args=["llm-inference"])).content.decode()
    assert "Measure LLM inference" in html and "Time to first token" in html
    assert reverse("curriculum:topic", args=["inference-optimization"]) in html
    assert reverse("curriculum:topic", args=["model-serving"]) in html
    assert 'value="zth-gpt2-small"' in html and 'value="1,2,4"' in html
    assert "all-minilm-l6-v2" not in html  # an embedding model is not a causal LM


@pytest.mark.sandbox
@pytest.mark.timeout(240)
def test_inference_lab_end_to_end_in_the_sandbox_same_seed_same_words(
    bubblewrap_available, purged_queues, registry_ready, labs, learner, celery_worker_process, client
):
    from django.urls import reverse

    from apps.labs.models import Artifact, LabJobEvent
    from apps.labs.services import lab_job_submit
    from tests.labs.conftest import job_final

    first = lab_job_submit(user=learner, lab="llm-inference", params=E2E)
    first = job_final(first.pk, 150)
    assert first.status == "succeeded", first.reason
    assert first.sandbox_backend == "bubblewrap"
    assert first.metrics["tokens_per_s"] > 0 and first.metrics["throughput_tokens_per_s"] > 0
    assert first.metrics["greedy_repeatable"] == 1 and first.grade["passed"] is True
    assert first.result["engine"] in ("hf", "vllm") and first.result["model"] == "zth-gpt2-small"
    if llm_inference.vllm_unavailable_reason():
        assert first.result["engine"] == "hf" and first.result["device"] == "cpu"
    steps = list(LabJobEvent.objects.filter(job=first, type="metric", payload__name="throughput_tokens_per_s")
                 .order_by("seq").values_list("payload__step", flat=True))
    assert steps == [1, 2]
    report = json.loads(Artifact.objects.get(job=first).file.read())
    assert report["model"]["path"] == "/models/models/zth-gpt2-small" and report["seed"] == 5

    client.force_login(learner)
    page = client.get(reverse("labs:job-detail", args=[first.pk])).content.decode()
    assert "Speed by batch size" in page and "Greedy (temperature 0)" in page

    second = job_final(lab_job_submit(user=learner, lab="llm-inference", params=E2E).pk, 150)
    assert second.status == "succeeded", second.reason
    assert outputs(second.result, "yours") == outputs(first.result, "yours")


@pytest.mark.browser
@pytest.mark.sandbox
@pytest.mark.timeout(200)
def test_browser_launch_watch_and_read_the_inference_result(
    bubblewrap_available, purged_queues, registry_ready, labs, learner, request, page
):
    """Launch from the form, see the batch-size chart fill in, read the speed table and outputs."""
    from tests.conftest import ROOT, browser_login

    base = request.getfixturevalue("live_asgi_server")
    request.getfixturevalue("celery_worker_process")
    browser_login(page, base, "lena")
    page.goto(f"{base}/labs/llm-inference/")
    assert page.locator("#id_model option[value='zth-gpt2-small']").count() == 1
    page.select_option("#id_batch_sizes", "1,2")
    page.fill("#id_max_new_tokens", "8")
    page.fill("#id_temperature", "0")
    page.click("button:has-text('Launch run')")
    page.wait_for_url("**/labs/jobs/**")
    page.wait_for_function("() => document.getElementById('labjob-status').innerText.includes('Succeeded')",
                           timeout=150_000)
    result = page.locator("#labjob-result")
    text = result.inner_text()
    assert "Speed by batch size" in text and "Target met" in text and "inference_report.json" in text
    assert page.locator("#labjob-result table tbody tr").count() == 2  # batch sizes 1 and 2
    assert "Greedy (temperature 0)" in text and "the same seed gave the same words again" in text
    shots = ROOT / "screenshots"
    shots.mkdir(exist_ok=True)
    page.screenshot(path=str(shots / "labs-inference-result.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(shots / "labs-inference-result-390.png"), full_page=True)
