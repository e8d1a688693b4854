"""Backtest figures and their rendering, from a hand-made replay whose report is worked out
by hand in the comments below."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta, timezone

import orjson

from streamproc.backtest.figures import Bands, Count, Rate, week_of
from streamproc.backtest.render import comparison_to_json, render_comparison, render_text, to_json
from streamproc.backtest.report import Breakdown, Change, Comparison, Divergence, compare, summarize
from streamproc.backtest.result import (
    Crossing,
    DivergentLead,
    LeadSummary,
    ReplayResult,
    StageStep,
)
from streamproc.backtest.sales import NO_SALES, Funnel, Rejections, SlaCompliance, StageTime
from streamproc.definitions import load_definition
from streamproc.domain.events import (
    Contribution,
    MqlCrossed,
    Score,
    SlaBreached,
    Stage,
)
from streamproc.domain.scoring import Evaluation

DEFAULT = load_definition("default")
T = datetime(2026, 1, 12, 8, tzinfo=UTC)
"""Monday 2026-01-12 08:00 UTC, the first event: ISO week 2026-W03."""
PLUS_ONE = timezone(timedelta(hours=1))


def h(hours: float) -> datetime:
    return T + timedelta(hours=hours)


def crossed(lead: str, hours: float, total: float, crossing: int = 1) -> MqlCrossed:
    """A crossing at T + hours: fit 40 from three rules, the rest intent from a demo."""
    fit = (("company_size_core", 15.0), ("decision_maker", 15.0), ("target_industry", 10.0))
    return MqlCrossed(
        event_id=f"mql-{lead}-{crossing}",
        lead_id=lead,
        occurred_at=h(hours),
        score=Score(fit=40, intent=total - 40, total=total),
        threshold=DEFAULT.threshold,
        definition=DEFAULT.label,
        contributions=(
            *(Contribution(rule=rule, points=points, kind="fit") for rule, points in fit),
            Contribution(rule="demo_booked", points=total - 40, kind="intent"),
        ),
        gates_met=("demo_booked>=1",),
        trigger_event_id=f"evt-{lead}-{crossing}",
        lane="inbound",
        crossing=crossing,
    )


def changed(
    lead: str, at: datetime | float, before: Stage, after: Stage, reason: str | None = None
) -> StageStep:
    occurred_at = h(at) if isinstance(at, float | int) else at
    return StageStep(f"stage-{lead}-{after}-{at}", lead, before, after, occurred_at, reason)


def breached(lead: str, sla: str, stage: Stage, started: float, detected: float) -> SlaBreached:
    return SlaBreached(
        event_id=f"sla-{lead}-{sla}",
        lead_id=lead,
        sla=sla,
        stage=stage,
        started_at=h(started),
        deadline=h(started + 24),
        detected_at=h(detected),
        queue="smb",
    )


def history() -> ReplayResult:
    """12 leads seen, 10 identified (lead-01..10, all at T); lead-04 is outbound.

    lead-01  MQL at +2h (65, web) -> sal +6h -> sql +26h -> opportunity +74h
    lead-02  MQL at +49h (62, no source) -> recycled +97h (reject, low_intent); its review
             was due at +73h: breached
    lead-03  MQL at +264h (85, web), still MQL when the history ends at +268h: its review is
             due at +288h, pending
    lead-04  outbound, qualified from lead at +194h; no first touch by +218h: breached;
             recycled at +254h (disqualify, no_budget)
    """
    leads = {f"lead-{n:02d}": LeadSummary(identified=True) for n in range(1, 11)}
    leads["lead-01"] = leads["lead-03"] = LeadSummary(source="web", identified=True)
    leads["lead-04"] = LeadSummary(lane="outbound", identified=True)
    leads |= {"visitor-11": LeadSummary(), "visitor-12": LeadSummary()}
    identified = [changed(lead, 0, Stage.VISITOR, Stage.LEAD) for lead in sorted(leads)[:10]]
    return ReplayResult(
        definition=DEFAULT,
        events=40,
        invalid=1,
        duplicates=2,
        refused=1,
        first_event_at=T,
        last_event_at=h(268),
        leads=leads,
        crossings=[
            Crossing(crossed("lead-01", 2, 65), "web"),
            Crossing(crossed("lead-02", 49, 62), None),
            Crossing(crossed("lead-03", 264, 85), "web"),
        ],
        stage_changes=[
            *identified,
            changed("lead-01", 2, Stage.LEAD, Stage.MQL),
            changed("lead-01", 6, Stage.MQL, Stage.SAL),
            changed("lead-01", 26, Stage.SAL, Stage.SQL),
            changed("lead-01", 74, Stage.SQL, Stage.OPPORTUNITY),
            # Another offset, the same instant: it still matches its breach's started_at.
            changed("lead-02", h(49).astimezone(PLUS_ONE), Stage.LEAD, Stage.MQL),
            changed("lead-02", 97, Stage.MQL, Stage.RECYCLED, "low_intent"),
            changed("lead-04", 194, Stage.LEAD, Stage.SQL),
            changed("lead-04", 254, Stage.SQL, Stage.RECYCLED, "no_budget"),
            changed("lead-03", 264, Stage.LEAD, Stage.MQL),
        ],
        breaches=[
            breached("lead-02", "mql_review", Stage.MQL, 49, 97),
            breached("lead-04", "sql_first_touch", Stage.SQL, 194, 254),
        ],
    )


def without_lead_03(result: ReplayResult) -> ReplayResult:
    """The same history where lead-03 never crosses: 2 MQL leads of 10."""
    return dataclasses.replace(
        result,
        crossings=[c for c in result.crossings if c.event.lead_id != "lead-03"],
        stage_changes=[
            c for c in result.stage_changes if (c.lead_id, c.to_stage) != ("lead-03", Stage.MQL)
        ],
    )


def test_the_headline_figures_and_the_breakdowns_of_mqls() -> None:
    report = summarize(history())
    assert (report.definition, report.threshold) == ("default@1", 60)
    assert (report.events, report.invalid, report.duplicates, report.refused) == (40, 1, 2, 1)
    assert (report.leads_seen, report.leads_identified) == (12, 10)
    assert (report.mql_leads, report.crossings) == (3, 3)
    assert report.mql_rate == Rate(3, 10, 30.0)
    # Crossings at +2h and +49h fall in W03 (Jan 12-18), +264h (Jan 23) in W04.
    assert report.mqls_per_week == (Count("2026-W03", 2), Count("2026-W04", 1))
    assert report.mqls_per_source == (Count("web", 2), Count("(none)", 1))
    # 65 and 62 in 60-69, 85 in 80-89; every band to the maximum of 100 is listed.
    assert report.mqls_per_band == (
        Count("60-69", 2),
        Count("70-79", 0),
        Count("80-89", 1),
        Count("90-100", 0),
    )


def test_three_mqls_of_ten_identified_leads_is_too_loose_and_two_is_not() -> None:
    loose = summarize(history())
    assert loose.too_loose and loose.warning == (
        "more than 20% of identified leads become MQL: the definition is probably too loose"
    )
    fine = summarize(without_lead_03(history()))
    assert fine.mql_rate == Rate(2, 10, 20.0)
    assert not fine.too_loose and fine.warning is None


def test_the_funnel_overall_per_band_and_per_source() -> None:
    sales = summarize(history()).sales
    assert sales is not None
    # MQL leads 01, 02, 03: only 01 accepted and qualified. Leads that reached sql: 01 and the
    # outbound 04 (never an MQL); only 01 opened an opportunity.
    assert sales.funnel == Funnel(
        "overall", Rate(1, 3, 100 / 3), Rate(1, 3, 100 / 3), Rate(1, 2, 50.0)
    )
    # Bands and sources group MQL leads by their first crossing; 04 is in none of them.
    assert sales.funnel_per_band == (
        Funnel("60-69", Rate(1, 2, 50.0), Rate(1, 2, 50.0), Rate(1, 1, 100.0)),
        Funnel("80-89", Rate(0, 1, 0.0), Rate(0, 1, 0.0), Rate(0, 0, None)),
    )
    assert sales.funnel_per_source == (
        Funnel("web", Rate(1, 2, 50.0), Rate(1, 2, 50.0), Rate(1, 1, 100.0)),
        Funnel("(none)", Rate(0, 1, 0.0), Rate(0, 1, 0.0), Rate(0, 0, None)),
    )


def test_rejection_reasons_are_grouped_by_the_action_that_recycled() -> None:
    sales = summarize(history()).sales
    assert sales is not None
    # mql -> recycled is a reject, sql -> recycled a disqualify; one each, table order.
    assert sales.rejections == (
        Rejections("reject", 1, (Count("low_intent", 1),)),
        Rejections("disqualify", 1, (Count("no_budget", 1),)),
    )


def test_sla_compliance_per_sla_and_lane_leaves_pending_clocks_out() -> None:
    sales = summarize(history()).sales
    assert sales is not None
    # mql_review inbound: 01 reviewed after 4 h (met), 02 breached, 03 pending -> 1 / (3 - 1).
    # sql_first_touch inbound: 01 left sql at +74h without a breach (a `contacted` settled it).
    # sql_first_touch outbound: 04 breached.
    assert sales.sla == (
        SlaCompliance("mql_review", "inbound", 3, 1, 1, 1, Rate(1, 2, 50.0)),
        SlaCompliance("sql_first_touch", "inbound", 1, 1, 0, 0, Rate(1, 1, 100.0)),
        SlaCompliance("sql_first_touch", "outbound", 1, 0, 1, 0, Rate(0, 1, 0.0)),
    )


def test_median_time_in_each_stage_over_the_stays_that_ended() -> None:
    sales = summarize(history()).sales
    assert sales is not None
    # lead: 2, 49, 194, 264 h -> 121.5. mql: 4, 48 -> 26 (03 never left). sal: 20.
    # sql: 48 (01), 60 (04) -> 54. opportunity and recycled: nobody left them.
    assert sales.time_in_stage == (
        StageTime(Stage.LEAD, 4, 121.5),
        StageTime(Stage.MQL, 2, 26.0),
        StageTime(Stage.SAL, 1, 20.0),
        StageTime(Stage.SQL, 2, 54.0),
    )


def with_second_crossing(result: ReplayResult) -> ReplayResult:
    """lead-02 comes back: MQL again at +217h (72, W04), rejected 6 h later (bad_timing)."""
    result.crossings.append(Crossing(crossed("lead-02", 217, 72, crossing=2), None))
    result.stage_changes += [
        changed("lead-02", 217, Stage.RECYCLED, Stage.MQL),
        changed("lead-02", 223, Stage.MQL, Stage.RECYCLED, "bad_timing"),
    ]
    return result


def test_a_second_crossing_counts_as_a_crossing_not_as_another_mql_lead() -> None:
    report = summarize(with_second_crossing(history()))
    assert (report.mql_leads, report.crossings, report.mql_rate) == (3, 4, Rate(3, 10, 30.0))
    assert report.mqls_per_week == (Count("2026-W03", 2), Count("2026-W04", 2))
    assert [count.count for count in report.mqls_per_band] == [2, 1, 1, 0]
    assert report.sales is not None
    assert report.sales.funnel.mql_to_sal == Rate(1, 3, 100 / 3)
    assert report.sales.rejections[0] == Rejections(
        "reject", 2, (Count("bad_timing", 1), Count("low_intent", 1))
    )
    assert report.sales.sla[0] == SlaCompliance(
        "mql_review", "inbound", 4, 2, 1, 1, Rate(2, 3, 200 / 3)
    )
    # recycled: 02 stayed from +97h to +217h.
    assert StageTime(Stage.RECYCLED, 1, 120.0) in report.sales.time_in_stage


def test_a_history_without_sales_actions_says_so() -> None:
    result = history()
    result.stage_changes = [
        c for c in result.stage_changes if c.to_stage in (Stage.LEAD, Stage.MQL)
    ]
    report = summarize(result)
    assert report.sales is None
    assert f"\nSales\n  {NO_SALES}\n" in render_text(report)
    assert to_json(report)["sales"] is None


def test_bands_start_at_the_threshold_rounded_down_and_weeks_are_iso_weeks_in_utc() -> None:
    bands = Bands(DEFAULT.model_copy(update={"threshold": 65}))
    assert bands.labels == ("60-69", "70-79", "80-89", "90-100")
    by_total = {
        total: bands.of(Crossing(crossed("x", 0, total), None)) for total in (65, 69.99, 100)
    }
    assert by_total == {65: "60-69", 69.99: "60-69", 100: "90-100"}
    assert week_of(datetime(2025, 12, 29, tzinfo=UTC)) == "2026-W01"
    assert week_of(datetime(2027, 1, 1, tzinfo=UTC)) == "2026-W53"
    # Sunday 23:30 at -02:00 is Monday 01:30 UTC.
    assert week_of(datetime(2026, 1, 11, 23, 30, tzinfo=timezone(timedelta(hours=-2)))) == (
        "2026-W03"
    )


def test_the_text_report_leads_with_the_headline_and_fits_in_100_columns() -> None:
    text = render_text(summarize(history()))
    lines = text.splitlines()
    assert lines[:7] == [
        "Backtest of default@1 (MQL at 60 points or more)",
        "  history    2026-01-12 08:00Z to 2026-01-23 12:00Z",
        "  events     40 applied (incl. 2 duplicates), invalid 1, sales actions refused 1",
        "  leads      12 seen, 10 identified",
        "  MQLs       3 leads, 3 crossings",
        "  MQL rate   30.0% (3/10) of identified leads",
        "  WARNING    more than 20% of identified leads become MQL: "
        "the definition is probably too loose",
    ]
    for row in (
        r"2026-W03 +2",
        r"\(none\) +1",
        r"70-79 +0",
        r"overall +33\.3% \(1/3\) +33\.3% \(1/3\) +50\.0% \(1/2\)",
        r"band 80-89 +0\.0% \(0/1\) +0\.0% \(0/1\) +- \(0/0\)",
        r"reject +1 +low_intent +1",
        r"mql_review +inbound +3 +1 +1 +1 +50\.0% \(1/2\)",
        r"lead +4 +121\.5",
    ):
        assert any(re.fullmatch(r"  " + row, line) for line in lines), row
    assert max(len(line) for line in lines) <= 100
    assert "\x1b" not in text


def test_the_json_has_every_figure_and_round_trips_through_orjson() -> None:
    figures = to_json(summarize(history()))
    assert orjson.loads(orjson.dumps(figures)) == figures
    assert figures["first_event_at"] == "2026-01-12T08:00:00+00:00"
    assert figures["mql_rate"] == {"numerator": 3, "denominator": 10, "percent": 30.0}
    assert figures["mqls_per_band"][2] == {"label": "80-89", "count": 1}
    assert figures["sales"]["time_in_stage"][0] == {
        "stage": "lead",
        "stays": 4,
        "median_hours": 121.5,
    }
    assert figures["sales"]["sla"][0]["compliance"]["percent"] == 50.0


A_VIEW_OF_LEAD_03 = Evaluation(
    score=Score(fit=40, intent=18, total=58),
    contributions=(
        *crossed("lead-03", 264, 85).contributions[:3],
        Contribution(rule="demo_booked", points=18, kind="intent"),
    ),
    gates_met=("demo_booked>=1",),
    qualifies=False,
)
"""What A makes of lead-03 when it crosses under B: 58, below the threshold."""


def compared() -> Comparison:
    """A without lead-03's crossing, B (version 2) with it: the same history otherwise."""
    a = summarize(without_lead_03(history()))
    b_history = dataclasses.replace(
        history(), definition=DEFAULT.model_copy(update={"version": "2"})
    )
    lead_03 = crossed("lead-03", 264, 85)
    return compare(
        a, summarize(b_history), [DivergentLead("lead-03", None, lead_03, A_VIEW_OF_LEAD_03, None)]
    )


def test_compare_gives_the_change_in_every_figure() -> None:
    changes = {f"{c.section}: {c.figure}": c for c in compared().changes}
    assert changes["leads: seen"] == Change("leads", "seen", "count", 12, 12, 0)
    assert changes["leads: MQL leads"] == Change("leads", "MQL leads", "count", 2, 3, 1)
    assert changes["leads: MQL rate"] == Change("leads", "MQL rate", "percent", 20.0, 30.0, 10.0)
    assert changes["MQLs per week: 2026-W04"].change == 1
    assert changes["MQLs per source: web"].change == 1
    assert changes["MQLs per score band: 80-89"].change == 1
    # MQL->SAL: 1 of 2 under A, 1 of 3 under B.
    sal = changes["funnel: overall MQL->SAL"]
    assert (sal.a, sal.b, sal.change) == (50.0, 100 / 3, 100 / 3 - 50.0)
    # Band 80-89 has no MQL lead under A: no rate there, no change.
    band = changes["funnel per band: 80-89 MQL->SAL"]
    assert (band.a, band.b, band.change) == (None, 0.0, None)
    assert changes["SLA compliance: mql_review inbound pending"].change == 1
    assert changes["SLA compliance: mql_review inbound compliance"].change == 0
    # Time in lead: 2, 49, 194 h under A (median 49); 121.5 under B.
    lead = changes["median hours in stage: lead"]
    assert (lead.unit, lead.a, lead.b, lead.change) == ("hours", 49.0, 121.5, 72.5)


def test_compare_shows_both_breakdowns_of_a_divergent_lead() -> None:
    comparison = compared()
    lead_03 = crossed("lead-03", 264, 85)
    assert comparison.divergent == (
        Divergence(
            "lead-03",
            "B",
            h(264),
            a=Breakdown(
                A_VIEW_OF_LEAD_03.score,
                A_VIEW_OF_LEAD_03.contributions,
                ("demo_booked>=1",),
                qualifies=False,
                crossed=False,
            ),
            b=Breakdown(
                lead_03.score,
                lead_03.contributions,
                ("demo_booked>=1",),
                qualifies=True,
                crossed=True,
            ),
        ),
    )
    text = render_comparison(comparison)
    assert "Comparison on one history: A default@1, B default@2" in text
    assert "  WARNING B  more than 20% of identified leads become MQL" in text
    assert re.search(r"\n  MQL rate +20\.0% +30\.0% +\+10\.0 pp\n", text)
    assert re.search(r"\n  lead +49\.0 h +121\.5 h +\+72\.5 h\n", text)
    assert (
        "  lead-03: MQL under B only, first crossing 2026-01-23 08:00Z\n"
        "    A  score 58 = fit 40 + intent 18, does not qualify\n"
        "       gates met: demo_booked>=1\n"
        "       contributions: company_size_core +15, decision_maker +15, target_industry +10,\n"
        "         demo_booked +18\n"
        "    B  score 85 = fit 40 + intent 45, crossed\n"
        "       gates met: demo_booked>=1\n"
    ) in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_a_lead_the_other_definition_had_not_seen_has_no_score() -> None:
    report = summarize(history())
    only_a = DivergentLead("lead-01", history().crossings[0].event, None, None, None)
    comparison = compare(report, report, [only_a])
    text = render_comparison(comparison)
    assert "  lead-01: MQL under A only, first crossing 2026-01-12 10:00Z" in text
    assert "    B  no score: this definition had not seen the lead yet" in text
    figures = comparison_to_json(comparison)
    assert orjson.loads(orjson.dumps(figures)) == figures
    assert figures["divergent"][0]["b"] is None
    assert figures["divergent"][0]["a"]["score"] == {"fit": 40.0, "intent": 25.0, "total": 65.0}


def test_no_divergent_leads_is_said_in_words() -> None:
    report = summarize(history())
    text = render_comparison(compare(report, report, []))
    assert text.endswith(
        "Leads that are an MQL under one definition only (0)\n"
        "  none: both make the same leads MQL\n"
    )
    assert all(change.change in (0, None) for change in compare(report, report, []).changes)


def test_a_figure_missing_from_one_report_is_0_for_a_count_and_none_for_a_rate() -> None:
    base, returning = summarize(history()), summarize(with_second_crossing(history()))
    changes = {c.figure: c for c in compare(base, returning, []).changes}
    assert changes["reject bad_timing"] == Change(
        "rejection reasons", "reject bad_timing", "count", 0, 1, 1
    )
    changes = {
        c.figure: c for c in compare(base, summarize(without_lead_03(history())), []).changes
    }
    assert (changes["80-89 MQL->SAL"].a, changes["80-89 MQL->SAL"].b) == (0.0, None)
    assert changes["80-89 MQL->SAL"].change is None


def test_a_long_breakdown_wraps_between_contributions_within_100_columns() -> None:
    many = tuple(
        Contribution(rule=f"a_rule_with_a_longer_name_{n}", points=1.25, kind="intent")
        for n in range(12)
    )
    crossing = crossed("lead-01", 2, 65).model_copy(update={"contributions": many})
    report = summarize(history())
    text = render_comparison(
        compare(report, report, [DivergentLead("lead-01", crossing, None, None, None)])
    )
    assert max(len(line) for line in text.splitlines()) <= 100
    assert all(f"a_rule_with_a_longer_name_{n} +1.2" in text for n in range(12))
