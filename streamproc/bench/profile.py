"""An optional py-spy profile of the worker while it works through the backlog (`--profile`).

py-spy samples the process from outside (`--nonblocking`: the worker is not paused), so the
throughput it measures is barely touched. The raw collapsed stacks are kept next to the run's
logs; the JSON gets the top frames by own time, inclusive time, and own time per package.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

PACKAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("streamproc.domain", ("streamproc/domain/",)),
    ("streamproc.streaming", ("streamproc/streaming/",)),
    ("faust", ("faust/",)),
    ("mode", ("mode/",)),
    ("aiokafka", ("aiokafka/", "kafka/")),
    ("pydantic", ("pydantic/", "pydantic_core/")),
    ("event loop", ("asyncio/", "selectors.py")),
)
_LINE = re.compile(r":\d+\)$")


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start_profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """Record `pid` for `seconds` into `out` (collapsed stacks); None without py-spy."""
    binary = py_spy()
    if binary is None:
        return None
    command = [binary, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))]
    command += ["--rate", "100", "--format", "raw", "--nonblocking", "--output", str(out)]
    with out.with_suffix(".log").open("wb") as log:
        # Its own session: py-spy answers SIGINT by signalling its whole process group.
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )


def stop_profile(process: subprocess.Popen[bytes]) -> None:
    """End a recording early: on SIGINT py-spy writes what it has."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    finish_profile(process, 30.0)


def finish_profile(process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def _function(frame: str) -> str:
    """`name (path:line)` -> `name (path)`: samples of one function add up."""
    return _LINE.sub(")", frame.strip())


def _package(frame: str) -> str:
    """Which package a `name (path)` frame is in; py-spy shortens site-packages paths."""
    path = "/" + frame[frame.rfind("(") + 1 :].rstrip(")")
    for name, prefixes in PACKAGES:
        if any(f"/{prefix}" in path for prefix in prefixes):
            return name
    return "other"


def summarize(stacks: list[str], top: int = 25) -> dict[str, Any]:
    """Top frames of collapsed stacks (`frame;frame;... count` per line)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in stacks:
        path, _, count_text = line.rstrip().rpartition(" ")
        if not path or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(frame) for frame in path.split(";") if frame]
        total += count
        own[frames[-1]] += count
        packages[_package(frames[-1])] += count
        for frame in set(frames):
            inclusive[frame] += count

    def shares(counter: Counter[str], n: int) -> list[list[Any]]:
        return [[name, round(100 * c / total, 1)] for name, c in counter.most_common(n)]

    if not total:
        return {"samples": 0}
    return {
        "samples": total,
        "own_percent": shares(own, top),
        "inclusive_percent": shares(inclusive, top),
        "own_percent_by_package": shares(packages, len(PACKAGES) + 1),
    }


def summarize_file(path: Path, top: int = 25) -> dict[str, Any]:
    if not path.exists():
        return {"samples": 0, "error": f"no profile written (see {path.with_suffix('.log')})"}
    return {**summarize(path.read_text(errors="replace").splitlines(), top), "raw": str(path)}


def describe_profile(profile: dict[str, Any], top: int = 10) -> list[str]:
    """A few lines for the progress output: own time by package, then the top frames."""
    if not profile.get("samples"):
        return [f"no profile: {profile.get('error')}"]
    packages = ", ".join(f"{name} {share}%" for name, share in profile["own_percent_by_package"])
    lines = [f"py-spy, {profile['samples']} samples, own time by package: {packages}"]
    lines += [f"  {share:5.1f}% own  {name}" for name, share in profile["own_percent"][:top]]
    return lines
