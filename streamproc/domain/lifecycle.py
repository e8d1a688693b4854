"""The stage table of DESIGN.md: which sales action moves a lead from which stage to which.

`visitor -> lead -> mql -> sal -> sql -> opportunity -> customer`, and `recycled`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from streamproc.domain.definition import Definition
from streamproc.domain.events import Lane, SalesActionName, SalesActionTaken, Stage

ACTIONS_KEPT = 32
"""How many recent sales-action ids a lead remembers to recognise a repeated action."""

PROGRESS = (
    Stage.VISITOR,
    Stage.LEAD,
    Stage.MQL,
    Stage.SAL,
    Stage.SQL,
    Stage.OPPORTUNITY,
    Stage.CUSTOMER,
)
"""Stages in order of progress; `recycled` is a detour, not a step forward."""
_RANK = {stage: index for index, stage in enumerate(PROGRESS)}

TRANSITIONS: Mapping[SalesActionName, Mapping[Stage, Stage]] = {
    "accept": {Stage.MQL: Stage.SAL},
    "reject": {Stage.MQL: Stage.RECYCLED},
    "qualify": {Stage.LEAD: Stage.SQL, Stage.MQL: Stage.SQL, Stage.SAL: Stage.SQL},
    "disqualify": {Stage.SAL: Stage.RECYCLED, Stage.SQL: Stage.RECYCLED},
    "open_opportunity": {Stage.SQL: Stage.OPPORTUNITY},
    "close_won": {Stage.OPPORTUNITY: Stage.CUSTOMER},
    "close_lost": {Stage.OPPORTUNITY: Stage.RECYCLED},
}
"""For each action, the stages it is allowed in and where it takes the lead."""

CONTACT_STAGES = (Stage.MQL, Stage.SAL, Stage.SQL, Stage.OPPORTUNITY)
"""`contacted` records a touch without moving the stage; it makes sense once sales owns it."""

NEEDS_REASON = frozenset({"reject", "disqualify", "close_lost"})


class DomainError(Exception):
    """Input that is well-formed but that the rules refuse. The sentence is for a person."""


class DisallowedActionError(DomainError):
    pass


class ReasonCodeError(DomainError):
    pass


class QualificationError(DomainError):
    pass


def lane_of(profile: Mapping[str, object]) -> Lane:
    return cast(Lane, profile.get("lane", "inbound"))


def higher(first: Stage, second: Stage) -> Stage:
    """The further of two stages along the progress order (`recycled` never counts)."""
    return max(first, second, key=lambda stage: _RANK.get(stage, -1))


def next_stage(
    stage: Stage, lane: Lane, action: SalesActionTaken, definition: Definition
) -> Stage | None:
    """Where `action` takes a lead in `stage`; None when it records without moving.

    Raises DisallowedActionError when the stage table does not allow the action (an inbound
    lead must pass MQL before `qualify`; only the outbound lane may skip it) and
    ReasonCodeError when a rejection lacks a reason code from the definition's taxonomy, and
    QualificationError when a `qualify` lacks an answer the definition requires.
    """
    records_only = action.action == "contacted"
    allowed = CONTACT_STAGES if records_only else tuple(TRANSITIONS[action.action])
    if stage not in allowed or (stage is Stage.LEAD and lane != "outbound"):
        raise DisallowedActionError(
            f"action {action.action} is not allowed for a lead in stage {stage}"
            + (" of the inbound lane" if stage is Stage.LEAD and lane != "outbound" else "")
            + f"; it applies to stages {', '.join(allowed)}"
        )
    if action.action in NEEDS_REASON and action.reason_code not in definition.reason_codes:
        given = f"reason code {action.reason_code!r}" if action.reason_code else "no reason code"
        raise ReasonCodeError(
            f"action {action.action} needs a reason code from the definition "
            f"({', '.join(definition.reason_codes)}), got {given}"
        )
    if action.action == "qualify":
        _check_qualification(action, definition)
    return None if records_only else TRANSITIONS[action.action][stage]


def _check_qualification(action: SalesActionTaken, definition: Definition) -> None:
    answers = {
        key.lower(): str(value).lower() for key, value in (action.qualification or {}).items()
    }
    for question, accepted in definition.qualification_required.items():
        if answers.get(question.lower()) not in {answer.lower() for answer in accepted}:
            given = answers.get(question.lower(), "no answer")
            raise QualificationError(
                f"qualify needs {question} to be {' or '.join(sorted(accepted))} in the "
                f"qualification under definition {definition.label}, got {given}"
            )
