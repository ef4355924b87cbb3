"""k8s/: every manifest of every overlay is valid Kubernetes, secure, and agrees with the code.

Rendered with the tests' small kustomize (``kustomize.py``) and, where a ``kubectl`` binary is
installed, also with ``kubectl kustomize`` (the two must agree); validated offline with
``kubernetes-validate`` against a pinned Kubernetes version. KEDA objects (a CRD the
validator has no schema for) are checked field by field.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from apps.labs.sandbox.kubernetes import KubernetesBackend

from .kustomize import all_containers, kubectl_render, pod_specs, render
from .settings_env import REQUIRED, settings_variables, variables_read

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
OVERLAYS = sorted(p.parent.name for p in K8S.glob("overlays/*/kustomization.yaml"))
KUBERNETES_VERSION = "1.33.0"  # the oldest minor the manifests promise to work on
APP_COMPONENTS = {"web", "worker", "beat", "migrate"}
CRD_KINDS = {"ScaledObject", "TriggerAuthentication"}


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.fixture(scope="module", params=["base", *OVERLAYS])
def rendered(request) -> tuple[str, list[dict]]:
    path = K8S / "base" if request.param == "base" else K8S / "overlays" / request.param
    return request.param, render(path)


def test_there_are_overlays():
    assert {"production", "dev"} <= set(OVERLAYS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubectl_kustomize_agrees(overlay):
    path = K8S / "overlays" / overlay
    theirs = kubectl_render(path)
    if theirs is None:
        pytest.skip("no kubectl or kustomize binary here: rendered with the tests' kustomize only")
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    ours = sorted(render(path), key=key)
    assert [key(d) for d in ours] == sorted(key(d) for d in theirs)
    assert ours == sorted(theirs, key=key)


def test_every_manifest_is_valid_kubernetes(rendered):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    name, docs = rendered
    checked = 0
    for doc in docs:
        if doc["kind"] in CRD_KINDS:
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        checked += 1
    assert checked >= 20, name


def test_the_sandbox_job_is_valid_kubernetes(tmp_path):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    from tests.labs.sandbox.conftest import make_spec

    backend = KubernetesBackend(work_root=str(tmp_path), runtime_class="gvisor")
    for gpu in (0, 1):
        job = backend.job_manifest(make_spec(tmp_path / f"job{gpu}", "char_gpt", gpu_count=gpu))
        kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)


def test_pods_run_restricted(rendered):
    """Non-root, read-only root, no capabilities, no escalation, seccomp, no host access, limits."""
    _, docs = rendered
    workloads = pod_specs(docs)
    assert {d["metadata"]["name"] for d, _ in workloads} >= {"web", "worker-cpu", "worker-gpu", "beat", "migrate"}
    for doc, spec in workloads:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] != 0, where
        assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert not (spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC")), where
        assert spec.get("enableServiceLinks") is False, where
        assert all("hostPath" not in v for v in spec.get("volumes", [])), where
        if spec["serviceAccountName"] != "genai-labs-worker":
            assert spec["automountServiceAccountToken"] is False, where
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc.get("privileged") in (None, False), where
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert container["resources"]["limits"]["memory"] and container["resources"]["requests"]["cpu"], where
            assert container["image"].split(":")[-1] != "latest" or rendered[0] == "base", where
    namespace = by_kind(docs, "Namespace")["genai-labs"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_web_tier(rendered):
    _, docs = rendered
    web = by_kind(docs, "Deployment")["web"]
    assert (
        by_kind(docs, "Service")["web"]["spec"]["selector"].items()
        <= web["spec"]["template"]["metadata"]["labels"].items()
    )
    assert by_kind(docs, "HorizontalPodAutoscaler")["web"]["spec"]["scaleTargetRef"]["name"] == "web"
    assert by_kind(docs, "PodDisruptionBudget")["web"]["spec"]["minAvailable"] >= 1
    ingress = by_kind(docs, "Ingress")["web"]
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "web"
    assert ingress["spec"]["tls"]
    assert by_kind(docs, "Job")["migrate"]["spec"]["template"]["spec"]["containers"][0]["args"][-1].endswith(
        "manage.py migrate --noinput && python manage.py load_content"
    )


def test_workers_consume_the_celery_queues_and_gpu_runs_on_the_gpu_pool(rendered):
    from config.celery import app

    _, docs = rendered
    queues = {q.name for q in app.conf.task_queues}
    deployments = by_kind(docs, "Deployment")
    for queue in queues:
        worker = deployments[f"worker-{queue}"]
        args = worker["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[args.index("-Q") + 1] == queue
    gpu = deployments["worker-gpu"]["spec"]["template"]["spec"]
    pool = KubernetesBackend.option_defaults["gpu_node_selector"]
    assert gpu["nodeSelector"] == pool
    assert any(t["key"] == "nvidia.com/gpu" for t in gpu["tolerations"])
    assert KubernetesBackend.option_defaults["gpu_tolerations"][0]["key"] == "nvidia.com/gpu"


def test_keda_scales_workers_on_the_celery_redis_lists(rendered):
    from django.conf import settings

    from config.celery import app

    _, docs = rendered
    queues = {q.name for q in app.conf.task_queues}
    assert settings.CELERY_TASK_DEFAULT_QUEUE in queues
    scaled = by_kind(docs, "ScaledObject")
    deployments = by_kind(docs, "Deployment")
    auth = by_kind(docs, "TriggerAuthentication")
    lists = {}
    for obj in scaled.values():
        assert obj["apiVersion"] == "keda.sh/v1alpha1"
        target = obj["spec"]["scaleTargetRef"]["name"]
        assert target in deployments
        assert obj["spec"]["minReplicaCount"] >= 1 and obj["spec"]["maxReplicaCount"] >= obj["spec"]["minReplicaCount"]
        (trigger,) = obj["spec"]["triggers"]
        assert trigger["type"] == "redis" and trigger["authenticationRef"]["name"] in auth
        list_name = trigger["metadata"]["listName"]
        lists[list_name] = target
        int(trigger["metadata"]["listLength"])
        # the Deployment it scales consumes exactly that list
        args = deployments[target]["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[args.index("-Q") + 1] == list_name
        # same Redis database as REDIS_URL's default path (/0)
        assert trigger["metadata"]["databaseIndex"] == "0"
    assert set(lists) == queues
    params = {r["parameter"] for a in auth.values() for r in a["spec"]["secretTargetRef"]}
    assert {"address", "password"} <= params


def test_environment_variables_are_the_ones_settings_read(rendered):
    _, docs = rendered
    read = variables_read()
    config = by_kind(docs, "ConfigMap")["genai-labs-config"]["data"]
    named = set(config)
    app_containers = [
        container
        for doc, spec in pod_specs(docs)
        if doc["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") in APP_COMPONENTS
        for container in spec["containers"]
    ]
    assert len(app_containers) == 5
    for container in app_containers:
        assert container["image"].split(":")[0].endswith(("genai-labs-web", "genai-labs/web"))
        names = {e["name"] for e in container.get("env", [])}
        for source in container.get("envFrom", []):
            assert source["configMapRef"]["name"] == "genai-labs-config"
            names |= set(config)
        named |= names
        assert REQUIRED <= names, (container["name"], REQUIRED - names)
    # only the platform's own image reads the platform's settings
    for container in all_containers(docs):
        if container not in app_containers:
            assert not container.get("envFrom"), container["name"]
    assert named - read == set(), f"named in k8s but read by nothing: {sorted(named - read)}"
    # ... and the other way round: the kubernetes backend's settings are all configurable
    assert {n for n in settings_variables() if n.startswith("LABS_KUBERNETES_")} - named <= {
        "LABS_KUBERNETES_API_URL",  # in-cluster config when unset
        "LABS_KUBERNETES_MODEL_CLAIM",  # optional
    }
    assert config["LABS_SANDBOX_BACKEND"] == "kubernetes"


def test_backend_defaults_match_the_manifests(rendered):
    _, docs = rendered
    options = KubernetesBackend.option_defaults
    config = by_kind(docs, "ConfigMap")["genai-labs-config"]["data"]
    assert config["LABS_KUBERNETES_WORK_CLAIM"] in by_kind(docs, "PersistentVolumeClaim")
    assert by_kind(docs, "PersistentVolumeClaim")[options["work_claim"]]["spec"]["accessModes"] == ["ReadWriteMany"]
    sandbox_sa = by_kind(docs, "ServiceAccount")[options["service_account"]]
    assert sandbox_sa["automountServiceAccountToken"] is False
    assert not [
        b
        for b in by_kind(docs, "RoleBinding").values()
        if any(s["name"] == options["service_account"] for s in b["subjects"])
    ]
    for name in ("worker-cpu", "worker-gpu"):
        spec = by_kind(docs, "Deployment")[name]["spec"]["template"]["spec"]
        mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
        claims = {
            v["name"]: v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v
        }
        work = next(n for n, c in claims.items() if c == config["LABS_KUBERNETES_WORK_CLAIM"])
        assert mounts[work] == config["LABS_WORK_ROOT"]
        env = {e["name"]: e for e in spec["containers"][0]["env"]}
        assert env["POD_UID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.uid"
        assert env["LABS_KUBERNETES_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
        assert spec["serviceAccountName"] == "genai-labs-worker"


def test_worker_rbac_covers_what_the_backend_calls(rendered):
    _, docs = rendered
    role = by_kind(docs, "Role")["labs-worker"]
    allowed = {
        (g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]
    }
    needed = {("batch", "jobs", v) for v in ("create", "get", "list", "delete")} | {
        ("", "pods", "get"),
        ("", "pods", "delete"),
        ("", "pods", "list"),
        ("", "pods/log", "get"),
    }
    assert needed <= allowed
    assert not {r for _, r, _ in allowed} & {"secrets", "pods/exec", "configmaps"}
    binding = by_kind(docs, "RoleBinding")["labs-worker"]
    assert binding["roleRef"]["name"] == "labs-worker" and binding["subjects"][0]["name"] == "genai-labs-worker"


# -- NetworkPolicies ---------------------------------------------------------------------------


def selects(selector: dict, labels: dict) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def policies_for(docs: list[dict], labels: dict, direction: str) -> list[dict]:
    return [
        p
        for p in by_kind(docs, "NetworkPolicy").values()
        if direction in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], labels)
    ]


def sandbox_pod_labels(tmp_path: Path) -> dict:
    from tests.labs.sandbox.conftest import make_spec

    job = KubernetesBackend(work_root=str(tmp_path)).job_manifest(make_spec(tmp_path / "job", "script"))
    return job["spec"]["template"]["metadata"]["labels"]


def test_sandboxes_get_no_egress_and_no_ingress_at_all(rendered, tmp_path):
    _, docs = rendered
    labels = sandbox_pod_labels(tmp_path)
    for direction, rules in (("Egress", "egress"), ("Ingress", "ingress")):
        policies = policies_for(docs, labels, direction)
        assert policies, f"no {direction} policy selects sandbox pods: they would be open"
        assert all(not p["spec"].get(rules) for p in policies), [p["metadata"]["name"] for p in policies]
    assert "labs-sandbox-deny-all" in {p["metadata"]["name"] for p in policies_for(docs, labels, "Egress")}


def test_workers_reach_only_postgres_redis_dns_and_the_api_server(rendered):
    _, docs = rendered
    for name in ("worker-cpu", "worker-gpu", "beat", "web", "migrate"):
        workload = {d["metadata"]["name"]: d for d, _ in pod_specs(docs)}[name]
        labels = workload["spec"]["template"]["metadata"]["labels"]
        peers = set()
        for policy in policies_for(docs, labels, "Egress"):
            for rule in policy["spec"].get("egress", []):
                ports = {(p["protocol"], p["port"]) for p in rule["ports"]}
                assert ports, f"{policy['metadata']['name']}: an egress rule without ports"
                for peer in rule["to"]:
                    if "ipBlock" in peer:
                        assert peer["ipBlock"]["cidr"].endswith("/32") and ports <= {("TCP", 443), ("TCP", 6443)}
                        assert policy["metadata"]["name"] == "workers-to-kube-api"
                        peers.add("kube-api")
                    elif peer.get("namespaceSelector"):
                        assert peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
                        assert ports <= {("UDP", 53), ("TCP", 53)}
                        peers.add("dns")
                    else:
                        app_name = peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                        assert (app_name, ports) in [("postgres", {("TCP", 5432)}), ("redis", {("TCP", 6379)})]
                        peers.add(app_name)
        expected = {"postgres", "redis", "dns"} | ({"kube-api"} if name.startswith("worker") else set())
        assert peers == expected, (name, peers)


def test_the_api_server_address_is_set_per_overlay():
    base = by_kind(render(K8S / "base"), "NetworkPolicy")["workers-to-kube-api"]
    for overlay in OVERLAYS:
        policy = by_kind(render(K8S / "overlays" / overlay), "NetworkPolicy")["workers-to-kube-api"]
        cidr = policy["spec"]["egress"][0]["to"][0]["ipBlock"]["cidr"]
        assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+/32", cidr)
        if overlay == "production":
            assert policy != base, "production must name its own API server address"


def test_dev_overlay_runs_its_own_postgres_and_redis_where_the_policies_expect_them():
    docs = render(K8S / "overlays" / "dev")
    peers = {
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]: rule["ports"][0]["port"]
        for rule in by_kind(docs, "NetworkPolicy")["app-to-postgres-redis"]["spec"]["egress"]
        for peer in rule["to"]
        if "app.kubernetes.io/name" in peer.get("podSelector", {}).get("matchLabels", {})
    }
    assert peers == {"postgres": 5432, "redis": 6379}
    services = by_kind(docs, "Service")
    for name, port in peers.items():
        stateful = by_kind(docs, "StatefulSet")[name]
        assert stateful["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == name
        assert services[name]["spec"]["ports"][0]["port"] == port
        # only the platform's pods may connect to them
        ingress = policies_for(docs, stateful["spec"]["template"]["metadata"]["labels"], "Ingress")
        allowed = [rule for p in ingress for rule in p["spec"].get("ingress", [])]
        assert allowed and all(
            selects(peer["podSelector"], {"app.kubernetes.io/component": "web"}) for r in allowed for peer in r["from"]
        )
    assert "pgvector" in by_kind(docs, "StatefulSet")["postgres"]["spec"]["template"]["spec"]["containers"][0]["image"]
