"""What every phase of one run shares: options, broker, names, child processes, output."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition

from streamproc.bench.kafka_ops import (
    CommitWait,
    Progress,
    end_offsets,
    partitions_of,
    produce_bulk,
    wait_committed,
)
from streamproc.bench.options import BenchOptions
from streamproc.bench.procs import Children
from streamproc.bench.stats import rate
from streamproc.bench.workload import Message
from streamproc.settings import Settings
from streamproc.streaming.ingest import worker_groups
from streamproc.streaming.topics import INPUT_TOPICS
from streamproc.worker_process import WorkerProcess


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:  # bound at once, so the ports differ
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class Bench:
    options: BenchOptions
    cluster: Settings
    """The cluster the run uses and how to connect to it (the phases' settings start from it)."""
    stamp: str
    root: Path
    """This run's local state: worker data dirs and logs."""
    children: Children = field(default_factory=Children)
    started: float = field(default_factory=time.perf_counter)

    @property
    def topic_prefix(self) -> str:
        """Every topic (and consumer group) of this run starts with this."""
        return f"bench-{self.stamp}-"

    def say(self, phase: str, message: str) -> None:
        print(f"[{time.perf_counter() - self.started:7.1f} s] {phase:<9} {message}", flush=True)

    def progress(self, phase: str) -> Progress:
        return lambda message: self.say(phase, message)

    def settings(self, phase: str, **changes: Any) -> Settings:
        """Worker settings for one phase: its own topics, group, data dir and web port."""
        values: dict[str, Any] = {
            "topic_prefix": f"{self.topic_prefix}{phase}.",
            "data_dir": self.root / phase,
            "web_port": free_ports(1)[0],
            "partitions": self.options.partitions,
            "definition": "default",
            "store": "memory://",
            "log_level": "info",
            "metrics": self.options.metrics,
            **changes,
        }
        settings = self.cluster.model_copy(update=values)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return settings

    async def input_ends(self, settings: Settings) -> dict[TopicPartition, int]:
        """Where each input partition of the phase's topics ends now."""
        inputs = [settings.topic(name) for name in INPUT_TOPICS]
        return await end_offsets(self.cluster, partitions_of(inputs, settings.partitions))

    async def wait_read(
        self,
        phase: str,
        settings: Settings,
        ends: dict[TopicPartition, int],
        worker: WorkerProcess,
        started: float,
    ) -> CommitWait:
        """Until `worker` has committed its inputs up to `ends` (times from `started`)."""
        return await wait_committed(
            self.cluster,
            worker_groups(settings),
            ends,
            self.options.timeout,
            worker.check,
            self.progress(phase),
            started=started,
        )

    async def produce(
        self, phase: str, settings: Settings, messages: Iterable[Message]
    ) -> dict[str, Any]:
        """Produce (topic without prefix, key, value) into the phase's topics."""
        named = ((settings.topic(topic), key, value) for topic, key, value in messages)
        count, seconds = await produce_bulk(
            self.cluster, named, self.options.partitions, self.progress(phase)
        )
        self.say(
            phase, f"produced {count:,} events in {seconds:.1f} s ({rate(count, seconds):,.0f}/s)"
        )
        return {
            "events": count,
            "seconds": round(seconds, 2),
            "events_per_s": round(rate(count, seconds)),
        }
