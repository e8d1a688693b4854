"""What the broker holds of the durability settings (`min.insync.replicas`). The test broker
has one node, so topics have one replica: the settings of replicated topics are proved with
a fake admin in tests/unit/test_durability.py, and what the broker answers is read here."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streamproc.kafka_client import client_options
from streamproc.streaming.durability import (
    TopicDurability,
    describe_durability,
    durability_warning,
)
from streamproc.streaming.lead_store import CHANGELOG_CONFIGS
from streamproc.streaming.topics import OUTPUT_TOPICS, ensure_topics
from streamproc.worker_process import WorkerProcess
from tests.integration.conftest import worker_settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def test_the_broker_answers_replication_and_min_insync_of_the_topics_created(
    kafka: str, tmp_path: Path
) -> None:
    settings = worker_settings(kafka, tmp_path, "acme")
    await ensure_topics(settings)
    outputs = [settings.topic(name) for name in OUTPUT_TOPICS]
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        missing = settings.topic("none-such")
        described = await describe_durability(admin, [*outputs, missing])
        assert missing not in await admin.list_topics()  # asking did not create it
        # One replica: nothing set, the broker's default of 1 is what it answers.
        assert described == [TopicDurability(name, 1, 1) for name in sorted(outputs)]
        answer = await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, outputs[0], {"min.insync.replicas": "2"})]
        )
        assert [resource[0] for r in answer for resource in r.resources] == [0]
        for _ in range(50):  # the broker applies an altered config a moment later
            [altered] = await describe_durability(admin, [outputs[0]])
            if altered.min_insync == 2:
                break
            await asyncio.sleep(0.1)
        assert altered == TopicDurability(outputs[0], 1, 2)
    finally:
        await admin.close()
    assert await durability_warning(settings, outputs) is None  # not replicated: not weak


async def test_the_changelogs_faust_creates_carry_the_configs_given(
    acme_worker: WorkerProcess,
) -> None:
    """`extra_topic_configs` reach the broker: `min.insync.replicas` rides in the same dict
    when replication is 2 or more."""
    settings = acme_worker.settings
    changelog = f"{settings.topic(settings.app_id)}-lead-states-changelog"
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        [response] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, changelog, {"segment.bytes": None})]
        )
    finally:
        await admin.close()
    [(error, _, _, name, entries)] = [resource[:5] for resource in response.resources]
    assert (error, name) == (0, changelog)
    assert {entry[0]: entry[1] for entry in entries} == {
        "segment.bytes": CHANGELOG_CONFIGS["segment.bytes"]
    }
