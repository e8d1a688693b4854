"""Records read ahead from many partitions, handed out in the order of their timestamps.

aiokafka's `getmany` returns what it fetched one partition at a time, each up to a whole fetch
(4 MB). A worker working through a backlog then applied one topic after another: every demo
booking, then every profile, then every sales action, and only then the page visits. A lead's
events reached the domain in another order than they were sent: sales actions waited for
stages their visits had not made yet, profiles read early made every later visit re-score the
lead at each moment before it, and the partition clocks saw topics hours apart.

So, like Kafka Streams, the loop picks the next record by timestamp among the heads of its
partitions, with one rule more: a batch takes records only up to the earliest of the newest
timestamps buffered per partition that has more to come, so that no partition is overtaken by
another that was read further ahead. A partition with nothing buffered (caught up, or its fetch
still on the way) holds nobody up: its records may come a batch late, which the domain handles
as any late event. Nor does one whose buffer holds all it had when last fetched: what comes
next to it was sent after that, so a live worker takes everything it has read at once.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, Protocol, TypeVar


class Timestamped(Protocol):
    @property
    def timestamp(self) -> int: ...


P = TypeVar("P", bound=Hashable)
R = TypeVar("R", bound=Timestamped)


class ReadAhead(Generic[P, R]):
    """Per partition, the records fetched and not yet handed out, oldest first."""

    def __init__(self) -> None:
        self._buffers: dict[P, deque[R]] = {}

    def add(self, partition: P, records: Iterable[R]) -> None:
        self._buffers.setdefault(partition, deque()).extend(records)

    def wanted(self, partitions: Iterable[P], depth: int) -> list[tuple[P, int]]:
        """How many records each of `partitions` lacks of `depth`, for those at less than half
        of it: topped up early, a partition's buffer rarely sets a near horizon."""
        lacking = ((p, depth - len(self._buffers.get(p, ()))) for p in partitions)
        return [(p, n) for p, n in lacking if 2 * n > depth]

    def clear(self) -> None:
        self._buffers.clear()

    def __len__(self) -> int:
        return sum(len(buffer) for buffer in self._buffers.values())

    def take(self, limit: int, more_to_come: Callable[[P, R], bool] = lambda p, r: True) -> list[R]:
        """Up to `limit` records in timestamp order, none newer than the horizon but the first;
        each partition's own order is kept, ties go to the partition buffered first.

        The horizon is the earliest last timestamp among the buffered partitions for which
        `more_to_come(partition, its last buffered record)` holds. The first record is taken
        whatever its timestamp, so that a partition whose timestamps go back still drains.
        """
        partitions = [(p, buffer) for p, buffer in self._buffers.items() if buffer]
        if not partitions:
            return []
        horizon = min(
            (buffer[-1].timestamp for p, buffer in partitions if more_to_come(p, buffer[-1])),
            default=None,
        )
        buffers = [buffer for _, buffer in partitions]
        heads = [(buffer[0].timestamp, index) for index, buffer in enumerate(buffers)]
        heapq.heapify(heads)
        taken: list[R] = []
        while heads and len(taken) < limit:
            if taken and horizon is not None and heads[0][0] > horizon:
                break
            index = heads[0][1]
            buffer = buffers[index]
            taken.append(buffer.popleft())
            if buffer:
                heapq.heapreplace(heads, (buffer[0].timestamp, index))
            else:
                heapq.heappop(heads)
        return taken
