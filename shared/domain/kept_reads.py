"""Aggregates kept as this process recorded them, checked against the store at every use (issue 19).

With `JUSOU_AGGREGATE_CACHE=0` (the default) every load and every read decodes every event of its aggregate. In a
journey the meeting and collaboration mostly load what they themselves have just recorded: the reads polled until
they change (the agenda item, the consent, the sitting, the plan, the case), the reads inside commands (the consent
of D9, the case of D4/D11), and the commands' own loads (the plan under review, the sitting, the plan).

`KeptReads` keeps, per aggregate (at most `READS_KEPT`, the least recently used out), the one this process last
recorded: a command's (`save`) or an inbox run's (`process_event`), once its commit succeeded (a refused commit
raises first and keeps nothing), so what is kept is what the store then holds; or else the last one a read decoded.
Each use asks the store whether an event was recorded after the kept version (one select of at most one event: the
store's, so another replica's or process's event counts at once; a command that uses several kept aggregates asks
for all of them in one statement first, `checked_together`, which serves each one's first use). None: a read
(`read`) is given the kept aggregate itself (change nothing of it), a command (`load`) its own copy (`own_copy`:
what `copy.deepcopy` gives, for an eighth to a quarter of its cost; 2–10 µs for a journey's plan, sitting or agenda
item, where decoding costs 94–139). One: the aggregate is decoded afresh from the store (the library's load); a read
keeps it, a command changes its own and its commit keeps what it recorded. A kept aggregate is never changed (no
event is applied to it), so a reader may hold it while another thread replaces it.

Only what `keeps_decoded` allows is kept (never an aggregate with personal information); the stores of these
services only grow (no event is ever deleted or rewritten), so the check at every use is all it takes to be
current. When the application keeps aggregates already (`JUSOU_AGGREGATE_CACHE` > 0) the kernel's `KeptAggregates`
serves both, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from copy import deepcopy
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, LRUCache, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Recording, Tracking

from shared.kernel.app import KeptAggregates, ServiceApplication, not_found

#: how many decoded aggregates are kept (least recently used out); a few KB each
READS_KEPT = 4000

#: values that cannot be changed (these exact classes, not subclasses): a copy shares them, as `copy.deepcopy` does
#: in effect (it rebuilds a UUID, a datetime or a date through `__reduce_ex__`, an equal value no one can change)
_UNCHANGEABLE = frozenset({str, int, float, bool, complex, type(None), bytes, UUID, datetime, date, time, timedelta,
                           timezone, Decimal})


def own_copy(aggregate: Any) -> Any:
    """A copy of an aggregate that shares nothing changeable with it: what `copy.deepcopy(aggregate)` gives (issue 19).

    `deepcopy` goes through its generic machinery for every value: its memo (an `id()` and a `dict.get` each), and
    `__reduce_ex__` to rebuild each UUID, datetime and date (two to four of each in every aggregate: its id, its
    created and modified times, the case's id). Here the aggregate's `__dict__` is copied as a tree: each `list` and
    `dict` anew (with a memo of these only, so that one list held in two places is one list in the copy too, as with
    `deepcopy`), each value of the exact classes of `_UNCHANGEABLE` shared, and anything else (a tuple, a set, an
    enum, a pydantic model, a subclass of `dict`…) handed to `deepcopy` itself, with the same memo. The copy is made
    as the library makes an aggregate from a snapshot (`object.__new__`, then its `__dict__`); a class that copies
    itself its own way (`__deepcopy__`, `__reduce_ex__`, `__reduce__`, `__getstate__`, `__setstate__`, its own `__new__`,
    values in `__slots__`) is given `deepcopy`'s copy. Pinned for every aggregate class the meeting and collaboration
    keep: tests/unit/test_kept_copies.py."""
    cls = type(aggregate)
    if not _copied_as_tree(cls):
        return deepcopy(aggregate)
    memo: dict[int, Any] = {}
    copied = object.__new__(cls)
    object.__setattr__(copied, "__dict__", _tree(aggregate.__dict__, memo))
    return copied


_AS_TREE: dict[type, bool] = {}


def _copied_as_tree(cls: type) -> bool:
    """Whether `copy.deepcopy` copies an instance of `cls` as `object.__new__(cls)` with a deep copy of its
    `__dict__` (the default, for a class that says nothing of how it is copied or made)."""
    known = _AS_TREE.get(cls)
    if known is None:
        own = ("__deepcopy__", "__reduce_ex__", "__reduce__", "__getstate__", "__setstate__", "__new__", "__slots__")
        known = _AS_TREE[cls] = all(
            getattr(cls, name, None) is getattr(object, name, None) for name in own if name != "__slots__"
        ) and not any(set(_slots(base)) - {"__dict__", "__weakref__"} for base in cls.__mro__)
    return known


def _slots(cls: type) -> tuple[str, ...]:
    """The names a class keeps in slots of its own (outside its instances' `__dict__`)."""
    slots = vars(cls).get("__slots__", ())
    return (slots,) if isinstance(slots, str) else tuple(slots)


def _tree(value: Any, memo: dict[int, Any]) -> Any:
    cls = type(value)
    if cls in _UNCHANGEABLE:
        return value
    found = memo.get(id(value))
    if found is not None:
        return found
    if cls is list:
        listed: list[Any] = []
        memo[id(value)] = listed
        listed.extend([v if type(v) in _UNCHANGEABLE else _tree(v, memo) for v in value])
        return listed
    if cls is dict:
        mapped: dict[Any, Any] = {}
        memo[id(value)] = mapped
        for k, v in value.items():
            mapped[k if type(k) in _UNCHANGEABLE else _tree(k, memo)] = v if type(v) in _UNCHANGEABLE else _tree(v, memo)
        return mapped
    return deepcopy(value, memo)


class KeptReads(ServiceApplication):
    """An application whose reads and loads are served from the aggregates it recorded, checked (see the module)."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        #: the reads' keep (none when the application keeps aggregates itself: its own serves the reads)
        self.reads_kept: LRUCache[UUID, Any] | None = (
            None if isinstance(self.repository, KeptAggregates) else LRUCache(maxsize=READS_KEPT))
        self._processing = threading.local()  # `policy` → `process_event`: what this thread's inbox run collected
        self._checked = threading.local()  # `checked_together` → `_current`: this thread's command's checked aggregates

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
                raise not_found(what, kind, aggregate_id) from exc
            if self.keeps_decoded(aggregate):
                kept_reads.put(aggregate_id, aggregate)
        if not isinstance(aggregate, kind):
            raise not_found(what, kind, aggregate_id)
        return aggregate

    def load(self, aggregate_id: UUID, kind: type[Aggregate], what: str) -> Any:
        """As `ServiceApplication.load`: the caller's own copy, to change and save. A copy of the kept aggregate when
        the store holds nothing newer (`own_copy`: 2–10 µs for a plan, a sitting or an agenda item of a journey's end,
        where decoding its events costs 94–139 and `copy.deepcopy` 30–47), else decoded afresh (nothing kept: the
        command changes it; its commit keeps what it recorded)."""
        kept_reads = getattr(self, "reads_kept", None)
        aggregate = self._current(aggregate_id) if kept_reads is not None else None
        if aggregate is None:
            return super().load(aggregate_id, kind, what)
        if not isinstance(aggregate, kind):
            raise not_found(what, kind, aggregate_id)
        return own_copy(aggregate)

    @contextmanager
    def checked_together(self, *aggregate_ids: UUID | None) -> Iterator[None]:
        """Within the block, the first use (`read`, `load`) of each of these aggregates that is kept is served by one
        check made for all of them here, in one statement (a command's sitting, plan and consent: one select instead
        of three), where the store can (`newer_of`: SQLite); else, and for any further use, each use checks as
        before. A use finds what was checked only if it is still what is kept (a commit of another thread since
        replaced it: checked again); an aggregate found changed is decoded afresh at its use. Not inside an inbox
        run (its reads are noted one by one for `receive_many`)."""
        kept_reads = getattr(self, "reads_kept", None)
        newer_of = getattr(self.recorder, "newer_of", None)
        noting = getattr(self.events, "noting", None)  # (NotedEventStore: `reads` while `receive_many` notes them)
        if kept_reads is None or newer_of is None or getattr(noting, "reads", None) is not None:
            yield
            return
        versions: dict[UUID, int] = {}
        kept: dict[UUID, Any] = {}
        for aggregate_id in dict.fromkeys(i for i in aggregate_ids if i is not None):
            try:
                aggregate = kept_reads.get(aggregate_id)
            except KeyError:
                continue
            if not getattr(aggregate, "pending_events", None):
                versions[aggregate_id], kept[aggregate_id] = aggregate.version, aggregate
        if len(versions) < 2:  # one alone is checked at its use, as before
            yield
            return
        newer = newer_of(versions)
        self._checked.current = {i: a for i, a in kept.items() if i not in newer}
        try:
            yield
        finally:
            self._checked.current = None

    def kept_case_of(self, aggregate_id: UUID) -> UUID | None:
        """The `case_id` of a kept aggregate (one that never changes it: an agenda item's, a plan's), None when it is
        not kept: what `checked_together` may check with it before it is read."""
        try:
            case_id: Any = self.reads_kept.get(aggregate_id) if self.reads_kept is not None else None
        except KeyError:
            return None
        found = getattr(case_id, "case_id", None)
        return found if isinstance(found, UUID) else None

    def _current(self, aggregate_id: UUID) -> Any:
        """The kept aggregate when the store holds no event after its version (one select, or `checked_together`'s
        one for several), else None."""
        assert self.reads_kept is not None
        try:
            aggregate: Any = self.reads_kept.get(aggregate_id)
        except KeyError:
            return None
        if getattr(aggregate, "pending_events", None):  # changed by a reader (it must not be): decoded afresh
            return None
        checked: dict[UUID, Any] | None = getattr(self._checked, "current", None)
        if checked and checked.pop(aggregate_id, None) is aggregate:  # checked together just now (one use each)
            return aggregate
        if next(iter(self.events.get(aggregate_id, gt=aggregate.version, limit=1)), None) is not None:
            return None
        return aggregate
