"""Replaying history through exactly the worker's domain code, in event-time order.

There is no second implementation: every event goes through `decide`, like in the worker.
What the worker gets from Kafka and its timer, the replay provides itself: the partition of a
lead (murmur2 of the key, like Kafka's default partitioner, so queue rotations match the
worker's) and SLA ticks, which here run on the history's own clock: an owed deadline is
ticked when the replayed events pass it, as a busy worker's partition clock does. A lead
whose `retention` runs out is ticked at its expiry the same way, and expires (counted in
`expired`; what it did stays in the figures).

An erasure request takes its lead out of the figures: what the lead did before it is dropped
from the result (the worker cannot take back what it published, but a report made afterwards
must not describe a person who asked to be forgotten), and it is counted in `erased`. Events
of the lead after the request count as a new lead, as in the worker.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence

from streamproc.backtest.result import (
    Crossing,
    DivergentLead,
    LeadSummary,
    ReplayResult,
    StageStep,
)
from streamproc.domain.definition import Definition
from streamproc.domain.events import (
    ClockTicked,
    InputEvent,
    LeadErasureRequested,
    LeadRouted,
    MqlCrossed,
    SlaBreached,
    Stage,
    StageChanged,
)
from streamproc.domain.lead import Decision, decide
from streamproc.domain.lifecycle import DomainError
from streamproc.domain.retention import expires_at_ms
from streamproc.domain.scoring import Evaluation, score_lead
from streamproc.domain.state import LeadState, Rotation, from_ms, to_ms
from streamproc.streaming.topics import partition_for


class Replay:
    """One definition replaying one history; `result` grows as events are applied."""

    def __init__(
        self, definition: Definition, partitions: int = 4, only_partition: int | None = None
    ) -> None:
        self.definition = definition
        self.partitions = partitions
        self.only_partition = only_partition
        """The partition of every lead, when this replays one partition (`parallel`): no
        lead is hashed then."""
        self.states: dict[str, LeadState] = {}
        self.rotations: dict[int, Rotation] = {}
        self.result = ReplayResult(definition)
        self._due: list[tuple[int, str]] = []
        self._expiring: list[tuple[int, str]] = []
        """(expiry, lead) as the worker's expiry index holds them, without the rounding."""
        self._clock_ms: int | None = None
        self._partition_of: dict[str, int] = {}
        """Each lead's partition, hashed once: murmur2 in Python costs as much as a decision."""
        self._first_ms = self._last_ms = 0
        """`first_event_at` and `last_event_at` in ms, so most events compare integers."""
        self._erased: dict[str, tuple[int, int, int, int]] = {}
        """Per erased lead, how many crossings, stage changes, breaches and routings were
        recorded when it was last erased: its own among those leave the result at the end."""

    def apply(self, event: InputEvent) -> Sequence[MqlCrossed]:
        """Apply one event (after any deadline the history has passed); its new crossings."""
        self._tick_until(event.occurred_ms)
        self._note_time(event)
        try:
            decision = self._decide(event.lead_id, event)
        except DomainError:
            self.result.refused += 1
            return ()
        self.result.events += 1
        self.result.duplicates += decision.duplicate
        if not decision.outputs:  # most events
            return ()
        return [output for output in decision.outputs if isinstance(output, MqlCrossed)]

    @property
    def clock_ms(self) -> int | None:
        """The newest event time replayed so far (None before the first event)."""
        return self._clock_ms

    def finish(self, end_ms: int | None = None) -> ReplayResult:
        """Tick every deadline up to the end of history (the last event, or `end_ms` when
        this replays one partition of a longer history), and summarise each lead."""
        if end_ms is None or (self._clock_ms is not None and self._clock_ms > end_ms):
            end_ms = self._clock_ms
        if end_ms is not None:
            self._tick_until(end_ms + 1)
        self._drop_erased()
        for lead_id, state in self.states.items():
            self.result.leads[lead_id] = _summary(state)
        return self.result

    def score_now(self, lead_id: str, at_ms: int) -> Evaluation | None:
        """This definition's score of a lead at `at_ms`, from what it has seen so far."""
        state = self.states.get(lead_id)
        if state is None:
            return None
        return score_lead(state.profile, state.countable_hits, self.definition, at_ms)

    def _note_time(self, event: InputEvent) -> None:
        # Milliseconds are rounded, so only equal ones need the exact times compared.
        result, at, ms = self.result, event.occurred_at, event.occurred_ms
        first, last = result.first_event_at, result.last_event_at
        if first is None or ms < self._first_ms or (ms == self._first_ms and at < first):
            result.first_event_at, self._first_ms = at, ms
        if last is None or ms > self._last_ms or (ms == self._last_ms and at > last):
            result.last_event_at, self._last_ms = at, ms

    def _partition(self, lead_id: str) -> int:
        if self.only_partition is not None:
            return self.only_partition
        partition = self._partition_of.get(lead_id)
        if partition is None:
            partition = partition_for(lead_id.encode(), self.partitions)
            self._partition_of[lead_id] = partition
        return partition

    def _decide(self, lead_id: str, event: InputEvent | ClockTicked) -> Decision:
        partition = self._partition(lead_id)
        rotation = self.rotations.get(partition)
        before = self.states.get(lead_id)
        decision = decide(before, event, self.definition, rotation)
        self.rotations[partition] = decision.rotation
        self.result.refused += len(decision.refused)
        if decision.outputs:
            self._record(decision)
        if decision.erase and decision.expired:
            # Its figures stay: it did what it did, and was seen.
            self.result.leads[lead_id] = _summary(self.states.pop(lead_id))
            self.result.expired += 1
            return decision
        if decision.erase:
            self._erase(lead_id)
            return decision
        if before is None and decision.duplicate:
            return decision  # nothing held and nothing changed: an erased lead stays away
        self.states[lead_id] = decision.state
        due = decision.state.next_deadline_ms
        if due is not None and due != (before.next_deadline_ms if before else None):
            heapq.heappush(self._due, (due, lead_id))
        retention = self.definition.retention
        expires = expires_at_ms(decision.state, retention)
        if expires is not None and expires != (
            expires_at_ms(before, retention) if before else None
        ):
            heapq.heappush(self._expiring, (expires, lead_id))
        return decision

    def _record(self, decision: Decision) -> None:
        result = self.result
        for output in decision.outputs:
            if isinstance(output, MqlCrossed):
                source = _text(decision.state.profile.get("source"))
                result.crossings.append(Crossing(output, source))
            elif isinstance(output, StageChanged):
                result.stage_changes.append(StageStep.of(output))
            elif isinstance(output, SlaBreached):
                result.breaches.append(output)
            elif isinstance(output, LeadRouted):
                result.routings.append(output)

    def _erase(self, lead_id: str) -> None:
        del self.states[lead_id]
        result = self.result
        result.erased += 1
        self._erased[lead_id] = (
            len(result.crossings),
            len(result.stage_changes),
            len(result.breaches),
            len(result.routings),
        )

    def _drop_erased(self) -> None:
        """Take what each erased lead did before its (last) erasure out of the result."""
        erased, result = self._erased, self.result
        if not erased:
            return
        no_erasure = (0, 0, 0, 0)

        def kept(position: int, lead_id: str, which: int) -> bool:
            return position >= erased.get(lead_id, no_erasure)[which]

        result.crossings = [
            c for n, c in enumerate(result.crossings) if kept(n, c.event.lead_id, 0)
        ]
        result.stage_changes = [
            s for n, s in enumerate(result.stage_changes) if kept(n, s.lead_id, 1)
        ]
        result.breaches = [b for n, b in enumerate(result.breaches) if kept(n, b.lead_id, 2)]
        result.routings = [r for n, r in enumerate(result.routings) if kept(n, r.lead_id, 3)]
        self._erased = {}

    def _tick_until(self, now_ms: int) -> None:
        """Tick every lead whose owed deadline lies before `now_ms` on the history's clock."""
        self._clock_ms = max(now_ms, self._clock_ms or now_ms)
        while self._due and self._due[0][0] < now_ms:
            due, lead_id = heapq.heappop(self._due)
            state = self.states.get(lead_id)  # None: erased since
            if state is not None and state.next_deadline_ms == due:  # not settled meanwhile
                self._decide(lead_id, ClockTicked(lead_id=lead_id, at=from_ms(now_ms)))
        retention = self.definition.retention
        while self._expiring and self._expiring[0][0] <= now_ms:
            expires, lead_id = heapq.heappop(self._expiring)
            state = self.states.get(lead_id)
            if state is not None and expires_at_ms(state, retention) == expires:
                self._decide(lead_id, ClockTicked(lead_id=lead_id, at=from_ms(expires)))


def _summary(state: LeadState) -> LeadSummary:
    return LeadSummary(
        lane=str(state.profile.get("lane", "inbound")),
        source=_text(state.profile.get("source")),
        identified=state.highest_stage is not Stage.VISITOR,
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def replay(
    events: Iterable[InputEvent], definition: Definition, partitions: int = 4
) -> ReplayResult:
    """Replay `events` (in event-time order) through `definition`."""
    engine = Replay(definition, partitions)
    for event in events:
        engine.apply(event)
    return engine.finish()


class ReplayPair:
    """One history through two definitions in lockstep, noting the leads they disagree on.

    When a lead crosses under one definition, the other's score of it at that same moment is
    kept, so a reviewer sees both breakdowns side by side.
    """

    def __init__(
        self,
        first: Definition,
        second: Definition,
        partitions: int = 4,
        only_partition: int | None = None,
    ) -> None:
        self.a = Replay(first, partitions, only_partition)
        self.b = Replay(second, partitions, only_partition)
        self._b_when_a_crossed: dict[str, Evaluation | None] = {}
        self._a_when_b_crossed: dict[str, Evaluation | None] = {}

    @property
    def clock_ms(self) -> int | None:
        return self.a.clock_ms

    def apply(self, event: InputEvent) -> None:
        a, b = self.a, self.b
        crossed_a, crossed_b = a.apply(event), b.apply(event)
        if isinstance(event, LeadErasureRequested):  # its scores at crossings go with it
            self._b_when_a_crossed.pop(event.lead_id, None)
            self._a_when_b_crossed.pop(event.lead_id, None)
        for crossed in crossed_a:
            self._b_when_a_crossed.setdefault(
                crossed.lead_id, b.score_now(crossed.lead_id, to_ms(crossed.occurred_at))
            )
        for crossed in crossed_b:
            self._a_when_b_crossed.setdefault(
                crossed.lead_id, a.score_now(crossed.lead_id, to_ms(crossed.occurred_at))
            )

    def finish(
        self, end_ms: int | None = None
    ) -> tuple[ReplayResult, ReplayResult, list[DivergentLead]]:
        """Both results (see `Replay.finish`), and the divergent leads by id."""
        result_a, result_b = self.a.finish(end_ms), self.b.finish(end_ms)
        divergent = _divergent(result_a, result_b, self._b_when_a_crossed, self._a_when_b_crossed)
        return result_a, result_b, list(divergent)


def replay_both(
    events: Iterable[InputEvent], first: Definition, second: Definition, partitions: int = 4
) -> tuple[ReplayResult, ReplayResult, list[DivergentLead]]:
    """Replay one history through two definitions in lockstep (see `ReplayPair`), and the
    leads they disagree on."""
    pair = ReplayPair(first, second, partitions)
    for event in events:
        pair.apply(event)
    return pair.finish()


def _divergent(
    a: ReplayResult,
    b: ReplayResult,
    b_when_a_crossed: dict[str, Evaluation | None],
    a_when_b_crossed: dict[str, Evaluation | None],
) -> Iterator[DivergentLead]:
    first_a = _first_crossings(a)
    first_b = _first_crossings(b)
    for lead_id in sorted(set(first_a) ^ set(first_b)):
        yield DivergentLead(
            lead_id=lead_id,
            crossed_a=first_a.get(lead_id),
            crossed_b=first_b.get(lead_id),
            a_at_crossing=a_when_b_crossed.get(lead_id),
            b_at_crossing=b_when_a_crossed.get(lead_id),
        )


def _first_crossings(result: ReplayResult) -> dict[str, MqlCrossed]:
    first: dict[str, MqlCrossed] = {}
    for crossing in result.crossings:
        first.setdefault(crossing.event.lead_id, crossing.event)
    return first
