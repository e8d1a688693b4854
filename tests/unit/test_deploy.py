"""deploy/ and docker-compose.yml: what a platform engineer applies is valid and agrees with
the code (settings, web paths, the image's user) and with DESIGN.md's metric names.

No cluster and no Docker here: Kubernetes manifests are checked against the Kubernetes API's
schema with kubernetes-validate, the ServiceMonitor (a CRD, which kubernetes-validate has no
schema for) against the required fields of the Prometheus Operator's CRD, the compose file by
its shape."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions

from streamproc.definitions import load_definition
from streamproc.settings import Settings

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
DASHBOARD = DEPLOY / "grafana" / "streamproc.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"

KUBERNETES_VERSION = "1.32.0"
"""The Kubernetes API the manifests are validated against: the oldest minor still supported
upstream when this was written. Their fields are all older than 1.25."""

SETTING_NAMES = {f"STREAMPROC_{name.upper()}" for name in Settings.model_fields}

# DESIGN.md, "Operating it": the metric names are a contract.
CONTRACT_COUNTERS = {
    "streamproc_events_in_total",
    "streamproc_events_out_total",
    "streamproc_dead_letters_total",
    "streamproc_mql_crossings_total",
    "streamproc_sla_breaches_total",
}
CONTRACT_GAUGES = {"streamproc_consumer_lag_records", "streamproc_leads", "streamproc_ready"}
CONTRACT_HISTOGRAMS = {"streamproc_event_latency_seconds", "streamproc_batch_seconds"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
PROMETHEUS_OWN = {"up"}
"""Series Prometheus itself writes for every target; not in a worker's scrape."""


# --- reading the files -------------------------------------------------------------------


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomization() -> dict[str, Any]:
    [document] = load_yaml_documents(KUBERNETES / "kustomization.yaml")
    return document


def manifests() -> list[dict[str, Any]]:
    """Every resource the kustomization applies."""
    return [
        resource
        for name in kustomization()["resources"]
        for resource in load_yaml_documents(KUBERNETES / name)
    ]


def the(kind: str, name: str | None = None) -> dict[str, Any]:
    [resource] = [
        r
        for r in manifests()
        if r["kind"] == kind and (name is None or r["metadata"]["name"] == name)
    ]
    return resource


def pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = the("StatefulSet")["spec"]["template"]["spec"]
    return spec


def worker_container() -> dict[str, Any]:
    [container] = pod_spec()["containers"]
    return container


def mount_path(volume: str) -> Path:
    [mount] = [m for m in worker_container()["volumeMounts"] if m["name"] == volume]
    return Path(mount["mountPath"])


def env_value(name: str) -> str:
    [value] = [e["value"] for e in worker_container()["env"] if e["name"] == name]
    return str(value)


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def dockerfile_user() -> tuple[int, int]:
    [user] = re.findall(r"^USER\s+(\d+):(\d+)\s*$", DOCKERFILE.read_text(), re.MULTILINE)
    return int(user[0]), int(user[1])


# --- Kubernetes: schema -------------------------------------------------------------------


def test_the_kustomization_applies_every_manifest_in_the_folder() -> None:
    files = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization()["resources"]) == files
    assert kustomization()["namespace"] == the("Namespace")["metadata"]["name"]
    # the image kustomize sets is the one the StatefulSet names
    [image] = kustomization()["images"]
    assert worker_container()["image"].split(":")[0] == image["name"]


def test_the_pinned_kubernetes_version_is_one_kubernetes_validate_has() -> None:
    # kubernetes-validate falls back to an older schema for a version it lacks: fail instead.
    assert KUBERNETES_VERSION in all_versions()


def test_the_manifests_are_the_expected_kinds() -> None:
    assert sorted((r["kind"], r["metadata"]["name"]) for r in manifests()) == [
        ("ConfigMap", "streamproc-definition"),
        ("ConfigMap", "streamproc-settings"),
        ("Namespace", "streamproc"),
        ("PodDisruptionBudget", "streamproc"),
        ("Secret", "streamproc-kafka"),
        ("Service", "streamproc"),
        ("ServiceMonitor", "streamproc"),
        ("StatefulSet", "streamproc"),
    ]


@pytest.mark.parametrize(
    "resource",
    [r for r in manifests() if r["kind"] != "ServiceMonitor"],
    ids=lambda r: f"{r['kind']}/{r['metadata']['name']}",
)
def test_every_manifest_is_valid_for_the_kubernetes_api(resource: dict[str, Any]) -> None:
    # strict: a field Kubernetes does not know (a typo) fails too
    try:
        validated = kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        pytest.fail(f"{'.'.join(map(str, error.path))}: {error.message}"[:500])
    assert validated == KUBERNETES_VERSION.rsplit(".", 1)[0]


def test_kubernetes_validate_has_no_schema_for_the_service_monitor() -> None:
    # Why the ServiceMonitor is checked by hand below; if a later kubernetes-validate gains
    # CRD schemas, this fails and the ServiceMonitor can join the test above.
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(the("ServiceMonitor"), KUBERNETES_VERSION, strict=True)


# The Prometheus Operator's ServiceMonitor CRD (monitoring.coreos.com/v1): `spec` is required,
# and in it `selector` and `endpoints`. These are the fields of spec and of an endpoint this
# project uses or may reasonably use; anything else is most likely a typo the API server would
# reject.
SERVICE_MONITOR_SPEC_FIELDS = {
    "selector",
    "endpoints",
    "namespaceSelector",
    "jobLabel",
    "targetLabels",
    "podTargetLabels",
    "sampleLimit",
}
SERVICE_MONITOR_ENDPOINT_FIELDS = {
    "port",
    "targetPort",
    "path",
    "scheme",
    "interval",
    "scrapeTimeout",
    "honorLabels",
    "relabelings",
    "metricRelabelings",
    "authorization",
}
# the CRD's pattern of interval and scrapeTimeout
PROMETHEUS_DURATION = re.compile(
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)


def test_the_service_monitor_has_the_crds_required_fields_and_scrapes_the_workers() -> None:
    monitor = the("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
    assert monitor["metadata"]["name"]
    spec = monitor["spec"]
    assert {"selector", "endpoints"} <= set(spec) <= SERVICE_MONITOR_SPEC_FIELDS
    service = the("Service")
    assert spec["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert spec["endpoints"]
    service_ports = {port["name"] for port in service["spec"]["ports"]}
    for endpoint in spec["endpoints"]:
        assert set(endpoint) <= SERVICE_MONITOR_ENDPOINT_FIELDS
        assert endpoint["port"] in service_ports
        assert endpoint["path"] == "/metrics"
        for duration in ("interval", "scrapeTimeout"):
            assert PROMETHEUS_DURATION.match(endpoint.get(duration, "")), duration


# --- Kubernetes: what the manifests say to each other and to the code ----------------------


def test_the_statefulset_is_governed_by_the_headless_service_that_selects_its_pods() -> None:
    statefulset, service = the("StatefulSet"), the("Service")
    pod_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert statefulset["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert the("PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= (
        pod_labels.items()
    )
    [port] = service["spec"]["ports"]
    assert port["targetPort"] in {p["name"] for p in worker_container()["ports"]}


def test_probes_hit_livez_and_readyz_on_the_containers_web_port() -> None:
    container = worker_container()
    [port] = container["ports"]
    assert port["containerPort"] == int(env_value("STREAMPROC_WEB_PORT"))
    assert env_value("STREAMPROC_WEB_HOST") == "0.0.0.0"
    paths = {}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        http = container[probe]["httpGet"]
        assert http["port"] in (port["name"], port["containerPort"]), probe
        paths[probe] = http["path"]
    assert paths == {
        "livenessProbe": "/livez",
        "readinessProbe": "/readyz",
        # liveness starts once the worker first recovered its tables and became ready
        "startupProbe": "/readyz",
    }


def test_the_startup_probe_and_the_grace_period_leave_time_for_recovery_and_a_clean_stop() -> None:
    startup = worker_container()["startupProbe"]
    # an empty volume: the whole changelog share, about 16 s per 100,000 leads (README)
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 15 * 60
    liveness = worker_container()["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 60
    # a clean stop: the batch in hand, its acknowledgements, a commit, RocksDB's flush
    assert pod_spec()["terminationGracePeriodSeconds"] >= 60


def test_the_pod_advertises_its_own_ip_from_the_downward_api() -> None:
    [advertised] = [
        e for e in worker_container()["env"] if e["name"] == "STREAMPROC_WEB_ADVERTISED_HOST"
    ]
    assert advertised["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}


def streamproc_variables_in_kubernetes() -> dict[str, str]:
    """Every STREAMPROC_* variable the pod gets, with a placeholder for the valueFrom ones."""
    variables: dict[str, str] = {}
    for source in worker_container().get("envFrom", []):
        data = the("ConfigMap", source["configMapRef"]["name"])["data"]
        variables.update(data)
    for entry in worker_container()["env"]:
        variables[entry["name"]] = entry.get("value", "from-a-reference")
    return variables


def compose_variables() -> dict[str, str]:
    """The worker's variables in docker-compose.yml, `${NAME:-default}` as its default."""
    environment = compose()["services"]["worker"]["environment"]
    return {
        name: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))
        for name, value in environment.items()
    }


def dockerfile_variables() -> dict[str, str]:
    return dict(re.findall(r"(STREAMPROC_[A-Z_]+)=(\S+)", DOCKERFILE.read_text()))


@pytest.mark.parametrize(
    "variables",
    [streamproc_variables_in_kubernetes, compose_variables, dockerfile_variables],
    ids=["kubernetes", "compose", "dockerfile"],
)
def test_every_streamproc_variable_set_is_a_real_setting_with_a_valid_value(
    variables: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = variables()
    assert set(environment) <= SETTING_NAMES, set(environment) - SETTING_NAMES
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    Settings()  # every value parses as its setting


def test_the_pod_settings_point_at_its_volumes(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    for name, value in streamproc_variables_in_kubernetes().items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.store == "rocksdb://"
    [claim] = the("StatefulSet")["spec"]["volumeClaimTemplates"]
    assert settings.data_dir == mount_path(claim["metadata"]["name"])
    # the definition: a key of the ConfigMap mounted as a folder
    [definition_volume] = [v for v in pod_spec()["volumes"] if "configMap" in v]
    configmap = the("ConfigMap", definition_volume["configMap"]["name"])
    assert Path(settings.definition).parent == mount_path(definition_volume["name"])
    assert Path(settings.definition).name in configmap["data"]
    # the CA: the one item of the Secret mounted as a folder
    [secret_volume] = [v for v in pod_spec()["volumes"] if "secret" in v]
    [item] = secret_volume["secret"]["items"]
    assert settings.ssl_cafile == mount_path(secret_volume["name"]) / item["path"]
    assert settings.security_protocol == "SASL_SSL"


def test_every_secret_reference_names_a_key_of_the_secret() -> None:
    secret = the("Secret")
    keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))
    references = [
        e["valueFrom"]["secretKeyRef"]
        for e in worker_container()["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    ]
    assert {r["name"] for r in references} == {secret["metadata"]["name"]}
    assert {r["key"] for r in references} <= keys
    names = {e["name"] for e in worker_container()["env"] if "valueFrom" in e}
    assert {"STREAMPROC_SASL_USERNAME", "STREAMPROC_SASL_PASSWORD"} <= names
    [volume] = [v for v in pod_spec()["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    assert {item["key"] for item in volume["secret"]["items"]} <= keys


def test_the_configmaps_definition_loads(tmp_path: Path) -> None:
    [text] = the("ConfigMap", "streamproc-definition")["data"].values()
    path = tmp_path / "definition.yaml"
    path.write_text(text)
    definition = load_definition(str(path))
    assert definition.label == "example-co@1"


def test_the_pod_runs_as_the_images_non_root_user_and_owns_its_volume() -> None:
    uid, gid = dockerfile_user()
    assert uid != 0
    security = pod_spec()["securityContext"]
    assert security["runAsNonRoot"] is True
    assert (security["runAsUser"], security["runAsGroup"], security["fsGroup"]) == (uid, gid, gid)
    container_security = worker_container()["securityContext"]
    assert container_security["allowPrivilegeEscalation"] is False
    assert container_security["capabilities"]["drop"] == ["ALL"]
    assert pod_spec()["enableServiceLinks"] is False


def test_the_image_reports_healthy_only_when_ready() -> None:
    [healthcheck] = re.findall(r"^HEALTHCHECK .*?(?<!\\)$", DOCKERFILE.read_text(), re.M | re.S)
    assert "/readyz" in healthcheck


def test_resources_are_requested_and_limited() -> None:
    resources = worker_container()["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "memory" in resources["limits"]
