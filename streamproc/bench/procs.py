"""Child processes of the benchmark: the worker, the plain Faust baseline, their memory, logs."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from streamproc.settings import Settings
from streamproc.worker_process import WorkerProcess

DEBUG_VARIABLES = ("PYTHONDEVMODE", "PYTHONASYNCIODEBUG", "PYTHONTRACEMALLOC", "PYTHONMALLOC")
"""Never benchmark in debug mode: asyncio debug cut a raw passthrough from 50k to 4k events/s."""


def scrub_debug_environment() -> list[str]:
    """Remove debug switches from this process's environment, which children inherit."""
    return [name for name in DEBUG_VARIABLES if os.environ.pop(name, None) is not None]


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (peak resident) of a process, in kB."""
    figures: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            figures[name] = int(rest.split()[0])
    return figures


def directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class LogWatch:
    """Reads a growing log file and notes when lines of interest first appeared."""

    def __init__(self, path: Path, started: float) -> None:
        self.path, self.started = path, started
        self.text, self._offset = "", 0
        self.first_seen: dict[str, float] = {}

    def _read(self) -> float:
        if self.path.exists():
            with self.path.open("rb") as log:
                log.seek(self._offset)
                self.text += log.read().decode(errors="replace")
                self._offset = log.tell()
        return time.perf_counter() - self.started

    def poll(self, *needles: str) -> dict[str, float]:
        """Seconds from `started` to the first sight of each needle seen so far."""
        now = self._read()
        for needle in needles:
            if needle not in self.first_seen and needle in self.text:
                self.first_seen[needle] = now
        return self.first_seen

    def poll_after(self, anchor: str, needle: str) -> float | None:
        """Seconds from `started` to the first sight of `needle` after `anchor`'s first line."""
        now = self._read()
        if needle not in self.first_seen:
            at = self.text.find(anchor)
            if at >= 0 and self.text.find(needle, at) >= 0:
                self.first_seen[needle] = now
        return self.first_seen.get(needle)


class BaselineProcess(WorkerProcess):
    """`python -m streamproc.bench.faust_baseline ARGS` in its own process group."""

    def __init__(self, settings: Settings, log: Path, args: list[str]) -> None:
        super().__init__(settings, log)
        self.args = args

    def command(self) -> list[str]:
        return [sys.executable, "-m", "streamproc.bench.faust_baseline", *self.args]


class Children:
    """Every child process the run started, so that every exit path stops all of them."""

    def __init__(self) -> None:
        self._all: list[WorkerProcess] = []

    def add(self, child: WorkerProcess) -> WorkerProcess:
        self._all.append(child)
        return child

    def stop(self, child: WorkerProcess) -> None:
        child.stop()
        if child in self._all:
            self._all.remove(child)

    def stop_all(self) -> None:
        while self._all:
            self._all.pop().stop(timeout=10.0)


def pid_of(child: WorkerProcess) -> int:
    if child.process is None:
        raise RuntimeError("the process was not started")
    return child.process.pid


async def start_and_wait_ready(child: WorkerProcess, timeout: float) -> tuple[float, float]:
    """Start `child` and wait for Faust's ready line: (perf_counter at start, seconds to it)."""
    started = time.perf_counter()
    child.start()
    while not child.is_ready():
        if time.perf_counter() - started > timeout:
            raise child.not_ready_error(timeout)
        await asyncio.sleep(0.1)
    return started, time.perf_counter() - started
