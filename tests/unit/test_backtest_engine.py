"""The backtest replays history through the worker's own domain code, on history's clock."""

from __future__ import annotations

import gc
import heapq
import os
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from streamproc.backtest import parallel
from streamproc.backtest.engine import replay, replay_both
from streamproc.backtest.parallel import Outcome, Progress, ReplayProcessError, replay_partitions
from streamproc.backtest.render import comparison_to_json, to_json
from streamproc.backtest.report import compare, summarize
from streamproc.backtest.sources import merged, read_jsonl
from streamproc.cli import main
from streamproc.collector import not_collecting
from streamproc.definitions import load_definition
from streamproc.definitions.loader import parse_definition
from streamproc.domain.definition import Definition
from streamproc.domain.events import TOPIC_OF_INPUT, InputEvent
from tests.builders import action, at, demo, download, good_fit, visit

ACME = load_definition("acme")
ACME_TEXT = (Path(__file__).parents[2] / "streamproc/definitions/shipped/acme.yaml").read_text()


def acme_with(threshold: int) -> object:
    """Acme with a cheaper pricing rule (3 points), so a lead can score 63, and a threshold."""
    text = ACME_TEXT.replace("at_least: 2, points: 10}", "at_least: 2, points: 3}")
    text = text.replace("threshold: 60", f"threshold: {threshold}").replace(
        "name: acme", f"name: acme-{threshold}"
    )
    return parse_definition(text, f"acme-{threshold}")


def history() -> list[InputEvent]:
    return [
        good_fit("pricing-63", at()),
        visit("pricing-63", at(1)),
        visit("pricing-63", at(2)),
        good_fit("roi-70", at()),
        download("roi-70", at(1)),
        good_fit("demo-80", at()),
        demo("demo-80", at(1)),
        good_fit("too-big", at(), company={"employees": 9000, "industry": "saas"}),
        demo("too-big", at(1)),
    ]


def test_compare_lists_exactly_the_leads_between_two_thresholds() -> None:
    low, high, divergent = replay_both(merged([history()]), acme_with(60), acme_with(65))  # type: ignore[arg-type]
    assert {c.event.lead_id for c in low.crossings} == {"pricing-63", "roi-70", "demo-80"}
    assert {c.event.lead_id for c in high.crossings} == {"roi-70", "demo-80"}
    [lead] = divergent
    assert lead.lead_id == "pricing-63"
    assert lead.crossed_a is not None and lead.crossed_a.score.total == 63
    assert lead.crossed_b is None and lead.a_at_crossing is None
    assert lead.b_at_crossing is not None
    assert (lead.b_at_crossing.score.total, lead.b_at_crossing.qualifies) == (63, False)


def test_an_owed_review_breaches_when_the_history_passes_its_deadline() -> None:
    events = [good_fit("L", at()), demo("L", at(1)), visit("other", at(1, hours=25))]
    result = replay(events, ACME)
    [breach] = result.breaches
    assert (breach.lead_id, breach.sla) == ("L", "mql_review")
    assert breach.detected_at == at(1, hours=25)


def test_a_deadline_after_the_end_of_history_is_not_a_breach() -> None:
    result = replay([good_fit("L", at()), demo("L", at(1)), visit("other", at(1, hours=23))], ACME)
    assert result.breaches == []


def test_a_review_in_time_in_history_is_not_a_breach_however_late_it_is_replayed() -> None:
    events = [
        good_fit("L", at()),
        demo("L", at(1)),
        action("L", at(1, hours=20), "accept"),
        visit("x", at(9)),
    ]
    result = replay(events, ACME)
    assert result.breaches == []
    assert [c.to_stage for c in result.stage_changes] == ["lead", "mql", "sal"]
    assert result.leads["L"].identified and not result.leads["x"].identified


def test_refusals_duplicates_and_summaries_are_counted() -> None:
    view = visit("L", at(1))
    events = [
        good_fit("L", at(), source="webinar"),
        view,
        view,
        action("L", at(2), "close_won"),
        visit("L", at(3)),
    ]
    result = replay(events, ACME)
    assert (result.events, result.duplicates) == (5, 1)
    assert result.refused == 1  # close_won on a lead: waited, then refused as the history moved on
    assert result.leads["L"].source == "webinar"
    assert (result.first_event_at, result.last_event_at) == (at(), at(3))


def test_a_jsonl_history_is_read_in_event_time_order_and_bad_lines_are_counted(
    tmp_path: Path,
) -> None:
    late_first = [visit("L", at(2)), good_fit("L", at()), demo("L", at(1))]
    lines = [
        orjson.dumps({"topic": TOPIC_OF_INPUT[type(e)], "event": e.model_dump(mode="json")})
        for e in late_first
    ]
    (tmp_path / "a.jsonl").write_bytes(
        b"\n".join([*lines, b"{broken", b'{"topic": "nope", "event": {}}']) + b"\n"
    )
    (tmp_path / "b.jsonl").write_bytes(lines[0] + b"\n")  # a second file, merged in time order
    events, progress = read_jsonl(tmp_path)
    ordered = list(events)
    assert [e.occurred_at for e in ordered] == [at(), at(1), at(2), at(2)]
    assert progress.invalid == 2 and progress.done == progress.total


@settings(max_examples=200, deadline=None)
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=50), max_size=60),
    buffer=st.integers(min_value=0, max_value=8),
)
def test_reordering_releases_the_earliest_held_event_each_time(
    offsets: list[int], buffer: int
) -> None:
    events = [visit("L", at(hours=hours)) for hours in offsets]
    held: list[tuple[int, int, InputEvent]] = []
    expected = []
    for position, event in enumerate(events):  # the plain algorithm: push, pop when over
        heapq.heappush(held, (event.occurred_ms, position, event))
        if len(held) > buffer:
            expected.append(heapq.heappop(held)[2])
    expected += [heapq.heappop(held)[2] for _ in range(len(held))]
    assert list(merged([events], buffer)) == expected


def test_the_first_and_last_event_times_are_exact_below_a_millisecond() -> None:
    early, late = at(), at() + timedelta(microseconds=300)  # the same millisecond
    result = replay([visit("L", late), visit("L", early), visit("L", late)], ACME)
    assert (result.first_event_at, result.last_event_at) == (early, late)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated history with sales actions, and three lines that are no event."""
    path = tmp_path_factory.mktemp("history") / "history.jsonl"
    generating = CliRunner().invoke(
        main, ["generate", "--leads", "160", "--days", "6", "--seed", "5", "--out", str(path)]
    )
    assert generating.exit_code == 0, generating.output
    with path.open("ab") as history:
        history.write(b'{broken\n{"topic": "page-visits", "event": {"url": "no lead"}}\n')
        history.write(b'{"topic": "nope", "event": {"lead_id": "lead-00001"}}\n')
    return path


def _in_one_process(path: Path, *definitions: Definition) -> Outcome:
    events, progress = read_jsonl(path)
    if len(definitions) == 1:
        return Outcome([replay(events, definitions[0])], [], progress.invalid)
    a, b, divergent = replay_both(events, definitions[0], definitions[1])
    return Outcome([a, b], divergent, progress.invalid)


def _figures(outcome: Outcome) -> object:
    for result in outcome.results:
        result.invalid = outcome.invalid
    if len(outcome.results) == 1:
        return to_json(summarize(outcome.results[0]))
    a, b = (summarize(result) for result in outcome.results)
    return comparison_to_json(compare(a, b, outcome.divergent))


@pytest.mark.parametrize("jobs", [2, 3])
def test_a_replay_split_by_partition_over_processes_reports_the_same_figures(
    generated: Path, jobs: int
) -> None:
    default = load_definition("default")
    seen: list[Progress] = []
    split = replay_partitions(generated, [default], 4, jobs, seen.append)
    whole = _in_one_process(generated, default)
    assert split.invalid == whole.invalid == 3  # each bad line counted once
    assert _figures(split) == _figures(whole)
    assert split.results[0].breaches and split.results[0].stage_changes
    assert seen[-1].done == seen[-1].total and seen[-1].events == whole.results[0].events


def test_replaying_makes_no_reference_cycles_so_it_can_run_without_the_collector(
    generated: Path,
) -> None:
    """Replays run with the collector off (`collector.not_collecting`): whatever they drop
    must be freed by reference counting alone, or a long replay would leak."""
    default, acme = load_definition("default"), load_definition("acme")
    _in_one_process(generated, default, acme)  # warm: first-use caches may build cycles
    gc.collect()
    with not_collecting():
        _in_one_process(generated, default, acme)
        assert gc.collect() == 0


def test_a_comparison_split_by_partition_lists_the_same_divergent_leads(generated: Path) -> None:
    default, acme = load_definition("default"), load_definition("acme")
    split = replay_partitions(generated, [default, acme], 4, 2)
    whole = _in_one_process(generated, default, acme)
    assert split.divergent and split.divergent == whole.divergent
    assert _figures(split) == _figures(whole)


def test_the_cli_reports_the_same_figures_with_one_process_or_several(
    generated: Path, tmp_path: Path
) -> None:
    figures = []
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs-{jobs}.json"
        args = ["backtest", "--definition", "acme", "--events", str(generated), "--json", str(out)]
        run = CliRunner().invoke(main, [*args, "--jobs", jobs])
        assert run.exit_code == 0, run.output
        figures.append(out.read_bytes())
    assert figures[0] == figures[1]


def _fails(*args: object) -> object:
    raise RuntimeError("boom in a replay process")


def _dies(*args: object) -> object:
    os._exit(7)


def test_a_replay_process_that_fails_is_an_error_with_its_traceback(
    generated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parallel, "_replay_owned", _fails)  # forked processes inherit it
    with pytest.raises(ReplayProcessError, match=r"(?s)backtest-\d failed.*boom in a replay"):
        replay_partitions(generated, [ACME], 4, 2)
    run = CliRunner().invoke(
        main, ["backtest", "--definition", "acme", "--events", str(generated), "--jobs", "2"]
    )
    assert run.exit_code == 1 and "boom in a replay process" in run.output


def test_a_replay_process_that_dies_is_an_error_not_a_hang(
    generated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parallel, "_replay_owned", _dies)
    with pytest.raises(ReplayProcessError, match="exited with code 7"):
        replay_partitions(generated, [ACME], 4, 2)
