"""Shadow mode: a candidate definition scored alongside the live one, on the same events.

The candidate keeps its own state per lead in its own table and publishes only its MQL
crossings, to `mql-crossed-shadow`: it never drives stages, routing or SLAs. A team watches a
definition change on live traffic before switching.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from streamproc.domain.definition import Definition
from streamproc.domain.events import InputEvent, MqlCrossed
from streamproc.domain.lead import decide
from streamproc.domain.lifecycle import DomainError
from streamproc.domain.state import LeadState
from streamproc.settings import Settings
from streamproc.streaming.codec import encode


@dataclass(frozen=True)
class ShadowScorer:
    definition: Definition
    states: Any
    """lead id -> the candidate's LeadState JSON."""

    @classmethod
    def create(cls, app: faust.App, settings: Settings, definition: Definition) -> ShadowScorer:
        states = app.Table(
            "shadow-states",
            default=None,
            partitions=settings.partitions,
            key_type=bytes,
            value_type=bytes,
        )
        return cls(definition, states)

    async def apply(self, key: bytes, event: InputEvent, crossings: Any) -> None:
        """Apply an input the live definition accepted; send the candidate's new crossings
        to the `crossings` topic (before storing the state that records them).

        An action the candidate's stages refuse is the live path's business (it dead-letters
        what is wrong); the candidate just does not move.
        """
        stored = self.states.get(key)
        state = LeadState.model_validate_json(stored) if stored else None
        try:
            decision = decide(state, event, self.definition)
        except DomainError:
            return
        for output in decision.outputs:
            if isinstance(output, MqlCrossed):
                await crossings.send(key=key, value=encode(output))
        if not decision.duplicate:
            self.states[key] = encode(decision.state)
