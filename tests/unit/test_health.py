"""Readiness and liveness from the state of Faust's app and of the ingest loop."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from streamproc.streaming.health import Health

ANCHOR = "sla-ticks"


def app(**state: Any) -> Any:
    defaults: dict[str, Any] = {
        "should_stop": False,
        "crashed": False,
        "rebalancing_count": 1,
        "rebalancing": False,
        "in_recovery": False,
        "assigned": {0, 1},
    }
    defaults.update(state)
    tps = [
        SimpleNamespace(topic=t, partition=p)
        for p in defaults.pop("assigned")
        for t in (ANCHOR, "x")
    ]
    return SimpleNamespace(consumer=SimpleNamespace(assignment=lambda: tps), **defaults)


def ingest(state: str = "running", partitions: frozenset[int] = frozenset({0, 1})) -> Any:
    return SimpleNamespace(state=state, partitions=partitions)


@pytest.mark.parametrize(
    ("faust", "loop", "reason"),
    [
        (app(), ingest(), None),
        (app(rebalancing_count=0, rebalancing=True), ingest("not started"), "starting"),
        (app(rebalancing=True, in_recovery=True), ingest("not started"), "recovering tables"),
        (app(rebalancing=True), ingest(), "rebalancing"),
        (app(), ingest("not started"), "starting"),
        (app(assigned=set()), ingest(partitions=frozenset()), "no partitions assigned"),
        (app(), ingest(partitions=frozenset({0})), "resuming"),
        (app(), ingest("ended"), "the ingest loop has stopped"),
        (app(should_stop=True), ingest(), "stopping"),
    ],
)
def test_readiness_says_why_not(faust: Any, loop: Any, reason: str | None) -> None:
    said = Health(faust, loop, ANCHOR).not_ready()
    if reason is None:
        assert said is None
    else:
        assert said is not None and said.startswith(reason) and "\n" not in said


def test_the_worker_is_alive_until_its_loop_ends_or_it_stops() -> None:
    assert Health(app(), ingest("not started"), ANCHOR).not_alive() is None
    assert Health(app(), ingest(), ANCHOR).not_alive() is None
    assert Health(app(), ingest("ended"), ANCHOR).not_alive() == "the ingest loop has stopped"
    assert Health(app(crashed=True), ingest(), ANCHOR).not_alive() is not None
