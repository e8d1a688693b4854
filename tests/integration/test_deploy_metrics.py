"""The Grafana dashboard and the Prometheus rules in deploy/ ask for series a real worker
serves: every metric name they use appears in a running worker's /metrics."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request

import pytest

from streamproc.worker_process import WorkerProcess
from tests.unit.test_deploy import (
    HISTOGRAM_SUFFIXES,
    PROMETHEUS_OWN,
    metric_names_used,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def scrape(worker: WorkerProcess) -> str:
    url = f"http://127.0.0.1:{worker.settings.web_port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            text: str = response.read().decode()
            return text
    except urllib.error.HTTPError as error:
        pytest.fail(f"GET {url} answered {error.code} {error.reason}")


def served_names(exposition: str) -> set[str]:
    """Names with samples, and names declared by `# TYPE` (a labelled counter has no sample
    until its first increment); a declared histogram serves its _bucket, _sum and _count."""
    names = set(re.findall(r"^([A-Za-z_:][A-Za-z0-9_:]*)[{ ]", exposition, re.MULTILINE))
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", exposition, re.MULTILINE):
        names.add(name)
        if kind == "histogram":
            names.update(f"{name}{suffix}" for suffix in HISTOGRAM_SUFFIXES)
        if kind == "counter" and not name.endswith("_total"):
            names.add(f"{name}_total")  # OpenMetrics declares a counter without _total
    return names


def test_every_metric_the_dashboard_and_the_rules_use_is_served(
    acme_worker: WorkerProcess,
) -> None:
    served = served_names(scrape(acme_worker))
    missing = metric_names_used() - PROMETHEUS_OWN - served
    assert not missing, f"used by deploy/grafana or deploy/prometheus, not served: {missing}"


def test_a_ready_worker_says_so_in_its_metrics(acme_worker: WorkerProcess) -> None:
    # streamproc_ready is 1 once the worker holds partitions and recovered its tables
    deadline = time.monotonic() + 30
    while True:
        values = re.findall(r"^streamproc_ready(?:\{[^}]*\})? (\S+)$", scrape(acme_worker), re.M)
        if values and all(float(value) == 1 for value in values):
            return
        assert time.monotonic() < deadline, f"streamproc_ready is {values}"
        time.sleep(0.5)
