"""Loading and validating definition files; the shipped definitions live in `shipped/`."""

from streamproc.definitions.loader import (
    DefinitionError,
    check_distinct,
    load_definition,
    parse_definition,
    shipped_names,
)

__all__ = [
    "DefinitionError",
    "check_distinct",
    "load_definition",
    "parse_definition",
    "shipped_names",
]
