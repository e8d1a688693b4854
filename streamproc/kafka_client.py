"""How every Kafka client of the project connects: one place turns the settings into options.

Every aiokafka client is made with `**client_options(settings)`, and the Faust app gets the
same through `faust_credentials`. `check_connection` opens one connection the way the
clients will, before any work: aiokafka's own bootstrap swallows the cause of a failure into
"Unable to bootstrap" and retries, so a wrong password or an untrusted certificate would
otherwise show as an endless wait or a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    IllegalSaslStateError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

from streamproc.settings import Settings

CONNECT_TIMEOUT_S = 10.0
"""How long the check waits for one broker to complete a TLS handshake and SASL exchange."""


class KafkaAccessError(Exception):
    """The cluster cannot be reached as configured; the message is one line for a person."""


def uses_tls(settings: Settings) -> bool:
    return settings.security_protocol in ("SSL", "SASL_SSL")


def uses_sasl(settings: Settings) -> bool:
    return settings.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of the SSL and SASL_SSL protocols, None for the plaintext ones.

    Without a CA file the system's trusted CAs are used, as managed services expect."""
    if not uses_tls(settings):
        return None
    for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        path = getattr(settings, name)
        if path is not None and not path.is_file():
            raise KafkaAccessError(f"STREAMPROC_{name.upper()}: no file {path}")
    if settings.ssl_keyfile is not None and settings.ssl_certfile is None:
        raise KafkaAccessError("STREAMPROC_SSL_KEYFILE is set without STREAMPROC_SSL_CERTFILE")
    try:
        context = ssl.create_default_context(
            cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None
        )
        if settings.ssl_certfile is not None:
            context.load_cert_chain(
                settings.ssl_certfile, settings.ssl_keyfile, password=_no_passphrase
            )
    except (ssl.SSLError, ValueError) as error:
        raise KafkaAccessError(f"the TLS files cannot be used: {error}") from None
    context.check_hostname = settings.ssl_check_hostname
    return context


def _no_passphrase() -> str:
    """Asked for the key's passphrase: OpenSSL would otherwise prompt on the terminal."""
    raise KafkaAccessError(
        "STREAMPROC_SSL_KEYFILE is encrypted: give the key without a passphrase (a Secret "
        "mounted as a file protects it)"
    )


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client (consumer, producer, admin) of `settings`."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
        "ssl_context": ssl_context(settings),
    }
    if uses_sasl(settings):
        if not settings.sasl_username or settings.sasl_password is None:
            raise KafkaAccessError(
                f"{settings.security_protocol} needs STREAMPROC_SASL_USERNAME and "
                "STREAMPROC_SASL_PASSWORD"
            )
        options.update(
            sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=settings.sasl_username,
            sasl_plain_password=settings.sasl_password.get_secret_value(),
        )
    return options


def faust_credentials(settings: Settings) -> Any:
    """The same options as Faust's `broker_credentials` (None for PLAINTEXT)."""
    import faust  # lazy: the commands that never start a Faust app stay quick to load

    options = client_options(settings)
    if uses_sasl(settings):
        return faust.SASLCredentials(
            username=options["sasl_plain_username"],
            password=options["sasl_plain_password"],
            ssl_context=options["ssl_context"],
            mechanism=settings.sasl_mechanism,
        )
    if uses_tls(settings):
        return faust.SSLCredentials(options["ssl_context"])
    return None


async def check_connection(settings: Settings, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Connect to the bootstrap brokers as every client will, all at once under one deadline;
    KafkaAccessError, in one line that names the broker, the protocol and what failed, if
    none of them lets us in (the most telling failure: a refused login over a refused port)."""
    options = client_options(settings)
    brokers = collect_hosts(options.pop("bootstrap_servers"), randomize=False)

    async def attempt(host: str, port: int) -> BaseException | None:
        try:
            connection = await asyncio.wait_for(
                create_conn(host, port, request_timeout_ms=int(timeout * 1000), **options),
                timeout,
            )
        except (TimeoutError, OSError, KafkaError, ValueError) as error:
            return error
        connection.close()
        return None

    failures = await asyncio.gather(*(attempt(host, port) for host, port, _ in brokers))
    if any(failure is None for failure in failures):
        return
    refusals = [
        (_address(host, port), failure)
        for (host, port, _), failure in zip(brokers, failures, strict=True)
        if failure is not None
    ]
    broker, error = min(refusals, key=lambda refusal: _vagueness(refusal[1]))
    raise KafkaAccessError(explain(settings, broker, error))


def _vagueness(error: BaseException) -> int:
    """How little a failure says about the settings: a broker that answered and refused us
    says most, one that never answered least."""
    if isinstance(error, TimeoutError):
        return 3
    if isinstance(error, ConnectionRefusedError):
        return 2
    if isinstance(error, KafkaConnectionError | ConnectionError):
        return 1
    return 0  # a refused login or certificate, a TLS failure, an unknown host


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def explain(settings: Settings, broker: str, error: BaseException) -> str:
    """One line for a failed connection: broker, protocol and what went wrong."""
    protocol = settings.security_protocol
    at = f"at broker {broker} ({protocol})"
    if isinstance(
        error,
        SaslAuthenticationFailed | AuthenticationFailedError | IllegalSaslStateError,
    ):
        return (
            f"authentication failed for user {settings.sasl_username} with "
            f"{settings.sasl_mechanism} {at}: check STREAMPROC_SASL_USERNAME and "
            "STREAMPROC_SASL_PASSWORD"
        )
    if isinstance(error, UnsupportedSaslMechanismError):
        return f"the broker does not offer SASL mechanism {settings.sasl_mechanism} {at}"
    if isinstance(error, ssl.SSLCertVerificationError):
        trusted = settings.ssl_cafile or "the system's CAs"
        return (
            f"the certificate of broker {broker} is not trusted ({error.verify_message}; "
            f"trusted: {trusted}); set STREAMPROC_SSL_CAFILE to the CA that signed it"
        )
    if isinstance(error, ssl.SSLError):
        if "CERTIFICATE_REQUIRED" in str(error).upper():
            return (
                f"broker {broker} requires a client certificate ({protocol}): set "
                "STREAMPROC_SSL_CERTFILE and STREAMPROC_SSL_KEYFILE"
            )
        if "WRONG_VERSION_NUMBER" in str(error).upper() or "RECORD_LAYER" in str(error).upper():
            return _not_tls(broker, protocol)
        return f"the TLS handshake failed {at}: {error.reason or error}"
    if isinstance(error, ConnectionRefusedError):
        return f"nothing listens {at}: is Kafka running, and is the address right?"
    if isinstance(error, TimeoutError):
        return (
            f"no answer {at} within {CONNECT_TIMEOUT_S:g} s: a firewall, a wrong address, "
            "or a listener that expects another security protocol"
        )
    if isinstance(error, ConnectionResetError) and uses_tls(settings):
        return _not_tls(broker, protocol)  # a plaintext listener resets a TLS handshake
    if isinstance(error, KafkaConnectionError | ConnectionError):
        return f"broker {broker} closed the connection ({protocol}): {_closed_hint(settings)}"
    return f"cannot connect {at}: {error!r}"


def _not_tls(broker: str, protocol: str) -> str:
    return (
        f"broker {broker} does not speak TLS on that port, but {protocol} does: is it a "
        "PLAINTEXT listener? set STREAMPROC_SECURITY_PROTOCOL to match it"
    )


def _closed_hint(settings: Settings) -> str:
    """Why a broker hangs up right after connecting: TLS 1.3 reports a refused client
    certificate only by closing, and a TLS listener closes on a plaintext request."""
    if not uses_tls(settings):
        return "does the listener expect TLS or SASL? set STREAMPROC_SECURITY_PROTOCOL to match it"
    if settings.ssl_certfile is None:
        return (
            "it may require a client certificate (set STREAMPROC_SSL_CERTFILE and "
            "STREAMPROC_SSL_KEYFILE), or expect another security protocol"
        )
    return "it may not trust the client certificate STREAMPROC_SSL_CERTFILE, or expect SASL"


def check_connection_sync(settings: Settings) -> None:
    """`check_connection` from synchronous code (a command), on a loop of its own."""
    with contextlib.closing(asyncio.new_event_loop()) as loop:
        loop.run_until_complete(check_connection(settings))
