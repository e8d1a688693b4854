"""`min.insync.replicas`: what the worker creates topics with, and what it warns about."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.admin.config_resource import ConfigResource

from streamproc.settings import Settings
from streamproc.streaming.durability import (
    TopicDurability,
    describe_durability,
    durable_configs,
    weak_durability_warning,
)
from streamproc.streaming.lead_store import CHANGELOG_CONFIGS, changelog_configs


@pytest.mark.parametrize(
    ("replication", "configs"),
    [(1, {}), (2, {"min.insync.replicas": "2"}), (3, {"min.insync.replicas": "2"})],
)
def test_replicated_topics_are_created_with_two_replicas_in_sync(
    replication: int, configs: dict[str, str]
) -> None:
    assert durable_configs(replication) == configs
    changelogs = changelog_configs(Settings(replication=replication))
    assert changelogs == {**CHANGELOG_CONFIGS, **configs}


class FakeAdmin:
    """Answers as aiokafka's admin client does: topics as dicts, configs as protocol
    responses (resources of error code, message, type, name and (name, value, ...) entries)."""

    def __init__(self, topics: dict[str, tuple[int, str | None]]) -> None:
        self.topics = topics
        """name -> (replicas per partition, min.insync.replicas as the broker says it)."""
        self.asked: list[str] = []

    async def list_topics(self) -> list[str]:
        return list(self.topics)

    async def describe_topics(self, topics: list[str]) -> list[dict[str, Any]]:
        assert set(topics) <= set(self.topics), "a missing topic is never described"
        return [
            {"topic": name, "error_code": 0, "partitions": [{"replicas": [1] * replicas}] * 2}
            if name in self.topics
            else {"topic": name, "error_code": 3, "partitions": []}
            for name in topics
            for replicas in [self.topics.get(name, (0, None))[0]]
        ]

    async def describe_configs(self, config_resources: list[ConfigResource]) -> list[Any]:
        self.asked = [resource.name for resource in config_resources]
        resources = [
            (0, None, 2, resource.name, [("min.insync.replicas", self.topics[resource.name][1])])
            for resource in config_resources
        ]
        return [SimpleNamespace(resources=resources)]


async def test_a_replicated_topic_with_one_replica_in_sync_is_named_in_one_warning() -> None:
    admin = FakeAdmin(
        {
            "mql-crossed": (3, "1"),
            "app-lead-states-changelog": (3, "1"),
            "lead-routing": (3, "2"),
            "sla-breaches": (1, "1"),  # not replicated: nothing to gain from a setting
        }
    )
    described = await describe_durability(
        admin, ["mql-crossed", "lead-routing", "sla-breaches", "app-lead-states-changelog", "x"]
    )
    assert set(admin.asked) == {
        "mql-crossed",
        "lead-routing",
        "sla-breaches",
        "app-lead-states-changelog",
    }  # not "x", which does not exist
    assert [item for item in described if item.weak] == [
        TopicDurability("app-lead-states-changelog", 3, 1),
        TopicDurability("mql-crossed", 3, 1),
    ]
    warning = weak_durability_warning(described)
    assert warning is not None and "\n" not in warning
    assert "app-lead-states-changelog (replication 3, min.insync.replicas 1)" in warning
    assert "mql-crossed (replication 3, min.insync.replicas 1)" in warning
    assert "lead-routing" not in warning and "sla-breaches" not in warning


async def test_no_warning_when_every_replicated_topic_needs_two_replicas() -> None:
    admin = FakeAdmin({"mql-crossed": (2, "2"), "dead-letters": (1, "1")})
    assert weak_durability_warning(await describe_durability(admin, list(admin.topics))) is None


async def test_nothing_is_asked_of_the_configs_when_no_topic_exists() -> None:
    admin = FakeAdmin({})
    assert await describe_durability(admin, ["mql-crossed"]) == []
    assert admin.asked == []


def test_a_topic_whose_setting_the_broker_did_not_give_is_not_called_weak() -> None:
    assert not TopicDurability("mql-crossed", 3, None).weak
