"""The README's "Produce your first event", run as a user would: Kafka's own console producer
and consumer from the jars the project fetched, then the lead's view over HTTP."""

from __future__ import annotations

import re
import subprocess
import urllib.request
from pathlib import Path

import orjson
import pytest

from streamproc.localkafka.fetch import DEFAULT_CACHE_DIR
from tests.integration.conftest import start_worker, worker_settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

README = (Path(__file__).parents[2] / "README.md").read_text()
LOCAL_BROKER = "127.0.0.1:9092"


def first_event_commands() -> tuple[str, str]:
    """The README section's shell blocks that produce, and that read the outputs."""
    section = README.split("## Produce your first event", 1)[1].split("\n## ", 1)[0]
    _, produce, read = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    return produce, read


def test_the_readmes_first_event_crosses_and_the_console_consumer_reads_it(
    kafka: str, tmp_path: Path
) -> None:
    settings = worker_settings(kafka, tmp_path, "acme")
    worker = start_worker(settings, tmp_path / "worker.log")
    produce, read = first_event_commands()
    # The same commands on the test's broker, topics (under its prefix) and web port.
    prefix = settings.topic_prefix
    produce = produce.replace(LOCAL_BROKER, kafka).replace('--topic "$1"', f'--topic "{prefix}$1"')
    produce = produce.replace("~/.cache/streamproc/kafka-4.1.1/lib", str(DEFAULT_CACHE_DIR))
    consume, curl = read.strip().rsplit("\n", 1)
    consume = consume.replace(LOCAL_BROKER, kafka).replace(
        "--topic mql-crossed", f"--topic {prefix}mql-crossed"
    )
    try:
        subprocess.run(["bash", "-ec", produce], check=True, timeout=120, capture_output=True)
        lib = f"KAFKA_LIB={DEFAULT_CACHE_DIR}\n"
        consumed = subprocess.run(
            ["bash", "-ec", lib + consume + " --timeout-ms 60000"],
            check=True,
            timeout=120,
            capture_output=True,
            text=True,
        )
        crossed = orjson.loads(consumed.stdout.strip().splitlines()[-1])
        assert crossed["lead_id"] == "lead-42"
        assert crossed["score"] == {"fit": 60.0, "intent": 20.0, "total": 80.0}
        url = re.search(r"http://\S+", curl)
        assert url is not None, curl
        view = url.group(0).replace(":6066", f":{settings.web_port}")
        with urllib.request.urlopen(view, timeout=10) as answer:
            lead = orjson.loads(answer.read())
        assert lead["stage"] == "mql"
    finally:
        worker.stop()
