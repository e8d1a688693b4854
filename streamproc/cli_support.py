"""What the commands share: settings from the environment, one-line errors, early checks of
output paths and of times, and a progress line that only a terminal sees."""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click

from streamproc.settings import Settings, SettingsError, load_settings, unknown_variables

PROGRESS_EVERY_SECONDS = 1.0


def fail(message: str) -> NoReturn:
    """End the command: `error: message` on stderr, exit status 1."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def settings_from_environment(**overrides: Any) -> Settings:
    """The settings of a command, built where it starts: a warning on stderr for each
    `STREAMPROC_*` variable that is no setting, and a wrong value ends the command in one line."""
    for sentence in unknown_variables():
        click.echo(f"warning: {sentence}", err=True)
    try:
        return load_settings(**overrides)
    except SettingsError as error:
        fail(str(error))


def unwritable(path: Path) -> str | None:
    """Why a file cannot be written at `path`, or None when it can: checked before the work
    whose result goes there, so that a typo does not cost the whole run."""
    if path.is_dir():
        return "is a directory"
    directory = path.absolute().parent
    if not directory.is_dir():
        return f"there is no directory {directory}"
    if path.exists() and not os.access(path, os.W_OK):
        return "not allowed to write it"
    if not path.exists() and not os.access(directory, os.W_OK | os.X_OK):
        return f"not allowed to create files in {directory}"
    return None


def check_writable(path: Path | None, option: str) -> None:
    """End the command in one line when the file of `option` cannot be written."""
    if path is not None and str(path) != "-" and (reason := unwritable(path)):
        fail(f"{option} {path}: {reason}")


def parse_utc_datetime(value: str) -> datetime:
    """An ISO 8601 date or date-time, UTC unless it carries an offset: a time read in the
    machine's zone would make a command's result depend on where it runs."""
    moment = datetime.fromisoformat(value)
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)


def stderr_is_terminal() -> bool:
    """Whether a person watches stderr (not a log file or a CI job's output)."""
    return sys.stderr.isatty()


class ProgressLine:
    """A line on stderr rewritten about once a second while work goes on, on a terminal only:
    in a log, lines rewritten with a carriage return are debris."""

    def __init__(self) -> None:
        self.shown = stderr_is_terminal()
        self.started = self.last = time.monotonic()
        self.width = 0

    def show(self, text: str, now: bool = False) -> None:
        """Rewrite the line with `text` if a second has passed since it was last written (or
        `now`, for a change of phase, once the line is shown at all)."""
        if not self.shown:
            return
        at = time.monotonic()
        if at - self.last >= PROGRESS_EVERY_SECONDS or (now and self.width):
            self.last = at
            self._write(text, newline=False)

    def close(self, text: str) -> None:
        """End the line with `text`, if the work took long enough to show progress at all."""
        if self.shown and time.monotonic() - self.started >= PROGRESS_EVERY_SECONDS:
            self._write(text, newline=True)

    def _write(self, text: str, newline: bool) -> None:
        click.echo(f"\r{text.ljust(self.width)}", err=True, nl=newline)
        self.width = len(text)
