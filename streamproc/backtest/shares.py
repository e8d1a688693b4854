"""One process's share of a JSON Lines history: the events of the Kafka partitions it owns.

Every process reads the whole history, but validates only the lines of its own leads: parsing
a line to find its lead is cheap, validating it is not. Each partition is put in event-time
order on its own (a reorder buffer per file and partition), as the worker reads each
partition on its own; the partitions are then interleaved by time, which keeps the buffers
small. A line that names no lead is counted as invalid by one share only (`counts_unowned`).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import IO, Any

import orjson
from pydantic import ValidationError

from streamproc.backtest.sources import (
    REORDER_BUFFER,
    Entry,
    ReadProgress,
    jsonl_files,
    time_ordered_entries,
)
from streamproc.domain.events import INPUT_EVENTS, InputEvent

READ_AT_ONCE = 64 * 1024
"""Bytes of whole lines read and dealt at a time: a few hundred events."""
PartitionOf = Callable[[str], int]
"""The partition of a lead id (murmur2 of the key, as the worker's producer uses)."""


class _Dealer:
    """One pass over one file, dealing the share's events to a queue per partition."""

    def __init__(
        self,
        path: Path,
        owned: Collection[int],
        partition_of: PartitionOf,
        counts_unowned: bool,
        progress: ReadProgress,
    ) -> None:
        self._file: IO[bytes] | None = path.open("rb")
        self._queues: dict[int, deque[InputEvent]] = {partition: deque() for partition in owned}
        self._queue_of: dict[str, deque[InputEvent] | None] = {}
        """Each lead's queue (None: another share's lead); most lines only look it up."""
        self._partition_of = partition_of
        self._counts_unowned = counts_unowned
        self._progress = progress

    def events(self, partition: int) -> Iterator[InputEvent]:
        """The partition's events in this file, in the file's order."""
        queue = self._queues[partition]
        while queue or self._deal_more():
            if queue:
                yield queue.popleft()

    def _deal_more(self) -> bool:
        """Deal the file's next lines (about `READ_AT_ONCE` bytes); False at its end."""
        if self._file is None:
            return False
        lines = self._file.readlines(READ_AT_ONCE)
        if not lines:
            self._file.close()
            self._file = None
            return False
        self._progress.done += sum(map(len, lines))
        for line in lines:
            self._deal(line)
        return True

    def _deal(self, line: bytes) -> None:
        try:
            record = orjson.loads(line)
            fields = record["event"]
            lead_id = fields["lead_id"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            # No lead to tell the share by: one share counts it (a blank line is no line).
            self._progress.invalid += self._counts_unowned and bool(line.strip())
            return
        try:
            queue = self._queue_of[lead_id]
        except (KeyError, TypeError):  # a lead seen first, or an id that is no string
            if not isinstance(lead_id, str) or lead_id != lead_id.strip():
                self._deal_unsure(record, fields)
                return
            queue = self._queue_of[lead_id] = self._queues.get(self._partition_of(lead_id))
        if queue is None:
            return
        try:
            queue.append(INPUT_EVENTS[record["topic"]].model_validate(fields))
        except (KeyError, TypeError, ValidationError):
            self._progress.invalid += 1

    def _deal_unsure(self, record: dict[str, Any], fields: object) -> None:
        """A lead id validation would change, or no string: validated before its partition is
        known (by every share, so only one counts it when it is invalid)."""
        try:
            event = INPUT_EVENTS[record["topic"]].model_validate(fields)
        except (KeyError, TypeError, ValidationError):
            self._progress.invalid += self._counts_unowned
            return
        queue = self._queues.get(self._partition_of(event.lead_id))
        if queue is not None:
            queue.append(event)


def read_share(
    path: Path,
    owned: Collection[int],
    partition_of: PartitionOf,
    counts_unowned: bool,
    buffer: int = REORDER_BUFFER,
) -> tuple[Iterator[tuple[int, InputEvent]], ReadProgress]:
    """The events of the `owned` partitions as (partition, event), each partition in event-time
    order (as far as `buffer` held-back events per file and partition restore it), and the
    progress counters of this share (every byte of the history is read)."""
    files = jsonl_files(path)
    progress = ReadProgress(total=sum(file.stat().st_size for file in files), unit="bytes")
    dealers = [_Dealer(file, owned, partition_of, counts_unowned, progress) for file in files]
    ordered = [
        time_ordered_entries(dealer.events(partition), (partition, index), buffer)
        for partition in sorted(owned)
        for index, dealer in enumerate(dealers)
    ]
    return _by_partition(heapq.merge(*ordered)), progress


def _by_partition(entries: Iterator[Entry]) -> Iterator[tuple[int, InputEvent]]:
    for _, (partition, _), _, event in entries:
        yield partition, event
