"""The kubernetes backend against a fake Kubernetes API server on 127.0.0.1 (no cluster here).

Why the fake really runs each Job: the contract tests (``test_contract.py``: events in order,
exit codes, tracebacks on stderr, wall-time kill, cancel, idempotent stop, limits reaching
the runner) only mean something if the runner really runs from the Job spec the backend
sent. Replayed outputs would test the fake. So ``fake_kubernetes_api.py`` plays the kubelet
with bubblewrap: the container's own ``command``/``args``/``env``/``workingDir``/uid, a
read-only root, the work claim's ``subPath`` as ``/work``, no network. The backend's real
code paths are used end to end through the official client (create Job, list pods by the
``job-name`` label, follow the pod log, delete with a propagation policy). What cannot be
honest here, and is asserted on the Job manifest instead: the kubelet's enforcement of
resource limits, RuntimeClass, seccomp, NetworkPolicy and the service-account token.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from apps.labs.sandbox import BACKENDS, SandboxError, SandboxUnavailable, get_backend
from apps.labs.sandbox.kubernetes import COMPONENT, LAUNCHER, KubernetesBackend, _untag, job_name

from . import test_contract
from .conftest import make_spec
from .fake_kubernetes_api import FakeKubernetesAPI

pytestmark = pytest.mark.sandbox

MiB = 1024 * 1024


@pytest.fixture
def work_root(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp()


@pytest.fixture
def fake_api(work_root) -> FakeKubernetesAPI:
    if shutil.which("bwrap") is None:
        pytest.skip("the fake kubelet runs containers with bubblewrap: apt-get install -y bubblewrap")
    with FakeKubernetesAPI(claims={"labs-work": work_root}) as api:
        yield api
        # Like the contract's no_leftovers: every container the backend started has ended
        # (its Job deleted or finished) by the time the test is over.
        deadline = time.monotonic() + 15  # generous: the machine may be busy
        while (running := api.running_pods()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not running, f"sandbox pods left running: {running}"


@pytest.fixture
def k8s(fake_api, work_root) -> KubernetesBackend:
    backend = KubernetesBackend(api_url=fake_api.url, work_root=str(work_root), pending_timeout=20)
    backend.check_available()
    return backend


# -- the contract suite every backend passes, against this one ------------------------------


@pytest.fixture
def backend(k8s) -> KubernetesBackend:
    return k8s


test_success_streams_ordered_events_and_writes_spec = test_contract.test_success_streams_ordered_events_and_writes_spec
test_nonzero_exit_is_failed_with_code = test_contract.test_nonzero_exit_is_failed_with_code
test_uncaught_exception_reports_error_result_and_traceback = (
    test_contract.test_uncaught_exception_reports_error_result_and_traceback
)
test_wall_time_limit = test_contract.test_wall_time_limit
test_cancel_through_should_cancel = test_contract.test_cancel_through_should_cancel
test_poll_is_none_while_running_and_stop_is_idempotent = (
    test_contract.test_poll_is_none_while_running_and_stop_is_idempotent
)
test_run_propagates_errors_from_on_event_and_kills_the_job = (
    test_contract.test_run_propagates_errors_from_on_event_and_kills_the_job
)
test_limits_reach_the_runner = test_contract.test_limits_reach_the_runner


# -- selection --------------------------------------------------------------------------------


def test_chosen_by_the_same_setting(monkeypatch):
    from types import SimpleNamespace

    assert BACKENDS["kubernetes"] == "apps.labs.sandbox.kubernetes.KubernetesBackend"
    fake = SimpleNamespace(LABS_SANDBOX_BACKEND="kubernetes", LABS_SANDBOX_OPTIONS={"namespace": "labs", "cpus": 1})
    monkeypatch.setattr("django.conf.settings", fake)
    backend = get_backend()
    assert isinstance(backend, KubernetesBackend) and backend.namespace == "labs"
    with pytest.raises(SandboxError, match="Unknown option"):
        KubernetesBackend(privileged=True)


def test_settings_fill_the_options_from_the_environment():
    from django.conf import settings

    assert set(settings.LABS_KUBERNETES_OPTIONS) <= set(KubernetesBackend.option_defaults)
    assert settings.LABS_KUBERNETES_OPTIONS["work_root"] == str(settings.LABS_WORK_ROOT)


# -- the Job's security: the same checks as the docker backend's create payload --------------


def _manifest(fake_api: FakeKubernetesAPI) -> dict:
    assert len(fake_api.created) == 1
    return fake_api.created[0]


def assert_hardened(job: dict, spec, *, gpu: int = 0) -> None:
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["activeDeadlineSeconds"] >= spec.limits.wall_seconds
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    # no token, no host namespaces, no service links
    assert pod["automountServiceAccountToken"] is False and pod["enableServiceLinks"] is False
    assert pod["hostNetwork"] is False and pod["hostPID"] is False and pod["hostIPC"] is False
    assert pod["restartPolicy"] == "Never"
    # non-root, read-only root, no capabilities, no escalation, seccomp
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 65534
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True and sc["runAsNonRoot"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]} and "add" not in sc["capabilities"]
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    # no secrets in the environment (as for docker: no DATABASE_URL, no PATH override)
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["HF_HUB_OFFLINE"] == "1" and "DATABASE_URL" not in env and "PATH" not in env
    assert not any("valueFrom" in e for e in container["env"]) and "envFrom" not in container
    assert env["LABS_RLIMITS"] == (
        f"fsize={spec.limits.max_file_mb * MiB}:{spec.limits.max_file_mb * MiB},nofile=1024:1024,core=0:0,"
        f"cpu={spec.limits.cpu_seconds}:{spec.limits.cpu_seconds + 5}"
    )
    # resource limits (requests == limits: Guaranteed QoS), GPUs only when asked for
    limits = container["resources"]["limits"]
    assert container["resources"]["requests"] == limits
    assert limits["memory"] == f"{spec.limits.memory_mb}Mi" and limits["cpu"] and limits["ephemeral-storage"]
    if gpu:
        assert limits["nvidia.com/gpu"] == str(gpu)
        assert pod["nodeSelector"] and any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
    else:
        assert "nvidia.com/gpu" not in limits and "nodeSelector" not in pod
    # volumes: the job's subPath of the work claim, memory tmpfs, and at most the read-only
    # model dir as the one host path
    for volume in pod["volumes"]:
        kinds = set(volume) - {"name"}
        assert kinds <= {"persistentVolumeClaim", "emptyDir", "hostPath"}, volume
        if "hostPath" in volume:
            assert volume["name"] == "models"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/work"]["subPath"] and ".." not in mounts["/work"]["subPath"].split("/")
    assert "readOnly" not in mounts["/work"]
    if "/models" in mounts:
        assert mounts["/models"]["readOnly"] is True
    # the labels the deny-all NetworkPolicy (k8s/base/networkpolicies.yaml) selects
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == COMPONENT
    assert labels["genai-labs.job-id"] == spec.job_id
    assert container["command"] == ["python", "-B", "-c", LAUNCHER]
    assert container["args"] == [spec.runner, "/work/spec.json"]


def test_job_spec_is_hardened(fake_api, k8s, work_dir):
    spec = make_spec(
        work_dir, "script", files={"main.py": b"print('hi')\n"}, memory_mb=768, max_file_mb=64, cpu_seconds=120
    )
    status = k8s.run(spec, lambda e: None)
    assert status.reason == "succeeded", status
    job = _manifest(fake_api)
    assert_hardened(job, spec)
    assert job["metadata"]["name"] == job_name(spec.job_id)
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "genai-labs-sandbox-cpu:latest"
    assert "runtimeClassName" not in pod
    labels = job["metadata"]["labels"]
    assert labels["genai-labs.worker-host"] == socket.gethostname()
    assert labels["genai-labs.worker-pid"] == str(os.getpid())
    # the worker deleted the finished Job, its pod with it
    assert [name for name, _ in fake_api.deletes] == [job["metadata"]["name"]]
    assert fake_api.deletes[0][1]["propagationPolicy"] in ("Background", "Foreground")
    assert not fake_api.jobs and not fake_api.pods


def test_gpu_jobs_get_gpu_limits_pool_and_runtime_class(work_root, tmp_path):
    backend = KubernetesBackend(
        work_root=str(work_root),
        runtime_class="gvisor",
        gpu_runtime_class="gvisor-nvproxy",
        model_host_path="/srv/models",
        owner_pod={"name": "gpu-worker-0", "uid": "1234"},
    )
    spec = make_spec(tmp_path / "w", "char_gpt", gpu_count=2)
    job = backend.job_manifest(spec)
    assert_hardened(job, spec, gpu=2)
    pod = job["spec"]["template"]["spec"]
    assert pod["runtimeClassName"] == "gvisor-nvproxy"
    assert pod["containers"][0]["image"] == "genai-labs-sandbox-gpu:latest"
    assert pod["nodeSelector"] == {"genai-labs/pool": "gpu"}
    models = next(v for v in pod["volumes"] if v["name"] == "models")
    assert models["hostPath"]["path"] == "/srv/models"
    # Hugging Face caches go to the job's writable work dir, never the read-only models
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["HF_HOME"] == "/work/.cache/huggingface" and env["HF_HUB_OFFLINE"] == "1"
    # owned by the worker pod: the cluster deletes the Job when that pod goes
    (owner,) = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Pod", "gpu-worker-0", "1234")
    cpu_job = backend.job_manifest(make_spec(tmp_path / "c", "script"))
    assert cpu_job["spec"]["template"]["spec"]["runtimeClassName"] == "gvisor"


def test_the_manifest_is_a_valid_kubernetes_job(tmp_path, work_root):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    backend = KubernetesBackend(work_root=str(work_root), runtime_class="gvisor", model_claim="models")
    for gpu in (0, 1):
        job = backend.job_manifest(make_spec(tmp_path / f"w{gpu}", "char_gpt", gpu_count=gpu))
        kubernetes_validate.validate(job, "1.33.0", strict=True)


def test_work_dirs_outside_the_work_root_are_refused(k8s, tmp_path):
    with pytest.raises(SandboxError, match="not inside the work root"):
        k8s.start(make_spec(Path("/var/tmp/elsewhere"), files={"main.py": b""}))


def test_input_file_names_cannot_escape(k8s, work_dir):
    for bad in ("../evil.py", "/etc/cron.d/x", "a/../../b", "spec.json"):
        with pytest.raises(SandboxError):
            k8s.start(make_spec(work_dir, files={bad: b"x"}))


# -- cancel, retries, reaper -------------------------------------------------------------------


def test_cancel_deletes_the_job(fake_api, k8s, work_dir):
    spec = make_spec(work_dir, files={"main.py": b"import time\nprint('ready', flush=True)\ntime.sleep(60)\n"})
    seen = []
    status = k8s.run(spec, seen.append, should_cancel=lambda: bool(seen))
    assert status.reason == "cancelled"
    name, options = fake_api.deletes[0]
    assert name == job_name(spec.job_id) and options["propagationPolicy"] == "Background"
    assert options["gracePeriodSeconds"] == 0
    # ... and its pod at once, not after the pod's grace period
    (pod_name, pod_options), *_ = fake_api.pod_deletes
    assert pod_name.startswith(name) and str(pod_options["gracePeriodSeconds"]) == "0"
    assert not fake_api.jobs and not fake_api.pods


def test_a_retry_deletes_the_earlier_attempts_job(fake_api, k8s, work_dir):
    spec = make_spec(work_dir, files={"main.py": b"print('second')\n"})
    old = k8s.job_manifest(spec)
    fake_api.add_job(old, run=False)
    status = k8s.run(spec, lambda e: None)
    assert status.reason == "succeeded"
    assert fake_api.deletes[0][0] == old["metadata"]["name"] and len(fake_api.created) == 1


def test_worker_start_deletes_jobs_of_dead_workers_only(fake_api, k8s, tmp_path):
    def job(job_id: str, **labels: str) -> dict:
        manifest = k8s.job_manifest(make_spec(Path(k8s.options["work_root"]) / job_id))
        manifest["metadata"]["name"] = f"labjob-{job_id}"
        manifest["metadata"]["labels"].update(labels)
        return fake_api.add_job(manifest, run=False)

    me = socket.gethostname()
    started = Path(f"/proc/{os.getpid()}/stat").read_text().rpartition(")")[2].split()[19]
    job(
        "live",
        **{
            "genai-labs.worker-host": me,
            "genai-labs.worker-pid": str(os.getpid()),
            "genai-labs.worker-started": started,
        },
    )
    job("restarted", **{"genai-labs.worker-host": me, "genai-labs.worker-started": "0"})
    job("other-live", **{"genai-labs.worker-host": "gpu-worker-abc"})
    job("other-dead", **{"genai-labs.worker-host": "gpu-worker-gone"})
    fake_api.extra_pods["gpu-worker-abc"] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "gpu-worker-abc"}}
    assert k8s.reap_stale() == 2
    assert sorted(fake_api.jobs) == ["labjob-live", "labjob-other-live"]


def test_reap_without_an_api_is_a_no_op(work_root):
    assert KubernetesBackend(api_url="http://127.0.0.1:9", work_root=str(work_root), timeout=2).reap_stale() == 0


# -- how jobs end ------------------------------------------------------------------------------


def test_oom_killed_is_out_of_memory(fake_api, k8s, work_dir):
    fake_api.oom_kill = True
    spec = make_spec(work_dir, files={"main.py": b"print('allocating')\n"}, memory_mb=256)
    status = k8s.run(spec, lambda e: None)
    assert (status.reason, status.exit_code) == ("out_of_memory", 137) and "256 MB" in status.detail


def test_an_image_that_cannot_be_pulled_fails_fast(fake_api, k8s, work_dir):
    fake_api.waiting_reason = "ErrImagePull"
    with pytest.raises(SandboxError, match="ErrImagePull") as info:
        k8s.start(make_spec(work_dir, files={"main.py": b""}))
    assert info.value.permanent is False
    assert not fake_api.jobs  # the Job was deleted


def test_unreachable_api_is_unavailable(work_root):
    backend = KubernetesBackend(api_url="http://127.0.0.1:9", work_root=str(work_root), timeout=2)
    with pytest.raises(SandboxUnavailable, match="No Kubernetes API answers"):
        backend.check_available()


def test_missing_work_root_is_unavailable(fake_api, tmp_path):
    backend = KubernetesBackend(api_url=fake_api.url, work_root=str(tmp_path / "not-mounted"))
    with pytest.raises(SandboxUnavailable, match="work root"):
        backend.check_available()


def test_launcher_keeps_streams_apart():
    assert _untag(b"o|hello") == ("stdout", b"hello\n")
    assert _untag(b"e|Traceback") == ("stderr", b"Traceback\n")
    assert _untag(b"O|partial") == ("stdout", b"partial")
    assert _untag(b"runtime: exec failed") == ("stderr", b"runtime: exec failed\n")


def test_long_lines_and_stderr_survive_the_log(k8s, work_dir):
    code = (
        "import sys, json\n"
        "sys.stdout.write('x' * 20000 + '\\n')\n"
        "sys.stderr.write('warn\\n')\n"
        "sys.stdout.write('no newline at the end')\n"
    )
    spec = make_spec(work_dir, files={"main.py": code.encode()})
    events = []
    status = k8s.run(spec, events.append)
    assert status.reason == "succeeded"
    logs = [(e.payload["stream"], e.payload["line"]) for e in events if e.type == "log"]
    assert ("stderr", "warn") in logs
    assert any(s == "stdout" and line.startswith("x" * 100) for s, line in logs)
    assert ("stdout", "no newline at the end") in logs
    assert json.loads((work_dir / "spec.json").read_text())["runner"] == "script"


def test_wall_deadline_counts_from_container_start(k8s, work_dir):
    started = time.monotonic()
    status = k8s.run(
        make_spec(work_dir, files={"main.py": b"import time\ntime.sleep(30)\n"}, wall_seconds=1), lambda e: None
    )
    assert status.reason == "timed_out" and time.monotonic() - started < 8


def test_a_dropped_log_stream_is_resumed_without_losing_or_repeating_lines(fake_api, k8s, work_dir):
    fake_api.drop_log_after = 12
    code = "import time\nfor i in range(40):\n    print('line', i, flush=True)\n    time.sleep(0.01)\n"
    events = []
    status = k8s.run(make_spec(work_dir, files={"main.py": code.encode()}), events.append)
    assert status.reason == "succeeded"
    lines = [e.payload["line"] for e in events if e.type == "log"]
    assert lines == [f"line {i}" for i in range(40)]
    log_reads = [q for m, p, q in fake_api.requests if p.endswith("/log")]
    assert len(log_reads) >= 2 and "sinceSeconds" in log_reads[1] and log_reads[0]["timestamps"] == "true"
