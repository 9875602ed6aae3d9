"""Aggregates kept as this process recorded them, checked against the store at every use (issue 19).

With `JUSOU_AGGREGATE_CACHE=0` (the default) every load and every read decodes every event of its aggregate. In a
journey the meeting and collaboration mostly load what they themselves have just recorded: the reads polled until
they change (the agenda item, the consent, the sitting, the plan, the case), the reads inside commands (the consent
of D9, the case of D4/D11), and the commands' own loads (the plan under review, the sitting, the plan).

`KeptReads` keeps, per aggregate (at most `READS_KEPT`, the least recently used out), the one this process last
recorded: a command's (`save`) or an inbox run's (`process_event`), once its commit succeeded (a refused commit
raises first and keeps nothing), so what is kept is what the store then holds; or else the last one a read decoded.
Each use asks the store whether an event was recorded after the kept version (one select of at most one event: the
store's, so another replica's or process's event counts at once). None: a read (`read`) is given the kept aggregate
itself (change nothing of it), a command (`load`) its own deep copy (cheaper than decoding: 30–47 against 94–139 µs
for a journey's plan, sitting or agenda item). One: the aggregate is decoded afresh from the store (the library's
load); a read keeps it, a command changes its own and its commit keeps what it recorded. A kept aggregate is never
changed (no event is applied to it), so a reader may hold it while another thread replaces it.

Only what `keeps_decoded` allows is kept (never an aggregate with personal information); the stores of these
services only grow (no event is ever deleted or rewritten), so the check at every use is all it takes to be
current. When the application keeps aggregates already (`JUSOU_AGGREGATE_CACHE` > 0) the kernel's `KeptAggregates`
serves both, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from copy import deepcopy
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, LRUCache, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Recording, Tracking

from shared.kernel.app import KeptAggregates, ServiceApplication
from shared.kernel.journey import NotFound

#: how many decoded aggregates are kept (least recently used out); a few KB each
READS_KEPT = 4000


class KeptReads(ServiceApplication):
    """An application whose reads and loads are served from the aggregates it recorded, checked (see the module)."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        #: the reads' keep (none when the application keeps aggregates itself: its own serves the reads)
        self.reads_kept: LRUCache[UUID, Any] | None = (
            None if isinstance(self.repository, KeptAggregates) else LRUCache(maxsize=READS_KEPT))
        self._processing = threading.local()  # `policy` → `process_event`: what this thread's inbox run collected

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """A command's commit; then each aggregate it recorded is kept for the reads, as the store now holds it (a
        refused commit raises first: nothing is kept)."""
        recordings = super().save(*objs, **kwargs)
        self._keep_recorded(o for o in objs if isinstance(o, Aggregate))
        return recordings

    def policy(self, domain_event: Any, processing_event: ProcessingEvent[UUID]) -> None:
        """The library's policy hook (the inbox's handlers, `ServiceApplication.policy`); what they collected is noted
        for `process_event`, which keeps it once it is recorded."""
        super().policy(domain_event, processing_event)
        self._processing.collected = processing_event

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """An inbox run's commit (`receive`, `receive_many`); then each aggregate its handlers recorded is kept for
        the reads, as the store now holds it (a refused commit raises first: nothing is kept)."""
        self._processing.collected = None
        super().process_event(domain_event, tracking)
        collected: ProcessingEvent[UUID] | None = self._processing.collected
        self._processing.collected = None
        if collected is not None:
            self._keep_recorded(collected.aggregates.values())

    def _keep_recorded(self, aggregates: Iterable[Any]) -> None:
        kept_reads = getattr(self, "reads_kept", None)
        if kept_reads is None:
            return
        for aggregate in aggregates:
            if not getattr(aggregate, "pending_events", None) and self.keeps_decoded(aggregate):
                kept_reads.put(aggregate.id, aggregate)

    def read(self, aggregate_id: UUID, kind: type[Aggregate], what: str) -> Any:
        """As `ServiceApplication.read`: an aggregate as the store holds it at this read, the kept one when nothing
        was recorded since. Call no command method on it, and change none of its values nor what its methods return."""
        kept_reads = getattr(self, "reads_kept", None)
        if kept_reads is None:  # the application's own keep (or a read while the application is being made)
            return super().read(aggregate_id, kind, what)
        aggregate = self._current(aggregate_id)
        if aggregate is None:
            try:
                aggregate = self.repository.get(aggregate_id)  # decoded afresh: every event the store holds
            except AggregateNotFoundError as exc:
                raise NotFound(f"{what}が見つかりません / {what} not found: {aggregate_id}") from exc
            if self.keeps_decoded(aggregate):
                kept_reads.put(aggregate_id, aggregate)
        if not isinstance(aggregate, kind):
            raise NotFound(f"{what}が見つかりません / {what} not found: {aggregate_id}")
        return aggregate

    def load(self, aggregate_id: UUID, kind: type[Aggregate], what: str) -> Any:
        """As `ServiceApplication.load`: the caller's own copy, to change and save. A copy of the kept aggregate when
        the store holds nothing newer (a deep copy costs a third to a half of decoding the events: 30–47 against
        94–139 µs for a plan, a sitting or an agenda item of a journey's end), else decoded afresh (nothing kept: the
        command changes it; its commit keeps what it recorded)."""
        kept_reads = getattr(self, "reads_kept", None)
        aggregate = self._current(aggregate_id) if kept_reads is not None else None
        if aggregate is None:
            return super().load(aggregate_id, kind, what)
        if not isinstance(aggregate, kind):
            raise NotFound(f"{what}が見つかりません / {what} not found: {aggregate_id}")
        return deepcopy(aggregate)

    def _current(self, aggregate_id: UUID) -> Any:
        """The kept aggregate when the store holds no event after its version (one select), else None."""
        assert self.reads_kept is not None
        try:
            aggregate: Any = self.reads_kept.get(aggregate_id)
        except KeyError:
            return None
        if getattr(aggregate, "pending_events", None):  # changed by a reader (it must not be): decoded afresh
            return None
        if next(iter(self.events.get(aggregate_id, gt=aggregate.version, limit=1)), None) is not None:
            return None
        return aggregate
