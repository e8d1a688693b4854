"""The ingest loop's read-ahead: batches in timestamp order across partitions read unevenly."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from streamproc.streaming.read_ahead import ReadAhead


@dataclass(frozen=True)
class Rec:
    partition: str
    offset: int
    timestamp: int


def records(partition: str, timestamps: list[int]) -> list[Rec]:
    return [Rec(partition, offset, ts) for offset, ts in enumerate(timestamps)]


def test_a_backlog_read_a_topic_at_a_time_comes_out_interleaved() -> None:
    ahead: ReadAhead[str, Rec] = ReadAhead()
    ahead.add("visits", records("visits", [1, 3, 5, 7, 9]))
    ahead.add("actions", records("actions", [2, 6, 10]))
    ahead.add("profiles", records("profiles", [4, 8]))
    taken = ahead.take(limit=100)
    # Up to the horizon, profiles' newest buffered record (8): visits' 9 and actions' 10
    # wait for what is read next of profiles; then up to visits' 9, actions' 10 waiting.
    assert [r.timestamp for r in taken] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [r.timestamp for r in ahead.take(limit=100)] == [9]
    assert [r.timestamp for r in ahead.take(limit=100)] == [10]


def test_a_partition_whose_buffer_holds_all_it_had_holds_nobody_up() -> None:
    """What comes next to a caught-up partition was sent after its last fetch: a live worker
    takes all it has read at once, and only partitions with more to come set the horizon."""
    ahead: ReadAhead[str, Rec] = ReadAhead()
    ahead.add("visits", records("visits", [1, 3, 5, 7, 9]))
    ahead.add("actions", records("actions", [2, 6, 10]))
    ahead.add("profiles", records("profiles", [4, 8]))
    caught_up = {"profiles"}
    taken = ahead.take(100, lambda partition, newest: partition not in caught_up)
    assert [r.timestamp for r in taken] == [1, 2, 3, 4, 5, 6, 7, 8, 9]  # visits' 9 sets it
    ahead.add("visits", records("visits", [11]))
    assert [r.timestamp for r in ahead.take(100, lambda p, newest: False)] == [10, 11]


def test_a_partition_with_nothing_buffered_holds_nobody_up() -> None:
    ahead: ReadAhead[str, Rec] = ReadAhead()
    ahead.add("caught-up", [])
    ahead.add("busy", records("busy", [5, 6]))
    assert [r.timestamp for r in ahead.take(limit=10)] == [5, 6]
    assert ahead.take(limit=10) == []


def test_a_batch_stops_at_the_limit_and_the_rest_waits() -> None:
    ahead: ReadAhead[str, Rec] = ReadAhead()
    ahead.add("a", records("a", [1, 2, 3]))
    ahead.add("b", records("b", [1, 2, 3]))
    assert [(r.partition, r.timestamp) for r in ahead.take(limit=3)] == [
        ("a", 1),
        ("b", 1),
        ("a", 2),
    ]
    assert len(ahead) == 3


def test_only_partitions_under_half_their_depth_are_topped_up() -> None:
    ahead: ReadAhead[str, Rec] = ReadAhead()
    ahead.add("full", records("full", [1] * 6))
    ahead.add("half", records("half", [1] * 5))
    ahead.add("low", records("low", [1] * 4))
    assert ahead.wanted(["full", "half", "low", "never-read"], depth=10) == [
        ("low", 6),
        ("never-read", 10),
    ]


partitions = st.dictionaries(
    st.sampled_from("abcde"), st.lists(st.integers(0, 50), max_size=30), max_size=5
)


@given(partitions, st.integers(1, 40))
def test_every_record_comes_out_once_in_its_partitions_order(
    buffered: dict[str, list[int]], limit: int
) -> None:
    """Even with timestamps that go back within a partition, nothing is lost or stuck."""
    ahead: ReadAhead[str, Rec] = ReadAhead()
    for partition, timestamps in buffered.items():
        ahead.add(partition, records(partition, timestamps))
    taken: list[Rec] = []
    while batch := ahead.take(limit):
        assert len(batch) <= limit
        taken += batch
    assert len(ahead) == 0
    for partition, timestamps in buffered.items():
        assert [r.offset for r in taken if r.partition == partition] == list(range(len(timestamps)))


@given(partitions, st.integers(1, 40))
def test_a_batch_is_in_timestamp_order_up_to_the_horizon(
    buffered: dict[str, list[int]], limit: int
) -> None:
    """With each partition in timestamp order (as producers stamp them), a batch is sorted and
    holds nothing newer than the newest record buffered of any partition still buffered."""
    ahead: ReadAhead[str, Rec] = ReadAhead()
    for partition, timestamps in buffered.items():
        ahead.add(partition, records(partition, sorted(timestamps)))
    horizon = min((max(ts) for ts in buffered.values() if ts), default=None)
    batch = ahead.take(limit)
    times = [r.timestamp for r in batch]
    assert times == sorted(times)
    if horizon is not None:
        assert batch
        assert all(t <= horizon for t in times)
        smallest_left = min((r.timestamp for r in _remaining(ahead)), default=None)
        if len(batch) < limit and smallest_left is not None:
            assert smallest_left > horizon


def _remaining(ahead: ReadAhead[str, Rec]) -> list[Rec]:
    rest: list[Rec] = []
    while batch := ahead.take(1_000):
        rest += batch
    return rest
