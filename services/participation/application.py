"""Participation's use cases."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent

from services.participation.domain import PLACEMENT_OUTCOMES, CatalogueEntry, Support
from shared.contract.events import (
    Envelope,
    MeetingDecidedV1,
    OutreachHandedOverV1,
    ResourceDevelopedV1,
)
from shared.domain.areas import area_of
from shared.domain.casework import JST
from shared.domain.casework_owner import CaseworkOwner, DueItem, RecordEntry
from shared.domain.plan_owner import PlanOwner
from shared.kernel.app import handles
from shared.kernel.journey import Invalid, NotFound, acting, recorded_by
from shared.organisation import reference
from shared.organisation.reference import MEETING_KIND, agency_code, day_of, resource_kind

#: A placement still open is due for review this long after it started or was last reviewed (issue 15).
REVIEW_EVERY = timedelta(days=90)


class ParticipationApplication(PlanOwner, CaseworkOwner):
    """Starts from a meeting decision's connect_to; matches catalogue resources, places, reports shortages (D13)."""

    name = "participation"
    service = "participation"
    program = "participation"

    def record_needs(self, actor: dict[str, str], case_id: UUID, needs: list[str]) -> None:
        support = self._support(case_id)
        with acting(actor):
            support.record_needs(needs)
        self.save(support)

    def match(self, actor: dict[str, str], case_id: UUID, resource_id: str, kind: str | None = None) -> None:
        """D13: match a resource of the catalogue to the person (ResourceMatched)."""
        support = self._support(case_id)
        entry = self.catalogue_entry(resource_id)
        named = resource_kind(kind) if kind else None
        if kind and (named is None or named.code != entry.kind):
            raise Invalid(f"資源 {resource_id} の種類は {entry.kind} です（{kind} ではありません）/ "
                          f"resource {resource_id} is of kind {entry.kind}, not {kind}")
        code = getattr(entry, "provider_code", None) or agency_code(entry.provider)  # issue 18: learnt, else today's file
        with acting(actor):
            support.match(entry, provider_code=code)
        self.save(support)

    def start_placement(self, actor: dict[str, str], case_id: UUID, resource_id: str, started_on: date) -> int:
        """D13: the person starts at a matched resource (PlacementStarted); returns its index."""
        support = self._support(case_id)
        with acting(actor):
            index = support.start_placement(resource_id, started_on)
        self.save(support)
        return index

    def review_placement(self, actor: dict[str, str], case_id: UUID, index: int, outcome: str, note: str,
                         next_review_on: date | None = None) -> None:
        """D13: how the placement went (PlacementReviewed), and when to look at it again (次回の見直し予定日)."""
        support = self._support(case_id)
        with acting(actor):
            support.review_placement(index, outcome, note, next_review_on)
        self.save(support)

    def catalogue(self) -> list[dict[str, Any]]:
        """D8 D13: the local resources participation can match, learnt from community's ResourceDeveloped."""
        return [self.load(i, CatalogueEntry, "資源").view() for i in self.ids_of(CatalogueEntry)]

    def catalogue_entry(self, resource_id: str) -> CatalogueEntry:
        """A resource of the catalogue, or Invalid naming where resources come from."""
        refused = Invalid(
            f"資源 {resource_id} は参加支援の資源一覧にありません。地域づくり事業で登録された資源だけを選べます "
            f"(GET /catalogue) / resource {resource_id} is not in participation's catalogue: "
            "only resources registered by community can be matched"
        )
        try:
            entry: CatalogueEntry = self.load(UUID(resource_id), CatalogueEntry, "資源")
        except (ValueError, NotFound):
            raise refused from None
        return entry

    def record_catalogue_details(self, actor: dict[str, str], resource_id: str, schedule: str | None,
                                 contact: str | None, fee: str | None) -> dict[str, Any]:
        """開催日時・曜日, 連絡先 (the provider's) and 利用料 of a catalogue entry (issue 15); blank clears a field.
        Returns the entry's view."""
        entry = self.catalogue_entry(resource_id)
        with acting(actor):
            entry.record_details(schedule=(schedule or "").strip() or None, contact=(contact or "").strip() or None,
                                 fee=(fee or "").strip() or None)
        self.save(entry)
        return entry.view()

    def report_shortage(self, actor: dict[str, str], case_id: UUID, need: str, area: str, description: str,
                        area_code: str | None = None) -> None:
        """D8 D13: no local resource meets this need (ResourceShortageReported). `area_code`: the 地区 staff chose
        (issue 18); without it, the code of the area named when the file knows it."""
        place, code = area_of(area, area_code)
        support = self._support(case_id)
        with acting(actor):
            support.report_shortage(need=need, area=place, description=description, area_code=code)
        self.save(support)

    def require_case(self, case_id: UUID) -> None:
        self._support(case_id)

    def support_view(self, case_id: UUID) -> dict[str, Any]:
        return self._support(case_id).view()

    def supports(self) -> list[dict[str, Any]]:
        return [self.support_view(i) for i in self.ids_of(Support)]

    def visible_supports(self, reader: Any) -> list[dict[str, Any]]:
        """The supports the reader (a Principal) may see: the division scope of lists of cases."""
        return self.scoped(self.supports(), reader)

    # -- the pages' queries: the views with when and by whom (from the events' metadata) -------------

    def support_record(self, case_id: UUID, catalogue: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """参加支援 as its page shows it: the catalogue entry of each match and placement (`resource`),
        when the support started (`started_at`), who started each placement (`started_by`, an actor),
        and when and by whom each review was recorded (`at`, `actor`). `catalogue`: as the caller
        already read it (`catalogue()`), else read here."""
        names = {r["resource_id"]: r for r in (self.catalogue() if catalogue is None else catalogue)}
        return self._with_when_and_who(self.support_view(case_id), names)

    def support_records(self, reader: Any) -> list[dict[str, Any]]:
        """The supports the reader may see (`visible_supports`), each as `support_record` gives it."""
        names = {r["resource_id"]: r for r in self.catalogue()}
        return [self._with_when_and_who(view, names) for view in self.visible_supports(reader)]

    def _with_when_and_who(self, view: dict[str, Any], names: dict[str, dict[str, Any]]) -> dict[str, Any]:
        started_at: datetime | None = None
        starts: list[dict[str, Any]] = []
        reviews: list[dict[str, Any]] = []
        for event in self.events_of(UUID(view["case_id"])):
            if isinstance(event, Support.Started):
                started_at = event.timestamp
            elif isinstance(event, Support.PlacementStarted):
                starts.append(recorded_by(event))
            elif isinstance(event, Support.PlacementReviewed):
                reviews.append({"index": event.index, "at": event.timestamp, "actor": recorded_by(event)})
        placements = []
        for placement in view["placements"]:
            dated = [r for r in reviews if r["index"] == placement["index"]]
            placements.append({
                **placement,
                "reviews": [{**review, **dated[i]} if i < len(dated) else review
                            for i, review in enumerate(placement["reviews"])],
                "resource": names.get(placement["resource_id"]),
                "started_by": starts[placement["index"]] if placement["index"] < len(starts) else {},
            })
        matches = [{**m, "resource": names.get(m["resource_id"])} for m in view["matches"]]
        return {**view, "matches": matches, "placements": placements, "started_at": started_at}

    # -- casework (issue 15): placements and reviews are shown in the 経過記録 as they are (merged, not copied)

    def casework_cases(self) -> list[UUID]:
        return self.ids_of(Support)

    def casework_activities(self, case_id: UUID) -> list[RecordEntry]:
        """Each placement on the day it started (its own date), each review on the day it was recorded."""
        names = {r["resource_id"]: r["name"] for r in self.catalogue()}
        rows: list[RecordEntry] = []
        for e in self.events_of(case_id):
            if isinstance(e, Support.PlacementStarted):
                at = datetime.combine(e.started_on, datetime.min.time(), JST)
                rows.append(RecordEntry(at=at, kind="placement", kind_ja="参加開始", method="—",
                                        counterpart=names.get(e.resource_id, e.resource_id),
                                        content=f"{names.get(e.resource_id, e.resource_id)}への参加を開始",
                                        written_at=e.timestamp, written_by=str(recorded_by(e).get("staff_id", ""))))
            elif isinstance(e, Support.PlacementReviewed):
                rows.append(RecordEntry(at=e.timestamp, kind="review", kind_ja="参加の評価", method="—",
                                        counterpart=names.get(e.resource_id, e.resource_id),
                                        content=f"{PLACEMENT_OUTCOMES.get(e.outcome, e.outcome)}: {e.note}".rstrip(": "),
                                        written_at=e.timestamp, written_by=str(recorded_by(e).get("staff_id", ""))))
        return rows

    def casework_due(self, case_id: UUID, notes: list[RecordEntry], on: date) -> list[DueItem]:
        """参加の見直し: an open placement on the 次回の見直し予定日 its last review set, else REVIEW_EVERY after it
        started or was last reviewed."""
        dues: dict[int, date] = {}
        for e in self.events_of(case_id):
            if isinstance(e, Support.PlacementStarted):
                dues[len(dues)] = e.started_on + REVIEW_EVERY
            elif isinstance(e, Support.PlacementReviewed):
                dues[e.index] = getattr(e, "next_review_on", None) or e.timestamp.astimezone(JST).date() + REVIEW_EVERY
        items = []
        for placement in self.support_view(case_id)["placements"]:
            due = dues[placement["index"]]
            if placement["status"] != "ended" and due <= on + timedelta(days=7):
                items.append(DueItem(str(case_id), f"参加の見直し時期（参加 {placement['index'] + 1}）/ placement review due",
                                     due, due < on))
        return items

    @handles(ResourceDevelopedV1)
    def _resource_developed(self, envelope: Envelope, payload: ResourceDevelopedV1,
                            processing: ProcessingEvent[UUID]) -> None:
        self._learn(envelope, payload, processing)

    @handles(MeetingDecidedV1)
    def _connected_by_meeting(self, envelope: Envelope, payload: MeetingDecidedV1,
                              processing: ProcessingEvent[UUID]) -> None:
        """A meeting connects the person to participation (then the plan follows the decision)."""
        if "participation" in payload.connect_to:
            self._start(envelope.case_id, f"meeting:{payload.meeting_id}", processing,
                        f"{MEETING_KIND}:{payload.meeting_type}")

    @handles(OutreachHandedOverV1)
    def _handed_over(self, envelope: Envelope, payload: OutreachHandedOverV1, processing: ProcessingEvent[UUID]) -> None:
        """D12: outreach hands the person on."""
        if payload.to_program == "participation":
            self._start(envelope.case_id, "outreach", processing, "program:outreach")

    def _start(self, case_id: UUID, referred_by: str, processing: ProcessingEvent[UUID], referred_by_code: str) -> None:
        """A support begins; `referred_by_code` (issue 18): `program:outreach` (every municipality file has the
        program) or `meeting_kind:<meeting_type>`."""
        try:
            self._support(case_id)
        except NotFound:
            processing.collect_events(Support(case_id=case_id, referred_by=referred_by, needs=[],
                                              referred_by_code=referred_by_code))

    def _learn(self, envelope: Envelope, payload: ResourceDevelopedV1, processing: ProcessingEvent[UUID]) -> None:
        """D8 D13: the catalogue learns of a resource from community's event alone; its codes as the event carries
        them, else (an event published before them) from the municipality file in force on the event's day."""
        try:
            self.load(payload.resource_id, CatalogueEntry, "資源")
        except NotFound:
            day = day_of(envelope.occurred_at)
            processing.collect_events(CatalogueEntry(
                resource_id=payload.resource_id, kind=payload.kind, name=payload.resource_name, provider=payload.provider,
                area=payload.area, capacity=payload.capacity, issue_id=payload.issue_id,
                provider_code=payload.provider_code or agency_code(payload.provider, day),
                area_code=payload.area_code or reference.area_code(payload.area, day),
            ))

    def _support(self, case_id: UUID) -> Support:
        support: Support = self.load(case_id, Support, "参加支援")
        return support
