"""What every recorded event of a case journey carries besides its own fields.

Each domain event gets a `meta` mapping: the case, the journey's correlation id, who acted
(a staff member or a policy) and which integration event caused it. The application sets
the actor and cause around a use case with `acting(...)`; the aggregate adds its case.
This is what lets the relay build the public envelope, and an audit answer "who did what,
when, under which decision" (D15), without every domain method repeating those arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from shared.kernel.library import CreationHook

_acting: ContextVar[dict[str, Any]] = ContextVar("jusou_acting", default={})  # noqa: B039 - read only: acting() sets a new dict
#: `acting`'s key for upstream divisions still to be worked out (a callable): never in an event's meta
_UPSTREAM_LATER = "_upstream_divisions_later"
#: (case_id, correlation_id) → the W3C `traceparent` of the span acting now, kept in `meta` so that
#: the relay's publish continues the command's trace; shared/observe/tracing.py sets it when tracing is on.
traceparent_now: Callable[[Any, Any], str | None] = lambda case_id, correlation_id: None


class DomainError(Exception):
    """A broken rule; the message says what to do, in Japanese with English beside it."""

    status = 409


class NotFound(DomainError):
    status = 404


class Invalid(DomainError):
    status = 422


@contextmanager
def acting(actor: dict[str, Any], caused_by: UUID | str | None = None,
           upstream_divisions: list[str] | Callable[[], list[str]] | None = None) -> Iterator[None]:
    """Record events inside this block as done by `actor`, caused by event `caused_by`.

    `upstream_divisions`: for a policy's events, the divisions the integration event that caused them
    named (its actor's, the primary agency's, a meeting's members…): kept in this store's meta only,
    never published, so the division scope of the case here follows its journey (shared/kernel/app.py
    case_divisions). A callable is called once, at the block's first event (none: never): the inbox's
    handlers record nothing for most deliveries (issue 19)."""
    current: dict[str, Any] = {"actor": dict(actor), "caused_by": str(caused_by) if caused_by else None}
    if callable(upstream_divisions):
        current[_UPSTREAM_LATER] = upstream_divisions
    elif upstream_divisions:
        current["upstream_divisions"] = list(upstream_divisions)
    token = _acting.set(current)
    try:
        yield
    finally:
        _acting.reset(token)


JOURNEY_NAMESPACE = UUID("6f1d2a52-4b8e-4c1e-9a57-2f0b8d6c9e11")
EVENT_NAMESPACE = UUID("b1e0c3a4-58f2-4d7a-8c19-0e4f5a6b7c8d")


def journey_id(case_id: UUID | str) -> UUID:
    """The correlation id of a case's journey: one case, one journey, derivable by any program."""
    return uuid5(JOURNEY_NAMESPACE, str(case_id))


def event_id_of(service: str, originator_id: UUID | str, originator_version: int) -> UUID:
    """Deterministic `event_id`: a republish of the same stored event is the same message.

    The service is part of it: programs share aggregate ids (a case's id) across their stores.
    """
    return uuid5(EVENT_NAMESPACE, f"{service}:{originator_id}:{originator_version}")


class JourneyAggregate(CreationHook):
    """An aggregate whose events belong to a case journey (`meta.case_id`, `meta.correlation_id`)."""

    class Event(Aggregate.Event):
        meta: dict[str, Any]

    @classmethod
    def creation_arguments(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        case_id = kwargs.get("case_id")
        kwargs.setdefault("meta", _meta(case_id, journey_id(case_id) if case_id else None))
        return kwargs

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        # An aggregate that spans cases (a meeting) names the case in the event itself.
        case_id = kwargs.get("case_id", getattr(self, "case_id", None))
        kwargs.setdefault("meta", _meta(case_id, journey_id(case_id) if case_id else None))
        super().trigger_event(event_class, **kwargs)


def _meta(case_id: Any, correlation_id: Any) -> dict[str, Any]:
    current = _acting.get()
    if "actor" not in current:
        raise RuntimeError("domain command called outside acting(...): who is acting is unknown")
    later = current.pop(_UPSTREAM_LATER, None)
    if later is not None:  # `acting`'s upstream divisions, worked out at its first event (this block's own dict)
        found = list(later())
        if found:
            current["upstream_divisions"] = found
    meta = {
        "case_id": str(case_id) if case_id else None,
        "correlation_id": str(correlation_id) if correlation_id else None,
        **current,
    }
    traceparent = traceparent_now(meta["case_id"], meta["correlation_id"])
    if traceparent:
        meta["traceparent"] = traceparent
    return meta


def recorded_by(event: object) -> dict[str, Any]:
    """Who recorded a stored event (its metadata's actor): a staff member (`staff_id`, `division`), or a
    service that acted on another program's event (`service`); empty when the event names no one."""
    actor: dict[str, Any] = (getattr(event, "meta", None) or {}).get("actor") or {}
    return actor


#: The six programs as staff name them, for a service's own act (shared/domain/labels.py PROGRAM_LABELS says the same
#: above the kernel; the services are fixed by the contract).
SERVICE_LABELS = {
    "intake": "包括的相談支援", "collaboration": "多機関協働", "meeting": "会議",
    "outreach": "アウトリーチ", "participation": "参加支援", "community": "地域づくり",
}


def actor_label(actor: Mapping[str, Any]) -> str:
    """An actor as the pages name it: the staff member's id, or 自動（アウトリーチ） for a program's own act."""
    service = actor.get("service")
    return str(actor.get("staff_id") or (f"自動（{SERVICE_LABELS.get(str(service), service)}）" if service else ""))
