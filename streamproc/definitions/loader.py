"""Read a definition from YAML and turn every mistake into an error that names file and field."""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Hashable
from importlib import resources
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from streamproc.domain.definition import Definition, PlacedError

_SHIPPED = resources.files("streamproc.definitions") / "shipped"


class DefinitionError(Exception):
    """A definition file that cannot be used; the message names the file, field and problem."""


class _DuplicateKeyError(yaml.MarkedYAMLError):
    """A key given twice in one mapping: YAML would keep the later value without a word."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that gives the same key twice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_lines: dict[Hashable, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # the safe loader's own error says why
            line = key_node.start_mark.line + 1
            if key in first_lines:
                raise _DuplicateKeyError(
                    problem=f"duplicate key {key!r} (first on line {first_lines[key]}); "
                    "YAML would keep the later value",
                    problem_mark=key_node.start_mark,
                )
            first_lines[key] = line
        return super().construct_mapping(node, deep=deep)


def shipped_names() -> list[str]:
    """Names of the definitions that ship with streamproc (`default`, `acme`, ...)."""
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in _SHIPPED.iterdir()
        if entry.name.endswith(".yaml")
    )


def _written(location: tuple[int | str, ...]) -> tuple[int | str, ...]:
    # pydantic adds the name of the union member it tried (e.g. `SignalCondition`) and
    # `[key]` for a mapping's key; a person writing YAML never sees those, so they are left out.
    return tuple(part for part in location if not str(part)[:1].isupper() and part != "[key]")


def _field_path(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in _written(location)) or "(top level)"


Lines = dict[tuple[int | str, ...], int]
"""The line (from 1) on which each key or list item of a YAML document is written."""


def _lines(node: yaml.Node, path: tuple[int | str, ...] = (), found: Lines | None = None) -> Lines:
    found = {} if found is None else found
    found.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                found[(*path, key.value)] = key.start_mark.line + 1
                _lines(value, (*path, key.value), found)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _lines(item, (*path, index), found)
    return found


def _line_of(location: tuple[int | str, ...], lines: Lines) -> int | None:
    """The line of the deepest part of `location` that the file writes."""
    written = _written(location)
    for end in range(len(written), 0, -1):
        if written[:end] in lines:
            return lines[written[:end]]
    return None


def _unwrap(annotation: Any) -> Any:
    """The model type, tuple or dict inside an optional type."""
    if get_origin(annotation) in (Union, types.UnionType):
        members = [member for member in get_args(annotation) if member is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return annotation


def _model_at(location: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model that the value at `location` of a definition is validated as, if any."""
    current: Any = Definition
    for part in location:
        current = _unwrap(current)
        origin = get_origin(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = current.model_fields
            name = next((n for n, f in fields.items() if part in (n, f.alias)), None)
            if name is None:
                return None
            current = fields[name].annotation
        elif origin in (Union, types.UnionType):
            current = next((m for m in get_args(current) if m.__name__ == part), None)
        elif origin is tuple:
            arguments = get_args(current)
            ellipsis = len(arguments) == 2 and arguments[1] is Ellipsis
            current = arguments[0] if ellipsis else None
        elif origin is dict:
            current = get_args(current)[1]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _suggestion(word: str, candidates: list[str]) -> str:
    near = difflib.get_close_matches(word, candidates, n=1)
    return f"did you mean {near[0]!r}?" if near else ""


def _placed(error: ErrorDetails, lines: Lines) -> str:
    """`line N: ` and what is wrong at one place, for a person who writes YAML."""
    location = error["loc"]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, PlacedError):
        location = (*location, *cause.path)
    line = _line_of(location, lines)
    return (f"line {line}: " if line else "") + _problem(error)


def _problem(error: ErrorDetails) -> str:
    """What is wrong at one place, in words for a person who writes YAML."""
    location = error["loc"]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, PlacedError):
        return f"{_field_path((*location, *cause.path))}: {cause}"
    if error["type"] == "extra_forbidden":
        model = _model_at(location[:-1])
        keys = [info.alias or name for name, info in model.model_fields.items()] if model else []
        hint = _suggestion(str(location[-1]), keys) or f"keys here: {', '.join(keys)}"
        return f"{_field_path(location)}: unknown key ({hint})"
    message = f"{_field_path(location)}: {error['msg']}"
    if error["type"] == "literal_error" and isinstance(error.get("input"), str):
        expected = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
        if hint := _suggestion(error["input"], expected):
            message += f" ({hint})"
    return message


def parse_definition(text: str, source: str) -> Definition:
    """Parse and validate YAML text; `source` names the file in error messages."""
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as error:
        line = f" line {error.problem_mark.line + 1}:" if error.problem_mark else ""
        context = ""
        if error.context and error.context_mark:
            context = f" ({error.context} on line {error.context_mark.line + 1})"
        kind = "" if isinstance(error, _DuplicateKeyError) else " not valid YAML:"
        message = f"{source}:{line}{kind} {error.problem}{context}"
        raise DefinitionError(message) from error
    except yaml.YAMLError as error:
        raise DefinitionError(f"{source}: not valid YAML: {error}") from error
    if not isinstance(document, dict):
        raise DefinitionError(f"{source}: expected a mapping of settings at the top level")
    try:
        return Definition.model_validate(document)
    except ValidationError as error:
        root = yaml.compose(text, Loader=yaml.SafeLoader)  # the same text: it loaded above
        lines = _lines(root) if root is not None else {}
        problems = sorted({f"{source}: {_placed(e, lines)}" for e in error.errors()})
        raise DefinitionError("\n".join(problems)) from error


def _read(path: Path) -> str:
    """The text of a definition file, which is UTF-8 (as YAML 1.2 wants)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DefinitionError(f"{path}: cannot be read: {error.strerror or error}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DefinitionError(
            f"{path}: line {line}: not UTF-8 text (byte {data[error.start]:#04x}); "
            "save the file as UTF-8"
        ) from None


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
    return parse_definition(_read(path), str(path))


def check_distinct(
    first: Definition, first_name: str, second: Definition, second_name: str
) -> None:
    """Two definitions that differ but carry the same `name@version` would read as one in a
    comparison and in every event they produce: DefinitionError, asking for a new version."""
    if first.label == second.label and first.model_dump() != second.model_dump():
        raise DefinitionError(
            f"{first_name} and {second_name} differ but are both {first.label}; bump "
            "`version` in the changed one so that the comparison and the events tell them apart"
        )
