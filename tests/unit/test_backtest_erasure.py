"""A backtest replays erasures too: an erased lead leaves every figure and is counted as erased."""

from __future__ import annotations

from pathlib import Path

import orjson

from streamproc.backtest.engine import replay, replay_both
from streamproc.backtest.parallel import replay_partitions
from streamproc.backtest.render import render_text
from streamproc.backtest.report import summarize
from streamproc.backtest.sources import merged, read_jsonl
from streamproc.definitions import load_definition
from streamproc.domain.events import TOPIC_OF_INPUT, InputEvent
from tests.builders import at, erasure, good_fit, visit

ACME = load_definition("acme")
DEFAULT = load_definition("default")


def mql(lead: str, day: float) -> list[InputEvent]:
    """An Acme MQL at `day`: routed, its review owed a day later."""
    return [good_fit(lead, at(day - 1)), visit(lead, at(day - 0.5)), visit(lead, at(day))]


def history() -> list[InputEvent]:
    """`gone` becomes an MQL and is erased before its review falls due; `kept` breaches."""
    return [
        *mql("gone", 2),
        *mql("kept", 2),
        erasure("gone", at(2, hours=1)),
        erasure("gone", at(2, hours=2)),  # asked twice
        visit("kept", at(5)),  # the history passes both deadlines
    ]


def test_an_erased_lead_leaves_every_figure_and_is_counted_as_erased() -> None:
    result = replay(merged([history()]), ACME)
    assert result.erased == 1 and set(result.leads) == {"kept"}
    assert {c.event.lead_id for c in result.crossings} == {"kept"}
    assert {s.lead_id for s in result.stage_changes} == {"kept"}
    assert [r.lead_id for r in result.routings] == ["kept"]
    assert [b.lead_id for b in result.breaches] == ["kept"]  # none owed by an erased lead
    report = summarize(result)
    assert (report.leads_seen, report.leads_erased, report.mql_leads) == (1, 1, 1)
    assert "  leads      1 seen, 1 identified, 1 erased (in no figure)" in render_text(report)


def test_a_lead_back_after_its_erasure_counts_as_a_new_lead() -> None:
    events = [*mql("back", 2), erasure("back", at(2, hours=1)), *mql("back", 4)]
    result = replay(merged([events]), ACME)
    assert result.erased == 1 and set(result.leads) == {"back"}
    [crossing] = result.crossings
    assert (crossing.event.crossing, crossing.event.occurred_at) == (1, at(4))


def test_a_comparison_leaves_the_erased_lead_out_of_the_divergent_leads() -> None:
    events = [*mql("gone", 2), erasure("gone", at(3))]
    a, b, divergent = replay_both(merged([events]), ACME, DEFAULT)
    assert divergent == [] and a.crossings == b.crossings == [] and a.erased == b.erased == 1


def test_a_replay_split_over_processes_counts_the_same_erasures(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    lines = [
        orjson.dumps({"topic": TOPIC_OF_INPUT[type(e)], "event": e.model_dump(mode="json")})
        for e in history()
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    events, _ = read_jsonl(path)
    whole = replay(events, ACME)
    split = replay_partitions(path, [ACME], 4, 2).results[0]
    assert split.erased == whole.erased == 1
    assert summarize(split) == summarize(whole)
