"""A JSON Lines backtest split by Kafka partition over several processes.

The worker processes each partition on its own (its leads, its queue rotation, its SLA clock),
so the replay can too: each process reads the history, keeps the events of its partitions
(`shares.read_share`) and replays every partition with its own `Replay`. Deadlines tick on the
partition's clock, as in the worker; at the end every partition ticks up to the last event of
the whole history, which the processes agree on before they finish. The per-partition results
are merged in partition order, so the report does not depend on the number of processes or on
their timing.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkContext, SpawnContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from streamproc import collector
from streamproc.backtest.engine import Replay, ReplayPair
from streamproc.backtest.result import DivergentLead, ReplayResult
from streamproc.backtest.shares import read_share
from streamproc.domain.definition import Definition
from streamproc.streaming.topics import partition_for

PROGRESS_EVERY_EVENTS = 5_000


class ReplayProcessError(Exception):
    """A replay process failed or died; the message says which and why."""


@dataclass(frozen=True)
class Progress:
    """Events replayed by all processes, and the bytes read by the slowest one."""

    events: int
    done: int
    total: int


@dataclass
class Outcome:
    """The merged results (one per definition), the divergent leads by id, invalid lines."""

    results: list[ReplayResult]
    divergent: list[DivergentLead] = field(default_factory=list)
    invalid: int = 0


def replay_partitions(
    path: Path,
    definitions: Sequence[Definition],
    partitions: int,
    jobs: int,
    on_progress: Callable[[Progress], None] = lambda progress: None,
) -> Outcome:
    """Replay a JSON Lines history through one definition, or two in lockstep, in `jobs`
    processes (at most one per partition), each owning every `jobs`-th partition."""
    jobs = max(1, min(jobs, partitions))
    context = _context()
    children: list[tuple[BaseProcess, Connection]] = []
    try:
        for index in range(jobs):
            ours, theirs = context.Pipe()
            owned = tuple(range(index, partitions, jobs))
            share = _Share(path, tuple(definitions), partitions, owned, index == 0)
            process = context.Process(
                target=_replay_share,
                args=(theirs, share),
                name=f"backtest-{index}",
                daemon=True,
            )
            process.start()
            theirs.close()
            children.append((process, ours))
        return _Coordinator(children, on_progress).run()
    finally:
        for child, connection in children:
            connection.close()
            if child.is_alive():
                child.terminate()
            child.join()


def _context() -> ForkContext | SpawnContext:
    """Fork where there is fork: no imports to repeat, and the definitions come along."""
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


class _Coordinator:
    """Collects progress, agrees on the end of history, then collects and merges results."""

    def __init__(
        self,
        children: list[tuple[BaseProcess, Connection]],
        on_progress: Callable[[Progress], None],
    ) -> None:
        self.children = children
        self.on_progress = on_progress
        self.progress: dict[int, tuple[int, int, int]] = {}
        self.clocks: dict[int, int | None] = {}
        self.shares: dict[int, tuple[list[list[ReplayResult]], list[DivergentLead], int]] = {}

    def run(self) -> Outcome:
        while len(self.shares) < len(self.children):
            self._receive()
        return _merge([self.shares[index] for index in range(len(self.children))])

    def _receive(self) -> None:
        """Wait for a message from any process still working, or for one to die."""
        working = [
            (index, process, connection)
            for index, (process, connection) in enumerate(self.children)
            if index not in self.shares
        ]
        wait(
            [
                handle
                for _, process, connection in working
                for handle in (connection, process.sentinel)
            ]
        )
        for index, process, connection in working:
            try:
                while index not in self.shares and connection.poll():
                    self._handle(index, connection.recv())
            except EOFError:  # it closed its end: it is exiting
                process.join()
            if index not in self.shares and not process.is_alive():
                raise ReplayProcessError(
                    f"replay process {process.name} exited with code {process.exitcode}"
                )

    def _handle(self, index: int, message: tuple[Any, ...]) -> None:
        kind, *body = message
        name = self.children[index][0].name
        if kind == "error":
            raise ReplayProcessError(f"replay process {name} failed:\n{body[0]}")
        if kind == "progress":
            self.progress[index] = tuple(body)
            events = sum(events for events, _, _ in self.progress.values())
            done, total = min((done, total) for _, done, total in self.progress.values())
            self.on_progress(Progress(events, done, total))
        elif kind == "clock":
            self.clocks[index] = body[0]
            if len(self.clocks) == len(self.children):
                known = [clock for clock in self.clocks.values() if clock is not None]
                end_ms = max(known) if known else None
                for _, connection in self.children:
                    connection.send(end_ms)
        elif kind == "result":
            self.shares[index] = (body[0], body[1], body[2])


def _merge(shares: list[tuple[list[list[ReplayResult]], list[DivergentLead], int]]) -> Outcome:
    """Per definition, every partition's result in partition order (shares hold partitions
    index, index + jobs, ...)."""
    by_partition: dict[int, list[ReplayResult]] = {}
    jobs = len(shares)
    for index, (results, _, _) in enumerate(shares):
        for position, per_definition in enumerate(results):
            by_partition[index + position * jobs] = per_definition
    ordered = [by_partition[partition] for partition in sorted(by_partition)]
    merged = [merge_results([parts[d] for parts in ordered]) for d in range(len(ordered[0]))]
    divergent = sorted(
        (lead for _, leads, _ in shares for lead in leads), key=lambda lead: lead.lead_id
    )
    return Outcome(merged, divergent, sum(invalid for _, _, invalid in shares))


def merge_results(parts: Sequence[ReplayResult]) -> ReplayResult:
    """One result from the results of disjoint sets of leads, in the order given."""
    merged = ReplayResult(parts[0].definition)
    for part in parts:
        merged.events += part.events
        merged.invalid += part.invalid
        merged.duplicates += part.duplicates
        merged.refused += part.refused
        merged.erased += part.erased
        merged.expired += part.expired
        first, last = part.first_event_at, part.last_event_at
        if first is not None and (merged.first_event_at is None or first < merged.first_event_at):
            merged.first_event_at = first
        if last is not None and (merged.last_event_at is None or last > merged.last_event_at):
            merged.last_event_at = last
        merged.leads.update(part.leads)
        merged.crossings += part.crossings
        merged.stage_changes += part.stage_changes
        merged.breaches += part.breaches
        merged.routings += part.routings
    return merged


@dataclass(frozen=True)
class _Share:
    """What one process replays: the history, the definitions, its partitions of all."""

    path: Path
    definitions: tuple[Definition, ...]
    partitions: int
    owned: tuple[int, ...]
    counts_unowned: bool
    """Whether this process counts the invalid lines of no partition (one process does)."""


def _replay_share(parent: Connection, share: _Share) -> None:
    """A process's work: replay its partitions, report progress, wait for the end of history
    from the parent, send the results. Any failure is sent as a traceback."""
    try:
        with collector.not_collecting():
            parent.send(("result", *_replay_owned(parent, share)))
    except BaseException:
        parent.send(("error", traceback.format_exc()))
        os._exit(1)
    finally:
        parent.close()


def _replay_owned(
    parent: Connection, share: _Share
) -> tuple[list[list[ReplayResult]], list[DivergentLead], int]:
    definitions, partitions, owned = share.definitions, share.partitions, share.owned

    def partition_of(lead_id: str) -> int:  # once per lead: the reader remembers it
        return partition_for(lead_id.encode(), partitions)

    events, progress = read_share(share.path, owned, partition_of, share.counts_unowned)
    replays: dict[int, Replay | ReplayPair] = {
        partition: (
            Replay(definitions[0], partitions, partition)
            if len(definitions) == 1
            else ReplayPair(definitions[0], definitions[1], partitions, partition)
        )
        for partition in owned
    }
    count = 0
    for count, (partition, event) in enumerate(events, start=1):
        replays[partition].apply(event)
        if count % PROGRESS_EVERY_EVENTS == 0:
            parent.send(("progress", count, progress.done, progress.total))
    parent.send(("progress", count, progress.done, progress.total))
    clocks = [clock for replay in replays.values() if (clock := replay.clock_ms) is not None]
    parent.send(("clock", max(clocks) if clocks else None))
    end_ms: int | None = parent.recv()
    results: list[list[ReplayResult]] = []
    divergent: list[DivergentLead] = []
    for partition in owned:
        replay = replays[partition]
        if isinstance(replay, ReplayPair):
            a, b, leads = replay.finish(end_ms)
            results.append([a, b])
            divergent += leads
        else:
            results.append([replay.finish(end_ms)])
    return results, divergent, progress.invalid
