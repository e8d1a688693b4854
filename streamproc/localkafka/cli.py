"""`streamproc broker start|status|stop`: the local Kafka broker from the command line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from streamproc.localkafka.access import BrokerAccess, broker_access
from streamproc.localkafka.broker import (
    BrokerConfig,
    broker_status,
    start_broker,
    stop_broker,
)
from streamproc.localkafka.fetch import (
    DEFAULT_CACHE_DIR,
    KAFKA_VERSION,
    LocalKafkaError,
    is_cache_complete,
)
from streamproc.localkafka.scram import DEFAULT_SCRAM_USER, credentials_file

_F = TypeVar("_F", bound=Callable[..., object])
_DATA_DIR_HELP = "Broker state directory (config, Kafka logs, broker.log, broker.pid)."


def _data_dir_option(command: _F) -> _F:
    option = click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(".streamproc/kafka"),
        show_default=True,
        help=_DATA_DIR_HELP,
    )
    return option(command)


def _fail(error: LocalKafkaError) -> click.exceptions.Exit:
    click.echo(f"error: {error}", err=True)
    return click.exceptions.Exit(1)


@click.group()
def broker() -> None:
    """Run a local single-node Kafka broker on 127.0.0.1 (needs java and, once, mvn)."""


@broker.command()
@click.option("--port", type=click.IntRange(1, 65535), default=9092, show_default=True)
@click.option(
    "--controller-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="KRaft controller listener port.  [default: PORT + 1]",
)
@_data_dir_option
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_CACHE_DIR,
    show_default=True,
    help="Where the Kafka jars are kept; shared by all data dirs.",
)
@click.option(
    "--sasl-ssl-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Also listen with SASL_SSL (SCRAM-SHA-512 and SCRAM-SHA-256) on this port.",
)
@click.option(
    "--mtls-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Also listen with TLS requiring a client certificate (mTLS) on this port.",
)
@click.option(
    "--scram-user",
    default=DEFAULT_SCRAM_USER,
    show_default=True,
    help="SCRAM user made when the storage is first formatted; its random password is kept "
    "in DATA_DIR/scram-user.json (mode 0600).",
)
def start(
    port: int,
    controller_port: int | None,
    data_dir: Path,
    cache_dir: Path,
    sasl_ssl_port: int | None,
    mtls_port: int | None,
    scram_user: str,
) -> None:
    """Start the broker (or confirm it runs) and wait until it answers.

    Certificates for the TLS listeners are made in DATA_DIR/tls on the first start with one.
    """
    try:
        config = BrokerConfig(
            data_dir,
            port,
            controller_port,
            cache_dir,
            sasl_ssl_port=sasl_ssl_port,
            mtls_port=mtls_port,
            scram_user=scram_user,
        )
        if not is_cache_complete(config.cache_dir):
            # The first start takes a while; say why instead of looking hung.
            click.echo(
                f"Kafka {KAFKA_VERSION} jars are not cached yet: the first start resolves them "
                f"into {config.cache_dir} with mvn (about 30 s)",
                err=True,
            )
        status = start_broker(config)
    except LocalKafkaError as error:
        raise _fail(error) from None
    click.echo(f"running: pid {status.pid}, bootstrap servers {status.bootstrap_servers}")
    _echo_secured_listeners(broker_access(config.data_dir))


@broker.command()
@_data_dir_option
def status(data_dir: Path) -> None:
    """Show whether the broker runs; exit status 0 if it does, 3 if not."""
    config = BrokerConfig(data_dir)
    current = broker_status(config)
    click.echo("running" if current.running else "stopped")
    click.echo(f"pid: {current.pid if current.pid is not None else '-'}")
    click.echo(f"bootstrap servers: {current.bootstrap_servers}")
    if config.properties_file.is_file():
        _echo_secured_listeners(broker_access(current.data_dir))
    click.echo(f"data dir: {current.data_dir}")
    if not current.running:
        raise click.exceptions.Exit(3)


def _echo_secured_listeners(access: BrokerAccess) -> None:
    """One line per secured listener, with what a client needs; never the password itself."""
    if access.sasl_ssl is not None:
        user = access.scram.username if access.scram else "(none: storage formatted without)"
        click.echo(
            f"sasl_ssl ({', '.join(access.scram_mechanisms)}): {access.sasl_ssl}, user {user}, "
            f"password in {credentials_file(access.data_dir)}"
        )
    if access.mtls is not None and access.tls is not None:
        click.echo(
            f"mtls: {access.mtls}, client certificate {access.tls.client_cert}, "
            f"key {access.tls.client_key}"
        )
    if access.tls is not None:
        click.echo(f"ca certificate: {access.tls.ca}")


@broker.command()
@_data_dir_option
def stop(data_dir: Path) -> None:
    """Stop the broker: SIGTERM, then SIGKILL after 30 s."""
    config = BrokerConfig(data_dir)
    try:
        stopped = stop_broker(config)
    except LocalKafkaError as error:
        raise _fail(error) from None
    click.echo("stopped" if stopped else f"no broker was running from {config.data_dir}")
