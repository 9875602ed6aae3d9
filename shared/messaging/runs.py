"""Runs (shared/messaging/inbox.py, k > 1): what a consumer holds, and what it may apply.

`Hand` keeps one consumer's fetched, unsettled messages and whether every message the server delivered to the
consumer is among them or settled (`Inbox.accounted` reads the stream when the deliveries do not follow on);
`drop_queued` empties nats-py's queue of what a pull subscription received and no fetch took yet.
`OneThread` runs the inbox's applying on a worker thread of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from nats.aio.msg import Msg

T = TypeVar("T")

#: Messages settled here remembered per consumer (their stream sequence and a hash of their content).
REMEMBERED = 4096


@dataclass
class Hand:
    """A consumer's messages fetched and not yet settled (runs, k > 1), and whether every message the server
    delivered to the consumer and has not had settled is among them: only then may they be applied.

    With k in flight the server goes on delivering while earlier messages are pending: one delivered to a
    process that died, or to a fetch whose answer the connection lost, is delivered again only when its ack
    wait runs out, after later ones (`max_ack_pending` = k leaves room for them). Applied first, the later
    ones would move the tracking past it, and it would come back a duplicate and be acked unapplied. So the
    stream is read from the consumer's ack floor to its last delivery (`Inbox.accounted`): every message
    there must be in hand, or settled here, with the same content. From then on the deliveries' own sequence
    shows that none went elsewhere, as long as each follows on from the one before.
    """

    held: dict[int, Msg] = field(default_factory=dict)  # stream sequence → its latest delivery here
    next_delivery: int | None = None  # the delivery sequence the next one carries (None: read the stream)
    reconnects: int = 0  # the NATS connection's reconnects when the held messages were fetched
    #: stream sequence → hash of the content of the messages this process settled (acked or parked) lately
    settled: OrderedDict[int, int] = field(default_factory=OrderedDict)
    waiting_since: float | None = None  # when an earlier message was found pending elsewhere
    kept_at: float = 0.0

    @property
    def ready(self) -> bool:
        return bool(self.held) and self.next_delivery is not None

    def take(self, fetched: list[Msg]) -> None:
        """Hold what was fetched; follow the delivery sequence."""
        for msg in sorted(fetched, key=lambda m: m.metadata.sequence.consumer):
            seq = msg.metadata.sequence
            self.next_delivery = seq.consumer + 1 if seq.consumer == self.next_delivery else None
            earlier = self.held.get(seq.stream)
            if earlier is None or earlier.metadata.sequence.consumer < seq.consumer:
                self.held[seq.stream] = msg

    def let_go(self, reconnects: int) -> None:
        """NATS was reconnected (perhaps restarted, its tail lost: a stream sequence may now be another message's):
        what was fetched before is left unsettled to the server, which delivers it again (or the relay publishes it
        again), and the stream is read afresh before the next run."""
        self.held.clear()
        self.next_delivery = None
        self.reconnects = reconnects

    def remember(self, seq: int, data: bytes) -> None:
        """The message at stream sequence `seq` is settled (acked or parked here, or acked before)."""
        self.settled[seq] = hash(data)
        self.held.pop(seq, None)
        while len(self.settled) > REMEMBERED:
            self.settled.popitem(last=False)

    async def keep(self, every: float, at_once: bool = False) -> None:
        """Keep the held messages' ack wait from running out while they wait (`in_progress`, at most `every` s)."""
        if not at_once and time.monotonic() - self.kept_at < every:
            return
        self.kept_at = time.monotonic()
        for msg in list(self.held.values()):
            with contextlib.suppress(Exception):
                await msg.in_progress()


def drop_queued(subscription: Any) -> int:
    """Drop what a pull subscription received and no fetch took yet: after a reconnect it may be from before a NATS
    restart (`Hand.let_go`). nats-py 2.x keeps it in the subscription's `_sub._pending_queue` and hands it to the next
    fetch first (tests/integration/test_inbox_runs.py fails by name if that moves)."""
    sub = subscription._sub
    dropped = 0
    while not sub._pending_queue.empty():
        msg = sub._pending_queue.get_nowait()
        sub._pending_size -= len(msg.data)
        dropped += 1
    return dropped


class OneThread:
    """A worker thread of its own, for work that is one at a time anyway (the inbox's applying takes the
    application's processing lock). As `anyio.to_thread.run_sync(…, limiter=CapacityLimiter(1))`: the caller's
    context (contextvars) goes with the call, and a caller cancelled meanwhile waits until the thread is done
    with it, then is cancelled (a commit is never left running behind a stopping service). Cheaper (issue 19):
    the standard library's executor hands work over a C queue (`SimpleQueue`), not anyio's `queue.Queue`
    whose `Condition.notify` was 2% of a consumer's samples, nor its cancel scope and limiter per call.
    """

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        future = asyncio.get_running_loop().run_in_executor(self._executor, contextvars.copy_context().run, fn, *args)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if not future.done():
                await asyncio.wait([future])  # the thread finishes what it began, as anyio's would
            if not future.cancelled():
                future.exception()  # retrieved: the caller is cancelled, its outcome goes nowhere
            raise

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False)
