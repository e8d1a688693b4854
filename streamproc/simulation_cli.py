"""`streamproc generate`: a simulated lead history as JSON Lines, for replays and experiments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import BinaryIO

import click
import orjson

from streamproc.definitions import DefinitionError, load_definition
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


def _check_definition(_context: click.Context, _param: click.Parameter, value: str) -> str:
    # Checked before the first line is written, so a typo does not leave half an output file.
    try:
        load_definition(value)
    except DefinitionError as error:
        raise click.BadParameter(str(error)) from None
    return value


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
    "--definition",
    default="default",
    show_default=True,
    callback=_check_definition,
    help="a shipped definition or a file: its reps, routing and reason codes",
)
@click.option(
    "--review-rate",
    type=click.FloatRange(0.0, 1.0),
    default=0.8,
    show_default=True,
    help="share of MQLs a rep ever reviews",
)
@click.option(
    "--accept-share",
    type=click.FloatRange(0.0, 1.0),
    default=0.8,
    show_default=True,
    help="share of reviewed MQLs that reps accept; they reject the others",
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
    leads: int,
    days: int,
    seed: int,
    icp_share: float,
    definition: str,
    review_rate: float,
    accept_share: float,
    start: datetime,
    out: BinaryIO,
) -> None:
    """Print a simulated history of B2B leads, one {"topic", "event"} JSON object a line.

    Behaviour, profiles and the reps' sales actions on the MQLs, by the definition's queues
    and reason codes. Lines are in stream order: event time, with a few producer retries and
    late events.
    """
    config = SimulationConfig(
        start=start,
        leads=leads,
        days=days,
        seed=seed,
        icp_share=icp_share,
        definition=definition,
        review_rate=review_rate,
        accept_share=accept_share,
    )
    for topic, event in simulate(config):
        out.write(orjson.dumps({"topic": topic, "event": event.model_dump(mode="json")}))
        out.write(b"\n")
