"""`streamproc backtest`: a definition (or two) against history, before it goes live."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import orjson

from streamproc.backtest.engine import replay, replay_both
from streamproc.backtest.kafka_source import read_topics
from streamproc.backtest.parallel import Outcome, Progress, ReplayProcessError, replay_partitions
from streamproc.backtest.render import comparison_to_json, render_comparison, render_text, to_json
from streamproc.backtest.report import compare, summarize
from streamproc.backtest.result import DivergentLead
from streamproc.backtest.sources import ReadProgress, SourceError, jsonl_files, read_jsonl
from streamproc.cli_support import (
    ProgressLine,
    check_writable,
    parse_utc_datetime,
    settings_from_environment,
)
from streamproc.collector import collecting_less_often, not_collecting
from streamproc.definitions import DefinitionError, check_distinct, load_definition
from streamproc.domain.definition import Definition
from streamproc.domain.events import InputEvent
from streamproc.settings import Settings


def _replayed(events: int, done: int, total: int, started: float) -> str:
    share = f" ({100 * done / total:.0f}%)" if total else ""
    rate = events / max(time.monotonic() - started, 1e-9)
    return f"replayed {events:,} events{share}, {rate:,.0f}/s"


def _with_progress(events: Iterator[InputEvent], progress: ReadProgress) -> Iterator[InputEvent]:
    """Pass events through, with a progress line on stderr when it is a terminal."""
    line = ProgressLine()
    count = 0
    for count, event in enumerate(events, start=1):
        yield event
        if count % 1000 == 0:
            line.show(_replayed(count, progress.done, progress.total, line.started))
    line.close(f"replayed {count:,} events in {time.monotonic() - line.started:.1f} s")


class _ProcessesProgress:
    """The same progress line for replay processes: events replayed by all of them, the
    share of the history read by the slowest."""

    def __init__(self) -> None:
        self.line = ProgressLine()
        self.events = 0

    def show(self, progress: Progress) -> None:
        self.events = progress.events
        self.line.show(_replayed(progress.events, progress.done, progress.total, self.line.started))

    def close(self) -> None:
        elapsed = time.monotonic() - self.line.started
        self.line.close(f"replayed {self.events:,} events in {elapsed:.1f} s")


def _history(
    source: str, since: datetime | None, settings: Settings
) -> tuple[Iterator[InputEvent], ReadProgress]:
    if source.startswith("kafka://"):
        cluster = settings.model_copy(update={"broker": source.removeprefix("kafka://")})
        return read_topics(cluster, since)
    if since is not None:
        raise click.BadParameter("--since applies to a kafka:// source", param_hint="--since")
    return read_jsonl(Path(source))


def _parse_since(
    _context: click.Context, _param: click.Parameter, value: str | None
) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_utc_datetime(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO date or date-time, e.g. 2026-08-01 or 2026-08-01T09:00+02:00"
        ) from None


@click.command()
@click.option(
    "--definition", "first", required=True, help="the definition to test: a shipped name or a file"
)
@click.option("--compare", "second", help="a second definition to compare it with")
@click.option(
    "--events",
    "source",
    required=True,
    help="a JSON Lines file or a directory of them (as `streamproc generate` writes), or "
    "kafka://HOST:PORT for the input topics of a cluster (STREAMPROC_TOPIC_PREFIX applies)",
)
@click.option(
    "--since",
    callback=_parse_since,
    metavar="DATE[TIME]",
    help="kafka:// only: the records from this time on, by their Kafka record time (not "
    "the events' occurred_at); an ISO date or date-time, UTC unless it has an offset, "
    "e.g. 2026-08-01 or 2026-08-01T09:00+02:00",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(path_type=Path),
    help="also write every figure to this file",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=os.cpu_count() or 1,
    show_default="the number of CPUs",
    help="processes to replay a JSON Lines history in, split by partition (1: in this one)",
)
def backtest(
    first: str,
    second: str | None,
    source: str,
    since: datetime | None,
    json_out: Path | None,
    jobs: int,
) -> None:
    """Replay history through a definition and report MQLs, conversion and SLA compliance.

    The replay runs the worker's own domain code in event-time order, so what it reports is
    what the worker would have published. With --compare, the same history goes through both
    definitions and the leads they disagree on are listed with both score breakdowns.
    """
    check_writable(json_out, "--json")
    settings = settings_from_environment()
    try:
        definitions = [load_definition(first)] + ([load_definition(second)] if second else [])
        if second is not None:
            check_distinct(definitions[0], first, definitions[1], second)
        if jobs > 1 and not source.startswith("kafka://"):
            if since is not None:
                raise click.BadParameter(
                    "--since applies to a kafka:// source", param_hint="--since"
                )
            jsonl_files(Path(source))  # fails here, not in every process
            figures = _report(_in_processes(Path(source), definitions, settings.partitions, jobs))
        else:
            events, progress = _history(source, since, settings)
            figures = _report(_in_this_process(events, progress, definitions, settings.partitions))
    except (DefinitionError, SourceError, ReplayProcessError) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    if json_out is not None:
        json_out.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
        click.echo(f"figures written to {json_out}")


def _in_this_process(
    events: Iterator[InputEvent],
    progress: ReadProgress,
    definitions: list[Definition],
    partitions: int,
) -> Outcome:
    history = _with_progress(events, progress)
    with not_collecting():
        if len(definitions) == 1:
            results = [replay(history, definitions[0], partitions)]
            divergent: list[DivergentLead] = []
        else:
            a, b, divergent = replay_both(history, definitions[0], definitions[1], partitions)
            results = [a, b]
    return Outcome(results, divergent, progress.invalid)


def _in_processes(path: Path, definitions: list[Definition], partitions: int, jobs: int) -> Outcome:
    progress = _ProcessesProgress()
    with collecting_less_often():  # the results of the processes are many small objects
        outcome = replay_partitions(path, definitions, partitions, jobs, progress.show)
    progress.close()
    return outcome


def _report(outcome: Outcome) -> dict[str, Any]:
    """Print the report of one definition, or the comparison of two; every figure."""
    for result in outcome.results:
        result.invalid = outcome.invalid
    if len(outcome.results) == 1:
        report = summarize(outcome.results[0])
        click.echo(render_text(report), nl=False)
        return to_json(report)
    a, b = outcome.results
    comparison = compare(summarize(a), summarize(b), outcome.divergent)
    click.echo(render_comparison(comparison), nl=False)
    return comparison_to_json(comparison)
