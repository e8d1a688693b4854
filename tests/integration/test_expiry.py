"""Expiry on the real broker: with a one-day retention for visitors, a visitor whose history
is older than that is deleted, its changelog records end in tombstones, `/leads/{id}/`
answers 404, and a worker recovering from the changelogs does not bring it back."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streamproc.definitions.loader import _SHIPPED
from tests.builders import visit
from tests.integration.conftest import start_worker, worker_settings
from tests.integration.kafka_io import new_lead, send_events, wait_until_processed
from tests.integration.test_erasure import changelog_of, lead_view

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


async def test_an_expired_visitor_is_tombstoned_and_stays_gone_after_a_restart(
    kafka: str, tmp_path: Path
) -> None:
    definition = tmp_path / "short-lived.yaml"
    acme = (_SHIPPED / "acme.yaml").read_text(encoding="utf-8")
    acme = "".join(line for line in acme.splitlines(True) if not line.startswith("retention:"))
    definition.write_text(acme + "\nretention: {visitors: 1d}\n", encoding="utf-8")
    settings = worker_settings(kafka, tmp_path, str(definition)).model_copy(
        update={"expiry_scan_interval": 1.0}
    )
    old, recent = new_lead(), new_lead()
    now = datetime.now(UTC).replace(microsecond=0)
    worker = start_worker(settings, tmp_path / "worker-1.log")
    try:
        await send_events(
            settings,
            visit(old, now - timedelta(days=3), url="https://a.test/"),
            visit(old, now - timedelta(days=2, hours=1), url="https://a.test/"),
            visit(recent, now - timedelta(hours=1), url="https://a.test/"),
        )
        await wait_until_processed(settings)
        deadline = time.monotonic() + 60
        while await lead_view(settings, old) != 404:
            assert time.monotonic() < deadline, "the old visitor did not expire"
            await asyncio.sleep(0.5)
        await wait_until_processed(settings)
        assert await lead_view(settings, recent) == 200
        for table in ("lead-states", "lead-expiries"):
            records = await changelog_of(settings, table, old.encode())
            assert records and records[-1] is None, table
            assert (await changelog_of(settings, table, recent.encode()))[-1] is not None

        worker.stop()
        worker = start_worker(settings, tmp_path / "worker-2.log")  # memory://: from changelogs
        assert await lead_view(settings, old) == 404
        assert await lead_view(settings, recent) == 200
        await asyncio.sleep(3)  # a few rounds of the new worker's timers
        await wait_until_processed(settings)
        assert await lead_view(settings, old) == 404
        assert await lead_view(settings, recent) == 200
    finally:
        worker.stop()
