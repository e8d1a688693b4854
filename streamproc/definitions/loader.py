"""Read a definition from YAML and turn every mistake into an error that names file and field."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from streamproc.domain.definition import Definition

_SHIPPED = resources.files("streamproc.definitions") / "shipped"


class DefinitionError(Exception):
    """A definition file that cannot be used; the message names the file, field and problem."""


def shipped_names() -> list[str]:
    """Names of the definitions that ship with streamproc (`default`, `acme`, ...)."""
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in _SHIPPED.iterdir()
        if entry.name.endswith(".yaml")
    )


def _field_path(location: tuple[int | str, ...]) -> str:
    # pydantic adds the name of the union member it tried (e.g. `SignalCondition`); a person
    # writing YAML never sees those names, so they are left out.
    return ".".join(str(part) for part in location if not str(part)[:1].isupper()) or "(top level)"


def parse_definition(text: str, source: str) -> Definition:
    """Parse and validate YAML text; `source` names the file in error messages."""
    try:
        document = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        line = f" line {error.problem_mark.line + 1}:" if error.problem_mark else ""
        context = ""
        if error.context and error.context_mark:
            context = f" ({error.context} on line {error.context_mark.line + 1})"
        message = f"{source}:{line} not valid YAML: {error.problem}{context}"
        raise DefinitionError(message) from error
    except yaml.YAMLError as error:
        raise DefinitionError(f"{source}: not valid YAML: {error}") from error
    if not isinstance(document, dict):
        raise DefinitionError(f"{source}: expected a mapping of settings at the top level")
    try:
        return Definition.model_validate(document)
    except ValidationError as error:
        problems = sorted(
            {f"{source}: {_field_path(e['loc'])}: {e['msg']}" for e in error.errors()}
        )
        raise DefinitionError("\n".join(problems)) from error


def load_definition(name_or_path: str) -> Definition:
    """Load a shipped definition by name (`default`, `acme`, ...) or a definition file by path."""
    shipped = _SHIPPED / f"{name_or_path}.yaml"
    if shipped.is_file():
        return parse_definition(shipped.read_text(encoding="utf-8"), f"{name_or_path} (shipped)")
    path = Path(name_or_path)
    if not path.is_file():
        raise DefinitionError(
            f"{name_or_path}: no such definition file, and not a shipped definition "
            f"(shipped: {', '.join(shipped_names())})"
        )
    return parse_definition(path.read_text(encoding="utf-8"), str(path))
