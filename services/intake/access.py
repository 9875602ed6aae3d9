"""Division scope of an intake case (issue 13, D11): who may read it and who may write it.

Intake's own rules, kept in the service (issue 14): the shared policy (shared/web/policy.py) checks a
case route's scope through `IntakeApplication.case_divisions` (its readers), like every other service's;
the application checks writers (`require_case_writer`), the pages and lists readers (`may_read_case`).
Agencies count by their division's code (shared/organisation/reference.py division_of)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

from services.intake.domain import counter_divisions
from shared.domain.access import OutOfScope
from shared.organisation.reference import COUNTERS, DIVISIONS, division_of, lead_division
from shared.organisation.scope import in_scope, sees_every_division, successors


class Reader(Protocol):
    """Who reads: a signed-in staff member (shared/web/auth.py Principal), by division and roles."""

    @property
    def division(self) -> str: ...

    @property
    def roles(self) -> Collection[str]: ...


def answering_division(case: dict[str, Any], index: int) -> str:
    """D11: the division whose staff record the answer to connection `index` of a case (its view): the
    agency's own when it is one of the city's, else the division of the counter that received the case."""
    return division_of(case["connections"][index]["to_agency"]) or str(case["division"])


def case_readers(view: dict[str, Any]) -> frozenset[str]:
    """Divisions that may read an intake case: its counters' divisions (the first, and each that took it up again from
    an outreach referral), its primary agency's, the
    divisions it was connected to (pending or accepted: the agency connected to reads it to answer; a
    declined one no longer), the members of the meetings that took it up (MeetingCaseTakenUp) and,
    once escalated or at a meeting, 福祉総務課 (its programs' staff), also while held in its household's plan
    (世帯で連携中, D16) or its plan is suspended, after its plan's 終結 and after 対応終了 of a case returned to intake. Agencies count by division code."""
    agencies = [c["to_agency"] for c in view.get("connections", []) if c.get("status") != "declined"]
    readers = set(counter_divisions(view["division"], view.get("taken_up") or []))  # the counters that received it
    readers |= {d for d in map(division_of, [*agencies, view.get("primary", "")]) if d}
    for sitting in view.get("sittings", []):
        readers |= set(sitting.get("member_divisions", []))
    closed_after = (view.get("closure") or {}).get("status_before")  # 対応終了 (issue 15): who read it before
    under_plan = ("escalated", "linked", "plan_suspended", "returned", "plan_closed")  # linked: D16, its household's
    if view.get("status") in under_plan or closed_after in ("returned", "plan_closed", "plan_suspended") or view.get(
            "meetings"):
        readers.add(lead_division())
    return frozenset(readers | successors(readers))  # a division that ended: its successor (issue 18)


def case_writers(view: dict[str, Any]) -> frozenset[str]:
    """Divisions that may change an intake case (consent, つなぎ, escalation): the divisions whose counters
    received it (the first, and each that took it up again from an outreach referral) and the division of its primary
    agency (D11). A reader is not a writer: the agency a
    case was connected to answers the connection (its own rule), and the meeting's members read."""
    primary = division_of(view.get("primary", ""))
    writers = {*counter_divisions(view["division"], view.get("taken_up") or []), *([primary] if primary else [])}
    return frozenset(writers | successors(writers))  # a division that ended: its successor (issue 18)


def require_case_writer(division: str, view: dict[str, Any]) -> None:
    """Refuses (OutOfScope, 403) a division that may not write the case (case_writers)."""
    if division not in case_writers(view):
        names = "、".join(DIVISIONS[d].ja for d in sorted(case_writers(view)))
        raise OutOfScope(
            f"このケースを記録できるのは{names}です（受付窓口の課・主担当機関の課）。"
            f"{DIVISIONS[division].ja if division in DIVISIONS else division}は記録できません / "
            "only the receiving counter's division and the primary agency's division change this case")


def may_read_case(reader: Reader, view: dict[str, Any]) -> bool:
    """Whether the reader may read the case: auditors every case, others their divisions' (case_readers)."""
    return in_scope(reader.division, reader.roles, case_readers(view))


def require_case_reader(reader: Reader, view: dict[str, Any]) -> None:
    """Refuses (OutOfScope, 403) a reader who may not read the case (may_read_case)."""
    if not may_read_case(reader, view):
        division = DIVISIONS[view["division"]].ja
        raise OutOfScope(
            f"このケースは{division}の窓口で受け付けたもので、{DIVISIONS[reader.division].ja}にはつながっていません。"
            f"閲覧できません。関わる必要があれば、{division}にこのケースのつなぎ（連携）を依頼してください / this case was "
            "received by another division and was not connected or escalated to yours: to work on it, ask that division "
            "to connect the case to yours")


def may_see_referral(reader: Reader, referral: dict[str, Any]) -> bool:
    """D12 (division scope): a referral waiting at a counter is for that counter's division (auditors: every one)."""
    if sees_every_division(reader.roles):
        return True
    counter = COUNTERS.get(referral["counter"])
    return counter is not None and counter.division == reader.division
