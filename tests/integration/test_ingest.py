"""The batched ingest loop on the real broker: workers joining, leaving and being killed
mid-stream leave exactly the state and outputs of a clean replay of the same history."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from streamproc.backtest.engine import Replay
from streamproc.backtest.sources import merged
from streamproc.definitions import load_definition
from streamproc.domain.state import LeadState
from streamproc.settings import Settings
from streamproc.streaming.codec import encode
from streamproc.worker_process import WorkerProcess
from tests.integration.conftest import free_ports, recent_history, start_worker, worker_settings
from tests.integration.kafka_io import (
    OutputCollector,
    committed_offsets,
    event_ids_published,
    latest_values,
    positions_by_event_id,
    produce,
    produce_backlog,
    wait_until_committed,
    wait_until_processed,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

PUBLISHED = ("mql-crossed", "lead-stage-changes", "lead-routing")


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
async def test_joins_leaves_and_a_kill_keep_the_state_and_outputs_of_a_clean_replay(
    kafka: str, tmp_path: Path, store: str
) -> None:
    # rocksdb:// too: Faust lets go of a store's revoked partitions before it signals the
    # rebalance, so the loop's batch in hand may still write to them.
    first = worker_settings(kafka, tmp_path / "first", "default").model_copy(
        update={"store": store}
    )
    second = first.model_copy(
        update={"data_dir": tmp_path / "second", "web_port": free_ports(1)[0]}
    )
    history = recent_history(leads=200, seed=23)
    messages = [(topic, event.lead_id.encode(), encode(event)) for topic, event in history]
    quarter = len(messages) // 4
    chunks = [messages[i * quarter : (i + 1) * quarter] for i in range(3)]
    chunks.append(messages[3 * quarter :])
    collector = OutputCollector(first)
    await collector.start()
    workers: list[WorkerProcess] = []
    try:
        workers.append(start_worker(first, tmp_path / "first-1.log"))
        await produce(first, chunks[0])
        workers.append(start_worker(second, tmp_path / "second.log"))  # joins mid-stream
        await produce(first, chunks[1])
        await wait_until_processed(first, timeout=120)
        assert await _lag(second) == 0  # what operators read, from the worker itself
        workers.pop().stop()  # leaves: the first worker takes its partitions back
        producing = asyncio.create_task(produce(first, chunks[2]))
        await asyncio.sleep(0.5)
        workers.pop().kill()  # SIGKILL while events arrive and batches are in flight
        await producing
        workers.append(start_worker(first, tmp_path / "first-2.log"))
        await produce(first, chunks[3])
        await wait_until_processed(first, timeout=120)
        await asyncio.sleep(2)  # outputs of the last batch reach the collector
    finally:
        for worker in workers:
            worker.stop()
        await collector.stop()

    revokes = [
        float(match)
        for log in tmp_path.glob("*.log")
        for match in re.findall(r"ingest stopped for a rebalance in (\d+) ms", log.read_text())
    ]
    assert len(revokes) >= 2, "the join and the leave each revoke partitions"
    assert max(revokes) < first.session_timeout * 1000 / 2, "revokes end inside the window"

    definition = load_definition("default")
    clean = Replay(definition, first.partitions)
    for event in merged([[event for _, event in history]]):
        clean.apply(event)
    stored = await latest_values(first, f"{first.topic(first.app_id)}-lead-states-changelog")
    states = {key.decode(): LeadState.model_validate_json(value) for key, value in stored.items()}
    assert states.keys() == clean.states.keys()
    for lead, state in states.items():
        expected = clean.states[lead]
        assert (state.stage, state.transitions, state.crossings) == (
            expected.stage,
            expected.transitions,
            expected.crossings,
        ), lead
        assert _applied(state) == _applied(expected), f"{lead}: an event applied twice or lost"
    result = clean.finish()
    expected_ids = {
        "mql-crossed": {crossing.event.event_id for crossing in result.crossings},
        "lead-stage-changes": {change.event_id for change in result.stage_changes},
        "lead-routing": {routing.event_id for routing in result.routings},
    }
    assert expected_ids["mql-crossed"], "the history should make some MQLs"
    for topic in PUBLISHED:
        published = {
            value["event_id"]
            for records in collector.by_key.values()
            for name, value in records
            if name == topic
        }
        assert published == expected_ids[topic], topic


async def test_a_clean_stop_mid_stream_commits_what_it_applied_and_nothing_is_published_twice(
    kafka: str, tmp_path: Path
) -> None:
    # A stopping worker finishes the batch in hand and commits it: its successor reads on
    # from there, rather than applying (and de-duplicating) the last second again, and no
    # output of a batch cut short is published a second time.
    settings = worker_settings(kafka, tmp_path, "default")
    history = recent_history(leads=2500, seed=29)
    await produce_backlog(
        settings, [(topic, event.lead_id.encode(), encode(event)) for topic, event in history]
    )
    worker = start_worker(settings, tmp_path / "worker-1.log")
    try:
        await wait_until_committed(settings, len(history) // 4, timeout=120)
        worker.stop()  # SIGTERM while batches are read, applied and made durable
    finally:
        worker.stop()
    assert worker.process is not None and worker.process.returncode == 0, "not killed"
    assert "ingest stopped for the worker's stop" in worker.log.read_text()

    committed = await committed_offsets(settings)
    assert sum(committed.values()) < len(history), "stopped mid-stream, as the test means to"
    where = await positions_by_event_id(settings)
    changelog = f"{settings.topic(settings.app_id)}-lead-states-changelog"
    stored = await latest_values(settings, changelog)
    assert len(stored) > 100, "the worker stored states before it stopped"
    beyond = [
        (event_id, where[event_id])
        for value in stored.values()
        for event_id in _event_ids(LeadState.model_validate_json(value))
        if where[event_id][1] >= committed.get(where[event_id][0], 0)
    ]
    assert not beyond, f"applied but not committed at the stop: {beyond[:5]} (of {len(beyond)})"

    worker = start_worker(settings, tmp_path / "worker-2.log")
    try:
        await wait_until_processed(settings, timeout=120)
    finally:
        worker.stop()
    for topic in PUBLISHED:
        published = Counter(await event_ids_published(settings, topic))
        assert published, topic
        assert [event_id for event_id, times in published.items() if times > 1] == [], topic


def _event_ids(state: LeadState) -> set[str]:
    """The ids of the events a state remembers: its newest hits, its sales actions and
    those waiting for a stage that allows them."""
    return (
        {event_id for hits in state.hits.values() for _, event_id in hits}
        | set(state.action_ids)
        | {parked.action.event_id for parked in state.parked}
    )


def _applied(state: LeadState) -> tuple[int, int, int]:
    """How many events the state holds: kept behaviour hits, sales actions, profile fields."""
    return (
        sum(len(hits) for hits in state.hits.values()),
        len(state.action_ids),
        len(state.profile),
    )


async def _lag(settings: Settings) -> int:
    url = f"http://127.0.0.1:{settings.web_port}/ingest/"
    async with aiohttp.ClientSession() as session, session.get(url) as answer:
        answer.raise_for_status()
        body = await answer.json()
    assert body["partitions"], "a worker in the group reads some partitions"
    return int(body["total_lag"])
