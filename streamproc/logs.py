"""The worker's log lines as JSON (`STREAMPROC_LOG_FORMAT=json`): one object per line.

Faust and mode configure the root logger when the worker starts (`mode.utils.logging`); the
configuration here replaces their console handler's formatter, so Faust's own lines come out
as JSON too. Plain text stays the default.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

from streamproc.settings import Settings

PLACE_FIELDS = ("topic", "partition", "offset")
"""Given with `extra=` by a log call that concerns one place in a topic; copied when present."""


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message"}`, the place fields when known, and the
    traceback of an exception as one string."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in PLACE_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


def logging_config(settings: Settings) -> dict[str, Any] | None:
    """What to merge into mode's logging configuration: None keeps its plain text."""
    if settings.log_format != "json":
        return None
    return {
        "merge": True,  # mode's own configuration, with its console handler replaced
        "version": 1,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            }
        },
    }
