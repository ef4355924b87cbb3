"""The environment that compose and the k8s manifests give the platform boots production settings.

Each app container's environment (compose: with a sample .env interpolated; k8s: the ConfigMap,
dummy secrets and the Downward API fields) is handed to a fresh interpreter that loads
``config.settings.production`` (which refuses unsafe settings) and runs the security checks of ``check --deploy``.
Nothing connects to a database or Redis.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .kustomize import pod_specs, render

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DOT_ENV = {
    "POSTGRES_PASSWORD": "pg-secret",
    "REDIS_PASSWORD": "redis-secret",
    "DJANGO_SECRET_KEY": "k" * 20 + "-sample-secret-key-for-the-boot-test-0123456789",
    "DJANGO_ALLOWED_HOSTS": "labs.example.com",
}
DUMMY_SECRETS = {
    "DATABASE_URL": "postgres://genai:pw@postgres:5432/genai",
    "REDIS_URL": "redis://:pw@redis:6379/0",
    "DJANGO_SECRET_KEY": SAMPLE_DOT_ENV["DJANGO_SECRET_KEY"],
    "CREDENTIALS_SIGNING_KEYS": "",
}
PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.core.management import call_command
call_command("check", "--deploy", "--tag", "security", "--fail-level", "WARNING")
print(json.dumps({
    "backend": settings.LABS_SANDBOX_BACKEND,
    "options": {k: str(v) for k, v in settings.LABS_SANDBOX_OPTIONS.items()},
    "static_root": str(settings.STATIC_ROOT),
    "work_root": str(settings.LABS_WORK_ROOT),
    "debug": settings.DEBUG,
    "database_host": settings.DATABASES["default"]["HOST"],
}))
"""


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default}, ${NAME:?error} and $$."""

    def one(match: re.Match) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        if op == ":?":
            assert name in env, f"compose would refuse to start: {arg}"
            return env[name]
        return env.get(name) or (arg if op == ":-" else "")

    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:[-?])([^}]*))?\}", one, value).replace("$$", "$")


def boot(environment: dict[str, str], tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "LABS_", "DATABASE_", "REDIS_"))}
    env.update(environment)
    env["PLATFORM_DATA_DIR"] = str(tmp_path / "data")  # the image's /data
    env["EMBEDDING_WARM_UP"] = "0"
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("service", ["web", "worker-gpu"])
def test_compose_environment_boots_production(service, tmp_path):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    environment = {
        k: interpolate(str(v), SAMPLE_DOT_ENV) for k, v in compose["services"][service]["environment"].items()
    }
    environment["PLATFORM_DATA_DIR"] = str(tmp_path)
    seen = boot(environment, tmp_path)
    assert seen["debug"] is False and seen["database_host"] == "postgres"
    if service == "worker-gpu":
        assert seen["backend"] == "docker" and seen["options"]["image"].endswith("sandbox-gpu:latest")


def test_k8s_worker_environment_boots_production_with_the_kubernetes_backend(tmp_path):
    docs = render(ROOT / "k8s" / "overlays" / "production")
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    worker = next(spec for d, spec in pod_specs(docs) if d["metadata"]["name"] == "worker-gpu")
    environment = dict(config)
    for item in worker["containers"][0]["env"]:
        if "value" in item:
            environment[item["name"]] = item["value"]
        elif "secretKeyRef" in item["valueFrom"]:
            environment[item["name"]] = DUMMY_SECRETS[item["valueFrom"]["secretKeyRef"]["key"]]
        else:
            environment[item["name"]] = {
                "metadata.namespace": "genai-labs",
                "metadata.name": "worker-gpu-abc",
                "metadata.uid": "1234",
            }[item["valueFrom"]["fieldRef"]["fieldPath"]]
    seen = boot(environment, tmp_path)
    assert seen["backend"] == "kubernetes"
    options = seen["options"]
    assert options["namespace"] == "genai-labs" and options["runtime_class"] == "gvisor"
    assert options["gpu_image"] == config["LABS_KUBERNETES_GPU_IMAGE"]
    assert options["work_root"] == seen["work_root"] == config["LABS_WORK_ROOT"]
