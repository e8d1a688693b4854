"""The `streamproc` command."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from streamproc.backtest.cli import backtest
from streamproc.cli_support import fail, settings_from_environment
from streamproc.contract import write_schemas
from streamproc.definitions import DefinitionError, load_definition
from streamproc.demo import demo
from streamproc.erase_cli import erase
from streamproc.kafka_client import KafkaAccessError, check_connection
from streamproc.localkafka.cli import broker
from streamproc.settings import Settings, settings_in_effect
from streamproc.simulation_cli import generate


@click.group()
@click.version_option(package_name="streamproc", prog_name="streamproc")
def main() -> None:
    """Real-time lead scoring and lifecycle on Kafka."""


main.add_command(backtest)
main.add_command(broker)
main.add_command(demo)
main.add_command(erase)
main.add_command(generate)


@main.command()
def worker() -> None:
    """Run the worker: consume the input topics, publish scores and stage changes.

    Configured by STREAMPROC_* environment variables (see the README).
    """
    import mode.loop

    from streamproc.collector import collect_less_often
    from streamproc.streaming.lead_store import changelog_topics
    from streamproc.streaming.topics import TopicError
    from streamproc.worker import compose_worker, run_worker

    settings = settings_from_environment()
    if settings.event_loop == "uvloop":
        # Before any loop exists: Faust's worker and `ensure_topics` both get theirs from the
        # policy this installs (what `faust worker --loop uvloop` does).
        try:
            mode.loop.use("uvloop")
        except ImportError:
            fail("uvloop is not installed here; set STREAMPROC_EVENT_LOOP=asyncio")
    try:
        pipeline = compose_worker(settings)  # loads and checks the definitions first
    except (DefinitionError, KafkaAccessError) as error:
        fail(str(error))
    try:
        warning = asyncio.run(_connect(settings, changelog_topics(pipeline.tables)))
    except (KafkaAccessError, TopicError) as error:
        fail(str(error))
    except Exception as error:  # the admin client raises several kinds for "no broker"
        fail(f"cannot reach Kafka at {settings.bootstrap_servers} ({error!r}); is it running?")
    Path(pipeline.app.conf.datadir).mkdir(parents=True, exist_ok=True)
    collect_less_often()
    run_worker(pipeline, [warning] if warning else [])


async def _connect(settings: Settings, changelogs: list[str]) -> str | None:
    """Fail early, in one line, if the cluster does not let us in; then create the topics.
    Returns the warning for output and changelog topics that take writes on one replica."""
    from streamproc.streaming.durability import durability_warning
    from streamproc.streaming.topics import OUTPUT_TOPICS, ensure_topics

    await check_connection(settings)
    await ensure_topics(settings)
    outputs = [settings.topic(name) for name in OUTPUT_TOPICS]
    return await durability_warning(settings, [*outputs, *changelogs])


@main.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("schemas"), show_default=True)
def schemas(out: Path) -> None:
    """Write the JSON Schema of every topic's events, and of definition files, into OUT."""
    try:
        written = write_schemas(out)
    except OSError as error:
        fail(f"--out {out}: cannot write the schemas there: {error.strerror or error}")
    for path in written:
        click.echo(path)


@main.command("check-definition")
@click.argument("name_or_path")
def check_definition(name_or_path: str) -> None:
    """Validate a definition file (or shipped name) and summarise it."""
    try:
        definition = load_definition(name_or_path)
    except DefinitionError as error:
        fail(str(error))
    click.echo(
        f"{definition.label}: threshold {definition.threshold:g}, "
        f"{len(definition.fit.rules)} fit rules, {len(definition.intent.rules)} intent rules, "
        f"{len(definition.intent.signals)} signals"
    )


@main.command("settings")
def show_settings() -> None:
    """Print every setting in effect, with where it came from; secrets are masked.

    Warns on stderr about STREAMPROC_* variables that are no setting.
    """
    rows = settings_in_effect(settings_from_environment())
    width = max(len(variable) + len(value) for variable, value, _ in rows) + 1
    for variable, value, source in rows:
        click.echo(f"{f'{variable}={value}'.ljust(width)}  # {source}")
