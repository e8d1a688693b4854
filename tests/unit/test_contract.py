"""The published contract: schemas/ matches the models, and the domain stays pure."""

from __future__ import annotations

import ast
from pathlib import Path

from streamproc.contract import render_schemas
from streamproc.domain.events import INPUT_EVENTS, OUTPUT_EVENTS

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
    }
    assert set(OUTPUT_EVENTS) == {
        "mql-crossed",
        "lead-stage-changes",
        "sla-breaches",
        "lead-routing",
        "mql-crossed-shadow",
        "dead-letters",
    }


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
