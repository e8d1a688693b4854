"""Loading and validating definition files; the shipped definitions live in `shipped/`."""

from streamproc.definitions.loader import (
    DefinitionError,
    load_definition,
    parse_definition,
    shipped_names,
)

__all__ = ["DefinitionError", "load_definition", "parse_definition", "shipped_names"]
