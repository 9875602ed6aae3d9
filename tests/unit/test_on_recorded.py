"""`ServiceApplication.on_recorded` (issue 19): each commit's recordings, handed over after the commit and before
the commit listeners, for the relay to publish without reading them back; a refused commit hands over nothing."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError
from support.municipality import ELDERLY

from services.intake.application import IntakeApplication
from services.intake.domain import Case
from shared.contract.events import CaseReturnedToIntakeV1
from shared.kernel.journey import acting
from shared.organisation.reference import COUNTERS
from unit.builders import COUNTER_STAFF, PERSON, Upstream, in_memory


def consult(app: IntakeApplication) -> UUID:
    where = COUNTERS[ELDERLY.code]
    return app.receive_consultation({**COUNTER_STAFF, "division": where.division}, where.code, where.division, "電話",
                                    ["高齢・介護"], dict(PERSON), None)


def test_each_commit_hands_over_its_recordings_after_the_commit_and_before_the_commit_listeners() -> None:
    app = in_memory(IntakeApplication)
    seen: list[tuple[str, Any]] = []
    app.on_recorded(lambda recordings: seen.append(("recorded", [
        (r.notification.id, r.notification.originator_id, app.recorder.max_notification_id()) for r in recordings])))
    app.on_commit(lambda: seen.append(("committed", None)))

    case_id = consult(app)  # a save
    app.receive(*Upstream("meeting").emit("CaseReturnedToIntake", CaseReturnedToIntakeV1(  # process_event
        meeting_id=uuid4(), primary_agency=ELDERLY.ja, reason="単独で対応できる"), case_id))

    stored = [(n.id, n.originator_id) for n in app.notifications()]
    handed = [(position, aggregate) for kind, recordings in seen if kind == "recorded"
              for position, aggregate, _ in recordings]
    assert handed == stored, "every recording, once, in store order"
    assert all(position <= head for kind, recordings in seen if kind == "recorded"
               for position, _, head in recordings), "handed over once in the store"
    assert [kind for kind, _ in seen] == ["recorded", "committed", "recorded", "committed"]


def test_a_refused_commit_hands_over_nothing() -> None:
    app = in_memory(IntakeApplication)
    case_id = consult(app)
    stale: Case = app.load(case_id, Case, "ケース")
    app.record_consent(COUNTER_STAFF | {"division": ELDERLY.division}, case_id, "関係機関との情報共有", True, "書面")
    handed: list[Any] = []
    app.on_recorded(handed.append)
    with acting(COUNTER_STAFF), pytest.raises(IntegrityError):
        stale.record_consent(scope="関係機関との情報共有", granted=False, method="書面", covers=[])
        app.save(stale)
    assert handed == []


def test_a_listener_taken_off_is_handed_nothing() -> None:
    app = in_memory(IntakeApplication)
    handed: list[Any] = []
    app.on_recorded(handed.append)
    consult(app)
    app.off_recorded(handed.append)
    consult(app)
    assert len(handed) == 1
