"""The published contract: schemas/ matches the models, and the domain stays pure."""

from __future__ import annotations

import ast
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from streamproc.contract import render_schemas
from streamproc.definitions import shipped_names
from streamproc.domain.events import EARLIEST, INPUT_EVENTS, LATEST, OUTPUT_EVENTS, PageVisited

ROOT = Path(__file__).parents[2]


def test_schemas_directory_is_up_to_date() -> None:
    """Fails when a model changed but `streamproc schemas` (or `make schemas`) was not run."""
    rendered = render_schemas()
    on_disk = {path.name: path.read_text() for path in (ROOT / "schemas").glob("*.json")}
    assert sorted(on_disk) == sorted(rendered), "run `make schemas`"
    stale = [name for name, text in rendered.items() if on_disk[name] != text]
    assert not stale, f"stale schemas {stale}: run `make schemas`"


def test_every_topic_of_the_design_has_a_schema() -> None:
    assert set(INPUT_EVENTS) == {
        "page-visits",
        "downloads",
        "demo-bookings",
        "lead-profiles",
        "sales-actions",
        "lead-erasures",
    }
    assert set(OUTPUT_EVENTS) == {
        "mql-crossed",
        "lead-stage-changes",
        "sla-breaches",
        "lead-routing",
        "mql-crossed-shadow",
        "lead-erased",
        "dead-letters",
    }


def test_the_definition_schema_takes_the_shipped_definitions_and_catches_a_typo() -> None:
    """What an editor checks a definition file against (`schemas/definition.json`)."""
    schema = json.loads((ROOT / "schemas" / "definition.json").read_text())
    validator = Draft202012Validator(schema)
    for name in shipped_names():
        path = ROOT / "streamproc" / "definitions" / "shipped" / f"{name}.yaml"
        document = yaml.safe_load(path.read_text())
        assert not list(validator.iter_errors(document)), name
        document["fit"]["rules"][0]["feild"] = document["fit"]["rules"][0].pop("field")
        assert any("'feild' was unexpected" in e.message for e in validator.iter_errors(document))


FORBIDDEN_IN_DOMAIN = {
    "faust",
    "aiokafka",
    "asyncio",
    "os",
    "logging",
    "time",
    "streamproc.streaming",
    "streamproc.definitions",
}


def test_the_domain_imports_no_framework_io_or_clock() -> None:
    for path in (ROOT / "streamproc" / "domain").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert not any(
                    name == bad or name.startswith(f"{bad}.") for bad in FORBIDDEN_IN_DOMAIN
                ), f"{path.name} imports {name}"
        source = path.read_text()
        assert "datetime.now" not in source and ".utcnow" not in source, (
            f"{path.name} reads the clock"
        )


@settings(max_examples=300, deadline=None)
@given(
    instant=st.one_of(
        st.datetimes(min_value=datetime(1969, 12, 30), max_value=datetime(1971, 1, 2)),
        st.datetimes(min_value=datetime(2998, 12, 30), max_value=datetime(3000, 1, 2)),
        st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9998, 1, 1)),
    ),
    offset_minutes=st.integers(min_value=-1439, max_value=1439),
)
def test_event_times_are_accepted_exactly_between_1970_and_2999(
    instant: datetime, offset_minutes: int
) -> None:
    moment = instant.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    record = {"event_id": "e", "lead_id": "L", "occurred_at": moment.isoformat(), "url": "/"}
    try:
        PageVisited.model_validate(record)
    except ValidationError:
        accepted = False
    else:
        accepted = True
    assert accepted == (EARLIEST <= moment <= LATEST)
