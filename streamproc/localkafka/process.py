"""The broker as an operating-system process: its pid file, ports, launch, readiness and stop.

Nothing here knows about a broker's configuration beyond the paths and ports it is given; a
process counts as "our broker" only if its command line ends with `kafka.Kafka <properties>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from streamproc.localkafka.fetch import LocalKafkaError, last_meaningful_line

# The broker must outlive the caller and must not become its zombie (a test session keeps
# running after starting it): this launcher starts it in a new session and exits at once, so
# the broker is re-parented to init. `-I` keeps the caller's PYTHON* variables out.
_LAUNCHER = """import subprocess, sys
with open(sys.argv[1], "ab") as log:
    proc = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)
print(proc.pid)
"""


def live_pid(pid_file: Path, properties_file: Path) -> int | None:
    """Return the pid in `pid_file` if it is the broker of `properties_file`, else remove it."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        pid = None
    if pid is not None and is_broker_process(pid, properties_file):
        return pid
    # The pid is gone or was reused by another program: never signal it.
    pid_file.unlink(missing_ok=True)
    return None


def is_broker_process(pid: int, properties_file: Path) -> bool:
    """Whether `pid` is a live Kafka broker started with `properties_file`."""
    command = _process_command(pid)
    return command is not None and command.endswith(f" kafka.Kafka {properties_file}")


def _process_command(pid: int) -> str | None:
    """Return the command line of a live process, or None if it is gone or a zombie (Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    # The state follows the command name in parentheses, which may itself hold spaces.
    if stat.rpartition(")")[2].split()[0] in ("Z", "X"):
        return None
    return " ".join(arg.decode(errors="replace") for arg in argv if arg)


def port_in_use(host: str, port: int) -> bool:
    """Whether another socket holds `host:port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Kafka binds with SO_REUSEADDR too, so connections of a just-stopped broker lingering
        # in TIME_WAIT do not count as "in use".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def launch_detached(command: list[str], log: Path, pid_file: Path) -> int:
    """Start `command` detached with its output in `log`, record its pid and return it.

    A previous `log` is kept as `<log>.1`: it may explain why that run ended.
    """
    if log.exists():
        log.replace(log.with_name(f"{log.name}.1"))
    result = subprocess.run(
        [sys.executable, "-I", "-c", _LAUNCHER, str(log), *command],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise LocalKafkaError(f"could not launch the Kafka broker with {command[0]}: {reason}")
    pid = int(result.stdout)
    pid_file.write_text(f"{pid}\n")
    return pid


def wait_ready(
    pid: int,
    address: tuple[str, int],
    log: Path,
    deadline: float,
    timeout: float,
) -> None:
    """Wait until the broker `pid` answers a metadata request on `address`.

    Raises if it exits first or `deadline` (a `time.monotonic()` value) passes; `timeout` is
    only quoted in the error.
    """
    host, port = address
    bootstrap_servers = f"{host}:{port}"
    # Alive is enough here: the pid is the one just launched, and for a moment after the fork
    # (long on a loaded machine) its command line is still the launcher's, not java's.
    while _process_command(pid) is not None:
        # A plain connect first: aiokafka logs an error for every refused bootstrap.
        with socket.socket() as sock:
            sock.settimeout(1.0)
            port_open = sock.connect_ex(address) == 0
        if port_open and _metadata_answers(bootstrap_servers):
            return
        if time.monotonic() > deadline:
            raise LocalKafkaError(
                f"the Kafka broker did not answer on {bootstrap_servers} within "
                f"{timeout:.0f} s: {last_meaningful_line(log)} (log: {log})"
            )
        time.sleep(0.25)
    raise LocalKafkaError(
        f"the Kafka broker exited during startup: {last_meaningful_line(log)} (log: {log})"
    )


def _metadata_answers(bootstrap_servers: str) -> bool:
    # In a thread with its own event loop, so callers may already be running one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(_describe_cluster(bootstrap_servers))).result()


async def _describe_cluster(bootstrap_servers: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient  # lazy: keeps `streamproc --help` fast
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=3000)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
    except KafkaError:
        return False
    finally:
        await admin.close()
    return bool(cluster["brokers"])


def stop_process(pid: int, properties_file: Path, timeout: float) -> None:
    """Stop the broker `pid`: SIGTERM, wait `timeout`, then SIGKILL and wait 10 s more.

    `pid` must just have been found by `live_pid`; SIGKILL is sent only if it still runs.
    """
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        end = time.monotonic() + wait
        while is_broker_process(pid, properties_file) and time.monotonic() < end:
            time.sleep(0.1)
        if not is_broker_process(pid, properties_file):
            return
    raise LocalKafkaError(f"broker pid {pid} survived SIGKILL: check it with ps")
