"""`streamproc backtest`: a definition (or two) against history, before it goes live."""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import orjson

from streamproc.backtest.engine import replay, replay_both
from streamproc.backtest.kafka_source import read_topics
from streamproc.backtest.render import comparison_to_json, render_comparison, render_text, to_json
from streamproc.backtest.report import compare, summarize
from streamproc.backtest.sources import ReadProgress, SourceError, read_jsonl
from streamproc.definitions import DefinitionError, load_definition
from streamproc.domain.events import InputEvent
from streamproc.settings import Settings

PROGRESS_EVERY_SECONDS = 1.0
REPLAY_GC_THRESHOLD = 50_000
"""Allocations between two collections of the youngest generation during a backtest."""


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


@contextmanager
def _collecting_less_often() -> Iterator[None]:
    """A replay allocates millions of short-lived objects (events, states, outputs) and makes
    few cycles: the collector's default pace, every 700 allocations, costs a tenth of the run."""
    before = gc.get_threshold()
    gc.set_threshold(REPLAY_GC_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _history(
    source: str, since: datetime | None, settings: Settings
) -> tuple[Iterator[InputEvent], ReadProgress]:
    if source.startswith("kafka://"):
        cluster = settings.model_copy(update={"broker": source.removeprefix("kafka://")})
        return read_topics(cluster, since)
    if since is not None:
        raise click.BadParameter("--since applies to a kafka:// source", param_hint="--since")
    return read_jsonl(Path(source))


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
    type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"]),
    help="kafka:// only: from this time on",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(path_type=Path),
    help="also write every figure to this file",
)
def backtest(
    first: str, second: str | None, source: str, since: datetime | None, json_out: Path | None
) -> None:
    """Replay history through a definition and report MQLs, conversion and SLA compliance.

    The replay runs the worker's own domain code in event-time order, so what it reports is
    what the worker would have published. With --compare, the same history goes through both
    definitions and the leads they disagree on are listed with both score breakdowns.
    """
    settings = Settings()
    try:
        definitions = [load_definition(first)] + ([load_definition(second)] if second else [])
        events, progress = _history(source, since, settings)
    except (DefinitionError, SourceError) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    history = _with_progress(events, progress)
    figures: dict[str, Any]
    if len(definitions) == 1:
        with _collecting_less_often():
            result = replay(history, definitions[0], settings.partitions)
        result.invalid = progress.invalid
        report = summarize(result)
        click.echo(render_text(report), nl=False)
        figures = to_json(report)
    else:
        with _collecting_less_often():
            a, b, divergent = replay_both(
                history, definitions[0], definitions[1], settings.partitions
            )
        a.invalid = b.invalid = progress.invalid
        comparison = compare(summarize(a), summarize(b), divergent)
        click.echo(render_comparison(comparison), nl=False)
        figures = comparison_to_json(comparison)
    if json_out is not None:
        json_out.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
        click.echo(f"figures written to {json_out}")
