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
from streamproc.cli_support import check_writable, parse_utc_datetime, settings_from_environment
from streamproc.collector import collecting_less_often, not_collecting
from streamproc.definitions import DefinitionError, load_definition
from streamproc.domain.definition import Definition
from streamproc.domain.events import InputEvent
from streamproc.settings import Settings

PROGRESS_EVERY_SECONDS = 1.0


def _with_progress(events: Iterator[InputEvent], progress: ReadProgress) -> Iterator[InputEvent]:
    """Pass events through, writing a progress line to stderr about once a second."""
    started = last = time.monotonic()
    count = 0
    for count, event in enumerate(events, start=1):
        yield event
        if count % 1000 == 0 and (now := time.monotonic()) - last >= PROGRESS_EVERY_SECONDS:
            last = now
            share = f" ({100 * progress.done / progress.total:.0f}%)" if progress.total else ""
            rate = count / (now - started)
            click.echo(f"\rreplayed {count:,} events{share}, {rate:,.0f}/s", err=True, nl=False)
    if time.monotonic() - started >= PROGRESS_EVERY_SECONDS:
        click.echo(f"\rreplayed {count:,} events in {time.monotonic() - started:.1f} s", err=True)


class _ProgressLine:
    """The same progress line for replay processes: events replayed by all of them, the
    share of the history read by the slowest."""

    def __init__(self) -> None:
        self.started = self.last = time.monotonic()
        self.events = 0

    def show(self, progress: Progress) -> None:
        self.events = progress.events
        if (now := time.monotonic()) - self.last >= PROGRESS_EVERY_SECONDS:
            self.last = now
            share = f" ({100 * progress.done / progress.total:.0f}%)" if progress.total else ""
            rate = progress.events / (now - self.started)
            click.echo(
                f"\rreplayed {progress.events:,} events{share}, {rate:,.0f}/s", err=True, nl=False
            )

    def close(self) -> None:
        if (elapsed := time.monotonic() - self.started) >= PROGRESS_EVERY_SECONDS:
            click.echo(f"\rreplayed {self.events:,} events in {elapsed:.1f} s", err=True)


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


def _same_label_differs(definitions: list[Definition], names: list[str]) -> str | None:
    """Two definitions that differ but carry the same `name@version` would read as one in the
    comparison and in every event they produce: the changed one needs a new version."""
    if len(definitions) < 2 or definitions[0].label != definitions[1].label:
        return None
    if definitions[0].model_dump() == definitions[1].model_dump():
        return None
    return (
        f"{names[0]} and {names[1]} differ but are both {definitions[0].label}; "
        "bump `version` in the changed one so that the comparison and the events tell "
        "them apart"
    )


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
        if second is not None and (problem := _same_label_differs(definitions, [first, second])):
            raise DefinitionError(problem)
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
    progress = _ProgressLine()
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
