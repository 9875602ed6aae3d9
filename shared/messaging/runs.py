"""Runs (shared/messaging/inbox.py, k > 1): what a consumer holds, and what it may apply.

`Hand` keeps one consumer's fetched, unsettled messages and whether every message the server delivered to the
consumer is among them or settled (`Inbox.accounted` reads the stream when the deliveries do not follow on);
`OneThread` runs the inbox's applying on a worker thread of its own.
`StandingPull` is how every consumer of the inbox is delivered its messages: one standing pull request (or two,
overlapping) instead of a request per delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from queue import SimpleQueue
from typing import Any, TypeVar

import structlog
from nats.aio.msg import Msg

log = structlog.get_logger()

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


class OneThread:
    """A worker thread of its own, for work that is one at a time anyway (the inbox's applying takes the
    application's processing lock). As `anyio.to_thread.run_sync(…, limiter=CapacityLimiter(1))`: the caller's
    context (contextvars) goes with the call, and a caller cancelled meanwhile waits until the thread is done
    with it, then is cancelled (a commit is never left running behind a stopping service).

    Cheaper than the standard library's executor (issue 19, docs/capacity.md §5.15): a call is handed over on a C queue
    (`SimpleQueue`) and its outcome comes back as one `call_soon_threadsafe` that settles the caller's own asyncio
    future, without the executor's `concurrent.futures.Future` (its lock and `Condition.notify_all` on each side),
    `wrap_future`'s chaining, `run_in_executor`'s callback checks and `shield`'s extra future: about 40 → 15 µs of the
    loop's CPU a hop. The thread is started at the first call and named `<name>_0` (bench/thread_cpu.py reads it); it
    ends at `shutdown()`, or with the interpreter (a daemon: nothing runs on it then, as a caller waits for its call).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._calls: SimpleQueue[_Call | None] = SimpleQueue()
        self._thread: threading.Thread | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        call = _Call(loop, loop.create_future(), contextvars.copy_context(), fn, args)
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name=f"{self.name}_0", daemon=True)
            self._thread.start()
        self._calls.put(call)
        try:
            return await call.future  # type: ignore[no-any-return]
        except asyncio.CancelledError:
            if not call.finished:  # the thread finishes what it began, as anyio's would; then the caller is cancelled
                call.waiter = loop.create_future()
                await asyncio.wait([call.waiter])
            raise

    def _work(self) -> None:
        while (call := self._calls.get()) is not None:
            try:
                outcome, error = call.context.run(call.fn, *call.args), None
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, as the executor's future would
                outcome, error = None, exc
            try:
                call.loop.call_soon_threadsafe(call.settle, outcome, error)
            except RuntimeError:  # the loop closed meanwhile: nobody waits for this outcome
                pass

    def shutdown(self) -> None:
        self._calls.put(None)


class _Call:
    """One call handed to `OneThread`'s thread, and how its outcome reaches the caller (on the caller's loop)."""

    __slots__ = ("args", "context", "finished", "fn", "future", "loop", "waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], context: contextvars.Context,
                 fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.loop, self.future, self.context, self.fn, self.args = loop, future, context, fn, args
        self.finished = False
        self.waiter: asyncio.Future[None] | None = None

    def settle(self, outcome: Any, error: BaseException | None) -> None:
        self.finished = True
        if not self.future.done():  # done: the caller was cancelled, its outcome goes nowhere
            if error is not None:
                self.future.set_exception(error)
            else:
                self.future.set_result(outcome)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)
        self.fn = self.args = self.context = None  # type: ignore[assignment]  # nothing kept alive by a done call


#: How long a standing pull request lives at the server (it answers 408 at its end; a new one follows): what an idle
#: consumer costs, one request and one status message this often, against one every FETCH_SECONDS before (issue 19).
PULL_EXPIRES_SECONDS = 15.0
#: Messages one request asks for, at the least (with k in flight, 4k): `max_ack_pending` bounds what is delivered at
#: once, so this is how many deliveries one request serves before it is refreshed (at half used), not a buffer.
#: 256 (issue 19; it was 64): a consumer of a journey's ~1 delivery asked again every 32 journeys, 0.6 requests a journey
#: over the suite's 19 consumers; now every 128 (and at each request's expiry, as before).
PULL_BATCH = 256
#: After the server refused a request (consumer deleted, too many waiting, no responders): the next one after this long.
PULL_RETRY_SECONDS = 1.0


class StandingPull:
    """A consumer's messages through a standing pull request, as nats.go's `Consume` does, not a request per delivery.

    `fetch(batch=1)` (nats-py) publishes `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>` for every message and waits
    for the answer (two asyncio tasks, a JSON request, a waiting request in nats-server). Here one request asks for
    `batch` messages (`expires` seconds); the server delivers them as the stream has them and `max_ack_pending` lets
    it, on the subscription this object owns (`reply`, under the service's own inbox prefix), and a new request
    is sent when half of them were delivered, or when the server says the last one ended:

    - `408 Request Timeout`: the request expired; its header `Nats-Pending-Messages` is how many it did not deliver;
    - any other status (`409` consumer deleted, leadership change, max waiting exceeded; `503` no responders: the
      consumer gone; `404`): every request is taken as gone; a new one after `PULL_RETRY_SECONDS` (at once after
      a leadership change);
    - the NATS connection made again (`reconnects`): the server forgot the requests with the connection; new ones
      at once (nats-py subscribes `reply` again first). `renew()` also moves to a new reply subject, so that nothing
      received before it is handed out after it (the runs let go of what they held: `Hand.let_go`);
    - no answer at all by the time every request sent must have ended (`expires` + 1 s): taken as gone.

    A consumer stops being pulled when `stop()` unsubscribes: nats-server drops a waiting request whose reply
    subject has no interest left (tests/integration/test_inbox_standing.py pins it: a partition lease lost, another
    replica's pull served at once), and the connection's end ends them all.
    `get(timeout)` waits (locally: no request on the wire) until a message is there and returns those received.
    """

    def __init__(self, nc: Any, stream: str, consumer: str, inbox_prefix: str, batch: int = PULL_BATCH,
                 expires: float = PULL_EXPIRES_SECONDS, api: str = "$JS.API") -> None:
        self.nc = nc
        self.consumer = consumer
        self.next_subject = f"{api}.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self.prefix = inbox_prefix if inbox_prefix.endswith(".") else inbox_prefix + "."
        self.batch = batch
        self.expires = expires
        self.reply = ""
        self.sub: Any = None
        self.queue: deque[Msg] = deque()
        self.pending = 0  # messages asked for and not yet delivered nor ended by a status
        self.last_delivery = 0  # the highest delivery sequence received on this subscription (`delivered_up_to`)
        self.alive_until = 0.0  # monotonic: every request sent has ended by then
        self.retry_at = 0.0  # monotonic: no request before (the server refused the last)
        self.reconnects = self._reconnects()
        self.requests = 0  # requests sent (tests, benches)
        self.statuses: dict[str, int] = {}  # status code → how many came (tests, benches)
        self.last_status: dict[str, str] = {}  # the headers of the last status message
        self._waiter: asyncio.Future[None] | None = None

    def _reconnects(self) -> int:
        try:
            return int(self.nc.stats["reconnects"])
        except Exception:  # noqa: BLE001 - no connection yet
            return 0

    async def start(self) -> None:
        await self._subscribe()

    async def _subscribe(self) -> None:
        self.reply = f"{self.prefix}{secrets.token_hex(11)}"
        reply = self.reply

        async def arrived(msg: Msg) -> None:
            if reply == self.reply:  # not a subscription given up by `renew`
                self._arrived(msg)

        self.sub = await self.nc.subscribe(reply, cb=arrived)

    async def renew(self) -> None:
        """After a reconnect, for a consumer that lets go of what it received before: a new reply subject (what
        comes on the old one is ignored), nothing queued, new requests."""
        old, self.sub = self.sub, None
        self.queue.clear()
        self.pending, self.alive_until, self.last_delivery = 0, 0.0, 0
        self.reconnects = self._reconnects()
        if old is not None:
            with contextlib.suppress(Exception):
                await old.unsubscribe()
        await self._subscribe()

    async def stop(self) -> None:
        """Stop being pulled: the subscription gone, the server drops the requests waiting for it."""
        sub, self.sub = self.sub, None
        self.reply = ""
        self.queue.clear()
        self._wake()
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _arrived(self, msg: Msg) -> None:
        if msg.reply:  # a message of the stream (its reply is the ack subject)
            self.pending = max(self.pending - 1, 0)
            with contextlib.suppress(Exception):  # not a JetStream ack subject: `accounted` reads the stream anyway
                self.last_delivery = max(self.last_delivery, msg.metadata.sequence.consumer)
            self.queue.append(msg)
            self._wake()
            return
        headers = self.last_status = msg.headers or {}
        status = headers.get("Status", "")
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status == "100" or "Batch Completed" in headers.get("Description", ""):
            return  # an idle heartbeat (not asked for), flow control, a request whose messages all came: counted
        if status == "408" and "Nats-Pending-Messages" in headers:
            with contextlib.suppress(ValueError):
                self.pending = max(self.pending - int(headers["Nats-Pending-Messages"]), 0)
                self._wake()
                return
        self.pending = 0  # every request taken as ended
        if status not in ("408", "404") and "Leadership" not in headers.get("Description", ""):
            self.retry_at = time.monotonic() + PULL_RETRY_SECONDS
            log.warning("inbox.pull_refused", consumer=self.consumer, status=status,
                        description=headers.get("Description", ""))
        self._wake()

    async def pull(self) -> None:
        """Ask for more when half of what was asked for was delivered (or nothing is asked for any more)."""
        now = time.monotonic()
        reconnects = self._reconnects()
        if reconnects != self.reconnects:  # the server forgot the requests with the old connection
            self.reconnects, self.pending = reconnects, 0
        elif self.pending and now > self.alive_until:  # no word of their end: gone
            self.pending = 0
        if self.pending > self.batch // 2 or now < self.retry_at or self.sub is None:
            return
        want = self.batch - self.pending
        request = json.dumps({"batch": want, "expires": int(self.expires * 1e9)}).encode()
        try:
            await self.nc.publish(self.next_subject, request, reply=self.reply)
        except Exception as exc:  # noqa: BLE001 - the connection away: asked again on the next call
            log.warning("inbox.pull_failed", consumer=self.consumer, error=f"{type(exc).__name__}: {exc}")
            self.retry_at = now + PULL_RETRY_SECONDS
            return
        self.requests += 1
        self.pending += want
        self.alive_until = now + self.expires + 1.0

    async def get(self, timeout: float, at_most: int | None = None) -> list[Msg]:
        """The messages received (at most `at_most`), once there is one, or [] after `timeout` seconds."""
        await self.pull()
        if not self.queue and self.sub is not None:
            deadline = time.monotonic() + timeout
            while not self.queue and self.sub is not None and (left := deadline - time.monotonic()) > 0:
                if not self.pending:  # nothing asked for: wake when it may be asked again
                    left = min(left, max(self.retry_at - time.monotonic(), 0.01))
                await self._woken_within(left)
                await self.pull()
        count = len(self.queue) if at_most is None else min(at_most, len(self.queue))
        return [self.queue.popleft() for _ in range(count)]

    async def _woken_within(self, seconds: float) -> None:
        """Until a message arrives or the subscription ends (`_wake`), or `seconds` pass."""
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        timer = asyncio.get_running_loop().call_later(seconds, self._wake)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    async def delivered_up_to(self, delivery: int, timeout: float) -> list[Msg]:
        """The received messages up to the consumer's delivery sequence `delivery`, taken from the queue once every
        delivery up to it made on this subscription is here, or after `timeout` seconds (then the missing ones went
        elsewhere: another subscription, a process that died). nats-server counts a delivery (`consumer_info`'s
        `delivered`) before the message reaches the connection: a standing pull's delivery may be on its way still."""
        if delivery > self.last_delivery and self.sub is not None and timeout > 0:
            deadline = time.monotonic() + timeout
            while self.last_delivery < delivery and self.sub is not None and (left := deadline - time.monotonic()) > 0:
                await self._woken_within(left)
        taken: list[Msg] = []
        while self.queue and self.queue[0].metadata.sequence.consumer <= delivery:
            taken.append(self.queue.popleft())
        return taken

    async def more(self, wanted: int, timeout: float) -> list[Msg]:
        """Up to `wanted` more messages, those received and those on their way (asked for), waited for at most
        `timeout` seconds; none when nothing is asked for."""
        if wanted <= 0 or not (self.queue or self.pending):
            return []
        return await self.get(timeout, at_most=wanted)
