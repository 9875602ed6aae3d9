"""担当者と支援経過記録 (issue 15): who is in charge of a program's case, the dated contact notes kept on it,
and what is due. Every program keeps its own `CaseFile` per case in its own store (encrypted at rest like
every store); none of it is published (the service's translate.py has no rule for it: never on the bus).

`CaseFile` is the aggregate (guards in the public verbs, small appliers, no framework); its use cases and
queries are shared/domain/casework_owner.py `CaseworkOwner`, which every program's Application inherits."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import event

from shared.domain.wareki import day_ja
from shared.kernel.journey import DomainError, Invalid, JourneyAggregate

CONTACT_METHODS = ("来所", "電話", "訪問", "同行", "オンライン", "文書")
ASSIGNMENT_ROLES = {"main": "担当者", "sub": "副担当"}
JST = timezone(timedelta(hours=9), "JST")
CASE_FILE_NAMESPACE = UUID("0c7f3f4e-2a55-4a8e-9b0e-5d0c6f1e7a15")
#: How far ahead a 次の対応 counts as due on 自分の担当 (overdue once its date has passed).
DUE_SOON = timedelta(days=7)


class SubWithoutMain(DomainError):
    """副担当は担当者を決めてから: a case has a sub only beside a named staff member in charge."""


class SameStaffTwice(Invalid):
    """One staff member is not both 担当者 and 副担当 of a case."""


class ContactInFuture(Invalid):
    """A note records a contact that happened: its 日時 is not later than the moment it is written."""


class NextStepIncomplete(Invalid):
    """次の対応 and its 期日 go together, and the 期日 is not before the contact."""


def case_file_id(case_id: UUID) -> UUID:
    """The case file's id in a program's store: one per case, apart from the case's own aggregates."""
    return uuid5(CASE_FILE_NAMESPACE, str(case_id))


class CaseFile(JourneyAggregate):
    """ケースファイル: a program's 担当者 and 副担当 of a case and its 支援経過記録."""

    if TYPE_CHECKING:  # the event classes @event generates (fields: the method's parameters)
        Opened: ClassVar[type[Any]]
        Assigned: ClassVar[type[Any]]
        Released: ClassVar[type[Any]]
        NoteWritten: ClassVar[type[Any]]

    @event("Opened")
    def __init__(self, case_id: UUID) -> None:
        self.case_id = case_id
        self.main: str | None = None
        self.sub: str | None = None
        self.notes: list[dict[str, Any]] = []

    @staticmethod
    def create_id(case_id: UUID, **_: Any) -> UUID:
        return case_file_id(case_id)

    def assign(self, role: str, staff_id: str) -> None:
        """担当者・副担当を決める／替える (from whom is kept); the same staff member again records nothing."""
        staff_id = staff_id.strip()
        if role not in ASSIGNMENT_ROLES:
            raise Invalid(f"担当の種類 {role!r} はありません。担当者（main）か副担当（sub）を選んでください / unknown role: "
                          "choose main or sub")
        if not staff_id:
            raise Invalid("職員番号を入力してください / name the staff member")
        current = self.main if role == "main" else self.sub
        if staff_id == current:
            return
        if role == "sub" and self.main is None:
            raise SubWithoutMain("副担当は担当者を決めてから決めてください / name the staff member in charge first")
        other = self.sub if role == "main" else self.main
        if staff_id == other:
            raise SameStaffTwice(f"{staff_id} は既に{ASSIGNMENT_ROLES['sub' if role == 'main' else 'main']}です。"
                                 "担当者と副担当は別の職員にしてください / one person cannot be both")
        self._assigned(role=role, staff_id=staff_id, previous=current)

    @event("Assigned")
    def _assigned(self, role: str, staff_id: str, previous: str | None) -> None:
        setattr(self, role, staff_id)

    def release_sub(self) -> None:
        """副担当を外す; a case without one records nothing."""
        if self.sub is not None:
            self._released(role="sub", previous=self.sub)

    @event("Released")
    def _released(self, role: str, previous: str) -> None:
        setattr(self, role, None)

    def write_note(self, note_id: UUID, contacted_at: datetime, method: str, counterpart: str, content: str,
                   agreed: str, next_step: str, next_due: date | None, now: datetime) -> None:
        """支援経過記録: a dated contact note (日時 is when the contact happened, not when it was typed)."""
        if method not in CONTACT_METHODS:
            raise Invalid(f"方法 {method!r} はありません。次のいずれかです / unknown method: " + "、".join(CONTACT_METHODS))
        if not content.strip():
            raise Invalid("内容を入力してください / write what was discussed")
        if contacted_at.tzinfo is None:
            contacted_at = contacted_at.replace(tzinfo=JST)  # the form's 日時 is the office's clock
        if contacted_at > now + timedelta(minutes=5):
            raise ContactInFuture("日時が未来です。接触した日時を入力してください / the contact's time is in the future")
        if bool(next_step.strip()) != (next_due is not None):
            raise NextStepIncomplete("次の対応とその期日は両方入力してください / give the next step and its date together")
        if next_due is not None and next_due < contacted_at.astimezone(JST).date():
            raise NextStepIncomplete(f"次の対応の期日が接触日より前です。期日は接触日 {day_ja(contacted_at.astimezone(JST).date())} "
                                     f"以降にしてください / the next step's date is before the contact: date it "
                                     f"{contacted_at.astimezone(JST).date()} or later")
        self._note_written(note_id=note_id, contacted_at=contacted_at, method=method, counterpart=counterpart.strip(),
                           content=content.strip(), agreed=agreed.strip(), next_step=next_step.strip(), next_due=next_due)

    @event("NoteWritten")
    def _note_written(self, note_id: UUID, contacted_at: datetime, method: str, counterpart: str, content: str,
                      agreed: str, next_step: str, next_due: date | None) -> None:
        self.notes.append({"note_id": note_id, "contacted_at": contacted_at, "method": method,
                           "counterpart": counterpart, "content": content, "agreed": agreed,
                           "next_step": next_step, "next_due": next_due})

    def open_next_step(self) -> dict[str, Any] | None:
        """The 次の対応 still open: the latest contact's (a later note takes over from an earlier one)."""
        if not self.notes:
            return None
        latest = max(self.notes, key=lambda n: n["contacted_at"])
        return latest if latest["next_due"] is not None else None

    def view(self) -> dict[str, Any]:
        return {"case_id": str(self.case_id), "main": self.main, "sub": self.sub,
                "notes": [{**n, "note_id": str(n["note_id"]), "contacted_at": n["contacted_at"].isoformat(),
                           "next_due": n["next_due"].isoformat() if n["next_due"] else None} for n in self.notes]}
