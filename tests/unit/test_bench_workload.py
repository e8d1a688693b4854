"""The benchmark's synthetic workload: deterministic, valid per topic, the mix and a hot head."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

import orjson
import pytest

from streamproc.bench.workload import (
    TOPIC_MIX,
    Workload,
    WorkloadSpec,
    generate,
    profile_messages,
)
from streamproc.domain.events import ProfileUpdated, SalesActionTaken
from streamproc.streaming.codec import decode_input

SPEC = WorkloadSpec(events=10_000, leads=1_000, seed=3)


@pytest.fixture(scope="module")
def workload() -> Workload:
    return generate(SPEC)


def test_the_same_seed_gives_the_same_bytes_and_another_seed_does_not() -> None:
    small = WorkloadSpec(events=2_000, leads=200, seed=3)
    assert generate(small).messages == generate(small).messages
    other = WorkloadSpec(events=2_000, leads=200, seed=4)
    assert generate(small).messages != generate(other).messages


def test_every_message_is_a_valid_event_of_its_topic_keyed_by_its_lead(workload: Workload) -> None:
    for topic, key, value in workload.messages:
        event = decode_input(topic, key, value)  # raises InputError if not valid
        assert event.lead_id == key.decode()
    ids = [orjson.loads(value)["event_id"] for _, _, value in workload.messages]
    assert len(set(ids)) == len(ids)


def test_the_topics_follow_the_mix(workload: Workload) -> None:
    counts = Counter(topic for topic, _, _ in workload.messages)
    assert counts == workload.per_topic
    for topic, share in TOPIC_MIX:
        assert counts[topic] / SPEC.events == pytest.approx(share, abs=0.01)


def test_a_leads_first_profile_carries_an_email_and_later_ones_do_not(workload: Workload) -> None:
    seen: set[bytes] = set()
    for topic, key, value in workload.messages:
        if topic != "lead-profiles":
            continue
        event = decode_input(topic, key, value)
        assert isinstance(event, ProfileUpdated)
        assert (event.email is not None) == (key not in seen)
        seen.add(key)


def test_a_workload_of_profiled_leads_only_updates_their_profiles() -> None:
    """The latency phase's load goes on over the leads the worker knows: re-sending every
    lead a first profile made its first seconds far heavier than the traffic after them."""
    profiled = generate(WorkloadSpec(events=10_000, leads=1_000, seed=3, profiled=True))
    profiles = [
        decode_input(*message) for message in profiled.messages if message[0] == "lead-profiles"
    ]
    assert len(profiles) > 100
    assert all(isinstance(event, ProfileUpdated) and event.email is None for event in profiles)


def test_a_hot_head_and_a_long_tail(workload: Workload) -> None:
    per_lead = Counter(key for _, key, _ in workload.messages)
    hottest_percent = sum(count for _, count in per_lead.most_common(SPEC.leads // 100))
    assert workload.hottest_percent_share == hottest_percent / SPEC.events
    assert workload.hottest_percent_share > 0.25  # 1% of the leads, over a quarter of events
    assert workload.distinct_leads == len(per_lead) > 0.95 * SPEC.leads  # the tail is reached


def test_event_times_increase_with_a_small_jitter_and_end_at_end_ms(workload: Workload) -> None:
    times = [decode_input(t, k, v).occurred_at.timestamp() * 1000 for t, k, v in workload.messages]
    assert max(times) <= SPEC.end_ms
    assert min(times) >= SPEC.end_ms - SPEC.span_ms - SPEC.jitter_ms
    assert all(b - a > -2 * SPEC.jitter_ms - 1 for a, b in pairwise(times))
    assert times[-1] - times[0] > 0.99 * SPEC.span_ms - 2 * SPEC.jitter_ms


def test_sales_actions_that_need_a_reason_code_carry_one(workload: Workload) -> None:
    actions = [decode_input(t, k, v) for t, k, v in workload.messages if t == "sales-actions"]
    assert {a.action for a in actions if isinstance(a, SalesActionTaken)} >= {"accept", "reject"}
    for action in actions:
        assert isinstance(action, SalesActionTaken)
        assert (action.reason_code is not None) == (
            action.action in ("reject", "disqualify", "close_lost")
        )


def test_profile_messages_make_one_emailed_profile_per_lead() -> None:
    messages = profile_messages(["a", "b"], "p-", 1_767_225_600_000)
    events = [decode_input(topic, key, value) for topic, key, value in messages]
    assert [e.lead_id for e in events] == ["a", "b"]
    assert [e.event_id for e in events] == ["p-0", "p-1"]
    assert all(isinstance(e, ProfileUpdated) and e.email for e in events)
