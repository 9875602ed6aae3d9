"""An aggregate a request decoded for its scope check, handed to the same request's use case (issue 19).

With aggregates not kept between loads (`JUSOU_AGGREGATE_CACHE=0`, the default), a request about a case decoded
the case twice: the policy's division scope check (shared/web/policy.py `_require_scope`, in its own hop to a worker
thread) replayed every event of it, and the route's use case, in the next hop, replayed them all again. Now the gate
opens a slot for the request (`open_slot`, on the event loop: each hop copies the request's context, so both hops
see the one slot), the scope check leaves its decoded aggregate there (`leave`), and the use case's load takes it
(`take`), once: a second load in the request, and a command run again after a concurrency conflict
(shared/web/retry.py), decode the aggregate afresh from the store.

What is taken is what the store held a moment before, as a load at the scope check would have been: a command that
changes it and saves is refused by the store's optimistic concurrency if another event was recorded in between, and
runs again on the fresh record. Only an aggregate decoded for this request alone may be left: never one kept
between loads (`KeptAggregates`, shared by every request), nor one with personal information (the application
decides, intake's `case_divisions`). A thread that no request opened a slot for (the inbox, the relay) leaves and
takes nothing.

An application that keeps what it recorded and reads (shared/domain/kept_reads.py `KeptReads`, intake's case since
issue 19's seventh pass) reads the kept aggregate itself at the scope check: that one is every reader's, so it is
left as shared (`leave_shared`): a read in the same request takes it as it is (`take(..., reading=True)`: change
nothing of it), a command only its own copy of it (`take(..., copy=...)`), never the kept aggregate itself.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar
from uuid import UUID

T = TypeVar("T")

#: the request's slot: empty, or the one aggregate its scope check decoded and whether it is shared (kept for every
#: reader, never to be changed)
_SLOT: ContextVar[list[Any] | None] = ContextVar("jusou_decoded_once", default=None)


def open_slot() -> None:
    """A slot for this request (on the event loop, before the hop that decodes): the request's hops share it."""
    _SLOT.set([])


def leave(aggregate: Any) -> None:
    """The request's own decoded aggregate, for the request's next load of it (nothing outside a request)."""
    slot = _SLOT.get()
    if slot is not None:
        slot[:] = [aggregate, False]


def leave_shared(aggregate: Any) -> None:
    """A kept aggregate the scope check read (every reader's): for the request's next read of it only, never a
    command's (nothing outside a request)."""
    slot = _SLOT.get()
    if slot is not None:
        slot[:] = [aggregate, True]


def take(aggregate_id: UUID, kind: type[T], reading: bool = False,
         copy: Callable[[T], T] | None = None) -> T | None:
    """The aggregate this request's scope check left, once; None when it left another (or none). A shared one (kept,
    `leave_shared`) as it is only to a caller `reading`, which changes nothing of it; to a command its own `copy` of
    it (what the store held at the scope check, as a decode there would be), else None (it loads its own). Either way
    the slot is emptied: a read after the command's save is not given the aggregate as it was before."""
    slot = _SLOT.get()
    if slot and isinstance(slot[0], kind) and getattr(slot[0], "id", None) == aggregate_id:
        found: T = slot[0]
        shared = slot[1]
        slot.clear()  # once, whoever asks: a read after a command's save must not be given what came before it
        if reading or not shared:
            return found
        return copy(found) if copy is not None else None
    return None
