"""Each lab's own work, bare vs in the bubblewrap sandbox, with the same spec, side by side.

For every lab the same runner runs with the same params two ways, interleaved round by round
(bare, sandboxed, bare, sandboxed...) so that load from anything else hits both alike:

- **bare**: ``python -B -m gpu_workers.runners <runner> spec.json`` in a fresh process on the
  host (``protocol.main`` -> the runner's ``run(spec, emitter)``), registry entries at their
  host paths, the same thread count as the sandbox;
- **sandboxed**: ``BubblewrapBackend.run()`` with that spec, the registry bound read-only at
  ``/models`` (entries at ``/models/<path>``), one CPU (``cpus=1``: one thread, like bare).

What is compared is each lab's own unit of work, read from its events and result:

- char-gpt: step time, ms between the first and the last per-step ``loss`` event as they
  arrive / (steps - 1), and characters (tokens) trained per second;
- lora-finetune: step time the same way (the runner's ``train_seconds / steps`` beside it);
- llm-inference: tokens/s of one request (batch 1) and throughput at the best batch size
  (the runner's own timers);
- rag-eval: seconds per question (the runner's ``seconds / questions``: chunk, embed,
  retrieve, score);
- spam-classifier: end to end only (the lab is a second of scikit-learn);

and for every lab the end-to-end wall time (process start to exit: imports included).

The models and datasets come from the registry's builders (apps/registry/shipped.py): a tiny
GPT-2 trained here in seconds, MiniLM copied from its package, the curriculum datasets; built
once into ``/tmp/labs-bench-registry/<hash>``, or ``--model-dir`` names a registry folder.

Writes ``bench/labs/results-per-lab.json`` (every run). Needs root and bubblewrap, like the
lab worker. ``--bare-only`` skips the sandbox (e.g. on a GPU machine: the bubblewrap backend
does not pass GPUs through).

    .venv/bin/python bench/labs/per_lab.py [--runs 3] [--labs char-gpt,spam,lora,inference,rag]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

RESULTS = Path(__file__).with_name("results-per-lab.json")
REGISTRY_CACHE = Path("/tmp/labs-bench-registry")
MODELS_MOUNT = "/models"
#: The bench's tiny causal LM: seconds to build on 2 cores (the shipped one takes minutes).
TINY_LM = {"vocab_size": 512, "n_layer": 2, "n_embd": 64, "n_positions": 128, "steps": 30, "seed": 1234,
           "batch_size": 8}


# --- the registry ------------------------------------------------------------------------------


def build_registry(lm_config: dict[str, Any] | None = None) -> tuple[Path, dict[str, dict]]:
    """Build (once) the shipped entries with a small LM; returns (root, {slug: metadata})."""
    from apps.registry import builders, datasets, shipped

    lm_config = {**TINY_LM, **(lm_config or {})}
    digest = hashlib.sha256(json.dumps(lm_config, sort_keys=True).encode())
    for module in (builders, datasets, shipped):
        digest.update(Path(module.__file__).read_bytes())
    root = REGISTRY_CACHE / digest.hexdigest()[:12]
    manifest = root / "manifest.json"
    if manifest.is_file():
        return root, json.loads(manifest.read_text())
    staging = root.with_name(f"{root.name}.partial-{os.getpid()}")
    staging.mkdir(parents=True)
    metas = {}
    for entry in shipped.SHIPPED:
        meta = shipped.build_shipped_entry(entry, staging, ROOT / "content", lm_config=lm_config)
        metas[entry.slug] = {"kind": entry.kind, "path": entry.path, "meta": meta}
    (staging / "manifest.json").write_text(json.dumps(metas, indent=1, sort_keys=True, default=str))
    builders.make_readable(staging)
    os.replace(staging, root)
    return root, metas


def registry_from_dir(model_dir: Path) -> dict[str, dict]:
    """Entries of an existing registry folder (models/<slug>, datasets/<slug>)."""
    entries = {}
    for folder in ("models", "datasets"):
        for path in sorted((model_dir / folder).glob("*")):
            if path.is_dir():
                entries[path.name] = {"kind": "", "path": f"{folder}/{path.name}", "meta": {}}
    return entries


def resolved(entries: dict[str, dict], slug: str, root: Path | str) -> dict:
    """What ``registry_params_resolve`` hands a runner, with the registry at ``root``."""
    entry = entries[slug]
    return {"slug": slug, "kind": entry["kind"], "path": f"{root}/{entry['path']}", "meta": entry["meta"]}


# --- the labs ----------------------------------------------------------------------------------


@dataclass
class Lab:
    name: str
    runner: str
    params: dict[str, Any]
    #: param name -> registry slug (resolved per side: host path bare, /models in the sandbox)
    registry: dict[str, str] = field(default_factory=dict)

    def spec_params(self, entries: dict[str, dict], root: Path | str) -> dict[str, Any]:
        return {**self.params, **{name: resolved(entries, slug, root) for name, slug in self.registry.items()}}


def labs(device: str, scale: float = 1.0) -> dict[str, Lab]:
    def n(value: int) -> int:
        return max(1, int(value * scale))

    return {
        "char-gpt": Lab("char-gpt", "char_gpt",
                        {"steps": n(60), "seed": 1, "sample_chars": 50, "threads": 1, "device": device}),
        "spam": Lab("spam", "spam_classifier", {"seed": 1}),
        "lora": Lab("lora", "lora_finetune",
                    {"steps": n(20), "batch_size": 4, "max_seq_len": 64, "eval_examples": 8, "samples": 1,
                     "max_new_tokens": 8, "seed": 1, "threads": 1, "device": device},
                    {"model": "zth-gpt2-small", "dataset": "lora-instructions"}),
        "inference": Lab("inference", "llm_inference",
                         {"batch_sizes": "1,4", "max_new_tokens": 16, "seed": 1, "threads": 1, "engine": "hf"},
                         {"model": "zth-gpt2-small"}),
        "rag": Lab("rag", "rag_eval",
                   {"retriever": "hybrid", "top_k": 5, "max_questions": n(20), "seed": 1, "threads": 1,
                    "device": device},
                   {"dataset": "rag-curriculum", "embedder": "all-minilm-l6-v2"}),
    }


# --- one run, bare or sandboxed ---------------------------------------------------------------


@dataclass
class Run:
    wall_s: float
    events: list[tuple[float, dict]]  # (seconds since start, event)
    result: dict

    def metric_times(self, name: str) -> list[tuple[float, int]]:
        return [(t, e["payload"].get("step")) for t, e in self.events
                if e["type"] == "metric" and e["payload"].get("name") == name]


def bare_env(threads: int = 1, code: Path = ROOT) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(code),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "MALLOC_ARENA_MAX": "2",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TORCH_NUM_THREADS"):
        env[key] = str(threads)
    for key in ("CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if key in os.environ:  # the machine's own settings (drivers, BLAS quirks): both sides keep them
            env[key] = os.environ[key]
    return env


def run_bare(runner: str, params: dict, scratch: Path, *, python: str = sys.executable,
             timeout: float = 600, threads: int = 1, code: Path = ROOT) -> Run:
    work = scratch / f"bare-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    (work / "spec.json").write_text(json.dumps({"job_id": work.name, "runner": runner, "params": params}))
    events: list[tuple[float, dict]] = []
    started = time.perf_counter()
    proc = subprocess.Popen(
        [python, "-B", "-m", "gpu_workers.runners", runner, str(work / "spec.json")],
        cwd=code, env=bare_env(threads, code), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    deadline = started + timeout
    for line in proc.stdout:
        now = time.perf_counter()
        if line.startswith("{"):
            try:
                events.append((now - started, json.loads(line)))
            except ValueError:
                pass
        if now > deadline:
            proc.kill()
            break
    stderr = proc.stderr.read() if proc.stderr else ""
    code = proc.wait()
    wall = time.perf_counter() - started
    result = next((e["payload"] for _, e in reversed(events) if e["type"] == "result"), {})
    if code != 0 or result.get("status") not in (None, "ok"):
        raise RuntimeError(f"{runner} bare exited {code}: {result.get('error') or stderr[-2000:]}")
    return Run(wall, events, result)


def run_sandboxed(backend: Any, runner: str, params: dict, scratch: Path, *, gpus: int = 0) -> Run:
    from apps.labs.sandbox import JobSpec, SandboxLimits

    limits = SandboxLimits(wall_seconds=600, cpu_seconds=1200, memory_mb=6144, max_processes=128,
                           disk_mb=1024, gpu_count=gpus)
    spec = JobSpec(str(uuid.uuid4()), runner, params, limits, scratch / f"sbx-{uuid.uuid4().hex[:8]}")
    events: list[tuple[float, dict]] = []
    started = time.perf_counter()

    def on_event(event: Any) -> None:
        events.append((time.perf_counter() - started, {"type": event.type, "payload": event.payload}))

    try:
        status = backend.run(spec, on_event)
        wall = time.perf_counter() - started
    finally:
        from apps.labs.sandbox.workdirs import work_dir_release

        work_dir_release(spec.work_dir)  # its own size-limited mount
    result = next((e["payload"] for _, e in reversed(events) if e["type"] == "result"), {})
    if status.reason != "succeeded" or result.get("status") not in (None, "ok"):
        logs = [e["payload"].get("line", "") for _, e in events if e["type"] == "log"][-20:]
        raise RuntimeError(f"{runner} sandboxed ended {status.reason}: {result.get('error')} {logs}")
    return Run(wall, events, result)


def snapshot(rev: str, scratch: Path) -> tuple[Path, str]:
    """The runners of ``rev`` extracted under ``scratch`` (others may be editing the work tree)."""
    if rev == "worktree":
        return ROOT, "worktree"
    commit = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    code = scratch / f"code-{commit}"
    code.mkdir()
    archive = subprocess.run(["git", "archive", rev, "gpu_workers"], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(code)], input=archive.stdout, check=True)
    for path in [code, *code.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return code, commit


# --- what each lab measures -------------------------------------------------------------------


def step_ms(run: Run) -> float | None:
    """Per-step time from the arrival of the per-step loss events (first to last)."""
    times = run.metric_times("loss")
    if len(times) < 2:
        return None
    (t0, s0), (t1, s1) = times[0], times[-1]
    steps = (s1 - s0) if (s0 is not None and s1 is not None and s1 > s0) else len(times) - 1
    return 1000 * (t1 - t0) / steps


def measures(lab: Lab, run: Run) -> dict[str, float]:
    r, m = run.result, run.result.get("metrics", {})
    out: dict[str, float] = {"end_to_end_s": run.wall_s}
    if lab.runner == "char_gpt":
        ms = step_ms(run)
        if ms:
            out["step_ms"] = ms
            p = lab.params
            out["train_tokens_per_s"] = 1000 * p.get("batch_size", 32) * p.get("block_size", 64) / ms
    elif lab.runner == "lora_finetune":
        ms = step_ms(run)
        if ms:
            out["step_ms"] = ms
        if m.get("train_seconds") and lab.params.get("steps"):
            out["runner_step_ms"] = 1000 * m["train_seconds"] / lab.params["steps"]
    elif lab.runner == "llm_inference":
        out["tokens_per_s"] = m["tokens_per_s"]
        out["throughput_tokens_per_s"] = m["throughput_tokens_per_s"]
        out["ttft_ms"] = m["ttft_ms"]
    elif lab.runner == "rag_eval":
        questions = r.get("questions_total") or 0
        if questions:
            out["s_per_question"] = r["seconds"] / questions
            out["embed_s"] = r.get("embed_seconds", 0.0)
    return out


#: The headline measure of each lab and whether higher is better.
HEADLINE = {"char_gpt": ("step_ms", False), "lora_finetune": ("step_ms", False),
            "llm_inference": ("tokens_per_s", True), "rag_eval": ("s_per_question", False),
            "spam_classifier": ("end_to_end_s", False)}


def summarize(values: dict[str, list[float]]) -> dict[str, Any]:
    return {k: {"median": round(statistics.median(v), 4), "runs": [round(x, 4) for x in v]}
            for k, v in values.items() if v}


def environment() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("torch", "transformers", "peft", "sentence-transformers", "ragas", "scikit-learn", "vllm"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            pass
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "versions": versions,
    }


def compare(lab: Lab, entries: dict, registry_root: Path, runs: int, scratch: Path,
            backend: Any | None, code: Path = ROOT) -> dict[str, Any]:
    """Interleaved bare / sandboxed runs of one lab; medians and the ratio of each measure."""
    bare_params = lab.spec_params(entries, registry_root)
    sbx_params = lab.spec_params(entries, MODELS_MOUNT)
    sides: dict[str, dict[str, list[float]]] = {"bare": {}, "sandboxed": {}}
    # One untimed run each first: page cache and the registry's files warm on both sides.
    run_bare(lab.runner, bare_params, scratch, code=code)
    if backend is not None:
        run_sandboxed(backend, lab.runner, sbx_params, scratch)
    result_sample: dict[str, Any] = {}
    paired: dict[str, list[float]] = {}
    for _ in range(runs):
        got = {"bare": run_bare(lab.runner, bare_params, scratch, code=code)}
        if backend is not None:
            got["sandboxed"] = run_sandboxed(backend, lab.runner, sbx_params, scratch)
        for side, run in got.items():
            for key, value in measures(lab, run).items():
                sides[side].setdefault(key, []).append(value)
            result_sample = {k: run.result.get(k) for k in ("engine", "device", "runner_version") if k in run.result}
        if "sandboxed" in got:
            # The same round's two runs met about the same load: their ratio is steadier than
            # the ratio of medians on a busy machine.
            bare_m, sbx_m = measures(lab, got["bare"]), measures(lab, got["sandboxed"])
            for key in bare_m.keys() & sbx_m.keys():
                if bare_m[key]:
                    paired.setdefault(key, []).append(sbx_m[key] / bare_m[key])
    out: dict[str, Any] = {"runner": lab.runner, "params": lab.params, "registry": lab.registry,
                           "result": result_sample,
                           "bare": summarize(sides["bare"]), "sandboxed": summarize(sides["sandboxed"])}
    ratios = {}
    for key, vals in sides["bare"].items():
        sbx = sides["sandboxed"].get(key)
        if sbx:
            ratios[key] = round(statistics.median(sbx) / statistics.median(vals), 3)
    out["ratio_sandboxed_over_bare"] = ratios
    out["paired_ratio_median"] = {k: round(statistics.median(v), 3) for k, v in paired.items()}
    out["paired_ratios"] = {k: [round(x, 3) for x in v] for k, v in paired.items()}
    out["headline"] = HEADLINE[lab.runner][0]
    return out


def table(results: dict[str, Any]) -> str:
    rows = ["| lab | measure | bare | sandboxed | sandboxed / bare | paired per round | end to end bare / sandboxed |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, res in results.items():
        key = res["headline"]
        bare = res["bare"].get(key, {}).get("median")
        sbx = res["sandboxed"].get(key, {}).get("median")
        e2e_b = res["bare"]["end_to_end_s"]["median"]
        e2e_s = res["sandboxed"].get("end_to_end_s", {}).get("median")
        rows.append(
            f"| {name} | {key} | {bare:.4g} | {sbx if sbx is None else f'{sbx:.4g}'} | "
            f"{res['ratio_sandboxed_over_bare'].get(key, '-')} | {res['paired_ratio_median'].get(key, '-')} | "
            f"{e2e_b:.2f} s / {'-' if e2e_s is None else f'{e2e_s:.2f} s'} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per side and lab (after one warm-up each)")
    parser.add_argument("--labs", default="char-gpt,spam,lora,inference,rag")
    parser.add_argument("--model-dir", type=Path, help="an existing registry folder instead of the bench's build")
    parser.add_argument("--bare-only", action="store_true", help="no sandbox (GPU machines, no root)")
    parser.add_argument("--device", default="cpu", help="the runners' device param (cpu, cuda, auto)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--rev", default="HEAD",
                        help="the commit whose runners run (git archive, both sides); 'worktree': the files as is")
    args = parser.parse_args(argv)

    all_labs = labs(args.device)
    wanted = [name.strip() for name in args.labs.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in all_labs]
    if unknown:
        parser.error(f"unknown lab(s) {unknown}; choose from {sorted(all_labs)}")
    if any(all_labs[name].registry for name in wanted):
        if args.model_dir:
            registry_root, entries = args.model_dir.resolve(), registry_from_dir(args.model_dir)
        else:
            registry_root, entries = build_registry()
    else:
        registry_root, entries = Path("/nonexistent"), {}

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="labs-per-lab-") as tmp:
        scratch = Path(tmp)
        scratch.chmod(0o755)
        code, commit = snapshot(args.rev, scratch)
        backend = None
        if not args.bare_only:
            if os.geteuid() != 0:
                parser.error("the bubblewrap sandbox side needs root (as the lab worker runs); use --bare-only")
            from apps.labs.sandbox.bubblewrap import BubblewrapBackend

            backend = BubblewrapBackend(cpus=1, model_dir=str(registry_root), runners_dir=str(code / "gpu_workers"))
            backend.check_available()
        for name in wanted:
            print(f"[per_lab] {name}: {args.runs} runs per side ...", flush=True)
            try:
                results[name] = compare(all_labs[name], entries, registry_root, args.runs, scratch, backend, code)
            except RuntimeError as exc:  # one broken runner must not lose the other labs' numbers
                results[name] = {"error": str(exc)[:3000]}
                print(f"[per_lab] {name}: FAILED {str(exc)[:500]}", flush=True)
    report = {"environment": environment(), "code": commit, "runs": args.runs, "registry": str(registry_root),
              "labs": results}
    args.out.write_text(json.dumps(report, indent=1, sort_keys=False) + "\n")
    print(table({name: res for name, res in results.items() if "error" not in res}))
    print(f"[per_lab] written to {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return report


if __name__ == "__main__":
    main()
