"""Histories to replay: JSON Lines files (or a directory of them), or Kafka's input topics.

Each source yields events close to event-time order; `merged` puts them in order with a
bounded buffer per source, so memory does not grow with the length of the history. An event
later than the buffer can absorb is still replayed, late, as the worker would have seen it.
"""

from __future__ import annotations

import bisect
import heapq
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from streamproc.domain.events import INPUT_EVENTS, InputEvent

REORDER_BUFFER = 10_000
"""Events held back per source to restore event-time order."""


class SourceError(Exception):
    """The history cannot be read at all (a missing path, no JSON Lines files)."""


@dataclass
class ReadProgress:
    """How far reading has got, for a progress line: `done` of `total` `unit`, bad input seen."""

    total: int
    unit: str
    done: int = 0
    invalid: int = 0


def jsonl_files(path: Path) -> list[Path]:
    """The files of a history: the file itself, or a directory's `*.jsonl` files by name."""
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
        if files:
            return files
        raise SourceError(f"{path}: no *.jsonl files in this directory")
    raise SourceError(f"{path}: no such file or directory")


def _events_of(path: Path, progress: ReadProgress) -> Iterator[InputEvent]:
    with path.open("rb") as lines:
        for line in lines:
            progress.done += len(line)
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
                yield INPUT_EVENTS[record["topic"]].model_validate(record["event"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValidationError):
                progress.invalid += 1  # the worker would dead-letter it; it changes no lead


Entry = tuple[int, Any, int, InputEvent]
"""An event held for ordering: (event time in ms, its source's tag, read position, event).
Entries merge without a key: equal times keep the order of the tags, then of reading."""


def time_ordered_entries(
    events: Iterable[InputEvent], tag: Any, buffer: int = REORDER_BUFFER
) -> Iterator[Entry]:
    """One source's events as entries in event-time order, as far as `buffer` held-back
    events can restore it."""
    # Held in order. A history is nearly in order already, so most entries go at the end
    # (one comparison, where a heap of 10,000 touched 14 entries scattered in memory); an
    # early one is inserted in its place.
    held: deque[Entry] = deque()
    for position, event in enumerate(events):
        entry = (event.occurred_ms, tag, position, event)
        if not held or entry > held[-1]:
            held.append(entry)
        else:
            bisect.insort(held, entry)
        if len(held) > buffer:
            yield held.popleft()
    yield from held


def merged(
    sources: Iterable[Iterable[InputEvent]], buffer: int = REORDER_BUFFER
) -> Iterator[InputEvent]:
    """Several sources (files, topic partitions), each ordered, merged into one time order."""
    ordered = [time_ordered_entries(source, index, buffer) for index, source in enumerate(sources)]
    for entry in heapq.merge(*ordered):
        yield entry[3]


def read_jsonl(path: Path) -> tuple[Iterator[InputEvent], ReadProgress]:
    """A JSON Lines history (one `{"topic", "event"}` object a line, as `streamproc generate`
    writes) in event-time order, and its progress counters."""
    files = jsonl_files(path)
    progress = ReadProgress(total=sum(file.stat().st_size for file in files), unit="bytes")
    return merged(_events_of(file, progress) for file in files), progress
