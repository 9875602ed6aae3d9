"""Domain events → integration events: the one place per service that decides what is public."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.contract.events import ADDED_IN_PLACE, REGISTRY, Envelope
from shared.kernel.journey import event_id_of

Rule = Callable[[Any], tuple[str, dict[str, Any]]]


def translator(service: str, rules: dict[type, Rule]) -> Callable[[Any, int], Envelope | None]:
    """Build the relay's translate function from `{DomainEventClass: rule}`; other events stay private."""

    def translate(event: Any, position: int) -> Envelope | None:
        rule = rules.get(type(event))
        if rule is None:
            return None
        event_type, payload = rule(event)
        model = REGISTRY[(event_type, 1)]
        meta = event.meta
        return Envelope(
            event_id=event_id_of(service, event.originator_id, event.originator_version),
            event_type=event_type,
            schema_version=1,
            source=service,  # type: ignore[arg-type]
            source_position=position,
            case_id=meta["case_id"],
            occurred_at=event.timestamp,
            correlation_id=meta["correlation_id"],
            causation_id=meta["caused_by"],
            actor=meta["actor"],
            payload={k: v for k, v in model.model_validate(payload).model_dump(mode="json").items()
                     if k in payload or k not in ADDED_IN_PLACE},
        )

    translate.public_classes = frozenset(rules)  # type: ignore[attr-defined]  # the relay decodes only these (relay.py)
    return translate
