"""The laws every aggregate keeps, whatever commands it is given (issue 6, property-based tests).

`Subject` holds one aggregate saved in its service's in-memory store. `apply` runs a command as
staff would: a command the rules refuse raises the domain error (`DomainError`, never another
exception) and changes nothing, not even the version; a command that is accepted is saved.
`rebuilt` reads the aggregate back from its stored events (through the service's transcoder,
as after a restart) and it must equal the one in memory.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from eventsourcing.domain import Aggregate
from hypothesis import HealthCheck, settings

from shared.kernel.app import ServiceApplication
from shared.kernel.journey import DomainError, acting
from unit.builders import COORDINATOR

A = TypeVar("A", bound=Aggregate)

#: Examples per property; `JUSOU_PROPERTY_EXAMPLES=500` for a longer search than CI's.
PROPERTIES = settings(max_examples=int(os.environ.get("JUSOU_PROPERTY_EXAMPLES", "30")), deadline=None,
                      suppress_health_check=[HealthCheck.too_slow])


def state(aggregate: Aggregate) -> dict[str, Any]:
    """Everything the aggregate holds, its id, version and times included; not its unsaved events."""
    return copy.deepcopy({k: v for k, v in vars(aggregate).items() if k != "_pending_events"})


class Subject(Generic[A]):
    """One aggregate under test, in a service's in-memory store."""

    def __init__(self, app: ServiceApplication, make: Callable[[], A], actor: dict[str, str] = COORDINATOR) -> None:
        self.app, self.actor = app, actor
        with acting(actor):
            self.aggregate = make()
        app.save(self.aggregate)
        self.refused: list[str] = []

    def apply(self, command: Callable[[A], Any]) -> bool:
        """Run one command; True if accepted (and saved), False if the rules refused it (nothing changed)."""
        before = state(self.aggregate)
        try:
            with acting(self.actor):
                command(self.aggregate)
        except DomainError as error:
            assert state(self.aggregate) == before, f"a refused command changed the aggregate: {error}"
            assert not self.aggregate.collect_events(), f"a refused command recorded an event: {error}"
            self.refused.append(type(error).__name__)
            return False
        self.app.save(self.aggregate)
        return True

    def rebuilt(self) -> A:
        """The aggregate as its stored events rebuild it; it must equal the one in memory."""
        again: A = self.app.repository.get(self.aggregate.id)
        assert state(again) == state(self.aggregate), "rebuilding from the stored events gave another aggregate"
        return again
