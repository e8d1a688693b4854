"""Operating a real worker: metrics, health, Faust's debug views off, the token, forwarding a
lead to the worker that owns it, readiness across a table recovery, JSON logs."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from streamproc.bench.kafka_ops import create_topics, produce_bulk
from streamproc.bench.memory import PLACEHOLDER, state_template
from streamproc.streaming.metrics import METRIC_NAMES
from streamproc.streaming.topics import INPUT_TOPICS, partition_for
from streamproc.worker_process import WorkerProcess
from tests.builders import at, good_fit, visit
from tests.integration.conftest import (
    WORKER_LOGS,
    free_ports,
    personal_data_in,
    two_workers,
    worker_settings,
)
from tests.integration.kafka_io import (
    OutputCollector,
    new_lead,
    produce,
    send_events,
    wait_until_processed,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


async def fetch(worker: WorkerProcess, path: str, token: str | None = None) -> tuple[int, bytes]:
    return await asyncio.to_thread(get, f"http://127.0.0.1:{worker.settings.web_port}{path}", token)


async def scrape(worker: WorkerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body = await fetch(worker, "/metrics")
    assert status == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


async def test_metrics_count_what_a_real_worker_applied_and_published(
    acme_worker: WorkerProcess, outputs: OutputCollector
) -> None:
    before = await scrape(acme_worker)
    lead = new_lead()
    await send_events(
        acme_worker.settings, good_fit(lead, at()), visit(lead, at(1)), visit(lead, at(2))
    )
    await produce(acme_worker.settings, [("page-visits", lead.encode(), b"{not json")])
    await outputs.wait_for(lambda: len(outputs.of(lead, "mql-crossed")) == 1)
    await outputs.wait_for(lambda: len(outputs.of(lead, "dead-letters")) == 1)
    await wait_until_processed(acme_worker.settings)
    after = await scrape(acme_worker)

    def moved(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    _, exposition = await fetch(acme_worker, "/metrics")
    for name in METRIC_NAMES:
        assert f"# TYPE {name.removesuffix('_total')}" in exposition.decode(), name
    assert moved("streamproc_events_in_total", topic="page-visits") == 3
    assert moved("streamproc_events_in_total", topic="lead-profiles") == 1
    assert moved("streamproc_mql_crossings_total", definition="acme@1") == len(
        outputs.of(lead, "mql-crossed")
    )
    assert moved("streamproc_events_out_total", topic="mql-crossed") == 1
    assert moved("streamproc_events_out_total", topic="lead-stage-changes") == 2
    assert moved("streamproc_dead_letters_total", topic="page-visits") == 1
    assert moved("streamproc_event_latency_seconds_count") >= 3  # 2 stage changes, 1 letter
    assert moved("streamproc_batch_seconds_count") >= 1
    assert after[("streamproc_ready", ())] == 1
    assert after[("streamproc_leads", ())] >= 1
    lags = [v for (name, _), v in after.items() if name == "streamproc_consumer_lag_records"]
    assert len(lags) == len(INPUT_TOPICS) * acme_worker.settings.partitions
    assert all(lag == 0 for lag in lags)


async def test_health_is_open_and_faust_debug_views_are_off(acme_worker: WorkerProcess) -> None:
    assert await fetch(acme_worker, "/livez") == (200, b"alive\n")
    assert await fetch(acme_worker, "/readyz") == (200, b"ready\n")
    for path in ("/table/", "/router/", "/table/lead-states/", "/router/lead-states/"):
        assert (await fetch(acme_worker, path))[0] == 404, path


TOKEN = "t0ken-for-tests"


async def test_a_worker_forwards_a_lead_to_its_owner_and_the_token_guards_lead_data(
    kafka: str, tmp_path: Path
) -> None:
    # A: loopback, with a token, JSON logs. B: every address, advertised as loopback, no
    # token: it warns at start that lead data is exposed.
    first = worker_settings(kafka, tmp_path / "a", "acme").model_copy(
        update={"web_token": SecretStr(TOKEN), "log_format": "json"}
    )
    second = first.model_copy(
        update={
            "data_dir": tmp_path / "b",
            "web_port": free_ports(1)[0],
            "web_host": "0.0.0.0",
            "web_advertised_host": "127.0.0.1",
            "web_token": None,
            "log_format": "text",
        }
    )
    with two_workers(first, second, tmp_path) as (a, b):
        await _forwarding(a, b)
    warning = "lead data (/leads/, /ingest/) is exposed"
    assert warning in (tmp_path / "b.log").read_text()
    a_log = (tmp_path / "a.log").read_text()
    assert warning not in a_log
    entries = [orjson.loads(line) for line in a_log.splitlines() if line.strip()]
    assert entries and all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    assert any(e["logger"].startswith("faust") for e in entries)


async def _forwarding(a: WorkerProcess, b: WorkerProcess) -> None:
    # Produced once B owns its partitions: only B ever applied them, so A can answer for
    # them only by forwarding.
    owned_by_b = await partitions_read(b)
    leads = [new_lead() for _ in range(12)]
    await send_events(a.settings, *(good_fit(lead, at()) for lead in leads))
    await wait_until_processed(a.settings)
    [lead, *_] = [
        x for x in leads if partition_for(x.encode(), a.settings.partitions) in owned_by_b
    ]
    assert (await fetch(a, f"/leads/{lead}/"))[0] == 401
    assert (await fetch(a, "/ingest/", "wrong"))[0] == 401
    status, body = await fetch(a, f"/leads/{lead}/", TOKEN)
    assert status == 200 and orjson.loads(body)["lead_id"] == lead
    assert (await fetch(b, f"/leads/{lead}/"))[0] == 200
    for path in ("/metrics", "/livez", "/readyz"):
        assert (await fetch(a, path))[0] == 200, path


async def partitions_read(worker: WorkerProcess, timeout: float = 60) -> set[int]:
    """The partitions `worker` reads, once both workers share the topics and are ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = (await fetch(worker, "/readyz"))[0] == 200
        status, body = await fetch(worker, "/ingest/")
        read = {row["partition"] for row in orjson.loads(body)["partitions"]}
        if ready and status == 200 and 0 < len(read) < worker.settings.partitions:
            return read
        await asyncio.sleep(0.5)
    raise AssertionError(f"the workers did not share the partitions within {timeout:.0f} s")


RECOVERED_LEADS = 60_000
"""Enough lead states that reading them back takes the worker several seconds."""


async def test_readyz_says_recovering_until_the_tables_are_back(kafka: str, tmp_path: Path) -> None:
    settings = worker_settings(kafka, tmp_path, "acme")
    changelog = f"{settings.topic(settings.app_id)}-lead-states-changelog"
    await create_topics(settings, [changelog], settings.partitions, {"cleanup.policy": "compact"})
    template = state_template(settings.definition)
    states = (
        (changelog, key, template.replace(PLACEHOLDER.encode(), key))
        for key in (f"rec-{i:06d}".encode() for i in range(RECOVERED_LEADS))
    )
    await produce_bulk(settings, states, settings.partitions)
    for start in ("first", "restart"):
        worker = WorkerProcess(settings, tmp_path / f"worker-{start}.log")
        WORKER_LOGS.append(worker.log)
        worker.start()
        try:
            answers = await _readiness_until_ready(worker)
            # Ready means recovered: every state is back at the first 200.
            metrics = (await fetch(worker, "/metrics"))[1].decode()
            assert f"\nstreamproc_leads {float(RECOVERED_LEADS)}\n" in metrics, start
        finally:
            worker.stop()
        reasons = {body for status, body in answers if status == 503}
        assert "recovering tables" in reasons, (start, reasons)
        assert answers[-1] == (200, "ready"), start
        assert all(status in (200, 503) and "\n" not in body for status, body in answers)


async def _readiness_until_ready(
    worker: WorkerProcess, timeout: float = 180
) -> list[tuple[int, str]]:
    """/readyz's answers from the worker's start until it says ready (none while it does not
    listen yet); while it says recovering, /metrics says not ready too."""
    answers: list[tuple[int, str]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.check()
        try:
            status, body = await fetch(worker, "/readyz")
        except OSError:  # not listening yet
            await asyncio.sleep(0.1)
            continue
        answers.append((status, body.decode().strip()))
        if status == 200:
            return answers
        if body.startswith(b"recovering"):
            metrics = (await fetch(worker, "/metrics"))[1].decode()
            assert "\nstreamproc_ready 0.0\n" in metrics
        await asyncio.sleep(0.1)
    raise AssertionError(f"not ready after {timeout:.0f} s: {answers[-3:]}")


def test_the_log_scan_finds_an_email_and_a_raw_value(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text(
        "[^Worker]: Ready\n"
        "looked at vp@fit.test\n"
        'value {"event_id": "e1", "url": "/pricing"}\n'
        "ingest reads partitions [0, 1]\n"
    )
    assert len(personal_data_in(log)) == 2
