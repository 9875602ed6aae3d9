"""The application side of 担当者 and 支援経過記録 (issue 15): `CaseworkOwner`, which every program's Application
inherits, with the use cases (assign, write a note) and the typed read models the pages and the JSON API read
(a case's 経過記録, 自分の担当, the supervisor's caseload). The aggregate is shared/domain/casework.py.

A program adds what only it knows through hooks: its cases (`casework_cases`), its own activities shown in
the same 経過記録 (`casework_activities`: outreach's contacts, participation's placements and reviews) and its
own due items (`casework_due`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

from shared.domain.casework import ASSIGNMENT_ROLES, DUE_SOON, JST, CaseFile, case_file_id
from shared.kernel.app import ServiceApplication
from shared.kernel.journey import NotFound, acting, actor_label


@dataclass(frozen=True)
class AssignmentChange:
    """担当の交代: who, from whom, when, by whom."""

    at: datetime
    role: str
    staff_id: str | None
    previous: str | None
    by: str


@dataclass(frozen=True)
class RecordEntry:
    """One row of the 経過記録: a note, or the program's own activity (its own date) shown beside them."""

    at: datetime
    kind: str  # "note", or the program's activity ("contact", "placement", "review")
    kind_ja: str
    method: str
    counterpart: str
    content: str
    agreed: str = ""
    next_step: str = ""
    next_due: date | None = None
    written_at: datetime | None = None
    written_by: str = ""


@dataclass(frozen=True)
class DueItem:
    """An item due or overdue on 自分の担当."""

    case_id: str
    what: str
    due: date
    overdue: bool
    link: str = ""


@dataclass(frozen=True)
class CaseFileRecord:
    """A case's 担当 and 経過記録 as the pages and the API show them (oldest entry first)."""

    case_id: str
    main: str | None
    sub: str | None
    changes: list[AssignmentChange]
    entries: list[RecordEntry]
    due: list[DueItem]


@dataclass(frozen=True)
class MyCase:
    case_id: str
    role: str
    role_ja: str
    next_step: str
    next_due: date | None
    last_contact: datetime | None


@dataclass(frozen=True)
class MyWork:
    """自分の担当: the cases a staff member is in charge of (or sub), and what is due or overdue."""

    staff_id: str
    cases: list[MyCase]
    items: list[DueItem]


@dataclass(frozen=True)
class CaseloadRow:
    staff_id: str
    main: int
    sub: int
    due: int
    overdue: int


@dataclass(frozen=True)
class Caseload:
    """管理職の画面: caseload per staff member and overdue counts, of the cases the reader may see."""

    rows: list[CaseloadRow]
    unassigned: int
    overdue: int
    cases: int = 0
    unassigned_ids: list[str] = field(default_factory=list)


def _actor_name(event: Any) -> str:
    return actor_label((getattr(event, "meta", None) or {}).get("actor") or {})


def today() -> date:
    return datetime.now(JST).date()


class CaseworkOwner(ServiceApplication):
    """The casework use cases and queries every program's Application has (issue 15)."""

    # -- hooks a program fills in -----------------------------------------------------------------------

    def casework_cases(self) -> list[UUID]:
        """The program's cases (for 担当者未定 counts): by default those with a case file."""
        return [self._file_case(i) for i in self.ids_of(CaseFile)]

    def casework_require_case(self, case_id: UUID) -> None:
        """NotFound unless the program has the case: its own `require_case` when it has one, else one of
        `casework_cases` (a program that declares neither has no case to keep notes on: fail closed)."""
        require = getattr(self, "require_case", None)
        if callable(require):
            require(case_id)
        elif case_id not in self.casework_cases():
            raise NotFound(f"このケースはこの事業にありません / no such case here: {case_id}")

    def casework_activities(self, case_id: UUID) -> list[RecordEntry]:
        """The program's own activities shown in the 経過記録 with their dates (none by default)."""
        return []

    def casework_due(self, case_id: UUID, notes: list[RecordEntry], on: date) -> list[DueItem]:
        """The program's own items due for the case (none by default)."""
        return []

    # -- use cases ----------------------------------------------------------------------------------------

    def assign(self, actor: dict[str, str], case_id: UUID, role: str, staff_id: str) -> None:
        """担当者・副担当を決める／替える (CaseFile.Assigned: who, from whom; when and by whom in its metadata)."""
        self.casework_require_case(case_id)
        with acting(actor):
            case_file = self._case_file(case_id) or CaseFile(case_id=case_id)
            case_file.assign(role, staff_id)
        self.save(case_file)

    def release_sub(self, actor: dict[str, str], case_id: UUID) -> None:
        """副担当を外す."""
        case_file = self._case_file(case_id)
        if case_file is None:
            return
        with acting(actor):
            case_file.release_sub()
        self.save(case_file)

    def write_note(self, actor: dict[str, str], case_id: UUID, contacted_at: datetime, method: str, counterpart: str,
                   content: str, agreed: str = "", next_step: str = "", next_due: date | None = None) -> UUID:
        """支援経過記録を書く (CaseFile.NoteWritten, stored encrypted, never published); returns the note's id."""
        self.casework_require_case(case_id)
        note_id = uuid4()
        with acting(actor):
            case_file = self._case_file(case_id) or CaseFile(case_id=case_id)
            case_file.write_note(note_id, contacted_at, method, counterpart, content, agreed, next_step, next_due,
                                 now=datetime.now(JST))
        self.save(case_file)
        return note_id

    # -- queries ------------------------------------------------------------------------------------------

    def case_file(self, case_id: UUID, on: date | None = None) -> CaseFileRecord:
        """The case's 担当 (with every change) and its 経過記録: notes and the program's own activities."""
        self.casework_require_case(case_id)
        on = on or today()
        main = sub = None
        changes: list[AssignmentChange] = []
        notes: list[RecordEntry] = []
        for e in self.events_of(case_file_id(case_id)):
            if isinstance(e, CaseFile.Assigned):
                changes.append(AssignmentChange(e.timestamp, e.role, e.staff_id, e.previous, _actor_name(e)))
            elif isinstance(e, CaseFile.Released):
                changes.append(AssignmentChange(e.timestamp, e.role, None, e.previous, _actor_name(e)))
            elif isinstance(e, CaseFile.NoteWritten):
                notes.append(RecordEntry(
                    at=e.contacted_at, kind="note", kind_ja="経過記録", method=e.method, counterpart=e.counterpart,
                    content=e.content, agreed=e.agreed, next_step=e.next_step, next_due=e.next_due,
                    written_at=e.timestamp, written_by=_actor_name(e)))
        for change in changes:
            if change.role == "main":
                main = change.staff_id
            else:
                sub = change.staff_id
        entries = sorted([*notes, *self.casework_activities(case_id)], key=lambda r: r.at)
        return CaseFileRecord(case_id=str(case_id), main=main, sub=sub, changes=changes, entries=entries,
                              due=self._due(case_id, notes, on))

    def assignments(self) -> dict[str, tuple[str | None, str | None]]:
        """case_id → (担当者, 副担当), for the lists' 担当者 column and filter."""
        found: dict[str, tuple[str | None, str | None]] = {}
        for file_id in self.ids_of(CaseFile):
            case_file: CaseFile = self.load(file_id, CaseFile, "ケースファイル")
            found[str(case_file.case_id)] = (case_file.main, case_file.sub)
        return found

    def my_work(self, staff_id: str, reader: Any, on: date | None = None) -> MyWork:
        """自分の担当: the cases the reader may see where `staff_id` is 担当者 or 副担当, and what is due."""
        on = on or today()
        cases: list[MyCase] = []
        items: list[DueItem] = []
        for record in self._visible_files(reader, on):
            role = "main" if record.main == staff_id else "sub" if record.sub == staff_id else None
            if role is None:
                continue
            notes = [e for e in record.entries if e.kind == "note"]
            latest = max(notes, key=lambda n: n.at) if notes else None
            cases.append(MyCase(record.case_id, role, ASSIGNMENT_ROLES[role], latest.next_step if latest else "",
                                latest.next_due if latest else None, record.entries[-1].at if record.entries else None))
            items += record.due
        items.sort(key=lambda i: (not i.overdue, i.due))
        return MyWork(staff_id=staff_id, cases=cases, items=items)

    def caseload(self, reader: Any, on: date | None = None) -> Caseload:
        """管理職: caseload per staff member and the overdue items, of the cases the reader may see."""
        on = on or today()
        counts: dict[str, dict[str, int]] = {}
        overdue_total = 0
        seen: set[str] = set()
        for record in self._visible_files(reader, on):
            seen.add(record.case_id)
            overdue = sum(1 for i in record.due if i.overdue)
            overdue_total += overdue
            for role, staff_id in (("main", record.main), ("sub", record.sub)):
                if staff_id is None:
                    continue
                row = counts.setdefault(staff_id, {"main": 0, "sub": 0, "due": 0, "overdue": 0})
                row[role] += 1
                if role == "main":
                    row["due"] += len(record.due) - overdue
                    row["overdue"] += overdue
        cases = self.scoped([{"case_id": str(c)} for c in self.casework_cases()], reader)
        assigned = {c for c, (main, _) in self.assignments().items() if main}
        unassigned = [r["case_id"] for r in cases if str(r["case_id"]) not in assigned]
        rows = [CaseloadRow(s, **c) for s, c in sorted(counts.items())]
        return Caseload(rows=rows, unassigned=len(unassigned), overdue=overdue_total, cases=len(cases),
                        unassigned_ids=[str(u) for u in unassigned])

    def _visible_files(self, reader: Any, on: date) -> Iterable[CaseFileRecord]:
        rows = self.scoped([{"case_id": str(self._file_case(i))} for i in self.ids_of(CaseFile)], reader)
        for row in rows:
            yield self.case_file(UUID(str(row["case_id"])), on)

    def _due(self, case_id: UUID, notes: list[RecordEntry], on: date) -> list[DueItem]:
        items: list[DueItem] = []
        if notes:
            latest = max(notes, key=lambda n: n.at)
            if latest.next_due is not None and latest.next_due <= on + DUE_SOON:
                items.append(DueItem(str(case_id), f"次の対応: {latest.next_step}", latest.next_due,
                                     latest.next_due < on))
        return items + [replace(i, case_id=str(case_id)) for i in self.casework_due(case_id, notes, on)]

    def _case_file(self, case_id: UUID) -> CaseFile | None:
        try:
            case_file: CaseFile = self.load(case_file_id(case_id), CaseFile, "ケースファイル")
        except NotFound:
            return None
        return case_file

    def _file_case(self, file_id: UUID) -> UUID:
        case_file: CaseFile = self.load(file_id, CaseFile, "ケースファイル")
        return case_file.case_id
