"""The worker's tables: lead states, queue rotations per partition, and owed SLA deadlines.

All three are changelog-backed Faust tables written only while processing an event of the
lead's partition, so a recovered worker has exactly what the crashed one had committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from streamproc.domain.lead import Decision
from streamproc.domain.state import LeadState, Rotation
from streamproc.settings import Settings
from streamproc.streaming.codec import encode
from streamproc.streaming.sla_timer import deadline_entry


@dataclass(frozen=True)
class LeadStore:
    lead_states: Any
    """lead id -> LeadState JSON."""
    rotations: Any
    """partition number -> Rotation JSON: round robin is kept per partition, because a
    partition's events are the only ones that may write its state."""
    deadlines: Any
    """lead id -> `deadline_ms:partition` of its earliest owed reaction: the small index the
    SLA timer scans instead of every lead."""

    @classmethod
    def create(cls, app: faust.App, settings: Settings) -> LeadStore:
        # bytes keys and values get Faust's raw codec in the changelogs.
        def table(name: str) -> Any:
            return app.Table(
                name, default=None, partitions=settings.partitions, key_type=bytes, value_type=bytes
            )

        return cls(table("lead-states"), table("queue-rotations"), table("sla-deadlines"))

    def load(self, key: bytes, partition: int) -> tuple[LeadState | None, Rotation]:
        stored = self.lead_states.get(key)
        rotation = self.rotations.get(str(partition).encode())
        return (
            LeadState.model_validate_json(stored) if stored else None,
            Rotation.model_validate_json(rotation) if rotation else Rotation(),
        )

    def save(
        self,
        key: bytes,
        partition: int,
        before: LeadState | None,
        rotation: Rotation,
        decision: Decision,
    ) -> None:
        """Store what changed: one write per event, two more only when routing or SLA moved."""
        if decision.duplicate:
            return
        self.lead_states[key] = encode(decision.state)
        if decision.rotation != rotation:
            self.rotations[str(partition).encode()] = encode(decision.rotation)
        owed_before = before.next_deadline_ms if before else None
        owed_now = decision.state.next_deadline_ms
        if owed_now != owed_before:
            if owed_now is None:
                self.deadlines.pop(key, None)
            else:
                self.deadlines[key] = deadline_entry(owed_now, partition)
