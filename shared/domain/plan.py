"""プラン: a support plan, owned by collaboration, outreach or participation (D4, D6, D7).

Every program that writes plans uses this one aggregate in its own store; the meeting
judges them the same way whoever wrote them (D6).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event

from shared.domain.wareki import day_ja, wareki
from shared.kernel.journey import DomainError, Invalid, JourneyAggregate

#: D7: the owner rewrites a draft, a plan the meeting asked to revise, a suspended one (a new revision), and
#: one in 伴走支援 (leaving it for a new plan)
EDITABLE = ("draft", "revision_requested", "suspended", "accompanying")
#: a plan in force: approved, continued with a new review date, or resumed after a suspension (D7)
IN_FORCE = ("approved", "continued", "resumed")
#: D7: the owner asks for closure of a plan in force, a suspended one, or one in 伴走支援 (to end it in 終結)
CLOSABLE = (*IN_FORCE, "suspended", "accompanying")
SELF = "本人"  # the person the case is about: every plan covers them first
#: each status as staff read it (the pages' badges, and the refusals below: never the status's code)
STATUS_JA = {
    "draft": "下書き", "proposed": "会議に提出中", "approved": "承認", "revision_requested": "修正依頼",
    "returned": "相談窓口へ戻し", "closure_requested": "終結評価待ち", "closed": "終結", "suspended": "中断",
    "continued": "継続", "resumed": "再開（実施中）", "accompanying": "伴走支援中",
}


#: a plan that has ended: 終結, or its case returned to intake by the meeting (D4: the program may draft a new one)
ENDED = ("closed", "returned")

#: what the owner can do next with a plan in each status, said after a refusal that names the status (D4 D5 D7):
#: (Japanese, English), each one sentence
_NEXT_STEP = {
    "draft": ("下書きを会議に提出し、承認を受けてください", "propose the draft to the meeting and have it approved first"),
    "proposed": ("会議の決定を待ってください（修正が必要なら会議が修正依頼を出します）",
                 "wait for the meeting's decision (it asks for a revision if one is needed)"),
    "revision_requested": ("修正して会議に再提出し、承認を受けてください",
                           "revise it and propose it to the meeting again for approval"),
    "approved": ("内容を変えるには「終結の評価を依頼する」で会議の評価を受けてください（中断となれば修正でき、終結なら新しいプランを作成できます）",
                 ("to change it, ask the meeting to evaluate it (「request closure」): a suspended plan can be revised, "
                  "and after closure a new plan can be drafted")),
    "closure_requested": ("会議の評価（終結・中断・継続）を待ってください", "wait for the meeting's evaluation (close, suspend or continue)"),
    "closed": ("このプランは終わっています。必要なら新しいプランを作成してください",
               "this plan has ended: draft a new plan if support continues"),
    "suspended": ("中断中のプランは修正して会議に提出するか、会議での再開を待ってください",
                  "revise the suspended plan and propose it, or wait for the meeting to resume it"),
    "accompanying": ("伴走支援中です。見守りを記録するか、支援を終えるときは「終結の評価を依頼する」を押してください",
                     "the case is accompanied: record check-ins, or ask for closure when support ends"),
}
_NEXT_STEP["continued"] = _NEXT_STEP["resumed"] = _NEXT_STEP["approved"]
_NEXT_STEP["returned"] = ("ケースは相談窓口へ戻されています。必要なら新しいプランを作成してください",
                          "the case was returned to the counter: draft a new plan if this program supports it again")


def next_step(status: str) -> tuple[str, str]:
    """What to do next with a plan in `status` (Japanese, English), for a refusal that names the status."""
    return _NEXT_STEP.get(status, ("プランの画面で状態を確かめてください", "check the plan's status on its page"))


class OpenPlanExists(DomainError):
    """D4: a program keeps at most one plan not ended per case (a suspended one is resumed by its own act, or ended by
    the meeting, before a new plan); a new draft is refused naming the open one (`plan_id`)."""

    def __init__(self, plan_id: str, status_ja: str) -> None:
        super().__init__(f"このケースには終わっていないプラン（{plan_id[:8]}・{status_ja}）があるため、新しいプランは作れません。"
                         "そのプランを開いて修正するか、会議で終結してから作成してください / the case has a plan of this "
                         f"program that has not ended ({plan_id}): revise that one, or have the meeting end it first")
        self.plan_id = plan_id


class PlanWithoutRoles(Invalid):
    """D4: a plan names at least one agency's role."""


class PlanNotEditable(DomainError):
    """A proposed or decided plan is not edited; the meeting asks for a revision first."""


class PlanPeriodInvalid(Invalid):
    """A plan's period: its review date (見直し予定日) comes after its start (開始日)."""


class NotAccompanying(DomainError):
    """伴走支援: a check-in is recorded only while the case is accompanied, never before it began."""


def _period(starts_on: date | None, review_on: date | None) -> None:
    if starts_on is not None and review_on is not None and review_on <= starts_on:
        raise PlanPeriodInvalid(
            f"見直し予定日 {day_ja(review_on)} は開始日 {day_ja(starts_on)} より後の日にしてください / "
            "the review date comes after the plan's start"
        )


def _members(members: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The household members a plan covers besides 本人 (labels for now), each with their own goals (D16)."""
    clean: list[dict[str, Any]] = []
    for i, member in enumerate(members or [], 1):
        label = str(member.get("label") or "").strip()
        goals = [str(g).strip() for g in member.get("goals") or [] if str(g).strip()]
        if not label or label == SELF:
            raise Invalid(f"世帯員{i}: 本人以外の呼び方（例: 母）を入力してください / member {i} needs a label other than 本人")
        if label in [m["label"] for m in clean]:
            raise Invalid(f"世帯員「{label}」が重複しています。1人につき1行にまとめるか、呼び方を変えてください（例: 兄・弟）/ "
                          f"member 「{label}」 is listed twice: keep one line per person, or name them apart")
        if not goals:
            raise Invalid(f"世帯員「{label}」の目標を1つ以上入力してください / each person the plan covers has a goal")
        clean.append({"label": label, "goals": goals})
    return clean


def _roles(roles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not roles:
        raise PlanWithoutRoles("役割分担が空です。機関と役割を1つ以上入力してください / a plan needs at least one role (D4)")
    clean = []
    for i, role in enumerate(roles, 1):
        agency = str(role.get("agency") or "").strip()
        responsibility = str(role.get("responsibility") or "").strip()
        if not agency or not responsibility:
            raise PlanWithoutRoles(
                f"役割{i}: 機関名と役割の両方を入力してください / role {i} needs an agency and a responsibility (D4)"
            )
        code = role.get("agency_code")  # issue 18: the municipality file's code, added by the application (plan_owner)
        clean.append({"agency": agency, "responsibility": responsibility, "contact": role.get("contact")}
                     | ({"agency_code": str(code)} if code else {}))
    return clean


class Plan(JourneyAggregate):
    """プラン: support direction (支援の方向性), goals and the agencies' roles (役割分担)."""

    if TYPE_CHECKING:  # the event classes @event generates (fields: the method's parameters)
        Drafted: ClassVar[type[Any]]
        Revised: ClassVar[type[Any]]
        Proposed: ClassVar[type[Any]]
        DecisionRecorded: ClassVar[type[Any]]
        ClosureRequested: ClassVar[type[Any]]
        Evaluated: ClassVar[type[Any]]
        Resumed: ClassVar[type[Any]]
        Accompanied: ClassVar[type[Any]]
        CheckedIn: ClassVar[type[Any]]

    @event("Drafted")
    def __init__(
        self, case_id: UUID, program: str, support_direction: str, goals: list[str], roles: list[dict[str, Any]],
        intention: str = "", starts_on: date | None = None, review_on: date | None = None,
        members: list[dict[str, Any]] | None = None,
    ) -> None:
        self.case_id = case_id
        self.program = program
        self.support_direction = support_direction
        self.goals = goals
        self.roles = roles
        self.revision = 0
        self.status = "draft"
        self.history: list[dict[str, Any]] = []
        self._form(intention, starts_on, review_on, members)

    def _form(self, intention: str, starts_on: date | None, review_on: date | None,
              members: list[dict[str, Any]] | None) -> None:
        self.intention, self.starts_on, self.review_on, self.members = intention, starts_on, review_on, members or []

    @classmethod
    def draft(
        cls, case_id: UUID, program: str, support_direction: str, goals: list[str], roles: list[dict[str, Any]],
        intention: str = "", starts_on: date | None = None, review_on: date | None = None,
        members: list[dict[str, Any]] | None = None,
    ) -> Plan:
        """D4 D16: the plan form as staff fill it in: 本人の意向, the period, 本人's goals and each household
        member's, the roles."""
        _period(starts_on, review_on)
        return cls(case_id=case_id, program=program, support_direction=support_direction, goals=list(goals),
                   roles=_roles(roles), intention=intention.strip(), starts_on=starts_on, review_on=review_on,
                   members=_members(members))

    def revise(
        self, support_direction: str, goals: list[str], roles: list[dict[str, Any]], intention: str | None = None,
        starts_on: date | None = None, review_on: date | None = None, members: list[dict[str, Any]] | None = None,
    ) -> None:
        """Rewrite the plan while it is a draft, after the meeting asked for a revision, after a suspension, or
        to leave 伴走支援 for a new plan. `intention` None keeps the form's other fields as they were."""
        if self.status not in EDITABLE:
            ja, en = next_step(self.status)
            raise PlanNotEditable(
                f"状態「{self.status_ja}」のプランは修正できません。{ja} / a plan that is {self.status} cannot be "
                f"revised: {en}"
            )
        if intention is None:
            self._revised(support_direction=support_direction, goals=list(goals), roles=_roles(roles))
            return
        _period(starts_on, review_on)
        self._revised(support_direction=support_direction, goals=list(goals), roles=_roles(roles),
                      intention=intention.strip(), starts_on=starts_on, review_on=review_on,
                      members=_members(members))

    @event("Revised")
    def _revised(
        self, support_direction: str, goals: list[str], roles: list[dict[str, Any]], intention: str | None = None,
        starts_on: date | None = None, review_on: date | None = None, members: list[dict[str, Any]] | None = None,
    ) -> None:
        self.support_direction, self.goals, self.roles = support_direction, goals, roles
        if intention is not None:  # a revision recorded before the plan form had these keeps them as they were
            self._form(intention, starts_on, review_on, members)

    @property
    def status_ja(self) -> str:
        """The status as staff read it (STATUS_JA)."""
        return STATUS_JA.get(self.status, self.status)

    def all_goals(self) -> list[str]:
        """Every goal of the plan: 本人's, then each member's (the meeting evaluates them one by one, D7)."""
        return [*self.goals, *(g for m in getattr(self, "members", []) for g in m["goals"])]

    def propose(self) -> None:
        """D4 D6: take the plan to the meeting."""
        if self.status not in EDITABLE:
            ja, en = next_step(self.status)
            raise PlanNotEditable(
                f"状態「{self.status_ja}」のプランは提出できません。{ja} / a plan that is {self.status} cannot be "
                f"proposed: {en}"
            )
        _roles(self.roles)
        period = {k: v for k, v in (("starts_on", getattr(self, "starts_on", None)),
                                    ("review_on", getattr(self, "review_on", None))) if v is not None}
        self._proposed(
            revision=self.revision + 1,
            program=self.program,
            support_direction=self.support_direction,
            goals=self.all_goals(),
            roles=self.roles,
            **period,
        )

    @event("Proposed")
    def _proposed(
        self, revision: int, program: str, support_direction: str, goals: list[str], roles: list[dict[str, Any]],
        starts_on: date | None = None, review_on: date | None = None,
    ) -> None:
        self.revision = revision
        self.status = "proposed"
        # D4: each proposed revision is kept as it was proposed
        self.revisions = [*getattr(self, "revisions", []), {
            "revision": revision, "support_direction": support_direction, "goals": goals, "roles": roles}]

    def record_decision(self, meeting_id: UUID, meeting_type: str, decision: str, reasons: str, revision: int) -> None:
        """D5: the meeting's decision on this plan reached its owner."""
        if self.status != "proposed" or revision != self.revision:
            return  # a decision on an older revision changes nothing
        self._decision_recorded(meeting_id=meeting_id, meeting_type=meeting_type, decision=decision, reasons=reasons)

    @event("DecisionRecorded")
    def _decision_recorded(self, meeting_id: UUID, meeting_type: str, decision: str, reasons: str) -> None:
        self.status = {"approved": "approved", "revision_requested": "revision_requested"}.get(decision, "returned")
        self.history.append({"meeting_id": str(meeting_id), "decision": decision, "reasons": reasons})

    def request_closure(self, progress: str) -> None:
        """D7: the owner asks the meeting to evaluate and end the plan."""
        if self.status not in CLOSABLE:
            ja, en = next_step(self.status)
            raise DomainError(
                f"承認されていないプラン（{self.status_ja}）は終結を依頼できません。{ja} / only an approved plan can be "
                f"closed: {en}"
            )
        if not progress.strip():
            raise Invalid("経過を入力してください / describe the progress so far")
        self._closure_requested(progress=progress, program=self.program)

    @event("ClosureRequested")
    def _closure_requested(self, progress: str, program: str) -> None:
        self.status = "closure_requested"

    def record_evaluation(self, outcome: str, meeting_id: UUID, evaluation: dict[str, str], next_review_on: date | None) -> None:
        """D7: the meeting's evaluation reached the owner: closed, suspended or continued."""
        if self.status != "closure_requested":
            return
        self._evaluated(outcome=outcome, meeting_id=meeting_id, evaluation=evaluation, next_review_on=next_review_on)

    @event("Evaluated")
    def _evaluated(self, outcome: str, meeting_id: UUID, evaluation: dict[str, str], next_review_on: date | None) -> None:
        self.status = outcome
        self.next_review_on = next_review_on if outcome == "continued" else None
        self.history.append({"meeting_id": str(meeting_id), "evaluation": evaluation, "outcome": outcome,
                             "next_review_on": _iso(next_review_on)})

    def record_resumption(self, meeting_id: UUID, meeting_type: str, reason: str) -> None:
        """D7 D9: the 重層的支援会議 resumed the suspended plan (再開): it is in force again."""
        if self.status != "suspended":
            return  # a resumption of a plan that is not suspended (or already resumed) changes nothing
        self._resumed(meeting_id=meeting_id, meeting_type=meeting_type, reason=reason)

    @event("Resumed")
    def _resumed(self, meeting_id: UUID, meeting_type: str, reason: str) -> None:
        self.status = "resumed"
        self.history.append({"meeting_id": str(meeting_id), "resumed": True, "meeting_type": meeting_type,
                             "reasons": reason})

    def accompany(self, since: date, goals_met: list[str]) -> None:
        """伴走支援 (D11 「本人に寄り添い、伴走する」): once every goal of a plan in force is met, the case stays
        accompanied with periodic check-ins and no active plan, distinct from 終結."""
        if self.status not in IN_FORCE:
            ja, en = next_step(self.status)
            raise PlanNotEditable(
                f"実施中のプランだけが伴走支援に移れます（現在: {self.status_ja}）。{ja} / only a plan in force moves "
                f"to accompaniment: {en}"
            )
        unmet = [g for g in self.all_goals() if g not in goals_met]
        if unmet:
            raise Invalid(
                "目標をすべて達成してから伴走支援に移ります。未達成: " + "、".join(unmet)
                + "。達成した目標に印を付けて送り直すか、支援を続けてください / every goal of the plan is met before "
                "accompaniment: mark each goal met and send again, or continue the support"
            )
        self._accompanied(since=since)

    @event("Accompanied")
    def _accompanied(self, since: date) -> None:
        self.status, self.accompanying_since = "accompanying", since
        self.check_ins: list[dict[str, str]] = []

    def check_in(self, on: date, how: str, note: str) -> None:
        """伴走支援: one periodic check-in, with its date (never before 伴走支援 began)."""
        if self.status != "accompanying":
            then = next_step(self.status)
            if self.status in IN_FORCE:
                then = ("目標をすべて達成したら「伴走支援に移る」を押してから、見守りを記録してください",
                        "once every goal is met, start accompanying first, then record the check-in")
            raise NotAccompanying(
                f"伴走支援中のケースだけ見守りの記録ができます（現在: {self.status_ja}）。{then[0]} / check-ins are "
                f"recorded during accompaniment: {then[1]}"
            )
        if on < self.accompanying_since:
            raise NotAccompanying(
                f"伴走支援の開始日 {day_ja(self.accompanying_since)} より前の日付は記録できません。"
                f"{wareki(self.accompanying_since, with_gregorian=False)}以降の日付にしてください / a check-in is not dated before "
                f"accompaniment began: date it {self.accompanying_since.isoformat()} or later"
            )
        if not how.strip():
            raise Invalid("方法を入力してください / how the check-in was made")
        self._checked_in(on=on, how=how.strip(), note=note.strip())

    @event("CheckedIn")
    def _checked_in(self, on: date, how: str, note: str) -> None:
        self.check_ins = sorted([*self.check_ins, {"on": on.isoformat(), "how": how, "note": note}],
                                key=lambda c: c["on"])

    def view(self) -> dict[str, Any]:
        since = getattr(self, "accompanying_since", None)
        return {
            "plan_id": str(self.id),
            "case_id": str(self.case_id),
            "program": self.program,
            "status": self.status,
            "revision": self.revision,
            "support_direction": self.support_direction,
            "goals": self.goals,
            "roles": self.roles,
            "history": self.history,
            "revisions": getattr(self, "revisions", []),
            "intention": getattr(self, "intention", ""),
            "starts_on": _iso(getattr(self, "starts_on", None)),
            "review_on": _iso(getattr(self, "review_on", None)),
            "next_review_on": _iso(getattr(self, "next_review_on", None)),
            "persons": [{"label": SELF, "goals": self.goals}, *getattr(self, "members", [])],
            "accompanying_since": _iso(since),
            "check_ins": list(getattr(self, "check_ins", [])),
        }


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _proposed(e: Any) -> tuple[str, dict[str, Any]]:  # e: a Plan.Proposed
    payload = {"plan_id": e.originator_id, "program": e.program, "revision": e.revision,
               "support_direction": e.support_direction, "goals": e.goals, "roles": e.roles}
    for name in ("starts_on", "review_on"):  # the plan period, added in place: absent from older events
        if getattr(e, name, None) is not None:
            payload[name] = getattr(e, name)
    return "PlanProposed", payload


PLAN_RULES = {
    Plan.Proposed: _proposed,
    Plan.ClosureRequested: lambda e: (
        "PlanClosureRequested",
        {"plan_id": e.originator_id, "program": e.program, "progress": e.progress},
    ),
}
