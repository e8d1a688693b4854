"""One batch of input messages applied to their leads: decode, decide, and what to write.

A batch decodes each lead's state once, applies all of the lead's messages in order, and ends
with one table write per lead that changed: the writes and the outputs are returned, not
performed, so the caller can acknowledge them before it commits the batch's offsets.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from streamproc.domain.definition import Definition
from streamproc.domain.events import (
    ClockTicked,
    DeadLettered,
    InputEvent,
    MqlCrossed,
    OutputEvent,
    SlaBreached,
)
from streamproc.domain.lead import Arrival, Decision, decide
from streamproc.domain.lifecycle import DomainError
from streamproc.domain.retention import expires_at_ms
from streamproc.domain.state import LeadState, Rotation, to_ms
from streamproc.streaming.codec import InputError, decode_input, encode
from streamproc.streaming.deadletters import dead_letter
from streamproc.streaming.lead_store import Tables
from streamproc.streaming.limits import Limits
from streamproc.streaming.sla_timer import PartitionClocks, deadline_entry, expiry_entry
from streamproc.streaming.state_bound import Bounded, bounded
from streamproc.streaming.topics import TOPIC_OF

log = logging.getLogger(__name__)


class Record(Protocol):
    """A message read from a topic (its name on the cluster, prefix included): an aiokafka
    record or a Faust message."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


@dataclass(frozen=True)
class Outcome:
    """What the worker did with one message, for the agent that handed it over and tests."""

    topic: str
    offset: int
    outputs: tuple[OutputEvent, ...] = ()
    duplicate: bool = False
    error: str | None = None


@dataclass(frozen=True)
class Publication:
    """A record to send to `topic` (without the prefix), in the partition of its key."""

    topic: str
    key: bytes
    value: bytes


@dataclass(frozen=True)
class TableWrite:
    """A new value (None deletes: a tombstone in the changelog) for `key` of `table`, in the
    changelog partition given."""

    table: Any
    partition: int
    key: bytes
    value: bytes | None


DECODED_KEPT = 4096
"""Decoded lead states kept from batch to batch: a busy worker's hot leads, yet few enough
that they add little to the memory per lead (about 15 MB at most: 3.6 KB a decoded state,
by tracemalloc)."""


class DecodedStates:
    """Lead states decoded or encoded by earlier batches, each with its stored bytes.

    Decoding a stored state was 9% of the worker's time, and a hot lead is in most batches.
    A state is reused only while its table holds exactly the bytes it came from, so this can
    never disagree with the table: after a rebalance, a recovery or a batch that failed, the
    bytes differ and the stored state is decoded afresh. States are never changed in place
    (the domain makes new ones), so sharing them between batches is safe.
    """

    def __init__(self, kept: int = DECODED_KEPT) -> None:
        self._kept = kept
        self._known: OrderedDict[bytes, tuple[bytes, LeadState]] = OrderedDict()

    def decode(self, key: bytes, stored: bytes) -> LeadState:
        known = self._known.get(key)
        if known is not None and known[0] == stored:
            return known[1]
        state = LeadState.model_validate_json(stored)
        self.remember(key, stored, state)
        return state

    def forget(self, key: bytes) -> None:
        """Let go of the lead's decoded state (erased: not even memory keeps it)."""
        self._known.pop(key, None)

    def remember(self, key: bytes, stored: bytes, state: LeadState) -> None:
        """Keep `state` as the newest; past the bound, forget the one written longest ago."""
        known = self._known
        known[key] = (stored, state)
        known.move_to_end(key)
        if len(known) > self._kept:
            known.popitem(last=False)

    def __len__(self) -> int:
        return len(self._known)


class _States:
    """The lead states of one table as the batch goes: decoded once, written once."""

    def __init__(self, table: Any, decoded: DecodedStates) -> None:
        self._table = table
        self._decoded = decoded
        self.loaded: dict[bytes, LeadState | None] = {}
        self.current: dict[bytes, LeadState | None] = {}
        self.partition: dict[bytes, int] = {}

    def get(self, key: bytes) -> LeadState | None:
        if key not in self.current:
            stored = self._table.get(key)
            state = self._decoded.decode(key, stored) if stored else None
            self.loaded[key] = self.current[key] = state
        return self.current[key]

    def encoded(self, key: bytes, state: LeadState, limit: int) -> Bounded:
        """`state` as stored, made to fit in `limit` bytes; remembered, so the next batch
        need not decode it."""
        fitted = bounded(state, limit)
        self.current[key] = fitted.state
        self._decoded.remember(key, fitted.value, fitted.state)
        return fitted

    def put(self, key: bytes, partition: int, state: LeadState) -> None:
        self.current[key] = state
        self.partition[key] = partition

    def erase(self, key: bytes, partition: int) -> None:
        """The lead is gone: its next event starts a new one, its stored state is deleted."""
        self.get(key)  # what the table held, to know whether it needs a tombstone
        self.current[key] = None
        self.partition[key] = partition
        self._decoded.forget(key)

    def written(self) -> Iterator[tuple[bytes, int, LeadState]]:
        for key, partition in self.partition.items():
            state = self.current[key]
            if state is not None:
                yield key, partition, state

    def erased(self) -> Iterator[tuple[bytes, int, bool]]:
        """The leads erased by the batch (and not started again), each with whether the table
        holds it."""
        for key, partition in self.partition.items():
            if self.current[key] is None:
                yield key, partition, self.loaded[key] is not None


@dataclass
class LeadBatch:
    """Applies messages in the order given; `writes()` and `publications` at the end."""

    tables: Tables
    definition: Definition
    clocks: PartitionClocks
    shadow: Definition | None = None
    action_grace_ms: int = 60_000
    prefix_length: int = 0
    """Length of the topic prefix: topics are named without it in the domain."""
    decoded: DecodedStates = field(default_factory=DecodedStates)
    """Lead states of earlier batches (the worker keeps one for its life)."""
    shadow_decoded: DecodedStates = field(default_factory=DecodedStates)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    """The batch's wall-clock time: when its sales actions arrived, its letters failed."""
    publications: list[Publication] = field(default_factory=list)
    dead_letters: dict[str, int] = field(default_factory=dict)
    """Dead letters published, by the input topic (without the prefix) they came from."""
    sla_breaches: dict[str, int] = field(default_factory=dict)
    """SLA breaches published, by SLA."""
    first_dead_letter: DeadLettered | None = None
    """Where the batch's first dead letter came from, for the one log line of the batch."""
    limits: Limits = field(default_factory=Limits)
    """What a record and a lead's stored state may be."""
    shed: Counter[str] = field(default_factory=Counter)
    """Items lead states shed to stay under their limit, by part (`state_bound.PARTS`)."""
    expired: int = 0
    """Leads the batch deleted because they expired (the definition's `retention`)."""

    def __post_init__(self) -> None:
        self._states = _States(self.tables.lead_states, self.decoded)
        self._shadow_states = _States(self.tables.shadow_states, self.shadow_decoded)
        self._rotations: dict[int, Rotation] = {}
        self._rotated: set[int] = set()
        self._newest_ms: dict[tuple[str, int], int] = {}

    def apply(self, record: Record) -> Outcome:
        """Decode `record` and apply it to its lead; bad input becomes a dead letter."""
        now = self.now
        topic = record.topic[self.prefix_length :]
        try:
            event = decode_input(topic, record.key, record.value, self.limits.record_bytes)
            if not isinstance(event, ClockTicked):
                self.limits.check_time(event, now)
            key = event.lead_id.encode()
        except Exception as error:  # decoding is pure: whatever fails, the record caused
            return self._refuse(record, topic, error)
        state, rotation = self._states.get(key), self._rotation(record.partition)
        try:
            decision = decide(state, event, self.definition, rotation, self._arrival(topic, record))
        except Exception as error:  # deciding is pure too: the record (with its lead) caused it
            return self._refuse(record, topic, error)
        # Outputs go out in the batch's publications, all acknowledged before its writes.
        for refusal in decision.refused:
            letter = DeadLettered(**refusal.origin, error=refusal.error, failed_at=now)
            self._publish_dead_letter(letter)
        for output in decision.outputs:
            self._publish(TOPIC_OF[type(output)], output)
        if decision.erase:
            self._states.erase(key, record.partition)
            if decision.expired:
                self.expired += 1
                if self.shadow:  # every table that holds the lead lets it go
                    self._shadow_states.erase(key, record.partition)
        elif not decision.duplicate:
            self._keep(key, record.partition, decision)
        if not isinstance(event, ClockTicked):
            read_from = (topic, record.partition)
            event_ms = event.occurred_ms
            if event_ms > self._newest_ms.get(read_from, event_ms - 1):
                self._newest_ms[read_from] = event_ms
            if self.shadow:
                self._shadow_apply(key, record.partition, event)
        return Outcome(topic, record.offset, decision.outputs, decision.duplicate)

    def _refuse(self, record: Record, topic: str, error: Exception) -> Outcome:
        """A record that cannot be applied goes to dead-letters. Bad input and the rules'
        refusals say why; any other error of decoding or deciding (both pure: no I/O, no
        clock) is a bug that this record's content hit, set aside so that it cannot stop the
        worker on every restart."""
        if isinstance(error, MemoryError):
            raise error
        if not isinstance(error, InputError | DomainError):
            log.error(
                "applying a record failed with %s (a bug: please report it); it goes to "
                "dead-letters, from %s[%d]@%d",
                type(error).__name__,
                record.topic,
                record.partition,
                record.offset,
            )
            error = InputError(
                f"the worker failed on this record ({type(error).__name__}, a bug of "
                "streamproc); it is set aside so that the worker goes on"
            )
        self._publish_dead_letter(_letter_for(record, error, self.now))
        return Outcome(topic, record.offset, error=str(error))

    def advance_clocks(self) -> None:
        """Tell the SLA timer's partition clocks the newest event time read in each input
        partition; called once the batch is durable, so no clock runs ahead of the state."""
        now_ms = to_ms(self.now)
        for (topic, partition), newest_ms in self._newest_ms.items():
            self.clocks.observe(topic, partition, newest_ms, now_ms)

    def writes(self) -> list[TableWrite]:
        """One write per lead (and per rotation, per owed deadline, per expiry moment) that the
        batch changed; for a lead it erased or that expired, a delete in every table that
        holds the lead. A state over its
        limit sheds what matters least (`state_bound`): call this before sending
        `publications`, which may gain dead letters from it."""
        writes = []
        expiries, retention = self.tables.expiries, self.definition.retention
        for key, partition, held in self._states.erased():
            if held:
                writes.append(TableWrite(self.tables.lead_states, partition, key, None))
            for index in (self.tables.deadlines, expiries):
                if index is not None and index.get(key) is not None:
                    writes.append(TableWrite(index, partition, key, None))
        for key, partition, kept in self._states.written():
            fitted = self._states.encoded(key, kept, self.limits.state_bytes)
            state = fitted.state
            if fitted.shed:
                self._count_shed(fitted)
            writes.append(TableWrite(self.tables.lead_states, partition, key, fitted.value))
            before = self._states.loaded[key]
            owed_now = state.next_deadline_ms
            if owed_now != (before.next_deadline_ms if before else None):
                entry = None if owed_now is None else deadline_entry(owed_now, partition)
                writes.append(TableWrite(self.tables.deadlines, partition, key, entry))
            if expiries is not None:
                expiry = expiry_entry(expires_at_ms(state, retention), partition)
                was = expiry_entry(expires_at_ms(before, retention), partition) if before else None
                if expiry != was:
                    writes.append(TableWrite(expiries, partition, key, expiry))
        writes.extend(
            TableWrite(self.tables.rotations, partition, _rotation_key(partition), encode(rotation))
            for partition, rotation in self._rotations.items()
            if partition in self._rotated
        )
        for key, partition, state in self._shadow_states.written():
            fitted = self._shadow_states.encoded(key, state, self.limits.state_bytes)
            self.shed.update(fitted.shed)  # its parked actions are the live path's business
            writes.append(TableWrite(self.tables.shadow_states, partition, key, fitted.value))
        writes.extend(
            TableWrite(self.tables.shadow_states, partition, key, None)
            for key, partition, held in self._shadow_states.erased()
            if held
        )
        return writes

    def _count_shed(self, fitted: Bounded) -> None:
        """Count what a state shed to fit; a parked action it let go goes to dead-letters."""
        self.shed.update(fitted.shed)
        for parked in fitted.parked:
            error = (
                f"the lead's state reached its limit of {self.limits.state_bytes:,} bytes "
                "(STREAMPROC_MAX_STATE_BYTES) while this action waited, and let it go, the "
                f"earliest to arrive first; it waited because {parked.reason}"
            )
            self._publish_dead_letter(
                DeadLettered(**parked.origin, error=error, failed_at=self.now)
            )

    def _rotation(self, partition: int) -> Rotation:
        if partition not in self._rotations:
            stored = self.tables.rotations.get(_rotation_key(partition))
            self._rotations[partition] = (
                Rotation.model_validate_json(stored) if stored else Rotation()
            )
        return self._rotations[partition]

    def _keep(self, key: bytes, partition: int, decision: Decision) -> None:
        self._states.put(key, partition, decision.state)
        rotation = decision.rotation
        if rotation is not self._rotations[partition] and rotation != self._rotations[partition]:
            self._rotations[partition] = rotation
            self._rotated.add(partition)

    def _arrival(self, topic: str, record: Record) -> Arrival | None:
        """Only sales actions may wait for an earlier event; they keep their origin for it."""
        if topic != "sales-actions":
            return None
        origin = _letter_for(record, None, self.now).model_dump(exclude={"error", "failed_at"})
        return Arrival(to_ms(self.now), origin, self.action_grace_ms)

    def _shadow_apply(self, key: bytes, partition: int, event: InputEvent) -> None:
        """The candidate definition on an input the live one accepted: only its crossings are
        published; an action its stages refuse is the live path's business."""
        assert self.shadow is not None
        try:
            decision = decide(self._shadow_states.get(key), event, self.shadow)
        except Exception as error:  # what the live path took never stops the worker here
            if isinstance(error, MemoryError):
                raise
            return
        for output in decision.outputs:
            if isinstance(output, MqlCrossed):
                self._publish("mql-crossed-shadow", output)
        if decision.erase:
            self._shadow_states.erase(key, partition)
        elif not decision.duplicate:
            self._shadow_states.put(key, partition, decision.state)

    def _publish(self, topic: str, output: OutputEvent) -> None:
        self.publications.append(Publication(topic, output.lead_id.encode(), encode(output)))
        if isinstance(output, SlaBreached):
            self.sla_breaches[output.sla] = self.sla_breaches.get(output.sla, 0) + 1

    def _publish_dead_letter(self, letter: DeadLettered) -> None:
        origin = letter.topic[self.prefix_length :]
        self.dead_letters[origin] = self.dead_letters.get(origin, 0) + 1
        self.first_dead_letter = self.first_dead_letter or letter
        self.publications.append(
            Publication("dead-letters", (letter.key or "").encode(), encode(letter))
        )


def _rotation_key(partition: int) -> bytes:
    return str(partition).encode()


def _letter_for(record: Record, error: Exception | None, now: datetime) -> DeadLettered:
    return dead_letter(
        record.topic, record.partition, record.offset, record.key, record.value, error, now
    )
