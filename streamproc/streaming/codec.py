"""Bytes to events and back: orjson for speed, pydantic for validation, clear errors for people."""

from __future__ import annotations

import base64

import orjson
import pydantic_core
from pydantic import BaseModel, ValidationError

from streamproc.domain.events import INPUT_EVENTS, ClockTicked, InputEvent


class InputError(Exception):
    """A message that cannot become an input event; the sentence says why."""


def encode(event: BaseModel) -> bytes:
    """One event as compact UTF-8 JSON, in a right-sized bytes object.

    pydantic-core's serializer writes the same bytes as orjson of `model_dump(mode="json")`
    (checked on 33,000 states, outputs and inputs), in 40% less time. Two ways that cost
    memory per stored state, measured with `make bench`'s memory phase: orjson 3.12+ returns
    bytes that keep about 4 KB (a copy was needed), and `model_dump_json().encode()` left
    the heap fragmented, about 150 bytes per lead at 100,000 leads.
    """
    return pydantic_core.to_json(event)


def text_or_base64(raw: bytes | None) -> str | None:
    """Raw bytes as text when they are UTF-8, else base64 (for dead letters)."""
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii")


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "the event"
        problems.append(f"{field}: {item['msg'].lower()}")
    return "; ".join(problems)


TICKS_TOPIC = "sla-ticks"
"""The worker's internal topic of SLA timer ticks, co-partitioned with the inputs."""
_MODELS: dict[str, type[InputEvent] | type[ClockTicked]] = {
    **INPUT_EVENTS,
    TICKS_TOPIC: ClockTicked,
}


def decode_input(topic: str, key: bytes | None, value: bytes | None) -> InputEvent | ClockTicked:
    """Decode a message of input topic `topic` (without prefix) into its event.

    Raises InputError when the value is not JSON, fails the topic's schema, or carries a
    `lead_id` that differs from the message key (DESIGN.md: the key is the lead id).
    """
    model = _MODELS[topic]
    if value is None:
        raise InputError(f"the message on {topic} has no value; expected a {model.__name__} event")
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        raise InputError(f"the value on {topic} is not valid JSON ({error})") from error
    try:
        event = model.model_validate(document)
    except ValidationError as error:
        raise InputError(
            f"the value on {topic} is not a valid {model.__name__}: {_describe(error)}"
        ) from error
    expected = text_or_base64(key)
    if expected != event.lead_id:
        raise InputError(
            f"the message key {expected!r} differs from lead_id {event.lead_id!r}; "
            "every topic is keyed by lead_id"
        )
    return event
