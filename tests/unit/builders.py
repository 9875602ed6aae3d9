"""Small builders for the unit tests: in-memory services, and envelopes as a producer sends them.

Inputs reach a service the way production delivers them: an `Envelope` with its payload, handed
to `ServiceApplication.receive`, with a rising `source_position` per upstream source. Outputs are
read the way the relay reads them: the store's notification log through the service's translate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID, uuid4

from pydantic import BaseModel
from support.municipality import ELDERLY, HARDSHIP, LEAD, LEAD_NAME

from shared.contract.events import REGISTRY, Envelope, envelope_json, parse
from shared.kernel.app import ServiceApplication
from shared.kernel.journey import journey_id

App = TypeVar("App", bound=ServiceApplication)
Translate = Callable[[Any, int], Envelope | None]

IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}

#: Staff by role (tests/support/municipality.py), so the unit tests run on any municipality file: the counselor at the
#: elderly counter's division, the coordinator and the meeting's secretariat in the 重層 secretariat's division.
COUNTER_STAFF = {"staff_id": "s1", "division": ELDERLY.division}
COORDINATOR = {"staff_id": "c1", "division": LEAD}
SECRETARIAT = {"staff_id": "k1", "division": LEAD}

PERSON = {"name": "調布 一郎", "kana": "ちょうふ いちろう", "birth_date": "1961-04-01",
          "address": "調布市小島町2-35-1", "phone": "042-481-7111"}

#: Agencies the city knows (shared/organisation/reference.py), for plan roles and meeting attendees: the elderly counter
#: (e.g. Chofu's 地域包括支援センター), the hardship counter (調布ライフサポート) and the lead division (福祉総務課).
ROLES = [
    {"agency": ELDERLY.ja, "responsibility": "母の介護サービス調整", "contact": "山田"},
    {"agency": HARDSHIP.ja, "responsibility": "家計相談"},
]
ATTENDEES = [ELDERLY.ja, HARDSHIP.ja, LEAD_NAME]


def in_memory(app_class: type[App]) -> App:
    """A service on the in-memory (POPO) store; POPO gives the process recorder the inbox needs."""
    return app_class(env=dict(IN_MEMORY))


def envelope_for(
    source: str, position: int, event_type: str, payload: dict[str, Any] | BaseModel, case_id: UUID,
    *, event_id: UUID | None = None, actor: dict[str, str] | None = None,
) -> tuple[Envelope, BaseModel]:
    """An integration event as `source` would publish it at `position`: (envelope, payload model)."""
    if isinstance(payload, BaseModel):
        model = payload
    else:
        model = REGISTRY[(event_type, 1)].model_validate(payload)
    envelope = Envelope(
        event_id=event_id or uuid4(),
        event_type=event_type,
        schema_version=1,
        source=source,  # type: ignore[arg-type]
        source_position=position,
        case_id=case_id,
        occurred_at="2025-04-01T09:00:00+09:00",  # type: ignore[arg-type]
        correlation_id=journey_id(case_id),
        causation_id=None,
        actor=actor or {"staff_id": "upstream-1", "division": LEAD},  # type: ignore[arg-type]
        payload=model.model_dump(mode="json"),
    )
    return envelope, model


class Upstream:
    """A fake producing service: each event it emits takes the next source_position, as its relay would."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.position = 0

    def emit(self, event_type: str, payload: dict[str, Any] | BaseModel, case_id: UUID) -> tuple[Envelope, BaseModel]:
        self.position += 1
        return envelope_for(self.source, self.position, event_type, payload, case_id)


def published(app: ServiceApplication, translate: Translate, event_type: str | None = None) -> list[Envelope]:
    """What the relay would publish from `app`'s store, in store order (optionally one event type)."""
    envelopes = []
    for notification in app.notifications():
        envelope = translate(app.mapper.to_domain_event(notification), notification.id)
        if envelope is not None and event_type in (None, envelope.event_type):
            envelopes.append(envelope)
    return envelopes


def only(envelopes: list[Envelope]) -> Envelope:
    """The single envelope of a list; fails saying how many there were."""
    assert len(envelopes) == 1, f"expected exactly one envelope, got {[e.event_type for e in envelopes]}"
    return envelopes[0]


def deliver(envelope: Envelope, to: ServiceApplication) -> bool:
    """Hand a published envelope to a consumer through the wire format, as the inbox does."""
    wire_envelope, payload = parse(envelope_json(envelope))
    return to.receive(wire_envelope, payload)


def stored_count(app: ServiceApplication) -> int:
    """How many events the service's store holds."""
    return sum(1 for _ in app.notifications())


def plan_proposed(plan_id: UUID, revision: int = 1, program: str = "collaboration",
                  goals: list[str] | None = None) -> dict[str, Any]:
    """A PlanProposed payload (D4 D6)."""
    return {
        "plan_id": str(plan_id), "program": program, "revision": revision,
        "support_direction": "8050世帯の孤立を防ぎ、本人の社会参加を段階的に支える",
        "goals": goals or ["月1回の訪問で本人と会える関係をつくる"],
        "roles": ROLES,
    }


def consent_recorded(granted: bool) -> dict[str, Any]:
    """A ConsentRecorded payload (D9)."""
    return {"scope": "重層的支援会議での情報共有", "granted": granted, "method": "書面"}
