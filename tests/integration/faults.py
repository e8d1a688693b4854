"""The fault suite's harness: a deterministic history produced at a steady rate while a fault
is injected, then every output topic and the changelog compared with a replay of it.

A fault is a coroutine given the `Run`: it does its harm (kills, stops, freezes) and repairs it
(restarts, continues), and says what it did. The run measures how long the worker took to
recover (from the fault until the committed input offsets moved again) and the comparison
counts, which `FaultReport` writes as text and JSON (`make faults`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from streamproc.backtest.engine import Replay
from streamproc.backtest.sources import merged
from streamproc.bench.kafka_ops import read_to_end
from streamproc.definitions import load_definition
from streamproc.domain.events import InputEvent
from streamproc.domain.state import LeadState, to_ms
from streamproc.kafka_client import client_options
from streamproc.settings import Settings
from streamproc.streaming.codec import encode
from streamproc.worker_process import WorkerProcess
from tests.integration.conftest import start_worker
from tests.integration.kafka_io import committed_offsets, wait_until_processed

PRODUCE_S = 20.0
"""How long the history takes to produce, at a steady rate."""
FAULT_AT = 0.3
"""The share of the history produced before the fault."""
COMPARED = ("mql-crossed", "lead-stage-changes", "lead-routing")
"""Topics whose ids must equal the replay's; `sla-breaches` is compared on its own."""
REPORT_DIR = Path(os.environ.get("FAULTS_REPORT_DIR", ".streamproc/faults"))


@dataclass
class Comparison:
    """Published against the replay, per topic: ids lost, extra, published more than once,
    and ids published with more than one content (all but `trigger_event_id`)."""

    published: dict[str, int] = field(default_factory=dict)
    replayed: dict[str, int] = field(default_factory=dict)
    lost: dict[str, list[str]] = field(default_factory=dict)
    extra: dict[str, list[str]] = field(default_factory=dict)
    repeated: dict[str, int] = field(default_factory=dict)
    contents_differ: dict[str, list[str]] = field(default_factory=dict)
    crossings_unlike_replay: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per crossing whose content differs from the replay's: field: (published, replay)."""
    crossings_unlike_replay_late: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The same, of leads with an event that arrived late (the history has some, up to 4 h):
    a replay applies it in event time, before the crossing, where the live worker read it
    after the crossing was published. Reported, not a fault of the run."""
    breaches_not_replayed: list[str] = field(default_factory=list)
    breaches_lost: list[str] = field(default_factory=list)
    states: int = 0
    states_unlike_replay: list[str] = field(default_factory=list)

    def faults(self) -> list[str]:
        """What breaks the contract, as sentences; empty when the run kept it."""
        found = [f"{t}: {len(ids)} lost, e.g. {ids[:3]}" for t, ids in self.lost.items() if ids]
        found += [f"{t}: {len(i)} not replayed, e.g. {i[:3]}" for t, i in self.extra.items() if i]
        found += [
            f"{t}: {len(ids)} ids with two contents, e.g. {ids[:3]}"
            for t, ids in self.contents_differ.items()
            if ids
        ]
        if self.breaches_not_replayed:
            found.append(f"breaches a replay does not publish: {self.breaches_not_replayed[:3]}")
        if self.breaches_lost:
            found.append(f"breaches lost: {self.breaches_lost[:3]}")
        if self.states_unlike_replay:
            found.append(f"stored states unlike the replay's: {self.states_unlike_replay[:3]}")
        return found

    def deviations(self) -> list[str]:
        """Crossings published with another score than the replay's (same id, lead, time):
        reported, not asserted. A fault-free run shows them only for leads with a late event;
        after a SIGKILL, a restarted worker catching up has shown one more (a lead's events of
        two topics applied in another order than sent: see docs/operations.md, "Faults")."""
        return [
            f"crossing {event_id}: {sorted(fields)}"
            for event_id, fields in self.crossings_unlike_replay.items()
        ]


@dataclass
class FaultResult:
    name: str
    done: list[str]
    events: int
    recovered_s: float | None
    """From the fault until the worker's committed input offsets moved again."""
    wall_s: float
    comparison: Comparison
    notes: dict[str, Any] = field(default_factory=dict)


class Run:
    """One fault's run: its settings, its workers, the steady producer and the clock."""

    def __init__(
        self, settings: Settings, tmp_path: Path, history: list[tuple[str, InputEvent]]
    ) -> None:
        self.settings, self.tmp_path, self.history = settings, tmp_path, history
        self.workers: list[WorkerProcess] = []
        self.done: list[str] = []
        self.notes: dict[str, Any] = {}
        self.sent = 0
        self.retries = 0
        """Chunks the producer sent again after an error (the broker was down)."""
        self._started = time.monotonic()
        self._logs = 0

    def say(self, what: str) -> None:
        self.done.append(f"{time.monotonic() - self._started:5.1f}s {what}")

    def start_worker(self, settings: Settings | None = None) -> WorkerProcess:
        self._logs += 1
        settings = settings or self.settings
        worker = start_worker(settings, self.tmp_path / f"worker-{self._logs}.log")
        self.workers.append(worker)
        return worker

    def freeze(self, worker: WorkerProcess, frozen: bool) -> None:
        assert worker.process is not None
        os.killpg(worker.process.pid, signal.SIGSTOP if frozen else signal.SIGCONT)

    async def committed(self) -> int:
        try:
            return sum((await committed_offsets(self.settings)).values())
        except Exception:  # the broker is down: nothing moved
            return -1

    async def produce(self) -> None:
        """Send the history at a steady rate over PRODUCE_S, in the order of the history."""
        messages = [(t, e.lead_id.encode(), encode(e)) for t, e in self.history]
        step = 0.1
        per_step = max(1, round(len(messages) * step / PRODUCE_S))
        producer = AIOKafkaProducer(**client_options(self.settings), acks="all")
        await producer.start()
        try:
            for first in range(0, len(messages), per_step):
                chunk = messages[first : first + per_step]
                while True:  # a source that retries: the same event ids again, in order
                    try:
                        sent = [
                            await producer.send(self.settings.topic(topic), value, key=key)
                            for topic, key, value in chunk
                        ]
                        await asyncio.gather(*sent)
                        break
                    except KafkaError:
                        self.retries += 1
                        await asyncio.sleep(0.5)
                self.sent = first + len(chunk)
                await asyncio.sleep(step)
        finally:
            await producer.stop()


Fault = Callable[[Run], Awaitable[None]]


async def run_fault(
    name: str,
    settings: Settings,
    tmp_path: Path,
    history: list[tuple[str, InputEvent]],
    fault: Fault,
    workers: int = 1,
) -> FaultResult:
    """Produce `history` steadily to `workers` workers, inject `fault` once FAULT_AT of it is
    sent, wait until all is processed, and compare with a replay."""
    run = Run(settings, tmp_path, history)
    started = time.monotonic()
    try:
        run.start_worker()
        for index in range(1, workers):
            run.start_worker(_another(settings, tmp_path, index))
        producing = asyncio.create_task(run.produce())
        while run.sent < len(history) * FAULT_AT:
            await asyncio.sleep(0.05)
        before = await run.committed()
        injected = time.monotonic()
        await fault(run)
        recovered_s = None
        while not producing.done() or recovered_s is None:
            if await run.committed() > before and recovered_s is None:
                recovered_s = time.monotonic() - injected
            if producing.done() and recovered_s is None and time.monotonic() - injected > 180:
                break
            await asyncio.sleep(0.25)
        await producing
        await wait_until_processed(settings, timeout=180)
        await asyncio.sleep(4)  # idle partitions: the SLA timer ticks on the wall clock
        for worker in run.workers:
            worker.check()
        if run.retries:
            run.notes["producer retries"] = run.retries
    finally:
        for worker in run.workers:
            worker.stop()
    comparison = await compare(settings, history)
    return FaultResult(
        name,
        run.done,
        len(history),
        recovered_s,
        round(time.monotonic() - started, 1),
        comparison,
        run.notes,
    )


def _another(settings: Settings, tmp_path: Path, index: int) -> Settings:
    from tests.integration.conftest import free_ports

    return settings.model_copy(
        update={"data_dir": tmp_path / f"worker-{index}", "web_port": free_ports(1)[0]}
    )


async def compare(settings: Settings, history: list[tuple[str, InputEvent]]) -> Comparison:
    """Every output topic and the changelog against a clean replay of `history`."""
    now_ms = to_ms(datetime.now(UTC))
    clean = Replay(load_definition(settings.definition), settings.partitions)
    for event in merged([[event for _, event in history]]):
        clean.apply(event)
    history_end_ms = clean.clock_ms or 0
    expected_ids: dict[str, dict[str, dict[str, Any]]] = {
        "mql-crossed": {},
        "lead-stage-changes": {c.event_id: {} for c in clean.result.stage_changes},
        "lead-routing": {r.event_id: {} for r in clean.result.routings},
    }
    crossings = {c.event.event_id: orjson.loads(encode(c.event)) for c in clean.result.crossings}
    expected_ids["mql-crossed"] = crossings
    up_to_history = {b.event_id for b in clean.finish().breaches}
    # The worker's idle partitions run on the wall clock: a replay to now has their breaches.
    to_now = Replay(load_definition(settings.definition), settings.partitions)
    for event in merged([[event for _, event in history]]):
        to_now.apply(event)
    up_to_now = {b.event_id for b in to_now.finish(now_ms).breaches}

    comparison = Comparison()
    for topic in (*COMPARED, "sla-breaches"):
        by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
        name = settings.topic(topic)
        tps = [TopicPartition(name, p) for p in range(settings.partitions)]
        for record in await read_to_end(settings, tps):
            if record.value:
                value = orjson.loads(record.value)
                by_id[value["event_id"]].append(value)
        comparison.published[topic] = len(by_id)
        comparison.repeated[topic] = sum(len(v) - 1 for v in by_id.values())
        comparison.contents_differ[topic] = sorted(
            event_id for event_id, values in by_id.items() if len(_contents(values)) > 1
        )
        if topic == "sla-breaches":
            comparison.replayed[topic] = len(up_to_history)
            comparison.breaches_not_replayed = sorted(by_id.keys() - up_to_now)
            comparison.breaches_lost = sorted(up_to_history - by_id.keys())
            continue
        expected = expected_ids[topic]
        comparison.replayed[topic] = len(expected)
        comparison.lost[topic] = sorted(expected.keys() - by_id.keys())
        comparison.extra[topic] = sorted(by_id.keys() - expected.keys())
        if topic == "mql-crossed":
            late = _late_leads(history)
            for event_id, values in by_id.items():
                if event_id in expected and len(_contents([*values, expected[event_id]])) > 1:
                    unlike = (
                        comparison.crossings_unlike_replay_late
                        if values[0]["lead_id"] in late
                        else comparison.crossings_unlike_replay
                    )
                    unlike[event_id] = _differing(values[0], expected[event_id])
    assert history_end_ms
    changelog = f"{settings.topic(settings.app_id)}-lead-states-changelog"
    tps = [TopicPartition(changelog, p) for p in range(settings.partitions)]
    newest: dict[bytes, bytes | None] = {}
    for record in await read_to_end(settings, tps):
        if record.key:
            newest[record.key] = record.value
    states = {
        key.decode(): LeadState.model_validate_json(value)
        for key, value in newest.items()
        if value is not None
    }
    comparison.states = len(states)
    comparison.states_unlike_replay = sorted(
        lead
        for lead in states.keys() | clean.states.keys()
        if _summary(states.get(lead)) != _summary(clean.states.get(lead))
    )
    return comparison


def _contents(values: list[dict[str, Any]]) -> set[bytes]:
    return {
        orjson.dumps(
            {k: v for k, v in value.items() if k != "trigger_event_id"},
            option=orjson.OPT_SORT_KEYS,
        )
        for value in values
    }


def _late_leads(history: list[tuple[str, InputEvent]]) -> set[str]:
    """Leads one of whose events was sent after a later one of theirs."""
    newest: dict[str, datetime] = {}
    late = set()
    for _, event in history:
        if event.occurred_at < newest.get(event.lead_id, event.occurred_at):
            late.add(event.lead_id)
        newest[event.lead_id] = max(newest.get(event.lead_id, event.occurred_at), event.occurred_at)
    return late


def _differing(published: dict[str, Any], replayed: dict[str, Any]) -> dict[str, Any]:
    return {
        name: (published.get(name), replayed.get(name))
        for name in published.keys() | replayed.keys()
        if name != "trigger_event_id" and published.get(name) != replayed.get(name)
    }


def _summary(state: LeadState | None) -> Any:
    """What a state must share with the replay's: stage, history, crossings, events applied."""
    if state is None:
        return None
    return (
        state.stage,
        state.transitions,
        state.crossings,
        sum(len(hits) for hits in state.hits.values()),
        len(state.action_ids),
        len(state.profile),
    )


class FaultReport:
    """Collects each fault's result and writes report.txt and report.json."""

    def __init__(self, directory: Path = REPORT_DIR) -> None:
        self.directory = directory
        self.results: list[FaultResult] = []

    def add(self, result: FaultResult) -> None:
        self.results.append(result)
        self.write()

    def write(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        data = [asdict(result) for result in self.results]
        (self.directory / "report.json").write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
        lines = []
        for result in self.results:
            c = result.comparison
            recovered = "never" if result.recovered_s is None else f"{result.recovered_s:.1f} s"
            lines.append(
                f"== {result.name}: {result.events} events, recovered in {recovered}, "
                f"{result.wall_s:.0f} s in all"
            )
            lines.extend(f"   {line}" for line in result.done)
            for topic in (*COMPARED, "sla-breaches"):
                lines.append(
                    f"   {topic}: published {c.published.get(topic, 0)}, replay "
                    f"{c.replayed.get(topic, 0)}, lost {len(c.lost.get(topic, []))}, "
                    f"not in replay {len(c.extra.get(topic, []))}, published again "
                    f"{c.repeated.get(topic, 0)}, two contents "
                    f"{len(c.contents_differ.get(topic, []))}"
                )
            lines.append(
                f"   breaches a replay would not publish {len(c.breaches_not_replayed)}, "
                f"lost {len(c.breaches_lost)}; crossings unlike the replay "
                f"{len(c.crossings_unlike_replay)} (of leads with a late event: "
                f"{len(c.crossings_unlike_replay_late)}); states {c.states}, unlike the replay "
                f"{len(c.states_unlike_replay)}"
            )
            for key, value in result.notes.items():
                lines.append(f"   {key}: {value}")
            faults = c.faults()
            lines.append(
                f"   {'KEPT THE CONTRACT' if not faults else 'BROKE: ' + '; '.join(faults)}"
            )
        (self.directory / "report.txt").write_text("\n".join(lines) + "\n")
