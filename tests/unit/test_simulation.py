"""The simulated lead history: deterministic, valid, and realistic enough to test the worker."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import orjson
import pytest
from click.testing import CliRunner

from streamproc.definitions import load_definition
from streamproc.domain.definition import Definition
from streamproc.domain.events import (
    INPUT_EVENTS,
    ContentDownloaded,
    InputEvent,
    MqlCrossed,
    PageVisited,
    ProfileUpdated,
    SalesActionName,
    SalesActionTaken,
    Stage,
    StageChanged,
)
from streamproc.domain.lead import decide
from streamproc.domain.lifecycle import NEEDS_REASON, DomainError
from streamproc.domain.state import LeadState
from streamproc.simulation import SimulatedLead, SimulationConfig, simulate, simulated_leads
from streamproc.simulation_cli import generate
from streamproc.streaming.codec import decode_input, encode

START = datetime(2026, 1, 5, tzinfo=UTC)
CONFIG = SimulationConfig(start=START)
Stream = list[tuple[str, InputEvent]]


@pytest.fixture(scope="module")
def stream() -> Stream:
    return list(simulate(CONFIG))


@pytest.fixture(scope="module")
def leads() -> dict[str, SimulatedLead]:
    return {lead.lead_id: lead for lead in simulated_leads(CONFIG)}


def _wire(stream: Stream) -> list[tuple[str, bytes]]:
    return [(topic, encode(event)) for topic, event in stream]


def _actions(stream: Stream) -> list[SalesActionTaken]:
    return [event for _, event in stream if isinstance(event, SalesActionTaken)]


@dataclass
class Replay:
    """A stream applied in stream order through `decide`, as the worker would."""

    stream: Stream
    changes: list[StageChanged] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    @property
    def actions(self) -> list[SalesActionTaken]:
        return _actions(self.stream)


def _replay(config: SimulationConfig, definition: Definition) -> Replay:
    replay = Replay(list(simulate(config)))
    states: dict[str, LeadState] = {}
    for _, event in replay.stream:
        try:
            decision = decide(states.get(event.lead_id), event, definition)
        except DomainError as error:
            replay.refused.append(f"{event.event_id}: {error}")
            continue
        states[event.lead_id] = decision.state
        replay.changes += [out for out in decision.outputs if isinstance(out, StageChanged)]
    return replay


HISTORY = SimulationConfig(start=START, leads=300, days=28)
DEFAULT = load_definition("default")


@pytest.fixture(scope="module")
def history() -> Replay:
    return _replay(HISTORY, DEFAULT)


def test_the_same_seed_gives_the_same_stream(stream: Stream) -> None:
    assert _wire(list(simulate(SimulationConfig(start=START)))) == _wire(stream)
    assert simulated_leads(CONFIG) == simulated_leads(SimulationConfig(start=START))
    assert _actions(stream)  # the reps' actions are part of what repeats


def test_another_seed_gives_another_stream(stream: Stream) -> None:
    other = list(simulate(SimulationConfig(start=START, seed=8)))
    assert _wire(other) != _wire(stream)
    assert _actions(other) != _actions(stream)


def test_every_event_decodes_as_its_topic_with_its_lead_id_as_key(stream: Stream) -> None:
    for topic, event in stream:
        assert isinstance(event, INPUT_EVENTS[topic])
        assert re.fullmatch(r"lead-\d{5}", event.lead_id)
        assert event.event_id.startswith(f"{event.lead_id}-")
        assert decode_input(topic, event.lead_id.encode(), encode(event)) == event


def test_timestamps_are_rfc3339_with_a_mix_of_offsets(stream: Stream) -> None:
    stamps = [orjson.loads(encode(event))["occurred_at"] for _, event in stream]
    pattern = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)"
    assert all(re.fullmatch(pattern, stamp) for stamp in stamps)
    offsets = Counter("Z" if stamp.endswith("Z") else stamp[-6:] for stamp in stamps)
    assert offsets["Z"] > 0
    assert len(offsets) >= 4


def test_events_happen_within_the_simulated_days(stream: Stream) -> None:
    end = START + timedelta(days=CONFIG.days)
    assert all(START <= event.occurred_at < end for _, event in stream)


def test_page_visits_are_most_frequent_then_profiles_downloads_and_demos(stream: Stream) -> None:
    counts = Counter(topic for topic, _ in stream)
    assert counts["page-visits"] > counts["lead-profiles"] > counts["downloads"]
    assert counts["downloads"] > counts["demo-bookings"] > 0
    assert 0 < counts["sales-actions"] < counts["lead-profiles"]


def test_downloads_include_the_roi_calculator_and_bottom_funnel_content(stream: Stream) -> None:
    downloads = [event for _, event in stream if isinstance(event, ContentDownloaded)]
    kinds = {(event.asset_type, event.funnel_stage) for event in downloads}
    assert ("roi-calculator", "bottom") in kinds
    assert {"top", "middle", "bottom"} <= {stage for _, stage in kinds}


def test_most_leads_identify_and_some_update_their_profile_later(stream: Stream) -> None:
    profiles = [event for _, event in stream if isinstance(event, ProfileUpdated)]
    identified = {event.lead_id for event in profiles if event.email}
    assert 0.6 * CONFIG.leads < len(identified) < CONFIG.leads
    assert any(event.email is None and event.person for event in profiles)  # a title change
    first_visits: dict[str, PageVisited] = {}
    for _, event in stream:
        if isinstance(event, PageVisited):
            first_visits.setdefault(event.lead_id, event)
    assert all(visit.anonymous_id for visit in first_visits.values())


def test_duplicates_and_late_events_are_present_but_rare(stream: Stream) -> None:
    first_seen: dict[str, InputEvent] = {}
    duplicates = late = 0
    newest = START
    for _, event in stream:
        if event.event_id in first_seen:
            assert first_seen[event.event_id] == event  # a retry re-sends the same event
            duplicates += 1
        first_seen[event.event_id] = event
        if event.occurred_at < newest:
            late += 1
            assert newest - event.occurred_at < timedelta(hours=5)
        newest = max(newest, event.occurred_at)
    assert 0 < duplicates < 0.02 * len(stream)
    assert 0 < late < 0.03 * len(stream)


def test_a_few_leads_make_many_of_the_events(stream: Stream) -> None:
    per_lead = sorted(Counter(event.lead_id for _, event in stream).values(), reverse=True)
    busiest_tenth = per_lead[: len(per_lead) // 10]
    assert sum(busiest_tenth) > 0.3 * len(stream)
    assert per_lead[0] > 10 * per_lead[len(per_lead) // 2]


@pytest.mark.parametrize(("leads", "icp_share"), [(200, 0.3), (100, 0.5), (50, 0.0)])
def test_the_icp_share_sets_how_many_leads_fit(leads: int, icp_share: float) -> None:
    config = SimulationConfig(start=START, leads=leads, icp_share=icp_share)
    personas = simulated_leads(config)
    assert sum(lead.good_fit for lead in personas) == round(leads * icp_share)
    for lead in personas:
        size_fits = 50 <= (lead.company.employees or 0) <= 1000
        industry_fits = lead.company.industry in ("saas", "software", "technology", "fintech")
        assert size_fits and industry_fits if lead.good_fit else not size_fits


def test_replaying_with_the_default_definition_crosses_mostly_good_fits(
    stream: Stream, leads: dict[str, SimulatedLead]
) -> None:
    definition = load_definition("default")
    states: dict[str, LeadState] = {}
    crossings = []
    for _, event in stream:
        decision = decide(states.get(event.lead_id), event, definition)
        states[event.lead_id] = decision.state
        crossings += [out for out in decision.outputs if isinstance(out, MqlCrossed)]
    crossed = {crossing.lead_id for crossing in crossings}
    good_fits = {lead_id for lead_id, lead in leads.items() if lead.good_fit}
    assert len(crossings) >= 10
    assert len(crossed & good_fits) > 0.6 * len(crossed)
    assert good_fits - crossed  # some good fits go quiet and never qualify


def test_reps_take_every_kind_of_sales_action(history: Replay) -> None:
    kinds = Counter(action.action for action in history.actions)
    assert set(kinds) == set(get_args(SalesActionName))
    assert kinds["accept"] > kinds["reject"]
    assert kinds["qualify"] > kinds["open_opportunity"] >= kinds["close_won"]


def test_no_sales_action_is_refused_when_the_stream_is_replayed_in_order(history: Replay) -> None:
    assert history.refused == []
    caused = {change.cause_event_id for change in history.changes}
    moving = [action for action in history.actions if action.action != "contacted"]
    assert {action.event_id for action in moving} <= caused


def test_the_replay_reaches_every_stage_including_outbound_sqls(history: Replay) -> None:
    reached = {change.to_stage for change in history.changes}
    assert {Stage.SAL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER, Stage.RECYCLED} <= reached
    lanes = {(change.from_stage, change.to_stage) for change in history.changes}
    assert (Stage.LEAD, Stage.SQL) in lanes  # an SDR qualified an outbound lead


def test_reasons_come_from_the_taxonomy_and_reps_from_the_queues(history: Replay) -> None:
    reps = {rep.id for queue in DEFAULT.queues.values() for rep in queue.reps if rep.available}
    for action in history.actions:
        assert action.rep_id in reps
        if action.action in NEEDS_REASON:
            assert action.reason_code in DEFAULT.reason_codes
        else:
            assert action.reason_code is None
        assert (action.qualification is not None) == (action.action == "qualify")
        assert (action.amount is not None) == (action.action == "open_opportunity")
        if action.amount is not None:
            assert 5_000 <= action.amount <= 200_000
        if action.qualification is not None:
            assert action.qualification["framework"] == "BANT"
            assert action.qualification["budget"] in ("confirmed", "unknown", "none")
    reasons: dict[str, set[str | None]] = {}
    for action in history.actions:
        reasons.setdefault(action.action, set()).add(action.reason_code)
    assert reasons["disqualify"] <= {"no_budget", "no_authority", "no_need", "bad_timing"}
    assert reasons["close_lost"] <= {"competitor", "no_budget", "bad_timing"}


def test_reps_review_mqls_mostly_within_a_day_in_utc_before_the_end(history: Replay) -> None:
    end = START + timedelta(days=HISTORY.days)
    numbers: Counter[str] = Counter()
    for topic, event in history.stream:
        number = int(event.event_id.rsplit("-", 1)[1])
        if topic == "sales-actions":
            assert number > numbers[event.lead_id]  # ids continue the lead's numbering
            assert event.occurred_at.utcoffset() == timedelta(0)
            assert event.occurred_at < end
        else:
            numbers[event.lead_id] = max(numbers[event.lead_id], number)
    mql_at: dict[str, datetime] = {}
    reviews = []
    for change in history.changes:
        if change.to_stage is Stage.MQL:
            mql_at[change.lead_id] = change.occurred_at
        elif change.from_stage is Stage.MQL:
            reviews.append(change.occurred_at - mql_at[change.lead_id])
    assert all(delay > timedelta(0) for delay in reviews)
    within_a_day = sum(delay <= timedelta(hours=24) for delay in reviews)
    assert 0.6 * len(reviews) < within_a_day < len(reviews)  # some are late: an SLA breach


@pytest.mark.parametrize(
    ("knobs", "present", "absent"),
    [
        # Only SDRs act, on outbound leads.
        ({"review_rate": 0.0}, {"qualify"}, {"accept", "reject"}),
        ({"review_rate": 1.0, "accept_share": 1.0}, {"accept"}, {"reject"}),
        ({"review_rate": 1.0, "accept_share": 0.0}, {"reject"}, {"accept"}),
        ({"opportunity_share": 0.0}, {"contacted"}, {"open_opportunity", "close_won"}),
    ],
)
def test_the_rep_knobs_set_which_actions_reps_take(
    knobs: dict[str, float], present: set[str], absent: set[str]
) -> None:
    config = SimulationConfig(start=START, leads=60, days=21, **knobs)
    kinds = {action.action for action in _actions(list(simulate(config)))}
    assert present <= kinds
    assert not absent & kinds


@pytest.mark.parametrize(
    ("knobs", "present", "absent"),
    [
        ({"qualify_share": 0.0}, {(Stage.SAL, Stage.RECYCLED)}, {(Stage.SAL, Stage.SQL)}),
        ({"qualify_share": 1.0}, {(Stage.SAL, Stage.SQL)}, {(Stage.SAL, Stage.RECYCLED)}),
        ({"opportunity_share": 0.0}, {(Stage.SAL, Stage.SQL)}, {(Stage.SQL, Stage.OPPORTUNITY)}),
        (
            {"opportunity_share": 1.0},
            {(Stage.SQL, Stage.OPPORTUNITY)},
            {(Stage.SQL, Stage.RECYCLED)},
        ),
    ],
)
def test_the_funnel_knobs_set_how_far_accepted_leads_go(
    knobs: dict[str, float], present: set[tuple[Stage, Stage]], absent: set[tuple[Stage, Stage]]
) -> None:
    replay = _replay(SimulationConfig(start=START, leads=200, days=28, **knobs), DEFAULT)
    assert replay.refused == []
    moves = {(change.from_stage, change.to_stage) for change in replay.changes}
    assert present <= moves
    assert not absent & moves


def _rates(replay: Replay) -> tuple[float, float]:
    """SAL->SQL of the SALs and SQL->opportunity of the SQLs called, in one replay."""
    moves = Counter((change.from_stage, change.to_stage) for change in replay.changes)
    sals = moves[(Stage.MQL, Stage.SAL)]
    called = sum(action.action == "contacted" for action in replay.actions)
    return moves[(Stage.SAL, Stage.SQL)] / sals, moves[(Stage.SQL, Stage.OPPORTUNITY)] / called


def test_higher_funnel_shares_give_higher_conversion(history: Replay) -> None:
    keen = SimulationConfig(
        start=START,
        leads=HISTORY.leads,
        days=HISTORY.days,
        qualify_share=0.95,
        opportunity_share=0.9,
    )
    before, after = _rates(history), _rates(_replay(keen, DEFAULT))
    assert before[0] < after[0] and before[1] < after[1]


def test_reject_reasons_are_drawn_from_the_given_weights_only() -> None:
    reasons = (("bad_timing", 3.0), ("duplicate", 1.0), ("competitor", 0.0))
    config = SimulationConfig(
        start=START, leads=200, days=28, accept_share=0.3, reject_reasons=reasons
    )
    given = Counter(
        action.reason_code
        for action in _actions(list(simulate(config)))
        if action.action == "reject"
    )
    assert set(given) == {"bad_timing", "duplicate"}
    assert given["bad_timing"] > given["duplicate"]


@pytest.mark.parametrize(
    ("reasons", "message"),
    [
        ((("not_icp", 1.0),), "'not_icp' not in the reason codes of definition default@1"),
        ((("no_budget", 0.0),), "a weight above 0"),
        ((("no_budget", -1.0), ("wrong_icp", 1.0)), ">= 0"),
        ((("no_budget", 1.0), ("no_budget", 2.0)), "given twice"),
    ],
)
def test_reject_reasons_outside_the_taxonomy_or_without_weight_are_refused(
    reasons: tuple[tuple[str, float], ...], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        list(simulate(SimulationConfig(start=START, leads=1, reject_reasons=reasons)))


def test_reps_follow_the_definition_they_work_for() -> None:
    definition = load_definition("series-b")  # only a confirmed budget makes an SQL
    replay = _replay(
        SimulationConfig(start=START, leads=100, days=28, definition="series-b"), definition
    )
    assert replay.refused == []
    qualified = [action for action in replay.actions if action.action == "qualify"]
    assert qualified
    assert all((action.qualification or {})["budget"] == "confirmed" for action in qualified)
    reps = {rep.id for queue in definition.queues.values() for rep in queue.reps if rep.available}
    assert {action.rep_id for action in replay.actions} <= reps
    assert reps != {rep.id for queue in DEFAULT.queues.values() for rep in queue.reps}


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SimulationConfig(start=datetime(2026, 1, 5))


def test_generate_passes_the_rep_knobs_and_refuses_an_unknown_definition() -> None:
    runner = CliRunner()
    options = ["--leads", "40", "--days", "21", "--review-rate", "1", "--accept-share", "0"]
    result = runner.invoke(generate, options)
    assert result.exit_code == 0, result.output
    actions = [
        line["event"]["action"]
        for line in map(orjson.loads, result.stdout_bytes.splitlines())
        if line["topic"] == "sales-actions"
    ]
    assert "reject" in actions and "accept" not in actions
    result = runner.invoke(generate, ["--definition", "nonesuch"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: nonesuch: no such definition file, and not a shipped")
    assert len(result.stderr.splitlines()) == 1


def test_generate_refuses_a_start_that_is_not_a_date() -> None:
    result = CliRunner().invoke(generate, ["--start", "yesterday"])
    assert result.exit_code == 2
    assert "not an ISO date" in result.output


def _generate(*options: str) -> bytes:
    result = CliRunner().invoke(generate, list(options))
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


def _lines(output: bytes) -> list[tuple[str, dict[str, Any]]]:
    return [(line["topic"], line["event"]) for line in map(orjson.loads, output.splitlines())]


def _rep_actions(output: bytes) -> list[dict[str, Any]]:
    return [event for topic, event in _lines(output) if topic == "sales-actions"]


def _after_each(actions: list[dict[str, Any]], first: str) -> set[str]:
    """The actions that come right after a `first` on the same lead."""
    last: dict[str, str] = {}
    following = set()
    for action in actions:
        if last.get(action["lead_id"]) == first:
            following.add(action["action"])
        last[action["lead_id"]] = action["action"]
    return following


def _spans(output: bytes) -> tuple[datetime, datetime]:
    times = [datetime.fromisoformat(event["occurred_at"]) for _, event in _lines(output)]
    return min(times), max(times)


def _every_reject_says_no_budget(output: bytes) -> None:
    rejects = [action for action in _rep_actions(output) if action["action"] == "reject"]
    assert rejects
    assert {action["reason_code"] for action in rejects} == {"no_budget"}


def _rejects_use_the_weights(output: bytes) -> None:
    reasons = Counter(
        action["reason_code"] for action in _rep_actions(output) if action["action"] == "reject"
    )
    assert set(reasons) == {"wrong_icp", "duplicate"}
    assert reasons["wrong_icp"] > reasons["duplicate"]


def _two_weeks_span_fourteen_days(output: bytes) -> None:
    first, last = _spans(output)
    assert START <= first < START + timedelta(days=1)
    assert START + timedelta(days=13) <= last < START + timedelta(days=14)


def _three_days_span_three_days(output: bytes) -> None:
    first, last = _spans(output)
    assert START <= first < START + timedelta(days=1)
    assert START + timedelta(days=2) <= last < START + timedelta(days=3)


def _no_accepts(output: bytes) -> None:
    kinds = {action["action"] for action in _rep_actions(output)}
    assert "reject" in kinds and "accept" not in kinds


def _no_reviews(output: bytes) -> None:
    kinds = {action["action"] for action in _rep_actions(output)}
    assert not {"accept", "reject"} & kinds


def _sals_are_never_qualified(output: bytes) -> None:
    assert _after_each(_rep_actions(output), "accept") == {"disqualify"}


def _sals_are_always_qualified(output: bytes) -> None:
    assert _after_each(_rep_actions(output), "accept") == {"qualify"}


def _no_opportunities(output: bytes) -> None:
    kinds = {action["action"] for action in _rep_actions(output)}
    assert "contacted" in kinds
    assert not {"open_opportunity", "close_won", "close_lost"} & kinds


def _every_call_opens_an_opportunity(output: bytes) -> None:
    assert _after_each(_rep_actions(output), "contacted") == {"open_opportunity"}


@pytest.mark.parametrize(
    ("options", "check"),
    [
        (
            ["--accept-share", "0.3", "--reject-reasons", "no_budget=1"],
            _every_reject_says_no_budget,
        ),
        (
            ["--accept-share", "0", "--reject-reasons", "wrong_icp=2, duplicate"],
            _rejects_use_the_weights,
        ),
        (["--weeks", "2"], _two_weeks_span_fourteen_days),
        (["--days", "3"], _three_days_span_three_days),
        (["--accept-share", "0"], _no_accepts),
        (["--review-rate", "0"], _no_reviews),
        (["--qualify-share", "0"], _sals_are_never_qualified),
        (["--qualify-share", "1"], _sals_are_always_qualified),
        (["--opportunity-share", "0"], _no_opportunities),
        (["--opportunity-share", "1"], _every_call_opens_an_opportunity),
    ],
    ids=lambda value: value.__name__.strip("_") if callable(value) else None,
)
def test_generate_options_move_the_history_the_way_they_say(
    options: list[str], check: Callable[[bytes], None]
) -> None:
    length = [] if {"--weeks", "--days"} & set(options) else ["--weeks", "4"]
    check(_generate("--leads", "200", *length, *options))


def test_generate_prints_the_same_bytes_for_the_same_options_and_seed() -> None:
    options = ["--leads", "80", "--weeks", "3", "--reject-reasons", "low_intent=2,bad_data=1"]
    first = _generate(*options)
    assert first == _generate(*options)
    other = _generate(*options, "--seed", "8")
    assert other != first
    assert _rep_actions(other) != _rep_actions(first)


def test_generate_by_default_prints_two_weeks() -> None:
    assert _generate("--leads", "30") == _generate("--leads", "30", "--weeks", "2")
    assert _generate("--leads", "30") == _generate("--leads", "30", "--days", "14")


def test_the_reject_reasons_change_only_the_reasons_of_rejects() -> None:
    def without_reject_reasons(output: bytes) -> list[tuple[str, dict[str, Any]]]:
        lines = _lines(output)
        for topic, event in lines:
            if topic == "sales-actions" and event["action"] == "reject":
                event["reason_code"] = None
        return lines

    usual = _generate("--leads", "150", "--weeks", "3")
    given = _generate("--leads", "150", "--weeks", "3", "--reject-reasons", "competitor")
    assert usual != given
    assert without_reject_reasons(usual) == without_reject_reasons(given)


@pytest.mark.parametrize(
    ("leads", "days"),
    [(5, 3), (120, 28), (20, 250)],  # 250 days spill into slices of three days
)
def test_generate_prints_what_simulate_gives_in_the_same_order(leads: int, days: int) -> None:
    output = _generate("--leads", str(leads), "--days", str(days), "--start", "2026-01-05")
    expected = simulate(SimulationConfig(start=START, leads=leads, days=days))
    lines = _lines(output)
    assert lines == [(topic, orjson.loads(encode(event))) for topic, event in expected]
    if leads > 100:  # the history has late events and retries to put in their place
        assert any(
            datetime.fromisoformat(event["occurred_at"])
            > datetime.fromisoformat(after["occurred_at"])
            for (_, event), (_, after) in itertools.pairwise(lines)
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--reject-reasons", "not_icp=3,no_budget=1"], "'not_icp' not in the reason codes"),
        (["--reject-reasons", "not_icp"], "valid codes: wrong_icp, low_intent, no_budget,"),
        (["--reject-reasons", "no_budget=lots"], "'lots' is not a number"),
        (["--reject-reasons", "no_budget=0"], "at least one reason needs a weight above 0"),
        (["--reject-reasons", "no_budget=-1,wrong_icp"], "must be finite numbers >= 0"),
        (["--reject-reasons", ""], "at least one reason"),
        (["--weeks", "2", "--days", "3"], "--weeks or as --days, not both"),
        (["--weeks", "0"], "--weeks"),
        (["--qualify-share", "1.5"], "--qualify-share"),
        (["--opportunity-share", "-0.1"], "--opportunity-share"),
    ],
)
def test_generate_refuses_bad_options_before_printing(options: list[str], message: str) -> None:
    result = CliRunner().invoke(generate, options)
    assert result.exit_code == 2
    assert result.stdout_bytes.count(b"\n{") == 0
    assert message in " ".join(result.output.split())


def test_the_readme_documents_only_real_generate_options() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    documented = {
        option
        for line in readme.splitlines()
        if "streamproc generate" in line
        for option in re.findall(r"(--[a-z-]+)", line)
    }
    real = {option for param in generate.params for option in param.opts}
    assert {"--weeks", "--reject-reasons"} <= documented <= real
