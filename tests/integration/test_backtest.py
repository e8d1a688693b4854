"""A backtest is a replay: on the same history it gives what the worker published."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from streamproc.backtest.cli import backtest
from streamproc.backtest.engine import replay
from streamproc.backtest.kafka_source import read_topics
from streamproc.backtest.result import ReplayResult
from streamproc.definitions import load_definition
from streamproc.settings import Settings
from streamproc.streaming.codec import encode
from streamproc.streaming.topics import ensure_topics
from tests.integration.conftest import recent_history, start_worker, worker_settings
from tests.integration.kafka_io import (
    OutputCollector,
    produce,
    produce_backlog,
    wait_until_processed,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def replay_topics(settings: Settings) -> ReplayResult:
    events, _ = read_topics(settings)  # drives its own event loop: not from inside this one
    return replay(events, load_definition("default"), settings.partitions)


async def test_the_backtest_of_a_history_gives_the_workers_crossings_and_breaches(
    kafka: str, tmp_path: Path
) -> None:
    settings = worker_settings(kafka, tmp_path, "default")
    history = recent_history(leads=80, seed=11)
    collector = OutputCollector(settings)
    await collector.start()
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        await produce(settings, [(topic, e.lead_id.encode(), encode(e)) for topic, e in history])
        await wait_until_processed(settings, timeout=120)
        await asyncio.sleep(5)  # idle partitions: the timer ticks what the history passed
    finally:
        worker.stop()
        await collector.stop()
    published = {
        topic: sorted(
            v["event_id"]
            for records in collector.by_key.values()
            for name, v in records
            if name == topic
        )
        for topic in ("mql-crossed", "sla-breaches")
    }
    result = await asyncio.to_thread(replay_topics, settings)
    assert published["mql-crossed"], "the history should make some MQLs"
    assert sorted(c.event.event_id for c in result.crossings) == published["mql-crossed"]
    history_end = max(e.occurred_at for _, e in history)
    breached_in_history = sorted(
        b["event_id"]
        for records in collector.by_key.values()
        for name, b in records
        if name == "sla-breaches" and datetime.fromisoformat(b["deadline"]) < history_end
    )
    assert breached_in_history, "the history should leave some MQL unreviewed"
    assert sorted(b.event_id for b in result.breaches) == breached_in_history

    jsonl = tmp_path / "history.jsonl"
    jsonl.write_bytes(
        b"".join(
            orjson.dumps({"topic": t, "event": e.model_dump(mode="json")}) + b"\n"
            for t, e in history
        )
    )
    out = tmp_path / "figures.json"
    ran = CliRunner().invoke(
        backtest, ["--definition", "default", "--events", str(jsonl), "--json", str(out)]
    )
    assert ran.exit_code == 0, ran.output
    assert "MQL rate" in ran.output
    assert orjson.loads(out.read_bytes())


async def test_a_backlog_read_at_start_gives_the_backtests_crossings_field_for_field(
    kafka: str, tmp_path: Path
) -> None:
    """A worker that starts behind a history reads its topics in step, in the order the events
    were sent, not one topic after another: its crossings (which, when, with what score and
    why) are exactly the replay's. Read topic by topic, sales actions came before the visits
    that made the stages they act on, waited past their grace and were refused: the worker
    published other crossings than the replay.

    All but `trigger_event_id`: it names the event whose reading made the crossing, and the
    replay reads in event time, the worker in the order sent, which a few late events change.
    """
    settings = worker_settings(kafka, tmp_path, "default")
    # Enough page visits (about 5,000 a partition) that one partition fills a whole batch.
    history = recent_history(leads=800, seed=5)
    await ensure_topics(settings)
    await produce_backlog(settings, [(t, e.lead_id.encode(), encode(e)) for t, e in history])
    collector = OutputCollector(settings)
    await collector.start()
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        await wait_until_processed(settings, timeout=120)
        await asyncio.sleep(2)  # outputs of the last batch reach the collector
    finally:
        worker.stop()
        await collector.stop()
    published = {
        value["event_id"]: value
        for records in collector.by_key.values()
        for name, value in records
        if name == "mql-crossed"
    }
    result = await asyncio.to_thread(replay_topics, settings)
    replayed = {c.event.event_id: orjson.loads(encode(c.event)) for c in result.crossings}
    for crossing in (*published.values(), *replayed.values()):
        del crossing["trigger_event_id"]
    assert len(replayed) > 5, "the history should make MQLs"
    assert published.keys() == replayed.keys()
    differing = {
        event_id: {
            field: (value, replayed[event_id][field])
            for field, value in crossing.items()
            if value != replayed[event_id][field]
        }
        for event_id, crossing in published.items()
        if crossing != replayed[event_id]
    }
    assert not differing, "published (worker, replay) differ"
