"""Partition counts of the worker's topics: a topic just created is not a mismatch."""

from __future__ import annotations

from typing import Any

from streamproc.streaming.topics import partition_counts


class CreatingAdmin:
    """An admin client whose topics show no partitions for the first `empty_for` answers."""

    def __init__(self, counts: dict[str, int], empty_for: int) -> None:
        self.counts, self.empty_for, self.asked = counts, empty_for, 0

    async def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
        self.asked += 1
        shown = {name: 0 if self.asked <= self.empty_for else self.counts[name] for name in names}
        return [{"topic": name, "partitions": [{}] * count} for name, count in shown.items()]


async def test_a_topic_still_being_created_is_asked_again() -> None:
    admin = CreatingAdmin({"a": 4, "b": 4}, empty_for=2)
    assert await partition_counts(admin, ["a", "b"]) == {"a": 4, "b": 4}  # type: ignore[arg-type]
    assert admin.asked == 3


async def test_a_topic_that_never_shows_partitions_is_reported_as_it_is() -> None:
    admin = CreatingAdmin({"a": 4}, empty_for=1_000_000)
    counts = await partition_counts(admin, ["a"], within_s=0.3)  # type: ignore[arg-type]
    assert counts == {"a": 0} and admin.asked >= 2
