"""The plain Faust baseline: the agent a Faust user would write, run as a child process.

    python -m streamproc.bench.faust_baseline --app-id ID \
        --topics T1,T2 --partitions 4 --datadir DIR --web-port PORT

The cluster and how to connect to it come from the STREAMPROC_* settings, as the worker's do.

One agent over the input topics, JSON values, one table write per event (`counts[lead] += 1`)
in a memory-store table with its changelog; Faust's default settings otherwise (the partition
count, earliest offset reset and a loopback web server are given so that it runs at all here).
"""

from __future__ import annotations

import argparse
from typing import Any

import faust

from streamproc.kafka_client import faust_credentials
from streamproc.settings import Settings


def build_app(args: argparse.Namespace) -> faust.App:
    cluster = Settings()
    app = faust.App(
        args.app_id,
        broker=f"kafka://{cluster.bootstrap_servers}",
        broker_credentials=faust_credentials(cluster),
        store="memory://",
        datadir=args.datadir,
        topic_partitions=args.partitions,
        consumer_auto_offset_reset="earliest",
        web_bind="127.0.0.1",
        web_host="127.0.0.1",
        web_port=args.web_port,
        autodiscover=False,
    )
    topic = app.topic(*args.topics.split(","), value_serializer="json")
    counts = app.Table("events-per-lead", default=int)

    async def count_events(stream: faust.StreamT[Any]) -> None:
        async for event in stream:
            counts[event["lead_id"]] += 1

    app.agent(topic, name="count_events")(count_events)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--topics", required=True, help="comma-separated full topic names")
    parser.add_argument("--partitions", type=int, required=True)
    parser.add_argument("--datadir", required=True)
    parser.add_argument("--web-port", type=int, required=True)
    args = parser.parse_args(argv)
    app = build_app(args)
    faust.Worker(app, loglevel="info").execute_from_commandline()


if __name__ == "__main__":
    main()
