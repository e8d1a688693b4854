"""Resolve the Apache Kafka jars from Maven Central into a cache directory, once.

The cache holds a generated `pom.xml`, the runtime jars, `mvn.log` (output of the last
resolution) and a marker written only after the jars were copied and checked. A cache with a
current marker is used as is: no `mvn`, no network.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

KAFKA_VERSION = "4.1.1"
_LOG4J_VERSION = "2.24.3"
# Kafka depends on slf4j-api 1.7.x; log4j-slf4j2-impl binds only to slf4j 2.x, so without this
# the broker starts with no logging backend and its errors are lost.
_SLF4J_VERSION = "2.0.17"
# Pinned so that resolving the plugin needs no repository metadata lookup.
_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
_MVN_TIMEOUT_S = 900.0

DEFAULT_CACHE_DIR = Path.home() / ".cache" / "streamproc" / f"kafka-{KAFKA_VERSION}" / "lib"

_DEPENDENCIES = (
    ("org.apache.kafka", "kafka_2.13", KAFKA_VERSION),
    # Kafka's console producer and consumer, for users' first events (README).
    ("org.apache.kafka", "kafka-tools", KAFKA_VERSION),
    ("org.apache.logging.log4j", "log4j-core", _LOG4J_VERSION),
    ("org.apache.logging.log4j", "log4j-slf4j2-impl", _LOG4J_VERSION),
    ("org.slf4j", "slf4j-api", _SLF4J_VERSION),
)
# Jars whose absence means the copy is unusable (the broker, its clients and tools, logging).
REQUIRED_JARS = (
    f"kafka_2.13-{KAFKA_VERSION}.jar",
    f"kafka-clients-{KAFKA_VERSION}.jar",
    f"kafka-tools-{KAFKA_VERSION}.jar",
    f"log4j-core-{_LOG4J_VERSION}.jar",
    f"log4j-slf4j2-impl-{_LOG4J_VERSION}.jar",
    f"slf4j-api-{_SLF4J_VERSION}.jar",
)
_MARKER = ".complete"


# Lines that never explain a failure: Java stack frames, and the JVM's generic epilogue that
# follows its real complaint (e.g. "Invalid maximum heap size").
_NOISE = (
    "at ",
    "...",
    "Error: Could not create the Java Virtual Machine",
    "Error: A fatal exception has occurred",
)


class LocalKafkaError(Exception):
    """A local Kafka step failed; the message is one line saying what to do about it."""


def render_pom() -> str:
    """Return the pom whose runtime dependencies are the broker's classpath."""
    deps = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
        f"<version>{v}</version></dependency>"
        for g, a, v in _DEPENDENCIES
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        "  <groupId>streamproc</groupId><artifactId>localkafka</artifactId>"
        "<version>1</version>\n"
        f"  <dependencies>\n{deps}\n  </dependencies>\n"
        "</project>\n"
    )


def is_cache_complete(cache_dir: Path) -> bool:
    """True if `cache_dir` holds a checked copy of the jars for the pinned versions."""
    marker = cache_dir / _MARKER
    # The marker stores the pom, so changing a pinned version invalidates old caches.
    return (
        marker.is_file()
        and marker.read_text() == render_pom()
        and all((cache_dir / jar).is_file() for jar in REQUIRED_JARS)
    )


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on `path` (created if needed) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def write_file(path: Path, content: bytes, mode: int = 0o644) -> None:
    """Replace `path` with `content` at once; created with `mode` from the start, so a
    private file is never readable by others, even briefly."""
    temporary = path.with_name(f"{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as out:
        out.write(content)
    temporary.replace(path)


def fetch_kafka_jars(cache_dir: Path = DEFAULT_CACHE_DIR) -> Path:
    """Make `cache_dir` hold the Kafka broker's runtime jars and return it.

    Runs `mvn dependency:copy-dependencies` only when the cache is not complete. Concurrent
    callers (parallel test workers) serialise on a lock file so mvn never runs twice at once.
    """
    cache_dir = cache_dir.expanduser().resolve()
    if is_cache_complete(cache_dir):
        return cache_dir
    with file_lock(cache_dir / ".lock"):
        if not is_cache_complete(cache_dir):  # another process may have finished meanwhile
            _run_mvn(cache_dir)
    return cache_dir


def _run_mvn(cache_dir: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LocalKafkaError(
            f"mvn not found on PATH and the Kafka jar cache {cache_dir} is incomplete: "
            "install Maven (e.g. apt-get install maven) or copy a complete cache there"
        )
    pom = cache_dir / "pom.xml"
    pom.write_text(render_pom())
    log = cache_dir / "mvn.log"
    command = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(pom),
        f"{_DEPENDENCY_PLUGIN}:copy-dependencies",
        f"-DoutputDirectory={cache_dir}",
        "-DincludeScope=runtime",
    ]
    with log.open("w") as out:
        try:
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=_MVN_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise LocalKafkaError(
                f"mvn did not finish resolving Kafka {KAFKA_VERSION} jars within "
                f"{_MVN_TIMEOUT_S:.0f} s: check network access to Maven Central; output in {log}"
            ) from None
    if result.returncode != 0:
        raise LocalKafkaError(
            f"mvn failed (exit {result.returncode}) resolving Kafka {KAFKA_VERSION} jars: "
            f"{_first_mvn_error(log)}; full output in {log}"
        )
    missing = [jar for jar in REQUIRED_JARS if not (cache_dir / jar).is_file()]
    if missing:
        raise LocalKafkaError(
            f"mvn succeeded but {cache_dir} lacks {', '.join(missing)}: "
            f"delete that directory and retry; mvn output in {log}"
        )
    (cache_dir / _MARKER).write_text(render_pom())


def _first_mvn_error(log: Path) -> str:
    # Maven prints the cause first and generic advice ("re-run with -X") after it. Even in
    # batch mode it writes ANSI reset codes, which would hide the "[ERROR]" prefix.
    for line in re.sub(r"\x1b\[[0-9;]*m", "", log.read_text(errors="replace")).splitlines():
        message = line.removeprefix("[ERROR]").removesuffix("-> [Help 1]").strip()
        if line.startswith("[ERROR]") and message:
            return message[:300]
    return last_meaningful_line(log)


def last_meaningful_line(log: Path, limit: int = 300) -> str:
    """Return the log line most likely to explain a failure, shortened to `limit` characters.

    Prefers the last line naming an error or exception.
    """
    try:
        with log.open("rb") as handle:
            handle.seek(max(0, log.stat().st_size - 65536))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return f"(no log at {log})"
    lines = [line.strip() for line in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith(_NOISE)]
    if not lines:
        return "(log is empty)"
    markers = ("ERROR", "FATAL", "Exception", "Error:")
    chosen = next((ln for ln in reversed(lines) if any(m in ln for m in markers)), lines[-1])
    return chosen if len(chosen) <= limit else chosen[: limit - 3] + "..."
