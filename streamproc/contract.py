"""JSON Schema for every topic's events, generated from the pydantic models into `schemas/`."""

from __future__ import annotations

from pathlib import Path

import orjson

from streamproc.domain.events import INPUT_EVENTS, OUTPUT_EVENTS


def render_schemas() -> dict[str, str]:
    """File name to JSON Schema text, one file per topic."""
    rendered = {}
    for topic, model in {**INPUT_EVENTS, **OUTPUT_EVENTS}.items():
        schema = model.model_json_schema(mode="serialization")
        schema = {
            "$id": f"https://streamproc.dev/schemas/{topic}.json",
            "$comment": f"topic {topic}",
            **schema,
        }
        rendered[f"{topic}.json"] = orjson.dumps(schema, option=orjson.OPT_INDENT_2).decode() + "\n"
    return rendered


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
