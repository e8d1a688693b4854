"""The `streamproc` command."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import NoReturn

import click
from pydantic import ValidationError

from streamproc.backtest.cli import backtest
from streamproc.contract import write_schemas
from streamproc.definitions import DefinitionError, load_definition
from streamproc.demo import demo
from streamproc.localkafka.cli import broker
from streamproc.settings import Settings
from streamproc.simulation_cli import generate


@click.group()
def main() -> None:
    """Real-time lead scoring and lifecycle on Kafka."""


main.add_command(backtest)
main.add_command(broker)
main.add_command(demo)
main.add_command(generate)


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@main.command()
def worker() -> None:
    """Run the worker: consume the input topics, publish scores and stage changes.

    Configured by STREAMPROC_* environment variables (see the README).
    """
    import mode.loop

    from streamproc.collector import collect_less_often
    from streamproc.streaming.topics import TopicError, ensure_topics
    from streamproc.worker import compose_worker, run_worker

    try:
        settings = Settings()
    except ValidationError as error:
        _fail(f"a STREAMPROC_* setting is wrong: {error}")
    if settings.event_loop == "uvloop":
        # Before any loop exists: Faust's worker and `ensure_topics` both get theirs from the
        # policy this installs (what `faust worker --loop uvloop` does).
        try:
            mode.loop.use("uvloop")
        except ImportError:
            _fail("uvloop is not installed here; set STREAMPROC_EVENT_LOOP=asyncio")
    try:
        pipeline = compose_worker(settings)  # loads and checks the definitions first
    except DefinitionError as error:
        _fail(str(error))
    try:
        asyncio.run(ensure_topics(settings))
    except TopicError as error:
        _fail(str(error))
    except Exception as error:  # the admin client raises several kinds for "no broker"
        _fail(f"cannot reach Kafka at {settings.bootstrap_servers} ({error!r}); is it running?")
    Path(pipeline.app.conf.datadir).mkdir(parents=True, exist_ok=True)
    collect_less_often()
    run_worker(pipeline)


@main.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("schemas"), show_default=True)
def schemas(out: Path) -> None:
    """Write the JSON Schema of every topic's events into OUT."""
    for path in write_schemas(out):
        click.echo(path)


@main.command("check-definition")
@click.argument("name_or_path")
def check_definition(name_or_path: str) -> None:
    """Validate a definition file (or shipped name) and summarise it."""
    try:
        definition = load_definition(name_or_path)
    except DefinitionError as error:
        _fail(str(error))
    click.echo(
        f"{definition.label}: threshold {definition.threshold:g}, "
        f"{len(definition.fit.rules)} fit rules, {len(definition.intent.rules)} intent rules, "
        f"{len(definition.intent.signals)} signals"
    )
