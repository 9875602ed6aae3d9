"""The meeting's lists as a read model kept in memory (issue 14: the list of sittings and the agenda no
longer rebuild every aggregate from its events on each page view).

A row is made from its aggregate once and kept; it is made again only after the store records a new
event of that aggregate, which the notification log says (each read looks at the log from where the
previous read stopped: usually nothing, a few events after a command). Rows are made by the
application's own code from the aggregate, so a row is what loading the aggregate would show. Every
replica follows the same store, so each one's rows follow the others' commands too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder

Row = TypeVar("Row")


class Rows:
    """Rows made from aggregates (one per aggregate and list), made again when their aggregate changes."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self._recorder = recorder
        self._rows: dict[tuple[str, UUID], Any] = {}
        self._position: int | None = None  # the last store position looked at
        self._lock = threading.Lock()

    def of(self, listing: str, ids: Iterable[UUID], make: Callable[[UUID], Row]) -> list[Row]:
        """The rows of `ids` in `listing`, in the order given; `make(id)` builds a row that is missing."""
        with self._lock:
            self._forget_changed()
            rows: list[Row] = []
            for aggregate_id in ids:
                key = (listing, aggregate_id)
                if key not in self._rows:
                    self._rows[key] = make(aggregate_id)
                rows.append(self._rows[key])
            return rows

    def _forget_changed(self) -> None:
        """Drop the rows of every aggregate the store recorded an event of since the last look."""
        if self._position is None:  # nothing kept yet: nothing to forget, start from the head
            self._position = self._recorder.max_notification_id() or 0
            return
        changed: set[str] = set()
        while True:
            batch = self._recorder.select_notifications(start=self._position + 1, limit=500)
            if not batch:
                break
            changed.update(str(n.originator_id) for n in batch)
            self._position = batch[-1].id
            if len(batch) < 500:
                break
        if changed:
            self._rows = {key: row for key, row in self._rows.items() if str(key[1]) not in changed}
