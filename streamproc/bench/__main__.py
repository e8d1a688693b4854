"""`python -m streamproc.bench [--quick | --big] [...]`: see `streamproc.bench.options`."""

from __future__ import annotations

import sys

from streamproc.bench.options import parse_options
from streamproc.bench.runner import run_bench


def main(argv: list[str] | None = None) -> int:
    try:
        options = parse_options(argv)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return run_bench(options)


if __name__ == "__main__":
    sys.exit(main())
