"""The benchmark's command line, and the lead state it writes straight to a changelog."""

from __future__ import annotations

import pytest

from streamproc.bench.memory import PLACEHOLDER, state_template
from streamproc.bench.options import DEFAULT_PHASES, MILLION, PHASES, parse_options
from streamproc.domain.events import Stage
from streamproc.domain.state import LeadState


def test_defaults_quick_and_big() -> None:
    default = parse_options([])
    assert (default.events, default.leads, default.partitions) == (200_000, 10_000, 4)
    assert default.memory_leads == (100_000,) and default.phases == DEFAULT_PHASES
    quick = parse_options(["--quick"])
    assert quick.events < 20_000 and quick.latency_seconds <= 5 and quick.preset == "quick"
    big = parse_options(["--big"])
    assert big.memory_leads == (100_000, MILLION) and big.recovery_leads == MILLION


def test_explicit_options_override_a_preset() -> None:
    options = parse_options(["--quick", "--events", "1234", "--phases", "raw,worker"])
    assert options.events == 1234 and options.phases == ("raw", "worker")
    assert options.leads == parse_options(["--quick"]).leads


def test_metrics_can_be_turned_off_for_a_comparison() -> None:
    assert parse_options([]).metrics is True
    assert parse_options(["--quick", "--metrics", "off"]).metrics is False
    assert parse_options(["--metrics", "on"]).metrics is True


def test_unknown_phases_and_non_positive_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown phases"):
        parse_options(["--phases", "raw,warp"])
    with pytest.raises(ValueError, match="positive"):
        parse_options(["--events", "0"])
    with pytest.raises(SystemExit):
        parse_options(["--quick", "--big"])
    with pytest.raises(ValueError, match="latency share"):
        parse_options(["--latency-share", "1.5"])
    assert parse_options(["--latency-share", "0.25"]).latency_share == 0.25
    with pytest.raises(ValueError, match="warm-up"):
        parse_options(["--latency-warmup", "-1"])
    assert parse_options(["--latency-warmup", "0"]).latency_warmup_seconds == 0
    with pytest.raises(ValueError, match="rocksdb"):
        parse_options(["--rocksdb-leads", "-1"])
    assert parse_options(["--rocksdb-leads", "0"]).rocksdb_leads == 0  # no rocksdb:// run


def test_the_changelog_state_is_the_workers_state_after_a_first_profile() -> None:
    template = state_template("default")
    state = LeadState.model_validate_json(template.replace(PLACEHOLDER.encode(), b"rec-0000042"))
    assert state.lead_id == "rec-0000042"
    assert state.stage is Stage.LEAD and state.transitions == 1
    assert state.profile["email"] == "person@rec-0000042.example.org"


def test_the_expiry_phase_runs_when_asked_for() -> None:
    assert "expiry" in PHASES and "expiry" not in parse_options([]).phases
    options = parse_options(["--phases", "expiry", "--expiry-visitors", "500000"])
    assert options.phases == ("expiry",) and options.expiry_visitors == 500_000
    assert parse_options([]).expiry_visitors == 2_000_000
