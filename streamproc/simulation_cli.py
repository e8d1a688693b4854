"""`streamproc generate`: a simulated lead history as JSON Lines, for replays and experiments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import BinaryIO

import click
import orjson

from streamproc.simulation import SimulationConfig, simulate

DEFAULT_START = "2026-01-05T00:00:00+00:00"
"""A fixed default start, so that the same options always print the same lines."""


def _parse_start(_context: click.Context, _param: click.Parameter, value: str) -> datetime:
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO date or date-time, e.g. 2026-01-05 or {DEFAULT_START}"
        ) from None
    # A bare date or a time without offset is read as UTC rather than the machine's zone,
    # which would make the output depend on where it runs.
    return start if start.utcoffset() is not None else start.replace(tzinfo=UTC)


@click.command()
@click.option("--leads", type=click.IntRange(min=0), default=200, show_default=True)
@click.option("--days", type=click.IntRange(min=1), default=14, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--icp-share",
    type=click.FloatRange(0.0, 1.0),
    default=0.3,
    show_default=True,
    help="share of leads that fit the ideal customer profile",
)
@click.option(
    "--start",
    default=DEFAULT_START,
    show_default=True,
    callback=_parse_start,
    help="ISO date or date-time of the first day; UTC unless it has an offset",
)
@click.option(
    "--out",
    type=click.File("wb"),
    default="-",
    help="file to write  [default: stdout]",
)
def generate(
    leads: int, days: int, seed: int, icp_share: float, start: datetime, out: BinaryIO
) -> None:
    """Print a simulated history of B2B leads, one {"topic", "event"} JSON object a line.

    Lines are in stream order: event time, with a few producer retries and late events.
    """
    config = SimulationConfig(start=start, leads=leads, days=days, seed=seed, icp_share=icp_share)
    for topic, event in simulate(config):
        out.write(orjson.dumps({"topic": topic, "event": event.model_dump(mode="json")}))
        out.write(b"\n")
