"""docker-compose.yml: valid against the Compose Specification, and the services the deployment
guide promises, wired safely (health-gated start, the Docker socket only for lab workers).

The schema is vendored (tests/vendor/compose-spec/, source and licence in tests/vendor/README.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from .settings_env import REQUIRED, variables_read

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "tests" / "vendor" / "compose-spec" / "compose-spec.json"
APP_SERVICES = {"web", "worker-cpu", "worker-gpu", "beat", "migrate"}
SOCKET = "/var/run/docker.sock"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_valid_against_the_compose_specification(compose):
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_the_schema_rejects_what_it_should(compose):
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    broken = json.loads(json.dumps(compose))
    broken["services"]["web"]["depends_on"]["postgres"]["condition"] = "service_started_maybe"
    broken["services"]["web"]["restart_policy"] = "always"
    assert len(list(validator.iter_errors(broken))) >= 2


def test_the_services(compose):
    services = compose["services"]
    assert APP_SERVICES | {"postgres", "redis"} <= set(services)
    assert "pgvector" in services["postgres"]["image"]
    # Redis has a password, given through stdin rather than on a command line
    redis = services["redis"]
    assert "requirepass" in " ".join(redis["command"]) and "--requirepass" not in redis["command"]
    assert redis["environment"]["REDISCLI_AUTH"].startswith("${REDIS_PASSWORD:?")
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert ":@redis:6379" in env["REDIS_URL"] or "${REDIS_PASSWORD" in env["REDIS_URL"]
    # the web service serves ASGI from the image's command; the migrate job loads content
    assert "migrate --noinput" in services["migrate"]["command"][-1]
    assert "load_content" in services["migrate"]["command"][-1]
    assert services["migrate"]["restart"] == "no"
    assert services["beat"]["command"][:4] == ["celery", "-A", "config", "beat"]


def test_health_gated_start_order(compose):
    services = compose["services"]
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"]
    assert services["migrate"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    for name in APP_SERVICES - {"migrate"}:
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == deps["redis"]["condition"] == "service_healthy", name
        assert deps["migrate"]["condition"] == "service_completed_successfully", name


def test_gpu_worker_reserves_nvidia_devices(compose):
    worker = compose["services"]["worker-gpu"]
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert worker["command"][worker["command"].index("-Q") + 1] == "gpu"
    assert (
        compose["services"]["worker-cpu"]["command"][compose["services"]["worker-cpu"]["command"].index("-Q") + 1]
        == "cpu"
    )
    assert worker["environment"]["LABS_DOCKER_IMAGE"].endswith("genai-labs-sandbox-gpu:latest}")


def _volume_sources(service: dict) -> list[str]:
    out = []
    for volume in service.get("volumes", []):
        out.append(volume.split(":")[0] if isinstance(volume, str) else volume.get("source", ""))
    return out


def test_docker_socket_only_for_the_lab_workers(compose):
    services = compose["services"]
    with_socket = {name for name, s in services.items() if SOCKET in _volume_sources(s)}
    assert with_socket == {"worker-cpu", "worker-gpu"}
    for name, service in services.items():
        assert not service.get("privileged"), name
        if name not in with_socket:
            assert not service.get("cap_add"), name
    # the sandbox images never run as services with anything mounted
    for name in ("sandbox-cpu", "sandbox-gpu"):
        assert services[name]["profiles"] == ["build"] and not services[name].get("volumes")
    for name in with_socket:
        assert services[name]["environment"]["LABS_SANDBOX_BACKEND"] == "docker"


def test_named_volumes(compose):
    declared = set(compose["volumes"])
    assert {"pgdata", "redisdata", "app-data"} <= declared
    for name, service in compose["services"].items():
        for source in _volume_sources(service):
            if not source.startswith(("/", ".")):
                assert source in declared, (name, source)


def test_environment_variables_are_the_ones_settings_read(compose):
    read = variables_read()
    for name in APP_SERVICES:
        env = compose["services"][name]["environment"]
        assert set(env) - read == set(), (name, sorted(set(env) - read))
        assert REQUIRED <= set(env), (name, REQUIRED - set(env))
        assert env["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
