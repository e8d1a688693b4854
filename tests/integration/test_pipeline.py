"""End to end through a real broker: inputs produced with a plain Kafka client, outputs read
from the output topics of a running `streamproc worker` on the Acme definition."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streamproc.domain.events import InputEvent
from streamproc.kafka_client import client_options
from streamproc.streaming.lead_store import CHANGELOG_CONFIGS
from streamproc.worker_process import WorkerProcess
from tests.builders import at, good_fit, visit
from tests.integration.kafka_io import (
    OutputCollector,
    new_lead,
    produce,
    send_events,
    wait_until_processed,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


async def send(worker: WorkerProcess, *events: InputEvent) -> None:
    await send_events(worker.settings, *events)


async def test_the_acme_example_crosses_with_its_score_breakdown(
    acme_worker: WorkerProcess, outputs: OutputCollector
) -> None:
    lead = new_lead()
    second_view = visit(lead, at(3))
    await send(acme_worker, good_fit(lead, at()), visit(lead, at(1)), second_view)
    await outputs.wait_for(lambda: len(outputs.of(lead, "lead-stage-changes")) == 2)
    [crossed] = outputs.of(lead, "mql-crossed")
    assert crossed["score"] == {"fit": 60.0, "intent": 10.0, "total": 70.0}
    assert crossed["threshold"] == 60.0 and crossed["definition"] == "acme@1"
    assert crossed["gates_met"] == ["fit>=60", "pricing_page_view>=2"]
    assert crossed["trigger_event_id"] == second_view.event_id
    assert crossed["occurred_at"] == "2026-03-05T09:00:00Z"
    assert {c["rule"] for c in crossed["contributions"]} == {
        "employees_50_to_500",
        "saas_or_tech",
        "vp_or_above",
        "pricing_page_twice",
    }
    changes = outputs.of(lead, "lead-stage-changes")
    assert [(c["from_stage"], c["to_stage"]) for c in changes] == [
        ("visitor", "lead"),
        ("lead", "mql"),
    ]
    assert changes[1]["cause_event_id"] == second_view.event_id


@pytest.mark.parametrize(("gap_hours", "crosses"), [(6 * 24 + 23, True), (7 * 24 + 1, False)])
async def test_window_edges(
    acme_worker: WorkerProcess, outputs: OutputCollector, gap_hours: int, crosses: bool
) -> None:
    lead = new_lead()
    await send(
        acme_worker, good_fit(lead, at()), visit(lead, at(1)), visit(lead, at(1, hours=gap_hours))
    )
    await wait_until_processed(acme_worker.settings)
    assert len(outputs.of(lead, "mql-crossed")) == int(crosses)


async def test_duplicates_are_counted_once(
    acme_worker: WorkerProcess, outputs: OutputCollector
) -> None:
    lead = new_lead()
    view = visit(lead, at(1))
    await send(acme_worker, good_fit(lead, at()), view, view, view)
    await wait_until_processed(acme_worker.settings)
    assert outputs.of(lead, "mql-crossed") == []
    # A retry after the crossing publishes nothing new either.
    second = visit(lead, at(2))
    await send(acme_worker, second, second, view)
    await wait_until_processed(acme_worker.settings)
    assert len(outputs.of(lead, "mql-crossed")) == 1
    assert len(outputs.of(lead, "lead-stage-changes")) == 2


async def test_out_of_order_events_cross_at_the_event_time_of_the_history(
    acme_worker: WorkerProcess, outputs: OutputCollector
) -> None:
    lead = new_lead()
    late, profile = visit(lead, at(2)), good_fit(lead, at())
    await send(acme_worker, visit(lead, at(20)), visit(lead, at(3)), profile, late)
    await outputs.wait_for(lambda: len(outputs.of(lead, "mql-crossed")) == 1)
    [crossed] = outputs.of(lead, "mql-crossed")
    # The pair of views on days 2 and 3 is what qualifies, whatever the arrival order, so the
    # crossing is at day 3 in event time. Which input triggered it depends on whether the
    # worker read the profile (its own topic) before or after the late view.
    assert crossed["occurred_at"] == "2026-03-05T09:00:00Z"
    assert crossed["trigger_event_id"] in {late.event_id, profile.event_id}


VALID_VISIT = {
    "event_id": "x",
    "lead_id": "K",
    "occurred_at": "2026-03-02T09:00:00+01:00",
    "url": "/pricing",
}


@pytest.mark.parametrize(
    ("topic", "value", "error"),
    [
        ("page-visits", b"{not json", "the value on page-visits is not valid JSON"),
        (
            "page-visits",
            orjson.dumps({k: v for k, v in VALID_VISIT.items() if k != "url"}),
            "is not a valid PageVisited: url: field required",
        ),
        (
            "downloads",
            orjson.dumps({**VALID_VISIT, "funnel_stage": "sideways", "asset_id": "a"}),
            "funnel_stage: input should be 'top', 'middle' or 'bottom'",
        ),
        (
            "lead-profiles",
            orjson.dumps({**VALID_VISIT, "lead_id": "someone-else"}),
            "differs from lead_id 'someone-else'",
        ),
        (
            "sales-actions",
            orjson.dumps({**VALID_VISIT, "action": "close_won"}),
            "action close_won is not allowed for a lead in stage visitor",
        ),
    ],
)
async def test_bad_input_goes_to_dead_letters_and_the_worker_keeps_going(
    acme_worker: WorkerProcess, outputs: OutputCollector, topic: str, value: bytes, error: str
) -> None:
    key = new_lead()
    value = value.replace(b'"K"', f'"{key}"'.encode())
    follow_up = good_fit(key, at())
    await produce(acme_worker.settings, [(topic, key.encode(), value)])
    await send(acme_worker, follow_up)
    await outputs.wait_for(lambda: len(outputs.of(key, "lead-stage-changes")) == 1)
    # A sales action the stage does not allow first waits STREAMPROC_ACTION_GRACE seconds.
    await outputs.wait_for(lambda: len(outputs.of(key, "dead-letters")) == 1, timeout=30)
    [letter] = outputs.of(key, "dead-letters")
    assert letter["topic"] == acme_worker.settings.topic(topic)
    assert letter["value"] == value.decode()
    assert letter["key"] == key
    assert error in letter["error"]
    assert isinstance(letter["partition"], int) and isinstance(letter["offset"], int)
    assert acme_worker.process.poll() is None


async def test_the_worker_explains_a_lead_over_http(
    acme_worker: WorkerProcess, outputs: OutputCollector
) -> None:
    lead = new_lead()
    await send(acme_worker, good_fit(lead, at()), visit(lead, at(1)), visit(lead, at(2)))
    await outputs.wait_for(lambda: len(outputs.of(lead, "mql-crossed")) == 1)
    url = f"http://127.0.0.1:{acme_worker.settings.web_port}/leads/"
    status, body = await asyncio.to_thread(http_get, url + lead + "/")
    described = orjson.loads(body)
    assert status == 200
    assert (described["stage"], described["crossings"], described["qualifies"]) == ("mql", 1, True)
    assert described["score"]["total"] == 70.0 and described["definition"] == "acme@1"
    assert (await asyncio.to_thread(http_get, url + "nobody/"))[0] == 404


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


async def test_the_tables_changelogs_close_segments_the_cleaner_can_compact(
    acme_worker: WorkerProcess,
) -> None:
    # Kafka compacts closed segments only: with its default 1 GB segments a worker starting
    # without its store read about 11 changelog records per lead (`CHANGELOG_CONFIGS`).
    settings = acme_worker.settings
    changelogs = [
        f"{settings.topic(settings.app_id)}-{table}-changelog"
        for table in ("lead-states", "queue-rotations", "sla-deadlines")
    ]
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in changelogs]
        )
    finally:
        await admin.close()
    found = {
        resource[3]: {entry[0]: entry[1] for entry in resource[4]}
        for response in responses
        for resource in response.resources
    }
    for name in changelogs:
        assert found[name]["cleanup.policy"] == "compact", name
        for key, value in CHANGELOG_CONFIGS.items():
            assert found[name][key] == value, (name, key)
