"""Erasure on the real broker: `streamproc erase` forgets a lead with an owed SLA and a waiting
action; its changelog records end in tombstones, nothing breaches, and a worker recovering
from the changelog does not bring it back."""

from __future__ import annotations

import asyncio
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from streamproc.bench.kafka_ops import read_to_end
from streamproc.settings import Settings
from streamproc.worker_process import WorkerProcess
from tests.builders import action, good_fit, visit
from tests.integration.conftest import STREAMPROC, start_worker, worker_settings
from tests.integration.kafka_io import OutputCollector, new_lead, send_events, wait_until_processed
from tests.integration.test_pipeline import http_get

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

DUE_IN_S = 15
"""The lead's review falls due this long after the test starts."""


def erase(settings: Settings, lead: str, log: Path) -> subprocess.CompletedProcess[str]:
    """`streamproc erase LEAD` with the worker's settings in the environment."""
    return subprocess.run(
        [str(STREAMPROC), "erase", lead, "--requested-by", "privacy-desk"],
        capture_output=True,
        text=True,
        env=WorkerProcess(settings, log).environment(),
        timeout=60,
        check=False,
    )


async def changelog_of(settings: Settings, table: str, key: bytes) -> list[bytes | None]:
    """Every value `table`'s changelog holds for `key`, oldest first (None: a tombstone)."""
    topic = f"{settings.topic(settings.app_id)}-{table}-changelog"
    partitions = [TopicPartition(topic, p) for p in range(settings.partitions)]
    return [r.value for r in await read_to_end(settings, partitions) if r.key == key]


async def lead_view(settings: Settings, lead: str) -> int:
    url = f"http://127.0.0.1:{settings.web_port}/leads/{lead}/"
    status, _ = await asyncio.to_thread(http_get, url)
    return status


async def test_an_erased_lead_is_gone_from_the_tables_the_changelogs_and_a_restarted_worker(
    kafka: str, tmp_path: Path
) -> None:
    # A waiting action must still wait when the erasure comes: a long grace.
    settings = worker_settings(kafka, tmp_path, "acme").model_copy(update={"action_grace": 300})
    lead = new_lead()
    key = lead.encode()
    now = datetime.now(UTC).replace(microsecond=0)
    crossed_at = now - timedelta(hours=24) + timedelta(seconds=DUE_IN_S)
    due = time.monotonic() + DUE_IN_S
    collector = OutputCollector(settings)
    await collector.start()
    worker = start_worker(settings, tmp_path / "worker-1.log")
    try:
        await send_events(
            settings,
            good_fit(lead, crossed_at - timedelta(hours=2)),
            visit(lead, crossed_at - timedelta(hours=1)),
            visit(lead, crossed_at),  # MQL: the review is owed by crossed_at + 24 h
            action(lead, crossed_at + timedelta(minutes=1), "close_won"),  # waits for its stage
        )
        await collector.wait_for(lambda: len(collector.of(lead, "mql-crossed")) == 1)
        await wait_until_processed(settings)
        assert await lead_view(settings, lead) == 200
        for table in ("lead-states", "sla-deadlines"):
            assert (await changelog_of(settings, table, key))[-1] is not None, table

        requested = erase(settings, lead, tmp_path / "erase.log")
        assert requested.returncode == 0, requested.stderr
        assert requested.stdout.startswith(f"requested the erasure of lead {lead} ")
        await collector.wait_for(lambda: len(collector.of(lead, "lead-erased")) == 1)
        assert erase(settings, lead, tmp_path / "erase.log").returncode == 0  # asked twice
        await wait_until_processed(settings)

        [erased] = collector.of(lead, "lead-erased")
        assert set(erased) == {"event_id", "lead_id", "erased_at"}
        assert await lead_view(settings, lead) == 404
        for table in ("lead-states", "sla-deadlines"):
            assert (await changelog_of(settings, table, key))[-1] is None, table

        await asyncio.sleep(max(0.0, due - time.monotonic()) + 4)  # the deadline has passed
        worker.stop()
        worker = start_worker(settings, tmp_path / "worker-2.log")  # memory://: from changelogs
        assert await lead_view(settings, lead) == 404
        await asyncio.sleep(4)  # a few rounds of the new worker's SLA timer
        await wait_until_processed(settings)
        assert await lead_view(settings, lead) == 404
    finally:
        worker.stop()
        await collector.stop()
    assert collector.of(lead, "sla-breaches") == []
    assert collector.of(lead, "dead-letters") == []  # the waiting action went with the lead
    assert len(collector.of(lead, "lead-erased")) == 1
    for table in ("lead-states", "sla-deadlines"):
        assert (await changelog_of(settings, table, key))[-1] is None, table


async def test_erase_without_the_topic_says_so_in_one_line(kafka: str, tmp_path: Path) -> None:
    settings = worker_settings(kafka, tmp_path, "acme")  # a fresh prefix: no worker made topics
    requested = erase(settings, "someone", tmp_path / "erase.log")
    assert requested.returncode == 1
    assert requested.stderr == (
        f"error: there is no topic {settings.topic('lead-erasures')} at {kafka}: start a "
        "worker of this version first, it creates its topics\n"
    )
