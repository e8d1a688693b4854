"""JSON Schema for every topic's events, and for definition files, generated from the pydantic
models into `schemas/`."""

from __future__ import annotations

from pathlib import Path

import orjson

from streamproc.domain.definition import Definition
from streamproc.domain.events import INPUT_EVENTS, OUTPUT_EVENTS

DEFINITION_SCHEMA = "definition.json"
"""The schema of definition files, for editors: `# yaml-language-server: $schema=...`."""


def render_schemas() -> dict[str, str]:
    """File name to JSON Schema text, one file per topic and one for definition files."""
    rendered = {}
    for topic, model in {**INPUT_EVENTS, **OUTPUT_EVENTS}.items():
        schema = model.model_json_schema(mode="serialization")
        schema = {
            "$id": f"https://streamproc.dev/schemas/{topic}.json",
            "$comment": f"topic {topic}",
            **schema,
        }
        rendered[f"{topic}.json"] = _text(schema)
    definition = Definition.model_json_schema(mode="validation", by_alias=True)
    rendered[DEFINITION_SCHEMA] = _text(
        {
            "$id": f"https://streamproc.dev/schemas/{DEFINITION_SCHEMA}",
            "$comment": "a definition file (YAML); see the README's 'The definition file'",
            **definition,
        }
    )
    return rendered


def _text(schema: dict[str, object]) -> str:
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2).decode() + "\n"


def write_schemas(directory: Path) -> list[Path]:
    """Write the schemas into `directory`, removing files of topics that no longer exist."""
    directory.mkdir(parents=True, exist_ok=True)
    rendered = render_schemas()
    for stale in directory.glob("*.json"):
        if stale.name not in rendered:
            stale.unlink()
    written = []
    for name, text in rendered.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
