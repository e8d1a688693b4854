"""`streamproc worker` as a child process that its parent can always stop (demo, tests)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from pydantic import SecretStr

from streamproc.settings import Settings

READY_LINE = "[^Worker]: Ready"
"""What Faust logs once the worker has joined its group and its agent runs."""


class WorkerError(Exception):
    """The worker exited or did not become ready; the message says why and where to look."""


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived while waiting for the worker."""


class WorkerProcess:
    """`streamproc worker` in its own process group, so that stopping it stops all of it."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.settings, self.log = settings, log
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [str(Path(sys.executable).parent / "streamproc"), "worker"]

    def environment(self) -> dict[str, str]:
        """This process's environment with the settings as STREAMPROC_* variables; a
        setting that is None is left out (its text, "None", would be a value)."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for name, value in self.settings.model_dump().items():
            env.pop(f"STREAMPROC_{name.upper()}", None)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value is not None:
                env[f"STREAMPROC_{name.upper()}"] = str(value)
        return env

    def start(self) -> int:
        """Launch the command with the environment, in a new process group; its pid."""
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=self.environment(),
                start_new_session=True,
            )
        return self.process.pid

    def check(self) -> None:
        """Raise WorkerError, with the end of the worker's log, if the worker has exited."""
        code = self.process.poll() if self.process else None
        if code is not None:
            how = (
                f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}"
            )
            tail = "\n".join(f"  | {line}" for line in self._log_text().splitlines()[-15:])
            raise WorkerError(f"the worker {how} (log: {self.log})\n{tail}")

    def _log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def is_ready(self) -> bool:
        """Whether the worker has joined its group; WorkerError if it has exited."""
        self.check()
        return READY_LINE in self._log_text()

    def not_ready_error(self, timeout: float) -> WorkerError:
        return WorkerError(f"the worker was not ready after {timeout:.0f} s; see {self.log}")

    async def wait_ready(self, stop: asyncio.Event, timeout: float = 60.0) -> None:
        """Return once the worker is ready; WorkerError if it exits or takes too long."""
        for _ in range(int(timeout / 0.2)):
            if stop.is_set():
                raise Interrupted
            if self.is_ready():
                return
            await asyncio.sleep(0.2)
        raise self.not_ready_error(timeout)

    async def watch(self) -> None:
        """Raise DemoError as soon as the worker exits; runs until cancelled."""
        while True:
            self.check()
            await asyncio.sleep(0.5)

    def kill(self) -> None:
        """SIGKILL the worker's group at once, as a crash would: nothing is flushed."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the worker's group, wait `timeout`, then SIGKILL whatever is left of it."""
        if self.process is None:
            return
        group = self.process.pid  # it leads a new session, so its pid is the group id
        if self.process.poll() is None:
            os.killpg(group, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(group, signal.SIGKILL)
                self.process.wait(10.0)
        with contextlib.suppress(ProcessLookupError):  # children it may have left behind
            os.killpg(group, signal.SIGKILL)
