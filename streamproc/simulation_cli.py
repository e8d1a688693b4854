"""`streamproc generate`: a simulated lead history as JSON Lines, for replays and experiments.

The history is generated lead by lead but printed in stream order, which interleaves all the
leads. So lines are sorted outside memory: spilled into temporary files by when they are
delivered, one file a slice of the history, and each file sorted on its own. Memory holds one
lead and one slice, whatever the number of leads or weeks.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import click
import orjson

from streamproc.cli_support import ProgressLine, check_writable, fail, parse_utc_datetime
from streamproc.definitions import DefinitionError, load_definition
from streamproc.domain.events import TOPIC_OF_INPUT
from streamproc.simulation import SimulationConfig, deliveries
from streamproc.simulation_sales import (
    DEFAULT_OPPORTUNITY_SHARE,
    DEFAULT_QUALIFY_SHARE,
    Delivery,
    Weights,
    check_reasons,
    check_weights,
)

_F = TypeVar("_F", bound=Callable[..., Any])
DEFAULT_START = "2026-01-05T00:00:00+00:00"
"""A fixed default start, so that the same options always print the same lines."""
DEFAULT_WEEKS = 2
_SLICES = 100  # at most this many spill files (plus one for deliveries after the end)
# A spilled line starts with its sort key: microseconds into its slice, kind, number.
_KEY = b"%016d%d%012d"
_KEY_LENGTH = 16 + 1 + 12
_MICROSECOND = timedelta(microseconds=1)


def _parse_start(_context: click.Context, _param: click.Parameter, value: str) -> datetime:
    try:
        return parse_utc_datetime(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO date or date-time, e.g. 2026-01-05 or {DEFAULT_START}"
        ) from None


def _check_out(_context: click.Context, _param: click.Parameter, value: BinaryIO) -> BinaryIO:
    # A file opened for writing is opened lazily, at the first line, after the history has
    # been generated; a path that cannot be written is refused before.
    if isinstance(value, click.utils.LazyFile):
        check_writable(Path(value.name), "--out")
    return value


def _check_definition(_context: click.Context, _param: click.Parameter, value: str) -> str:
    # Checked before the first line is written, so a typo does not leave half an output file.
    # A mistake in the file is the file's, not the command line's: said as the other
    # commands say it, without the usage text.
    try:
        load_definition(value)
    except DefinitionError as error:
        fail(str(error))
    return value


def _parse_reasons(
    _context: click.Context, _param: click.Parameter, value: str | None
) -> Weights | None:
    if value is None:
        return None
    weights = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        code, _, weight = item.partition("=")
        try:
            weights.append((code.strip(), float(weight) if weight else 1.0))
        except ValueError:
            raise click.BadParameter(
                f"{weight!r} is not a number in {item!r}; give CODE=WEIGHT pairs, "
                "e.g. wrong_icp=3,no_budget=1"
            ) from None
    try:
        check_weights(tuple(weights))
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    return tuple(weights)


def _share(name: str, default: float, help: str) -> Callable[[_F], _F]:
    """An option that is a share between 0 and 1."""
    return click.option(
        name, type=click.FloatRange(0.0, 1.0), default=default, show_default=True, help=help
    )


@click.command()
@click.option("--leads", type=click.IntRange(min=0), default=200, show_default=True)
@click.option(
    "--weeks",
    type=click.IntRange(min=1),
    help=f"length of the history in weeks  [default: {DEFAULT_WEEKS}]",
)
@click.option(
    "--days",
    type=click.IntRange(min=1),
    help="length of the history in days, instead of --weeks",
)
@click.option("--seed", type=int, default=7, show_default=True)
@_share(
    "--icp-share",
    0.3,
    "share of leads that fit the ideal customer profile",
)
@click.option(
    "--definition",
    default="default",
    show_default=True,
    callback=_check_definition,
    help="a shipped definition or a file: its reps, routing and reason codes",
)
@_share(
    "--review-rate",
    0.8,
    "share of MQLs a rep ever reviews",
)
@_share(
    "--accept-share",
    0.8,
    "share of reviewed MQLs that reps accept; they reject the others",
)
@click.option(
    "--reject-reasons",
    callback=_parse_reasons,
    metavar="CODE=WEIGHT,...",
    help="reason codes of the definition that reps give when they reject, and how often, "
    "e.g. wrong_icp=3,no_budget=1 (a bare code weighs 1)  [default: mostly wrong_icp for "
    "poor fits, low_intent and bad_timing for good ones]",
)
@_share(
    "--qualify-share",
    DEFAULT_QUALIFY_SHARE,
    "share of accepted leads (SAL) that reps qualify as SQL after a discovery call, if "
    "the answers meet the definition; they disqualify or leave the others",
)
@_share(
    "--opportunity-share",
    DEFAULT_OPPORTUNITY_SHARE,
    "share of SQLs that open an opportunity once a rep called them (more of those with "
    "a confirmed budget)",
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
    callback=_check_out,
    help="file to write  [default: stdout]",
)
def generate(
    leads: int,
    weeks: int | None,
    days: int | None,
    seed: int,
    icp_share: float,
    definition: str,
    review_rate: float,
    accept_share: float,
    reject_reasons: Weights | None,
    qualify_share: float,
    opportunity_share: float,
    start: datetime,
    out: BinaryIO,
) -> None:
    """Print a simulated history of B2B leads, one {"topic", "event"} JSON object a line.

    Behaviour, profiles and the reps' sales actions on the MQLs, by the definition's queues
    and reason codes. Lines are in stream order: event time, with a few producer retries and
    late events. The same options print the same bytes.
    """
    if weeks is not None and days is not None:
        raise click.UsageError("give the length as --weeks or as --days, not both")
    if reject_reasons is not None:
        try:
            check_reasons(reject_reasons, load_definition(definition))
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="'--reject-reasons'") from None
    config = SimulationConfig(
        start=start,
        leads=leads,
        days=days if days is not None else 7 * (weeks or DEFAULT_WEEKS),
        seed=seed,
        icp_share=icp_share,
        definition=definition,
        review_rate=review_rate,
        accept_share=accept_share,
        qualify_share=qualify_share,
        opportunity_share=opportunity_share,
        reject_reasons=reject_reasons,
    )
    slice_days = max(1, math.ceil(config.days / _SLICES))
    _write_in_stream_order(deliveries(config), start, timedelta(days=slice_days), out, leads)


def _write_in_stream_order(
    items: Iterable[Delivery],
    start: datetime,
    width: timedelta,
    out: BinaryIO,
    total_leads: int = 0,
) -> None:
    """Write the deliveries as lines in (delivered at, order) order, through one spill file
    per `width` of delivery time from `start`; progress on stderr when it is a terminal."""
    progress = ProgressLine()
    events = leads = 0
    lead_id = ""
    with tempfile.TemporaryDirectory(prefix="streamproc-generate-") as directory:
        files: dict[int, BinaryIO] = {}
        try:
            for at, (kind, number), event in items:
                events += 1
                if event.lead_id != lead_id:
                    lead_id, leads = event.lead_id, leads + 1
                    progress.show(_generated(leads, total_leads, events))
                index, into = divmod(at - start, width)
                spill = files.get(index)
                if spill is None:
                    spill = files[index] = (Path(directory) / f"{index}.jsonl").open("wb")
                line = orjson.dumps(
                    {"topic": TOPIC_OF_INPUT[type(event)], "event": event.model_dump(mode="json")}
                )
                spill.write(_KEY % (into // _MICROSECOND, kind, number) + line + b"\n")
        finally:
            for spill in files.values():
                spill.close()
        progress.show(f"{_generated(leads, total_leads, events)}; sorting", now=True)
        for index in sorted(files):
            lines = (Path(directory) / f"{index}.jsonl").read_bytes().splitlines()
            lines.sort()
            out.writelines(line[_KEY_LENGTH:] + b"\n" for line in lines)
    elapsed = time.monotonic() - progress.started
    progress.close(f"generated {events:,} events of {leads:,} leads in {elapsed:.1f} s")


def _generated(leads: int, total_leads: int, events: int) -> str:
    share = f" ({100 * leads / total_leads:.0f}%)" if total_leads else ""
    return f"generating: {leads:,} of {total_leads:,} leads{share}, {events:,} events"
