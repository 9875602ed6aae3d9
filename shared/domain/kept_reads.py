"""Reads served from aggregates kept decoded, each checked against the store at every read (issue 19).

With `JUSOU_AGGREGATE_CACHE=0` (the default) every load decodes every event of its aggregate: a command's, which
changes it and needs its own copy, and a read's alike. The meeting's and collaboration's reads are most of their
loads in a journey (the agenda item, the consent, the plan and the case each polled until they change, the consent
and the case a command reads and does not change), and most find what they found before.

`KeptReads` gives the application's `read` (a read that changes nothing, `ServiceApplication.read`) a keep of its
own, the kernel's `KeptAggregates` used for reads only: the first read of an aggregate decodes it; every later read
selects the events recorded after the kept version (one select, the store's, so another replica's or process's
events count at once) and, when there are none, decodes nothing; when there are, a copy of the kept aggregate is
brought forward and kept instead (the aggregate a reader holds is never changed). Commands (`load`) decode afresh as
before and are never given a kept aggregate. Only what `keeps_decoded` allows is kept (never an aggregate with
personal information); the store of these services only grows (no event is ever deleted or rewritten), so what is
kept is always a prefix of an aggregate's events and the check at every read is all a read needs to be current.
When the application keeps aggregates already (`JUSOU_AGGREGATE_CACHE` > 0) its own keep serves the reads, as before.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from shared.kernel.app import KeptAggregates, ServiceApplication
from shared.kernel.journey import NotFound

#: how many decoded aggregates the reads keep (least recently read out); a few KB each
READS_KEPT = 4000


class KeptReads(ServiceApplication):
    """An application whose reads (`read`) are served from aggregates kept decoded for reads (see the module)."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        repository = self.repository
        #: the reads' keep: the application's own when it keeps aggregates, else one for reads only
        self.reads_kept: KeptAggregates = repository if isinstance(repository, KeptAggregates) else KeptAggregates(
            self.events, size=READS_KEPT, keeps=self.keeps_decoded, snapshot_store=self.snapshots)

    def read(self, aggregate_id: UUID, kind: type[Aggregate], what: str) -> Any:
        """As `ServiceApplication.read`: the kept aggregate itself, brought up to the store's events at this read.
        Call no command method on it, and change none of its values nor what its methods return."""
        reads: KeptAggregates | None = getattr(self, "reads_kept", None)
        if reads is None:  # (a read while the application is still being made)
            return super().read(aggregate_id, kind, what)
        try:
            aggregate: Any = reads.get(aggregate_id, deepcopy_from_cache=False)
        except AggregateNotFoundError as exc:
            raise NotFound(f"{what}が見つかりません / {what} not found: {aggregate_id}") from exc
        if not isinstance(aggregate, kind):
            raise NotFound(f"{what}が見つかりません / {what} not found: {aggregate_id}")
        return aggregate
