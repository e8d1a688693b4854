"""The benchmark's command line: sizes, presets (`--quick`, `--big`) and which phases run."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path

PHASES = ("raw", "faust", "worker", "latency", "scaleout", "memory", "recovery", "expiry")
DEFAULT_PHASES = PHASES[:-1]
"""`expiry` (a simulated year of visitors) runs when asked for: `--phases expiry`."""
"""In run order. `latency` needs `worker` (it runs on that worker at half its throughput);
`scaleout` compares its two workers with the `worker` run."""
MILLION = 1_000_000


@dataclass(frozen=True)
class BenchOptions:
    events: int = 200_000
    leads: int = 10_000
    partitions: int = 4
    seed: int = 7
    memory_leads: tuple[int, ...] = (100_000,)
    rocksdb_leads: int = 100_000
    recovery_leads: int = 100_000
    expiry_visitors: int = 2_000_000
    latency_seconds: float = 20.0
    latency_warmup_seconds: float = 10.0
    """Offered load before the timed window: the first seconds after the throughput phase
    carry its aftermath (waiting sales actions expiring, the broker compacting), a backlog
    of up to 10 s in a third of the runs. Probes of the warm-up are reported apart."""
    latency_share: float = 0.5
    """The offered load of the latency phase, as a share of the worker's measured capacity."""
    phases: tuple[str, ...] = DEFAULT_PHASES
    out_dir: Path = Path("bench-results")
    timeout: float = 900.0
    """Upper bound of any one wait for a consumer to finish, in seconds."""
    preset: str = "default"
    profile: bool = False
    """Sample the Faust baseline and the worker with py-spy for 30 s of their runs."""
    external: bool = False
    """Run on the cluster of the STREAMPROC_* settings (broker and security) instead of a
    local broker: its own topics, deleted at the end."""
    metrics: bool = True
    """Whether the workers count Prometheus metrics (`STREAMPROC_METRICS`): off, to compare
    a run's throughput with and without them."""

    def __post_init__(self) -> None:
        unknown = set(self.phases) - set(PHASES)
        if unknown:
            raise ValueError(f"unknown phases {sorted(unknown)}; choose from {', '.join(PHASES)}")
        if min(self.events, self.leads, self.partitions, *self.memory_leads) < 1:
            raise ValueError("sizes must be positive")
        if self.rocksdb_leads < 0:
            raise ValueError("the rocksdb:// run needs 0 leads (no run) or more")
        if not 0 < self.latency_share <= 1:
            raise ValueError("the latency share must be above 0 and at most 1")
        if self.latency_warmup_seconds < 0:
            raise ValueError("the latency warm-up must not be negative")


QUICK = BenchOptions(
    events=10_000,
    leads=1_000,
    memory_leads=(5_000,),
    rocksdb_leads=5_000,
    recovery_leads=5_000,
    expiry_visitors=20_000,
    latency_seconds=5.0,
    latency_warmup_seconds=2.0,
    timeout=120.0,
    preset="quick",
)
BIG = BenchOptions(
    memory_leads=(100_000, MILLION),
    recovery_leads=MILLION,
    timeout=1200.0,
    preset="big",
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m streamproc.bench",
        description="Throughput, latency, memory and recovery of the worker beside the raw "
        "Kafka ceiling and a plain Faust agent, on a local broker (issue 4).",
    )
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes, about a minute")
    size.add_argument(
        "--big", action="store_true", help="memory per lead at 1M leads too, recovery of 1M"
    )
    p.add_argument("--events", type=int, help="input events of the throughput runs (200000)")
    p.add_argument("--leads", type=int, help="leads of the throughput runs (10000)")
    p.add_argument("--partitions", type=int, help="partitions of every topic (4)")
    p.add_argument("--seed", type=int, help="seed of the generator (7)")
    p.add_argument("--memory-leads", type=int, nargs="+", help="leads per memory run (100000)")
    p.add_argument(
        "--rocksdb-leads", type=int, help="leads of the rocksdb:// run (100000; 0 skips it)"
    )
    p.add_argument("--recovery-leads", type=int, help="leads in the recovered table (100000)")
    p.add_argument("--latency-seconds", type=float, help="offered-load duration (20)")
    p.add_argument("--latency-share", type=float, help="offered load as a share of capacity (0.5)")
    p.add_argument(
        "--latency-warmup", type=float, help="offered load before the timed window, s (10)"
    )
    p.add_argument("--timeout", type=float, help="bound of any one wait, seconds (900)")
    p.add_argument(
        "--expiry-visitors", type=int, help="anonymous visitors of the expiry phase (2,000,000)"
    )
    p.add_argument("--phases", help=f"comma-separated subset of {','.join(PHASES)}")
    p.add_argument("--out-dir", type=Path, help="where the JSON goes (bench-results)")
    p.add_argument(
        "--profile", action="store_true", help="py-spy the Faust baseline and the worker (30 s)"
    )
    p.add_argument(
        "--external",
        action="store_true",
        help="use the cluster of STREAMPROC_BROKER and the STREAMPROC_SECURITY_PROTOCOL, SASL "
        "and SSL settings instead of a local broker",
    )
    p.add_argument(
        "--metrics",
        choices=("on", "off"),
        help="workers count Prometheus metrics (on), or not, to compare the figures (on)",
    )
    return p


def parse_options(argv: list[str] | None = None) -> BenchOptions:
    args = parser().parse_args(argv)
    base = QUICK if args.quick else BIG if args.big else BenchOptions()
    given = {
        "events": args.events,
        "leads": args.leads,
        "partitions": args.partitions,
        "seed": args.seed,
        "memory_leads": tuple(args.memory_leads) if args.memory_leads else None,
        "rocksdb_leads": args.rocksdb_leads,
        "recovery_leads": args.recovery_leads,
        "expiry_visitors": args.expiry_visitors,
        "latency_seconds": args.latency_seconds,
        "latency_share": args.latency_share,
        "latency_warmup_seconds": args.latency_warmup,
        "timeout": args.timeout,
        "phases": tuple(n.strip() for n in args.phases.split(",")) if args.phases else None,
        "out_dir": args.out_dir,
        "profile": args.profile or None,
        "external": args.external or None,
        "metrics": None if args.metrics is None else args.metrics == "on",
    }
    return replace(base, **{name: value for name, value in given.items() if value is not None})
