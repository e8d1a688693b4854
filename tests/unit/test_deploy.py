"""deploy/ and docker-compose.yml: what a platform engineer applies is valid and agrees with
the code (settings, web paths, the image's user) and with DESIGN.md's metric names.

No cluster and no Docker here: Kubernetes manifests are checked against the Kubernetes API's
schema with kubernetes-validate, the ServiceMonitor (a CRD, which kubernetes-validate has no
schema for) against the required fields of the Prometheus Operator's CRD, the compose file by
its shape."""

from __future__ import annotations

import json
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
    "streamproc_misrouted_events_total",
    "streamproc_split_lead_events_total",
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
        "startupProbe": "/livez",
    }


def test_a_recovering_worker_is_never_restarted_and_a_stopping_one_has_time_to_commit() -> None:
    # recovery of an empty volume reads the whole changelog share, about 16 s per 100,000
    # leads: only readiness may follow it, never what restarts the pod
    for probe in ("startupProbe", "livenessProbe"):
        assert worker_container()[probe]["httpGet"]["path"] == "/livez"
    liveness = worker_container()["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 60
    # a clean stop: the batch in hand, its acknowledgements, a commit, RocksDB's flush
    assert pod_spec()["terminationGracePeriodSeconds"] >= 60
    assert compose()["services"]["worker"]["stop_grace_period"] == "60s"


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


# --- Grafana and Prometheus: metric names ---------------------------------------------------

_PROMQL_STRINGS = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`]*`")
_PROMQL_LABEL_LISTS = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)
_PROMQL_TOKENS = re.compile(r"\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|[A-Za-z_:][A-Za-z0-9_:]*")
_PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "by", "without"}


def promql_metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (a small PromQL reader: enough for ours)."""
    text = _PROMQL_STRINGS.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries' steps
    text = _PROMQL_LABEL_LISTS.sub("", text)
    text = re.sub(r"\boffset\s+-?\w+", "", text, flags=re.IGNORECASE)
    names = set()
    for token in _PROMQL_TOKENS.finditer(text):
        word = token.group()
        if word[0].isdigit() or word.lower() in _PROMQL_WORDS:
            continue
        if text[token.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        names.add(word)
    return names


def test_the_promql_reader_finds_metrics_and_nothing_else() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket{job="x"}[$__rate_interval])))'
        " > 2 * (sum(increase(b_total[1h] offset 1w)) or 0 * c) + 1e3"
        " and on (topic) d unless sum(e) without (instance)"
    )
    assert promql_metric_names(expr) == {"a_seconds_bucket", "b_total", "c", "d", "e"}


def contract_name(name: str) -> str | None:
    """The contract's name a series name belongs to, or None."""
    if name in CONTRACT_COUNTERS | CONTRACT_GAUGES:
        return name
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in CONTRACT_HISTOGRAMS:
            return name.removesuffix(suffix)
    return None


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def metric_names_used() -> set[str]:
    """Every series name the dashboard and the alert rules select."""
    expressions = dashboard_expressions() + [rule["expr"] for rule in alert_rules()]
    return set().union(*(promql_metric_names(expr) for expr in expressions))


def test_every_metric_the_dashboard_and_the_rules_use_is_in_the_contract() -> None:
    unknown = {name for name in metric_names_used() - PROMETHEUS_OWN if contract_name(name) is None}
    assert not unknown, f"not metric names of DESIGN.md: {unknown}"


def test_the_dashboard_shows_throughput_lag_latency_mqls_slas_dead_letters_readiness() -> None:
    expressions = dashboard_expressions()

    def used(fragment: str) -> bool:
        return any(fragment in expr for expr in expressions)

    assert used("rate(streamproc_events_in_total[")
    assert used("rate(streamproc_events_out_total[")
    assert used("streamproc_consumer_lag_records")
    for quantile in ("0.5", "0.95", "0.99"):
        assert used(f"histogram_quantile({quantile}, sum by (le) (rate(streamproc_event_latency")
    for name in CONTRACT_COUNTERS | CONTRACT_GAUGES | CONTRACT_HISTOGRAMS:
        assert used(name), name


def test_the_dashboard_is_a_grafana_dashboard_on_a_chosen_prometheus() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "streamproc"
    [variable] = dashboard["templating"]["list"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["targets"] and all(target["expr"] for target in panel["targets"])


def test_the_alert_rules_cover_slas_lag_dead_letters_and_readiness() -> None:
    rules = alert_rules()
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}
        assert rule["annotations"]["summary"]
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "0s"))
    watched = {contract_name(name) for rule in rules for name in promql_metric_names(rule["expr"])}
    assert {
        "streamproc_sla_breaches_total",
        "streamproc_consumer_lag_records",
        "streamproc_dead_letters_total",
        "streamproc_ready",
        "streamproc_misrouted_events_total",
        "streamproc_split_lead_events_total",
    } <= watched
    assert len({rule["alert"] for rule in rules}) == len(rules)


def test_the_compose_prometheus_scrapes_the_worker_and_loads_the_rules() -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    prometheus = compose()["services"]["prometheus"]
    mounts = dict(volume.split(":")[:2] for volume in prometheus["volumes"])
    assert mounts["./deploy/prometheus/alerts.yaml"] in config["rule_files"]
    [job] = config["scrape_configs"]
    # `up{job="streamproc"}` in the rules; the ServiceMonitor's job is the Service's name
    assert job["job_name"] == the("Service")["metadata"]["name"] == "streamproc"
    assert 'up{job="streamproc"}' in ALERTS.read_text()
    assert job["metrics_path"] == "/metrics"
    [target] = job["static_configs"][0]["targets"]
    host, port = target.split(":")
    assert host in compose()["services"]
    assert compose()["services"]["worker"]["ports"] == [f"127.0.0.1:{port}:{port}"]


# --- docker-compose.yml ----------------------------------------------------------------------


def test_compose_runs_kafka_and_a_worker_by_default_and_observability_in_its_profile() -> None:
    services = compose()["services"]
    assert set(services) == {"kafka", "worker", "prometheus", "grafana"}
    for name in ("kafka", "worker"):
        assert "profiles" not in services[name]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["observability"]
    for name, service in services.items():
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"], name
    worker = services["worker"]
    assert worker["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert any("/readyz" in part for part in worker["healthcheck"]["test"])


def test_compose_keeps_kafkas_data_in_a_named_volume_and_mounts_the_definitions_folder() -> None:
    document = compose()
    kafka = document["services"]["kafka"]
    [data] = kafka["volumes"]
    volume, target = data.split(":")
    assert volume in document["volumes"]
    assert kafka["environment"]["KAFKA_LOG_DIRS"] == target
    worker = document["services"]["worker"]
    assert "./definitions:/etc/streamproc/definitions:ro" in worker["volumes"]
    assert any(v.split(":")[0] in document["volumes"] for v in worker["volumes"])


def test_every_file_compose_mounts_from_deploy_exists() -> None:
    for service in compose()["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./deploy/"):
                assert (ROOT / source).exists(), source


def test_grafana_is_provisioned_with_the_prometheus_and_the_dashboard() -> None:
    grafana = compose()["services"]["grafana"]
    targets = {target: source for source, target, *_ in (v.split(":") for v in grafana["volumes"])}
    provisioning = ROOT / targets["/etc/grafana/provisioning"]
    [datasource] = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())[
        "datasources"
    ]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    [provider] = yaml.safe_load((provisioning / "dashboards" / "streamproc.yaml").read_text())[
        "providers"
    ]
    dashboard_target = Path(provider["options"]["path"]) / DASHBOARD.name
    assert ROOT / targets[str(dashboard_target)] == ROOT / "deploy/grafana/streamproc.json"
