"""The lab sandbox images and their requirement files, checked without a Docker engine.

No engine runs here, so the images are never built by the suite. What a build or a sandbox
would trip over is checked on the files instead: every COPY source exists and is in the build
context, base images are pinned, nothing is fetched by URL, the final stage runs as a non-root
user with /models and /work as mount points and its caches on /tmp (the root is read-only in a
sandbox), no secret is baked in, and the requirement files agree with requirements/base.txt
and cover every package a runner imports. (tests/deploy/test_dockerfiles.py checks the
multi-stage shape of all three images.)
"""

from __future__ import annotations

import ast
import fnmatch
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from tests.deploy.dockerfile import instructions, stages

ROOT = Path(__file__).resolve().parents[2]
SANDBOX_DOCKERFILES = [ROOT / "docker" / "sandbox-cpu.Dockerfile", ROOT / "docker" / "sandbox-gpu.Dockerfile"]
RUNNERS = ROOT / "gpu_workers" / "runners"
BASE_TXT = ROOT / "requirements" / "base.txt"
GPU_TXT = ROOT / "requirements" / "gpu.txt"
RUNNER_TXT = RUNNERS / "requirements.txt"
#: Imported by runners only on a GPU (not installed on CPU machines): module -> distribution.
GPU_ONLY_MODULES = {"vllm": "vllm", "bitsandbytes": "bitsandbytes"}
SECRET_NAME = re.compile(r"(SECRET|TOKEN|PASSWORD|PASSWD|API_KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL)", re.I)
#: name:1.2.3[-variant][@sha256:...] or name[:tag]@sha256:...
PINNED_IMAGE = re.compile(
    r"^[\w./-]+:(\d+\.\d+\.\d+[\w.-]*)(@sha256:[0-9a-f]{64})?$|^[\w./-]+(:[\w.-]+)?@sha256:[0-9a-f]{64}$"
)


# --- Dockerfile parsing ----------------------------------------------------------------------


def final_stage(path: Path) -> list[tuple[str, str]]:
    return stages(path)[-1]


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, args in stage:
        if word == "ENV":
            for key, value in re.findall(r"(\w+)=(\S+)", args):
                env[key] = value
    return env


def build_args(path: Path) -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S+)", path.read_text(), re.M))


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored_by_dockerignore(relative: str) -> bool:
    parts = Path(relative).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in dockerignore_patterns():
        bare = pattern.removeprefix("**/")
        for prefix in prefixes:
            if fnmatch.fnmatch(prefix, pattern) or fnmatch.fnmatch(Path(prefix).name, bare):
                return True
    return False


@pytest.mark.parametrize("path", SANDBOX_DOCKERFILES, ids=lambda p: p.name)
def test_every_copy_source_exists_in_the_build_context(path):
    copies = [args for word, args in instructions(path) if word == "COPY" and "--from=" not in args]
    assert copies, "the image copies the runners in"
    for args in copies:
        *sources, _dest = [a for a in args.split() if not a.startswith("--")]
        for source in sources:
            assert source not in (".", "./"), f"{path.name}: copies the whole context ({args}): secrets could follow"
            assert (ROOT / source).exists(), f"{path.name}: COPY source {source} does not exist"
            assert not ignored_by_dockerignore(source), f"{path.name}: {source} is excluded by .dockerignore"


def test_the_dockerignore_reader_does_exclude_what_it_lists():
    # So the check above would catch a COPY of an ignored folder.
    assert ignored_by_dockerignore("bench/labs/run.py") and ignored_by_dockerignore(".env")
    assert ignored_by_dockerignore("gpu_workers/runners/__pycache__/x.pyc")
    assert not ignored_by_dockerignore("gpu_workers/runners/requirements.txt")


@pytest.mark.parametrize("path", SANDBOX_DOCKERFILES, ids=lambda p: p.name)
def test_base_images_are_pinned_and_nothing_is_fetched_by_url(path):
    args = build_args(path)
    stage_names = set()
    for word, rest in instructions(path):
        if word == "FROM":
            image, *alias = rest.split()
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), m.group(0)), image)
            if image not in stage_names:
                assert PINNED_IMAGE.match(image), f"{path.name}: base image {image!r} is not pinned to a patch release"
            if alias:
                stage_names.add(alias[-1])
        if word == "ADD":
            assert not re.search(r"https?://", rest), f"{path.name}: ADD of a URL ({rest})"
        if word == "RUN":
            assert not re.search(r"\b(curl|wget)\b", rest), f"{path.name}: downloads outside pip/apt ({rest})"


@pytest.mark.parametrize("path", SANDBOX_DOCKERFILES, ids=lambda p: p.name)
def test_final_stage_runs_as_nobody_with_models_and_work_mount_points(path):
    final = final_stage(path)
    users = [args for word, args in final if word == "USER"]
    assert users and users[-1] == "65534:65534", "the sandbox user, as the backends run it"
    runs = " ".join(args for word, args in final if word == "RUN")
    assert re.search(r"mkdir -p [^&]*/models", runs) and re.search(r"mkdir -p [^&]*/work", runs)
    assert "chown 65534:65534 /work" in runs, "/work is the sandbox user's"
    assert "chown" not in runs.replace("chown 65534:65534 /work", ""), "/models and the code stay root's"
    assert [args for word, args in final if word == "WORKDIR"][-1] == "/work"
    assert "gpu_workers.runners" in [args for word, args in final if word == "CMD"][-1]


@pytest.mark.parametrize("path", SANDBOX_DOCKERFILES, ids=lambda p: p.name)
def test_caches_go_to_tmp_and_nothing_downloads_models(path):
    env = env_of(final_stage(path))
    assert env.get("HOME") == "/tmp", "HOME on the /tmp tmpfs: the root is read-only"
    for key, value in env.items():
        if "CACHE" in key or key in ("MPLCONFIGDIR",):
            assert value.startswith("/tmp/"), f"{key}={value} is not on the /tmp tmpfs"
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        assert env.get(key) == "1", f"{key}=1: nothing downloads at run time"


@pytest.mark.parametrize("path", SANDBOX_DOCKERFILES, ids=lambda p: p.name)
def test_no_secret_is_baked_in(path):
    for word, args in instructions(path):
        if word in ("ENV", "ARG", "LABEL"):
            for name in re.findall(r"(\w+)=", args) or [args.split("=")[0]]:
                assert not SECRET_NAME.search(name), f"{path.name}: {word} {name} looks like a secret"
    assert {".env", ".env.*", ".git"} <= set(dockerignore_patterns())


def test_gpu_image_installs_gpu_txt_and_keeps_a_c_compiler_for_triton():
    path = ROOT / "docker" / "sandbox-gpu.Dockerfile"
    text = path.read_text()
    assert "COPY requirements/gpu.txt" in text and "COPY requirements/gpu.lock.txt" in text
    assert "pip install -r /tmp/gpu.txt -c /tmp/gpu.lock.txt" in text and "pip check" in text
    final_runs = " ".join(args for word, args in final_stage(path) if word == "RUN")
    assert "gcc" in final_runs and "libc6-dev" in final_runs
    env = env_of(final_stage(path))
    assert env["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility" and env["VLLM_NO_USAGE_STATS"] == "1"
    assert env["TRITON_CACHE_DIR"].startswith("/tmp/") and env["VLLM_CACHE_ROOT"].startswith("/tmp/")


def test_cpu_image_installs_the_runner_requirements_with_cpu_torch():
    path = ROOT / "docker" / "sandbox-cpu.Dockerfile"
    text = path.read_text()
    assert "COPY gpu_workers/runners/requirements.txt" in text and "pip check" in text
    assert build_args(path)["TORCH_INDEX"].endswith("/whl/cpu")


# --- requirement files -------------------------------------------------------------------------


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, tuple[str, str]]:
    """{distribution: (version, the line's comment)} of ``name==version`` lines (extras dropped)."""
    found = {}
    for raw in path.read_text().splitlines():
        line, _, comment = raw.partition("#")
        line = line.strip()
        if not line or line.startswith("-"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]+\])?==([^\s;]+)", line)
        assert match, f"{path.name}: {line!r} is not an exact pin (name==version)"
        found[canonical(match.group(1))] = (match.group(3), comment.strip())
    return found


def test_runner_requirements_use_base_txt_pins():
    base, runner = pins(BASE_TXT), pins(RUNNER_TXT)
    for name, (version, _) in runner.items():
        if name in base:
            assert version == base[name][0], f"runners/requirements.txt: {name}=={version}, base.txt: {base[name][0]}"


def test_gpu_requirements_keep_base_pins_or_say_why():
    base, gpu = {**pins(RUNNER_TXT), **pins(BASE_TXT)}, pins(GPU_TXT)
    assert {"vllm", "bitsandbytes", "torch", "transformers", "peft", "ragas", "sentence-transformers"} <= set(gpu)
    for name, (version, comment) in gpu.items():
        if name in base and version != base[name][0]:
            assert "base.txt" in comment, f"gpu.txt: {name}=={version} differs from base.txt without a reason"


def test_the_gpu_lock_holds_every_gpu_pin_and_a_cuda_torch():
    gpu, lock = pins(GPU_TXT), pins(ROOT / "requirements" / "gpu.lock.txt")
    for name, (version, _) in gpu.items():
        locked = lock.get(name, ("missing",))[0]
        assert locked == version, f"gpu.lock.txt has {name} {locked}, gpu.txt {version}: run scripts/gpu_lock.sh"
    assert "+cpu" not in lock["torch"][0] and "cuda-toolkit" in lock, "the lock is PyPI's CUDA build of torch"
    assert len(lock) > len(gpu), "the lock is the full resolved set"


def test_the_gpu_image_has_every_runner_requirement():
    runner, gpu = pins(RUNNER_TXT), pins(GPU_TXT)
    missing = sorted(set(runner) - set(gpu))
    assert not missing, f"requirements/gpu.txt lacks what the CPU sandbox has: {missing}"


def runner_imports() -> dict[str, set[str]]:
    """Top-level third-party modules each runner imports (also inside functions)."""
    stdlib = set(sys.stdlib_module_names)
    found: dict[str, set[str]] = {}
    for path in sorted(RUNNERS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in stdlib and top not in ("gpu_workers", "__future__"):
                    found.setdefault(top, set()).add(path.name)
    return found


def test_every_package_a_runner_imports_is_in_the_images():
    imported = runner_imports()
    assert {"torch", "transformers", "peft", "sklearn"} <= set(imported), "the scan finds the runners' imports"
    installed = packages_distributions()
    runner, gpu = pins(RUNNER_TXT), pins(GPU_TXT)
    for module, files in sorted(imported.items()):
        if module in GPU_ONLY_MODULES:
            assert canonical(GPU_ONLY_MODULES[module]) in gpu, f"{module} ({sorted(files)}) is not in gpu.txt"
            continue
        dists = {canonical(d) for d in installed.get(module, [])}
        assert dists, f"{module} (imported by {sorted(files)}) is not installed here: add it to the requirements"
        assert dists & set(runner), f"{module} ({sorted(files)}): none of {sorted(dists)} in runners/requirements.txt"
        assert dists & set(gpu), f"{module} ({sorted(files)}): none of {sorted(dists)} in requirements/gpu.txt"


def test_the_gpu_pytest_marker_is_declared():
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'"gpu: [^"]*CUDA', text)
