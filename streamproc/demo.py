"""`streamproc demo`: the whole pipeline on this machine, from an empty broker to MQLs.

Starts a local Kafka broker (unless one already runs from `.streamproc/kafka`) and a worker in
its own process group, streams a simulated lead history into fresh topics, prints what the
worker publishes, and cleans everything up however the run ends.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

import click
from aiokafka.admin import AIOKafkaAdminClient

from streamproc.cli_support import settings_from_environment
from streamproc.definitions import DefinitionError, load_definition
from streamproc.demo_producer import BAD_MESSAGES, produce
from streamproc.demo_summary import Console, OutputWatcher, Tally, report_counts
from streamproc.kafka_client import KafkaAccessError, check_connection_sync, client_options
from streamproc.localkafka import (
    BrokerConfig,
    LocalKafkaError,
    broker_status,
    start_broker,
    stop_broker,
)
from streamproc.settings import Settings
from streamproc.simulation import SimulationConfig, simulate, simulated_leads
from streamproc.streaming.topics import ensure_topics
from streamproc.worker_process import Interrupted, WorkerError, WorkerProcess

BROKER_DIR = Path(".streamproc/kafka")
DEMO_DIR = Path(".streamproc/demo")
PRODUCE_SHARE = 0.45  # of the run; the rest lets the worker catch up and people read
HISTORY_DAYS = 14


@dataclass(frozen=True)
class DemoOptions:
    """The command line of `streamproc demo`."""

    port: int = 9092
    duration: float = 60.0
    definition: str = "default"
    leads: int = 200
    seed: int = 7
    external: bool = False
    """Stream into the cluster of the STREAMPROC_* settings instead of a local broker."""


class Interrupts:
    """The SIGINT and SIGTERM handler: raises KeyboardInterrupt, or calls `on_signal` if set."""

    def __init__(self) -> None:
        self.on_signal: Callable[[], None] | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.on_signal is None:
            raise KeyboardInterrupt
        self.on_signal()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _delete_topics(settings: Settings, console: Console) -> None:
    """Delete this run's topics: a broker kept across demos would fill up with them."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    try:
        await admin.start()
        names = [
            name for name in await admin.list_topics() if name.startswith(settings.topic_prefix)
        ]
        await admin.delete_topics(names)
        console.line("topics", f"deleted the {len(names)} topics of this run")
    except Exception as error:  # best effort: the demo's result does not depend on it
        console.line("topics", f"could not delete this run's topics: {error!r}", "yellow")
    finally:
        await admin.close()


async def _stream(
    settings: Settings,
    options: DemoOptions,
    worker: WorkerProcess,
    console: Console,
    stop: asyncio.Event,
) -> Tally:
    """Produce, watch and report until the duration is over, a signal, or a failure."""
    # Event times end now, so that the history looks recent to anyone reading the outputs.
    start = datetime.now(UTC) - timedelta(days=HISTORY_DAYS)
    config = SimulationConfig(
        start=start,
        leads=options.leads,
        days=HISTORY_DAYS,
        seed=options.seed,
        definition=options.definition,
    )
    leads = {lead.lead_id: lead for lead in simulated_leads(config)}
    stream = list(simulate(config))
    tally = Tally(leads=len(leads))
    seconds = options.duration * PRODUCE_SHARE
    console.line(
        "stream",
        f"{len(stream)} events of {len(leads)} leads in {seconds:.0f} s, plus {BAD_MESSAGES} "
        f"bad messages; stopping after {options.duration:.0f} s (Ctrl-C stops earlier)",
    )
    tasks = {
        asyncio.create_task(produce(settings, stream, seconds, tally)),
        asyncio.create_task(OutputWatcher(settings, leads, tally, console).run()),
        asyncio.create_task(report_counts(tally, console)),
        asyncio.create_task(worker.watch()),
    }
    stopping = asyncio.create_task(stop.wait())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + options.duration
    try:
        while not stop.is_set() and (left := deadline - loop.time()) > 0:
            waiting = {*tasks, stopping}
            done, _ = await asyncio.wait(waiting, timeout=left, return_when="FIRST_COMPLETED")
            for task in done - {stopping}:
                task.result()  # a failed task ends the demo with its error
                tasks.discard(task)  # only the producer ends by itself
        console.line("stop", "interrupted" if stop.is_set() else f"{options.duration:g} s are over")
        console.line("counts", tally.counts(), "cyan")
    finally:
        for task in (*tasks, stopping):
            task.cancel()
        await asyncio.gather(*tasks, stopping, return_exceptions=True)
    return tally


async def _run(
    options: DemoOptions, cluster: Settings, console: Console, interrupts: Interrupts
) -> Tally:
    """Topics, worker and stream; the worker and the topics are gone when this returns."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def request_stop() -> None:
        loop.call_soon_threadsafe(stop.set)

    interrupts.on_signal = request_stop
    settings = cluster.model_copy(
        update={
            "topic_prefix": f"demo-{datetime.now(UTC):%Y%m%d%H%M%S}.",
            "data_dir": DEMO_DIR,
            "definition": options.definition,
            "web_port": _free_port(),
        }
    )
    await ensure_topics(settings)
    console.line("topics", f"created with prefix {settings.topic_prefix}")
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    worker = WorkerProcess(settings, DEMO_DIR / "worker.log")
    try:
        console.line("worker", f"started, pid {worker.start()}, log in {worker.log}")
        await worker.wait_ready(stop)
        web = f"http://127.0.0.1:{settings.web_port}"
        console.line("worker", f"ready: metrics at {web}/metrics, a lead at {web}/leads/ID/")
        return await _stream(settings, options, worker, console, stop)
    finally:
        interrupts.on_signal = lambda: None  # a clean-up is never cut short
        worker.stop()
        console.line("worker", "stopped")
        await _delete_topics(settings, console)


def run_demo(options: DemoOptions) -> int:
    """Run the demo and print its summary; exit code 0, 1 on failure, 130 if interrupted early."""
    console = Console()
    interrupts = Interrupts()
    previous = {sig: signal.signal(sig, interrupts) for sig in (signal.SIGINT, signal.SIGTERM)}
    config = BrokerConfig(data_dir=BROKER_DIR, port=options.port)
    ours, code, message, tally = False, 0, "", Tally()
    try:
        definition = load_definition(options.definition)
        click.echo(
            f"streamproc demo: {options.leads} simulated leads, definition {definition.label}"
        )
        if options.external:
            cluster = settings_from_environment()
            check_connection_sync(cluster)
            console.line(
                "kafka", f"using {cluster.bootstrap_servers} ({cluster.security_protocol})"
            )
        else:
            ours = not broker_status(config).running
            action = "starting a broker" if ours else "using the running broker"
            console.line("kafka", f"{action} on {config.bootstrap_servers}, data in {BROKER_DIR}")
            status = start_broker(config)
            console.line("kafka", f"ready, pid {status.pid}")
            cluster = settings_from_environment(
                broker=status.bootstrap_servers, security_protocol="PLAINTEXT"
            )
        tally = asyncio.run(_run(options, cluster, console, interrupts))
    except (DefinitionError, KafkaAccessError, LocalKafkaError, WorkerError) as error:
        code, message = 1, str(error)
    except (KeyboardInterrupt, Interrupted):
        code, message = 130, "interrupted before the stream started"
    except Exception as error:  # Kafka clients raise many kinds; one line is what helps
        code, message = 1, f"{type(error).__name__}: {error}"
    finally:
        interrupts.on_signal = lambda: None
        try:
            if ours and stop_broker(config):
                console.line("kafka", "stopped the broker this demo started")
        except LocalKafkaError as error:
            code, message = 1, f"{message}; {error}" if message else str(error)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code:
        click.echo(f"error: {message}", err=True)
        return code
    click.echo("summary:")
    for line in tally.summary(console.elapsed):
        click.echo(f"  {line}")
    return 0


@click.command()
@click.option(
    "--port",
    type=click.IntRange(1, 65534),
    default=9092,
    show_default=True,
    help="port of the local broker; its controller listens on the next one",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=10),
    default=60.0,
    show_default=True,
    help="seconds to stream for; the history goes out in the first half",
)
@click.option("--definition", default="default", show_default=True, help="a shipped name or a file")
@click.option("--leads", type=click.IntRange(min=10), default=200, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--external",
    is_flag=True,
    help="stream into the cluster of STREAMPROC_BROKER and the STREAMPROC_SECURITY_PROTOCOL, "
    "SASL and SSL settings (fresh topics, deleted at the end) instead of a local broker",
)
def demo(
    port: int, duration: float, definition: str, leads: int, seed: int, external: bool
) -> None:
    """Run it all locally: Kafka, a worker, a simulated history and the live outputs.

    Starts a broker from .streamproc/kafka unless it already runs (and then leaves it
    running), streams into fresh topics, prints each MQL crossing and dead letter as it
    happens, and stops everything it started after --duration seconds of streaming or on
    Ctrl-C.
    """
    sys.exit(run_demo(DemoOptions(port, duration, definition, leads, seed, external)))
