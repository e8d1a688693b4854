"""The batched ingest loop: the one writer of lead state.

Faust's agents move about 3k events/s with a table write per event (FAUST-NOTES.md, and
`make bench` here); its per-message machinery, not our code, is the bound. So the input
topics are read by this loop with its own aiokafka consumer, in batches: each lead's state
decoded once per batch, one changelog write per lead per batch, offsets committed about once
a second. A batch takes the records of all its partitions in the order of their timestamps
(`read_ahead`), so a worker catching up on a backlog applies a lead's events in the order
they were sent, as a live one does, rather than one topic after another. Faust stays the
shell: it assigns partitions, recovers the tables, serves the web view, runs the SLA timer,
and its agent reads the timer's ticks and hands them to this loop, so that every state change
of a lead goes through one writer in one order.

Guarantees, each proved by an integration test on the real broker:
- a batch's offsets are committed only after its outputs and changelog records are
  acknowledged and applied (`durable.make_durable`); while busy, at most every
  `COMMIT_EVERY_S` (a commit is a round trip, which every batch used to wait for), and at once
  when the loop runs idle, stops for a rebalance or the worker stops;
- the loop reads only partitions whose tables Faust has recovered: it stops at the start of a
  rebalance (finishing the batch in hand, well inside the rebalance window) and resumes with
  the new assignment when Faust reports the recovery complete;
- delivery is at-least-once: after a crash a batch may be read again, and the per-lead
  `event_id` de-duplication keeps it from being applied twice; a clean stop finishes the
  batch in hand and commits before Faust stops (`close`), so the next worker reads on from
  what was applied, unless that commit is not acknowledged within
  `REVOKE_COMMIT_TIMEOUT_S`.

Its offsets live in the consumer group `<app id>-ingest`, which has no members (the loop
assigns partitions itself, following Faust): `kafka-consumer-groups --describe` shows its lag,
and so does the worker's `GET /ingest/`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from streamproc.domain.events import DeadLettered
from streamproc.kafka_client import client_options
from streamproc.settings import Settings
from streamproc.streaming.durable import BATCH_BYTES, Producer, make_durable
from streamproc.streaming.fence import Fence, FencedError
from streamproc.streaming.lead_batch import LeadBatch, Outcome, Record
from streamproc.streaming.metrics import LagRow, Metrics
from streamproc.streaming.partitioning import PartitionCheck
from streamproc.streaming.read_ahead import ReadAhead
from streamproc.streaming.topics import INPUT_TOPICS

log = logging.getLogger(__name__)

BATCHED_TOPICS = INPUT_TOPICS
"""Every input topic is read by the loop, through one consumer: a partition's topics are then
read in step (`read_ahead`), which the SLA timer's partition clock relies on (the slowest
busy input's newest event time). Read through an agent, the sales actions lagged the
behaviour topics enough for the timer to call an in-time review late."""
MAX_BATCH = 4000
"""Messages per batch at most: large enough to amortise a round trip, small enough that a
batch takes well under a second on this machine, and that the lead states it holds (about
3.6 KB each) stay a small part of the memory per lead: 8,000 added 300 B/lead at 100,000
leads in `make bench`."""
ACK_TIMEOUT_S = 120.0
"""How long a batch may wait for the broker's acknowledgements or its commit before the
worker stops: a stuck batch would hold every lead of the worker's partitions."""
COMMIT_EVERY_S = 1.0
"""How long applied offsets may wait for their commit while the loop is busy. After a crash
that much more is read again, which the per-lead `event_id` de-duplication makes harmless."""
REVOKE_COMMIT_TIMEOUT_S = 5.0
"""How long a rebalance or a stop waits for the commit of what was applied."""
READ_AHEAD = 1000
"""Records held per partition, decoded, in the buffer (`ReadAhead`) from which batches are
made in timestamp order; one whose buffer falls under half of this is topped up."""
FETCH_WAIT_MS = 20
"""How long a fetch waits for data: also how late an agent's handed-over message may start."""


def _log_dead_letters(first: DeadLettered, count: int) -> None:
    """One line per batch, however many letters: where the first came from, never its value
    or its error (either may quote what a producer sent)."""
    log.warning(
        "%d records of the batch went to dead-letters, the first from %s[%d]@%d",
        count,
        first.topic,
        first.partition,
        first.offset,
        extra={"topic": first.topic, "partition": first.partition, "offset": first.offset},
    )


class IngestError(Exception):
    """The loop cannot go on: the worker stops, and its partitions are read again."""


def worker_groups(settings: Settings) -> tuple[str, str]:
    """The worker's consumer groups: Faust's (the agent's topics) and the ingest loop's."""
    faust_group = settings.topic(settings.app_id)
    return faust_group, f"{faust_group}-ingest"


@dataclass(frozen=True)
class PartitionLag:
    """How far the loop has committed in one partition, and where its log ends."""

    topic: str
    partition: int
    committed: int | None
    end: int | None

    @property
    def lag(self) -> int | None:
        if self.end is None or self.committed is None:
            return None
        return max(0, self.end - self.committed)


PROGRESS_EVERY_S = 10.0


@dataclass
class _Progress:
    """Logs how many events the loop applied, every PROGRESS_EVERY_S while it is busy."""

    since: float = field(default_factory=time.monotonic)
    events: int = 0
    batches: int = 0

    def count(self, events: int) -> None:
        self.events += events
        self.batches += 1
        elapsed = time.monotonic() - self.since
        if elapsed >= PROGRESS_EVERY_S:
            log.info(
                "ingest applied %d events in %d batches in the last %.0f s (%.0f events/s)",
                self.events,
                self.batches,
                elapsed,
                self.events / elapsed,
            )
            self.since, self.events, self.batches = time.monotonic(), 0, 0


@dataclass
class _Handover:
    records: Sequence[Record]
    done: asyncio.Future[list[Outcome]]


class Ingest:
    """Reads the owned partitions of `BATCHED_TOPICS` and the agent's hand-overs in batches."""

    def __init__(
        self,
        settings: Settings,
        new_batch: Callable[[], LeadBatch],
        metrics: Metrics | None = None,
        partition_check: PartitionCheck | None = None,
        fence: Fence | None = None,
    ) -> None:
        self._settings = settings
        self._new_batch = new_batch
        self._metrics = metrics
        """Counted once per batch, when the worker serves metrics."""
        self._partition_check = partition_check
        """Records outside their key's murmur2 partition, and split leads (the worker's)."""
        self.fence = fence
        """Checked before every publish and commit: whether the worker still holds the
        partitions read (`fence.py`); None where no group assigns them (tests)."""
        self.state: Literal["not started", "running", "ended"] = "not started"
        """Whether the loop runs; "ended" once it stopped or crashed."""
        self._producer: Producer | None = None
        self.producer_of: Callable[[], Producer] = self._own_producer
        """Where the batch's records go: the loop's own producer (tests give theirs)."""
        self._consumer: AIOKafkaConsumer | None = None
        self._ahead: ReadAhead[TopicPartition, ConsumerRecord[bytes, bytes]] = ReadAhead()
        self._read_ahead_for = 0
        """The assignment the records read ahead belong to."""
        self._handovers: list[_Handover] = []
        self._arrived = asyncio.Event()
        self._batch_lock = asyncio.Lock()
        self.partitions: frozenset[int] = frozenset()
        """The partitions the loop reads: owned and recovered."""
        self._progress = _Progress()
        self._uncommitted: dict[TopicPartition, int] = {}
        """The next offset to read of each partition whose applied batches are not committed."""
        self._positions: dict[TopicPartition, int] = {}
        """The next offset to apply of each partition read now (for the lag metric)."""
        self._committed_at = time.monotonic()
        self._assignments = 0
        """How many times the partitions read changed: a fetch from before is stale."""
        self.stops = 0
        """How many times the loop was stopped (rebalances, the worker's stop): a resume
        decided before one is stale."""
        self._closed = False
        """Whether the worker is stopping: no partition is read again."""

    @property
    def group_id(self) -> str:
        return worker_groups(self._settings)[1]

    def _own_producer(self) -> Producer:
        if self._producer is None:
            raise IngestError("the ingest loop has not started: it has no producer yet")
        return self._producer

    async def submit(self, records: Sequence[Record]) -> list[Outcome]:
        """Apply `records` (read by an agent) in the next batch; return once they are durable."""
        done: asyncio.Future[list[Outcome]] = asyncio.get_running_loop().create_future()
        self._handovers.append(_Handover(records, done))
        self._arrived.set()
        return await done

    async def run(self) -> None:
        """The loop: fetch, apply, make durable, commit; until cancelled."""
        consumer = AIOKafkaConsumer(
            **client_options(self._settings),
            group_id=self.group_id,
            client_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        # Its own producer, to send a batch's records in whole Kafka batches (`durable`).
        producer = AIOKafkaProducer(
            **client_options(self._settings),
            client_id=self.group_id,
            acks="all",
            linger_ms=0,
            max_batch_size=BATCH_BYTES,
        )
        async with producer, consumer:  # started in this order, stopped in the reverse
            self._producer = producer
            # Assigned once, for the worker's life: every partition of the batched topics,
            # paused unless Faust gave it to us. (Reassigning at each rebalance raced
            # aiokafka's coordinator task into an AssertionError.)
            consumer.assign(self._all_partitions())
            consumer.pause(*self._all_partitions())
            self._consumer = consumer
            await self.read_partitions(self.partitions, self.stops)
            self.state = "running"
            ticker = None if self.fence is None else asyncio.create_task(self.fence.run_ticker())
            try:
                await self._loop()
            except asyncio.CancelledError:  # the worker stops: commit what is durable
                async with self._batch_lock:
                    await self._commit_before_leaving()
                raise
            finally:
                self.state = "ended"
                if ticker is not None:
                    ticker.cancel()

    async def _loop(self) -> None:
        while True:
            assignment = self._assignments
            fetched = await self._fetch()
            handovers, self._handovers = self._handovers, []
            if fetched or handovers:
                await self._process(fetched, handovers, assignment)
            elif self._uncommitted:  # idle: nothing waits for a commit longer
                async with self._batch_lock:
                    await self._commit()

    async def _fetch(self) -> list[ConsumerRecord[bytes, bytes]]:
        consumer = self._consumer
        if consumer is None or not self.partitions:
            # Nothing to read of our own: wait for an agent's hand-over.
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), FETCH_WAIT_MS / 1000)
            return []
        assignment = self._assignments
        if self._read_ahead_for != assignment:  # read before a rebalance: stale
            self._ahead.clear()
            self._read_ahead_for = assignment
        await self._top_up(consumer)
        if not len(self._ahead):
            # Nothing fetched yet: wait for the broker. One answer holds records of many
            # partitions, so take one record, then top up all of them from it: a batch of
            # the first partition alone would apply it ahead of all the others.
            fetched = await consumer.getmany(timeout_ms=FETCH_WAIT_MS, max_records=1)
            for tp, records in fetched.items():
                self._ahead.add(tp, records)
            await self._top_up(consumer)
        if assignment != self._assignments:
            return []  # `_process` would drop them; the next fetch clears the rest

        def more_to_come(tp: TopicPartition, newest: ConsumerRecord[bytes, bytes]) -> bool:
            """Whether `tp`'s log held more than is buffered when it was last fetched: only
            such a partition may hold a batch back (`ReadAhead.take`)."""
            highwater = consumer.highwater(tp)
            return highwater is None or newest.offset + 1 < highwater

        return self._ahead.take(MAX_BATCH, more_to_come)

    async def apply(self, records: Sequence[Record]) -> list[Outcome]:
        """Apply `records` as one batch and make it durable; what happened to each."""
        outcomes, _ = await self._apply(records)
        return outcomes

    async def _apply(self, records: Sequence[Record]) -> tuple[list[Outcome], float]:
        """`apply`, and when the batch's outputs were acknowledged (seconds since the epoch)."""
        started = time.perf_counter()
        partitioning = None
        if self._partition_check is not None:  # before the batch: the table as it was
            partitioning = self._partition_check.check(records)
        batch = self._new_batch()
        outcomes = [batch.apply(record) for record in records]
        writes = batch.writes()  # before the publications: it may add dead letters to them
        try:
            acknowledged_at = await asyncio.wait_for(
                make_durable(self.producer_of(), self._settings.topic, batch.publications, writes),
                ACK_TIMEOUT_S,
            )
        except TimeoutError:
            raise IngestError(
                f"Kafka did not acknowledge a batch of {len(records)} events' outputs and "
                f"state within {ACK_TIMEOUT_S:.0f} s; stopping rather than waiting for ever"
            ) from None
        batch.advance_clocks()
        if self._metrics is not None:
            self._count(records, batch, time.perf_counter() - started)
            if partitioning is not None:
                self._metrics.partitions_checked(partitioning.misrouted, partitioning.split)
        if batch.first_dead_letter is not None:
            _log_dead_letters(batch.first_dead_letter, sum(batch.dead_letters.values()))
        return outcomes, acknowledged_at

    def _count(self, records: Sequence[Record], batch: LeadBatch, seconds: float) -> None:
        """The batch's counts, per topic: one increment per topic, none per record."""
        assert self._metrics is not None
        prefix = len(self._settings.topic_prefix)
        read = Counter(record.topic for record in records)
        self._metrics.batch_done(
            Counter({topic[prefix:]: count for topic, count in read.items()}),
            Counter(publication.topic for publication in batch.publications),
            batch.dead_letters,
            batch.sla_breaches,
            seconds,
        )
        if batch.shed:
            self._metrics.states_shed(batch.shed)
        if batch.expired:
            self._metrics.leads_expired(batch.expired)

    async def _top_up(self, consumer: AIOKafkaConsumer) -> None:
        """Fill the read-ahead buffers from what aiokafka has fetched, without waiting."""
        for tp, lacking in self._ahead.wanted(self._partitions_of(self.partitions), READ_AHEAD):
            fetched = await consumer.getmany(tp, timeout_ms=0, max_records=lacking)
            self._ahead.add(tp, fetched.get(tp, ()))

    async def _process(
        self,
        fetched: list[ConsumerRecord[bytes, bytes]],
        handovers: list[_Handover],
        assignment: int,
    ) -> None:
        async with self._batch_lock:
            if assignment != self._assignments:
                # A rebalance came while fetching: these partitions may be another worker's
                # now, and ours are read again from their committed offsets.
                fetched = []
            checked_at = None
            if fetched and self.fence is not None:
                try:
                    checked_at = await self.fence.check(self.partitions)
                except FencedError as fenced:
                    self._fenced(fenced)
                    # The ticks come through Faust's consumer, but they are for the same
                    # partitions: the new owner's timer sends its own again.
                    for item in handovers:
                        item.done.set_result([])
                    return
            records: list[Record] = list(fetched)
            for item in handovers:
                records.extend(item.records)
            try:
                outcomes, acknowledged_at = await self._apply(records)
            except BaseException as error:
                for item in handovers:
                    item.done.set_exception(error)
                raise
            if checked_at is not None and self.fence is not None:
                self.fence.passed(checked_at)
            for record in fetched:
                self._uncommitted[TopicPartition(record.topic, record.partition)] = (
                    record.offset + 1
                )
            self._positions.update(self._uncommitted)
            if self._metrics is not None:
                # The latency of the records that caused outputs (a dead letter is one).
                self._metrics.outputs_acknowledged(
                    [
                        record.timestamp
                        for record, outcome in zip(fetched, outcomes, strict=False)
                        if outcome.outputs or outcome.error is not None
                    ],
                    acknowledged_at,
                )
            if time.monotonic() - self._committed_at >= COMMIT_EVERY_S:
                await self._commit()
        self._progress.count(len(records))
        position = len(fetched)
        for item in handovers:
            item.done.set_result(outcomes[position : position + len(item.records)])
            position += len(item.records)

    async def _commit(self, timeout_s: float = ACK_TIMEOUT_S, leaving: bool = False) -> None:
        """Commit the offsets of every applied batch (its outputs and state are durable)."""
        offsets = self._uncommitted
        self._committed_at = time.monotonic()
        if offsets and self._consumer is not None:
            checked_at = None
            if self.fence is not None:
                try:
                    checked_at = await self.fence.check(self.partitions, leaving)
                except FencedError as fenced:
                    self._fenced(fenced)
                    return
            try:
                await asyncio.wait_for(self._consumer.commit(offsets), timeout_s)
            except TimeoutError:
                raise IngestError(
                    f"Kafka did not take the commit of {len(offsets)} partitions' offsets "
                    f"within {timeout_s:.0f} s; stopping (the batches are read again)"
                ) from None
            if checked_at is not None and self.fence is not None:
                self.fence.passed(checked_at)
        # Forgotten only once committed: a commit cut short by a stop is made again.
        self._uncommitted = {}

    async def _commit_before_leaving(self) -> None:
        """Before a rebalance or a stop: whoever reads these partitions next reads on from
        what was applied. Bounded, so that a revoke stays inside the rebalance window; a
        commit not acknowledged by then may still land, or those events are read again,
        which de-duplication makes harmless. Either way the offsets are dropped: their
        partitions may be another worker's now, whose commits they must not overwrite."""
        try:
            await self._commit(REVOKE_COMMIT_TIMEOUT_S, leaving=True)
        except (IngestError, KafkaError) as error:
            log.warning("ingest leaves partitions without seeing its commit: %s", error)
        self._uncommitted = {}

    def _fenced(self, fenced: FencedError) -> None:
        """The worker lost its partitions while it could not tell (frozen, or before the
        rebalance reached the loop): drop the batch in hand and the offsets not committed,
        and read nothing until the group assigns partitions again. Their new owner reads
        them from the offsets committed, so nothing is lost."""
        log.warning(
            "ingest fenced: %s; the batch in hand and %d partitions' uncommitted offsets are "
            "dropped, and nothing is read until the group assigns partitions again",
            fenced,
            len(self._uncommitted),
        )
        self._uncommitted = {}
        self.partitions = frozenset()
        self._positions = {}
        self._assignments += 1
        if self._consumer is not None:
            self._consumer.pause(*self._all_partitions())

    def log_fence(self) -> None:
        """How often the fence was checked and tripped, and the longest time from a passed
        check to the acknowledgement of what it allowed: the window it cannot close."""
        if self.fence is not None:
            window = self.fence.window
            log.info(
                "ingest fence: %d checks, %d fenced, longest check-to-acknowledgement %.0f ms",
                window.checks,
                window.fenced,
                window.longest_s * 1000,
            )

    async def close(self) -> None:
        """When the worker stops, before Faust stops its consumer and tables: finish the
        batch in hand, commit, and read no more (the agent's hand-overs are still applied
        until Faust stops it: Faust waits for them)."""
        self._closed = True
        await self.stop_reading("the worker's stop")
        self.log_fence()

    async def stop_reading(self, why: str = "a rebalance") -> None:
        """At the start of a rebalance: finish the batch in hand, commit, read nothing
        more."""
        started = time.monotonic()
        self.stops += 1
        async with self._batch_lock:
            await self._commit_before_leaving()
            self.partitions = frozenset()
            self._positions = {}
            self._assignments += 1
            if self._consumer is not None:
                self._consumer.pause(*self._all_partitions())
        log.info("ingest stopped for %s in %.0f ms", why, (time.monotonic() - started) * 1000)

    async def read_partitions(self, partitions: frozenset[int], stops_seen: int) -> None:
        """After Faust recovered the tables of `partitions`: read them from their committed
        offsets on, unless the loop was stopped again since `stops_seen` (a stop during the
        round trips below counts one), or the worker is stopping."""
        if self._closed:
            return
        consumer = self._consumer
        if consumer is None:  # not started: `run` reads them once it is
            self.partitions = partitions
            return
        ours = self._partitions_of(partitions)
        # Network round trips before the lock: the loop goes on meanwhile.
        starts = {tp: await consumer.committed(tp) for tp in ours}
        never_committed = [tp for tp, offset in starts.items() if offset is None]
        if never_committed:
            starts.update(await consumer.beginning_offsets(never_committed))
        async with self._batch_lock:
            if self.stops != stops_seen:
                return
            self.partitions = partitions
            if self.fence is not None:
                self.fence.grant()
            self._positions = dict(starts)
            self._assignments += 1
            for tp, offset in starts.items():
                consumer.seek(tp, offset)
            consumer.resume(*ours)
        log.info("ingest reads partitions %s", sorted(partitions) or "none")

    def _all_partitions(self) -> list[TopicPartition]:
        return self._partitions_of(range(self._settings.partitions))

    def _partitions_of(self, partitions: Iterable[int]) -> list[TopicPartition]:
        """Partitions `partitions` of every batched topic."""
        return [
            TopicPartition(self._settings.topic(topic), partition)
            for topic in BATCHED_TOPICS
            for partition in sorted(partitions)
        ]

    async def lag(self) -> list[PartitionLag]:
        """Committed offset and log end of every partition read now."""
        consumer = self._consumer
        if consumer is None or not self.partitions:
            return []
        assigned = self._partitions_of(self.partitions)
        ends = await consumer.end_offsets(assigned)
        return [
            PartitionLag(tp.topic, tp.partition, await consumer.committed(tp), ends.get(tp))
            for tp in assigned
        ]

    def lag_now(self) -> list[LagRow]:
        """Records between the loop's position and the end of each partition it reads, as the
        consumer last saw that end: no round trip, for the metrics scrape. A partition whose
        end is not known yet is left out."""
        consumer = self._consumer
        if consumer is None:
            return []
        prefix = len(self._settings.topic_prefix)
        rows = []
        for tp, position in self._positions.items():
            end = consumer.highwater(tp)
            if end is not None:
                rows.append((tp.topic[prefix:], tp.partition, max(0, end - position)))
        return rows
