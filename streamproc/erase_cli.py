"""`streamproc erase LEAD_ID`: ask the workers to forget a lead.

It produces one `lead-erasures` request keyed by the lead id; the worker that owns the lead
deletes its state and owed deadlines, tombstones their changelog records and publishes
`lead-erased`. What erasure cannot reach is in the README ("Erasing a lead").
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import click
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from streamproc.cli_support import fail, settings_from_environment
from streamproc.domain.events import TOPIC_OF_INPUT, LeadErasureRequested
from streamproc.kafka_client import KafkaAccessError, check_connection, client_options
from streamproc.settings import Settings
from streamproc.streaming.codec import encode

SEND_TIMEOUT_S = 30.0
"""How long the request may wait for the brokers' acknowledgement."""
ERASURES_TOPIC = TOPIC_OF_INPUT[LeadErasureRequested]


class EraseError(Exception):
    """The request could not be produced; the message is one line for a person."""


def erasure_request(
    lead_id: str, requested_by: str | None, now: datetime, event_id: str | None = None
) -> LeadErasureRequested:
    """The request for `lead_id` at `now`, with a new unique id unless one is given."""
    return LeadErasureRequested.model_validate(
        {
            "event_id": event_id or f"erase-{uuid.uuid4()}",
            "lead_id": lead_id,
            "requested_at": now,
            "requested_by": requested_by,
        }
    )


async def request_erasure(settings: Settings, request: LeadErasureRequested) -> None:
    """Produce `request` to the erasures topic and wait until all in-sync replicas have it.

    The topic must exist already (the worker creates its topics at start): a producer that
    created it through the broker's auto-creation would give it the broker's partition count,
    and a topic that is not co-partitioned with the other inputs stops every worker."""
    await check_connection(settings)
    topic = settings.topic(ERASURES_TOPIC)
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            raise EraseError(
                f"there is no topic {topic} at {settings.bootstrap_servers}: start a worker "
                "of this version first, it creates its topics"
            )
    finally:
        await admin.close()
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        sent = producer.send_and_wait(topic, encode(request), key=request.lead_id.encode())
        await asyncio.wait_for(sent, SEND_TIMEOUT_S)
    except TimeoutError:
        raise EraseError(
            f"Kafka did not acknowledge the request on {topic} within {SEND_TIMEOUT_S:g} s"
        ) from None
    finally:
        await producer.stop()


@click.command()
@click.argument("lead_id")
@click.option("--requested-by", metavar="NAME", help="who asks (kept on the request only)")
def erase(lead_id: str, requested_by: str | None) -> None:
    """Ask the workers to erase LEAD_ID: its state, owed SLA deadlines and waiting actions.

    Produces one request to the `lead-erasures` topic; the lead's worker publishes
    `lead-erased` once it is done. Configured by the STREAMPROC_* settings (broker, topic
    prefix, security), like the worker.
    """
    settings = settings_from_environment()
    try:
        request = erasure_request(lead_id, requested_by, datetime.now(UTC))
    except ValidationError as error:
        problems = "; ".join(f"{e['loc'][0]}: {e['msg'].lower()}" for e in error.errors())
        fail(f"cannot request the erasure of {lead_id!r}: {problems}")
    try:
        asyncio.run(request_erasure(settings, request))
    except (EraseError, KafkaAccessError) as error:
        fail(str(error))
    except (KafkaError, OSError) as error:
        fail(f"cannot send the request to Kafka at {settings.bootstrap_servers} ({error!r})")
    click.echo(
        f"requested the erasure of lead {lead_id} ({request.event_id}) on "
        f"{settings.topic(ERASURES_TOPIC)}; the worker publishes {settings.topic('lead-erased')} "
        "when it is done"
    )
