"""JSON log lines, the bearer token of the data views, and the warning of an open worker."""

from __future__ import annotations

import logging
import sys
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from streamproc.logs import JsonFormatter, logging_config
from streamproc.settings import Settings
from streamproc.streaming.app import advertised_url
from streamproc.web.auth import BearerGuard
from streamproc.worker import compose_worker, exposure_warning, forwarding_warning


def record(message: str, *args: Any, **extra: Any) -> logging.LogRecord:
    made = logging.LogRecord("faust.worker", logging.WARNING, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def test_a_json_line_is_one_object_with_the_place_when_known() -> None:
    line = JsonFormatter().format(record("read %d", 3, topic="page-visits", partition=2, offset=9))
    assert "\n" not in line
    entry = orjson.loads(line)
    assert entry["message"] == "read 3" and entry["level"] == "WARNING"
    assert entry["logger"] == "faust.worker" and entry["time"].endswith("+00:00")
    assert (entry["topic"], entry["partition"], entry["offset"]) == ("page-visits", 2, 9)


def test_an_exception_stays_on_its_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        made = record("failed")
        made.exc_info = sys.exc_info()
    entry = orjson.loads(JsonFormatter().format(made))
    assert "ValueError: boom" in entry["exception"]


def test_plain_text_is_the_default() -> None:
    assert logging_config(Settings()) is None
    assert logging_config(Settings(log_format="json")) is not None


def request(authorization: str | None) -> Any:
    headers = {} if authorization is None else {"Authorization": authorization}
    return SimpleNamespace(headers=headers)


@pytest.mark.parametrize(
    ("token", "authorization", "allowed"),
    [
        (None, None, True),
        ("s3cret", None, False),
        ("s3cret", "Bearer wrong", False),
        ("s3cret", "s3cret", False),
        ("s3cret", "Bearer s3cret", True),
        ("s3cret", "bearer s3cret", True),
        ("s3cret", "Basic s3cret", False),
        ("s3cret", "Bearer s3cret2", False),
    ],
)
def test_the_guard_wants_the_bearer_token_when_one_is_set(
    token: str | None, authorization: str | None, allowed: bool
) -> None:
    guard = BearerGuard(SecretStr(token) if token else None)
    assert guard.allows(request(authorization)) is allowed


@pytest.mark.parametrize(
    ("host", "token", "warned"),
    [
        ("127.0.0.1", None, False),
        ("localhost", None, False),
        ("0.0.0.0", None, True),
        ("10.1.2.3", None, True),
        ("0.0.0.0", "t", False),
    ],
)
def test_an_open_address_without_a_token_is_warned_about(
    host: str, token: str | None, warned: bool
) -> None:
    settings = Settings(web_host=host, web_token=SecretStr(token) if token else None)
    assert (exposure_warning(settings) is not None) is warned


@pytest.mark.parametrize(
    ("bind", "advertised", "url", "warned"),
    [
        ("127.0.0.1", None, "http://127.0.0.1:6066", False),
        ("0.0.0.0", None, "http://0.0.0.0:6066", True),
        ("0.0.0.0", "10.1.2.3", "http://10.1.2.3:6066", False),
        ("::", "fd00::1", "http://[fd00::1]:6066", False),
        ("::", None, "http://[::]:6066", True),
    ],
)
def test_the_advertised_url_is_what_peers_can_reach_and_a_wildcard_is_warned_about(
    bind: str, advertised: str | None, url: str, warned: bool
) -> None:
    settings = Settings(web_host=bind, web_advertised_host=advertised)
    assert advertised_url(settings) == url
    assert (forwarding_warning(settings) is not None) is warned
    compose_worker(settings)  # Faust takes the URL (an IPv6 host without brackets it refused)
