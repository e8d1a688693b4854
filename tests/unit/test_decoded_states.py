"""The worker's cache of decoded lead states: never different from what the table holds."""

from __future__ import annotations

from streamproc.domain.state import LeadState
from streamproc.streaming.codec import encode
from streamproc.streaming.lead_batch import DecodedStates


def test_a_state_is_reused_only_for_the_bytes_it_came_from() -> None:
    decoded = DecodedStates()
    first = LeadState(lead_id="L1")
    stored = encode(first)
    assert decoded.decode(b"L1", stored) == first
    assert decoded.decode(b"L1", stored) is decoded.decode(b"L1", bytes(stored))
    changed = first.evolve(crossings=2)
    assert decoded.decode(b"L1", encode(changed)) == changed


def test_it_keeps_at_most_the_states_it_was_given_room_for() -> None:
    decoded = DecodedStates(kept=3)
    for number in range(10):
        state = LeadState(lead_id=f"L{number}")
        decoded.remember(state.lead_id.encode(), encode(state), state)
        assert len(decoded) <= 3
    assert decoded.decode(b"L9", encode(LeadState(lead_id="L9"))).lead_id == "L9"
