"""Group commit of a PostgreSQL recorder's inserts: the saves that wait meanwhile share the next transaction (issue 19).

On PostgreSQL a service's saves are serial through the disk: the library's insert takes `LOCK TABLE … IN EXCLUSIVE
MODE` on the events table (commit order = notification-id order: a reader tailing the log never passes a gap filled
later), and the lock is released after the commit's WAL flush. On a disk that flushes in ~10 ms one service commits at
most ~100 transactions a second, whatever the code above does; intake needs ~150 at 200 bus events a second, and under
that load its pool sat at 15 of 15 with 15–25 waiting (docs/capacity.md §5.12.2).

Here a recorder keeps up to `IN_FLIGHT` of its transactions in flight (one by default, `JUSOU_PG_GROUP_IN_FLIGHT`
sets it; two is built and tested, see below and docs/capacity.md §5.14: not better in the bench's pairs, so not the
default). A save that finds a slot free is sent at
once, alone: no delay is ever added to wait for company. Saves that arrive while every slot is taken wait, without a
connection, in the order they came; when a transaction ends, its slot goes to the next group: every save waiting
then (up to `GROUP_EVENTS` events), led by the first of them: one table lock, one insert of all their events, one
COMMIT, one WAL flush, and each save is handed its own notification ids (the insert's, split by each save's count, in
order). Why two was tried: with one in flight (d7a7106, docs/capacity.md §5.13) the next group was sent only after the
leader's thread had read the COMMIT's answer, woken the next leader, and that thread had been scheduled, taken the
GIL and built its insert; in a CPU-starved process the disk idled meanwhile (two bench runs made 8-44 transactions a
second). With two, the next group is sent while the previous one flushes and waits at the table lock *in the
server*, which hands it the lock the moment the flush ends, as it did when each save waited there; the group formed
when a slot frees is what queued meanwhile. Two groups in flight may commit in the other order than they were
formed (the server's lock queue decides, as for any two saves alone); a save's events are still one transaction's.
What stays as it was:
- **commit order = position order**: each transaction still takes the table lock; a group's events are one
  transaction's, their ids consecutive, visible together; the saves' order in the queue is their order in the log.
- **a conflict is its own save's**: when the group's insert fails with an `IntegrityError` (a save's aggregate version
  taken already, or taken by an earlier save of the same group) or any other error but a lost connection, nothing of
  it is committed and each save of the group is committed alone, in the same order, in a transaction of its own: each
  gets exactly what it would have got alone (its ids or its own exception; the first of two saves of one version wins,
  as the first to reach the lock would).
- **a lost connection** (`InterfaceError`, `OperationalError`: also a lock wait past the store's lock timeout) is
  every save's of the group, as each save's own transaction would have met it: each caller's `retrying` (the
  library's ten tries, shared/kernel/store.py `retrying_own_commit`, which knows its own commit when the answer was
  lost after the COMMIT) tries it again; nothing is ever committed in part (one transaction).
- **saves with a tracking record** (a process application's effect of a delivery, whose tracking row is checked in
  its transaction) and empty saves are committed alone, as before.
Why a cap (`GROUP_EVENTS`): a group waiting behind a flush is at most the saves of the threads that save at once (a
service's workers and inboxes: tens, a few events each), so the cap does not bind in service; it bounds what a
conflict costs (a group with one conflict is committed again save by save: a transaction each) and how long one
transaction holds the lock and its connection for a bulk save (an import, a migration), which goes alone when larger.
SQLite is unchanged: one writer at a time, and a commit there flushes in well under a millisecond.
Tests: tests/integration/test_pg_group_commit.py."""

from __future__ import annotations

import copy
import functools
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, ProgrammingError

#: at most this many events in one group's transaction (a save of more goes alone, whole)
GROUP_EVENTS = 256
#: a recorder's transactions in flight for saves without a tracking record. With 2 the next waits at the table lock in
#: the server while the one before flushes (tests/integration/test_pg_group_commit.py); measured against 1 in the
#: suite's bench, alternating (docs/capacity.md §5.14, 2026-12-06/07), it held more of 200 ev/s in 5 of 8 loaded pairs
#: and less in 3, and in 9 quiet pairs held >= 190 in 7 runs against 9, hop p99 lower in 4: not better, so 1 stays
IN_FLIGHT = 1

Insert = Callable[..., Any]


class _Save:
    """One caller's save: its events, then its outcome (`ids` or `error`) once `done`; `group` once it leads one."""

    __slots__ = ("done", "error", "events", "group", "ids", "woken")

    def __init__(self, events: Sequence[Any]) -> None:
        self.events = events
        self.ids: list[int] | None = None
        self.error: BaseException | None = None
        self.done = False
        self.group: list[_Save] | None = None  # the transaction's saves, this one first, when it leads it
        self.woken = threading.Event()  # set when done, or when handed the lead of a transaction


class _Group:
    """The saves of one recorder waiting for a transaction, and how many of its transactions are in flight."""

    def __init__(self, slots: int | None = None) -> None:
        self.lock = threading.Lock()
        self.queue: deque[_Save] = deque()  # never waiting while a slot is free: a freed slot takes the queue
        self.slots = IN_FLIGHT if slots is None else slots  # read when the recorder first saves
        self.flying = 0  # transactions in flight (sent, or being sent) for grouped saves, at most `slots`
        self.transactions = 0  # figures: transactions committed (or tried) for grouped saves, and the saves
        self.saves = 0

    def save(self, recorder: Any, insert: Insert, events: Sequence[Any]) -> Any:
        mine = _Save(events)
        with self.lock:
            if self.flying < self.slots:  # a slot free: sent at once, alone (nothing waits: see `queue`)
                self.flying += 1
                mine.group = [mine]
                self.transactions += 1
                self.saves += 1
            else:
                self.queue.append(mine)
        if mine.group is None:
            mine.woken.wait()
        if not mine.done:  # handed the lead of a transaction: `mine.group`, itself first
            self._lead(recorder, insert, mine)
        if mine.error is not None:
            raise mine.error
        return mine.ids

    def _next(self) -> _Save | None:
        """The freed slot's next transaction: the saves waiting (up to the cap), led by the first; else the slot is
        let go. Called holding the lock."""
        if not self.queue:
            self.flying -= 1
            return None
        first = self.queue.popleft()
        group, count = [first], len(first.events)
        while self.queue and count + len(self.queue[0].events) <= GROUP_EVENTS:
            taken = self.queue.popleft()
            group.append(taken)
            count += len(taken.events)
        first.group = group
        self.transactions += 1
        self.saves += len(group)
        return first

    def _lead(self, recorder: Any, insert: Insert, mine: _Save) -> None:
        group = mine.group
        assert group is not None and group[0] is mine, "a transaction is led by its first save"
        try:
            _commit(recorder, insert, group)
        except BaseException as error:  # noqa: BLE001  # the leader's own failure (an interrupt): every save's
            for save in group:
                if save.ids is None and save.error is None:
                    save.error = error if save is mine else _own_copy(error)
        finally:
            with self.lock:
                after = self._next()
            if after is not None:
                after.woken.set()  # the next transaction's leader first: its group is sent while the other flushes
            for save in group:
                save.done = True
                if save is not mine:
                    save.woken.set()


def _commit(recorder: Any, insert: Insert, group: list[_Save]) -> None:
    """One transaction for the group's saves, each given its ids; else each alone, or the lost connection to each."""
    if len(group) == 1:
        _alone(recorder, insert, group[0])
        return
    events = [event for save in group for event in save.events]
    try:
        ids = insert(recorder, events)
    except (InterfaceError, OperationalError) as error:  # each save's as its own transaction's: its retry's to try
        for k, save in enumerate(group):
            save.error = error if k == 0 else _own_copy(error)
        return
    except Exception:  # noqa: BLE001  # whose it is not known (a conflict, data): nothing committed; each alone
        for save in group:
            _alone(recorder, insert, save)
        return
    if ids is None or len(ids) != len(events):
        for save in group:
            save.error = ProgrammingError(f"group commit: {len(events)} events inserted, "
                                          f"{'no' if ids is None else len(ids)} notification ids given back")
        return
    start = 0
    for save in group:
        save.ids = list(ids[start:start + len(save.events)])
        start += len(save.events)


def _alone(recorder: Any, insert: Insert, save: _Save) -> None:
    try:
        save.ids = insert(recorder, save.events)
    except Exception as error:  # noqa: BLE001  # handed to its caller, raised there
        save.error = error


def _own_copy(error: BaseException) -> BaseException:
    """The same error for another caller's thread (its own traceback), caused by the one met."""
    try:
        theirs = copy.copy(error)
    except Exception:  # noqa: BLE001  # an error that cannot be copied: the same object
        return error
    theirs.__cause__ = error
    return theirs


_MADE = threading.Lock()


def group_of(recorder: Any) -> _Group:
    """The recorder's group (made on its first save)."""
    group: _Group | None = recorder.__dict__.get("_jusou_group")
    if group is None:
        with _MADE:
            group = recorder.__dict__.setdefault("_jusou_group", _Group())
    return group


def set_in_flight(recorder: Any, slots: int) -> None:
    """Let the recorder keep up to `slots` grouped transactions in flight (`JUSOU_PG_GROUP_IN_FLIGHT`; `IN_FLIGHT` when
    never set): set when its service opens the store, before its first save. A recorder that does not group its
    commits (SQLite, `JUSOU_PG_GROUP_COMMIT=false`) never reads it."""
    if slots < 1:
        raise ValueError(f"transactions in flight must be 1 or more, not {slots}")
    group = group_of(recorder)
    with group.lock:
        group.slots = slots


def waiting(recorder: Any) -> int:
    """How many of the recorder's saves wait for its next transaction (for tests and figures)."""
    group = group_of(recorder)
    with group.lock:
        return len(group.queue)


def grouped_commits(insert: Insert) -> Insert:
    """A PostgreSQL recorder's `insert_events` (`insert`: the stored events committed in one transaction, their
    notification ids given back) whose saves without a tracking record are committed in groups (see above)."""

    @functools.wraps(insert)
    def insert_events(self: Any, stored_events: Sequence[Any], **kwargs: Any) -> Any:
        if not stored_events or any(value is not None for value in kwargs.values()):
            return insert(self, stored_events, **kwargs)  # a tracking record's: alone, as before
        return group_of(self).save(self, insert, stored_events)

    return insert_events
