"""The faults, each counted: kills, outages, a lost stream tail, duplicates, delays, poison, dead connections."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
import uuid
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client
from nats.js.errors import NotFoundError
from support.municipality import LEAD

from faults.journeys import Driver
from faults.world import API_TIMEOUT_S, RELAY, SERVICES, World, cpu_seconds, read_stream, service_of
from shared.contract.events import STREAM, PoisonMessage, parse

#: upstream sources each service consumes (its durable consumers are `<service>--<source>`)
SOURCES = {
    "intake": ("meeting", "outreach"),
    "collaboration": ("intake", "meeting", "outreach"),
    "meeting": ("intake", "collaboration", "outreach", "participation"),
    "outreach": ("meeting",),
    "participation": ("meeting", "community", "outreach"),
    "community": ("meeting", "participation"),
}


@dataclass
class Poison:
    seq: int
    data: bytes
    subject: str
    consumers: tuple[str, ...]  # the services that must park it
    reason: str  # a fragment its dead-letter reason must carry


@dataclass
class Faults:
    world: World
    nc: Client
    gate: asyncio.Event
    injected: Counter[str] = field(default_factory=Counter)
    windows: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    poison: list[Poison] = field(default_factory=list)
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)
    last_fault_at: float = 0.0
    driver: Driver | None = None
    rng: random.Random = field(default_factory=random.Random)
    _restarts: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    @property
    def js(self) -> Any:
        return self.nc.jetstream(timeout=API_TIMEOUT_S)

    def _done(self, kind: str, n: int = 1) -> None:
        self.injected[kind] += n
        self.last_fault_at = time.monotonic()

    # -- services -----------------------------------------------------------------------------

    async def kill_service(self, name: str, moment: str) -> None:
        """SIGKILL a service's process (`intake`, or a replica: `intake-2`) under load at a chosen kind of moment, see
        what it left half-done, and start it again in the background (faults go on meanwhile; `restarted()` waits).

        mid-request: while a command to it is in flight; after-commit: the instant it acknowledged
        a command (its events are committed, the relay is publishing them); after-upstream: a few
        milliseconds after a service it consumes from acknowledged one (its consumer is applying).
        """
        await self.restarted(name)
        assert self.driver is not None
        if moment == "mid-request":
            deadline = time.monotonic() + 5
            while not self.driver.in_flight[name] and time.monotonic() < deadline:
                await asyncio.sleep(0.001)
        elif moment == "after-commit":
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.driver.next_ack(frozenset({name})), 5)
        elif moment == "after-upstream":
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.driver.next_ack(frozenset(SOURCES[service_of(name)])), 5)
                await asyncio.sleep(self.rng.uniform(0.001, 0.02))
        process = self.world.suite.processes[name]
        os.killpg(process.pid, signal.SIGKILL)  # at once, before anything else can happen
        await asyncio.to_thread(self.world.suite.kill, name)
        await self._inspect_windows(name)
        self._done(f"SIGKILL {name}")
        self.injected[f"… {moment}"] += 1
        self._restarts[name] = asyncio.create_task(asyncio.to_thread(self.world.suite.start_service, name))

    async def restarted(self, *names: str) -> None:
        """Wait for the services being restarted (all of them when no name is given)."""
        for name in names or tuple(self._restarts):
            task = self._restarts.pop(name, None)
            if task is not None:
                await task
                self.last_fault_at = time.monotonic()

    async def _inspect_windows(self, name: str) -> None:
        """Which windows the kill hit: committed but not yet published; applied but not yet acked (of any replica's
        consumers, when the service has replicas: the others go on)."""
        service = service_of(name)
        positions = await asyncio.to_thread(self.world.store.positions, service)
        if positions["head"] > positions.get(RELAY, 0):
            self.windows["killed between commit and publish"] += 1
        partitions = self.world.partitions if self.world.partitioned(service) else 1
        for source in SOURCES[service]:
            for k in range(partitions):
                consumer, tracking = (f"{service}--{source}", source) if partitions == 1 else \
                    (f"{service}--{source}--p{k}", f"{source}#p{k}")
                try:
                    info = await self.js.consumer_info(STREAM, consumer)
                    if not info.num_ack_pending:
                        continue
                    msg = await self.js.get_msg(STREAM, info.delivered.stream_seq)
                    envelope, _ = parse(msg.data)
                except (TimeoutError, NotFoundError, PoisonMessage):
                    continue
                if positions.get(tracking, 0) >= envelope.source_position:
                    self.windows["killed after a consumer's commit, before its ack"] += 1
                else:
                    self.windows["killed mid-message (before the consumer's commit)"] += 1

    # -- NATS ---------------------------------------------------------------------------------

    async def kill_nats(self, down_s: float = 0.5) -> None:
        """SIGKILL nats-server and start it again on the same port and store directory."""
        await self.restarted()  # a service starting while NATS is down cannot connect: not this fault
        await asyncio.to_thread(self._nats_down)
        await asyncio.sleep(down_s)
        await asyncio.to_thread(self._nats_up)
        self._done("SIGKILL nats-server")

    def _nats_down(self) -> None:
        self.world.proxy.refuse()
        self.world.kill_nats()

    def _nats_up(self) -> None:
        self.world.start_nats()
        self.world.proxy.accept()

    async def quiet_outage(self, down_s: float, idle_s: float = 1.5) -> None:
        """With no HTTP load: the services' CPU for `idle_s` with NATS up, then while NATS is down."""
        await self.restarted()
        self.gate.clear()
        try:
            await asyncio.sleep(0.5)  # requests in flight finish
            pids = self.world.service_pids()
            up = await self._cpu(pids, idle_s)
            await asyncio.to_thread(self._nats_down)
            samples = [await self._cpu(pids, 1.0) for _ in range(max(1, int(down_s)))]
            down = {name: sum(s[name] for s in samples) / len(samples) for name in pids}
            peak = {name: max(s[name] for s in samples) for name in pids}
            await asyncio.to_thread(self._nats_up)
        finally:
            self.gate.set()
        for name in pids:
            self.cpu[name] = {"nats_up": up[name], "nats_down": down[name], "nats_down_peak_1s": peak[name]}
        self.cpu["_seconds"] = {"nats_up": idle_s, "nats_down": down_s}
        self._done(f"nats-server down {down_s:.0f} s (no load)")

    async def _cpu(self, pids: dict[str, int], seconds: float) -> dict[str, float]:
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        began = time.monotonic()
        await asyncio.sleep(seconds)
        wall = time.monotonic() - began
        return {name: (cpu_seconds(pid) - before[name]) / wall for name, pid in pids.items()}

    async def lose_stream_tail(self, originals: int) -> None:
        """SIGKILL nats-server and drop the stream's last writes, as a power cut does to unsynced data.

        The cut is placed so that at least `originals` relay-published events (not copies made by
        the duplicate fault, not poison) are in the lost part. The services reach nats-server again
        only once the harness has counted what the stream lost."""
        await self.restarted()
        state = (await self.js.stream_info(STREAM)).state
        tail = await read_stream(self.nc, STREAM, "jusou.>", max(state.first_seq, state.last_seq - 40 * originals),
                                 state.last_seq)
        originals_seen, nbytes = 0, 0
        for msg in reversed(tail):
            nbytes += len(msg.subject) + len(msg.msg_id) + len(msg.data) + 60  # about a record's size on disk
            originals_seen += not msg.msg_id.startswith(("dup-", "poison-"))
            if originals_seen >= originals:
                break
        state = (await self.js.stream_info(STREAM)).state  # what was published meanwhile is in the tail too
        nbytes += (state.last_seq - tail[-1].seq) * 1200 if tail else 0
        if not originals_seen:
            return
        await asyncio.to_thread(self._nats_down)
        dropped = await asyncio.to_thread(self.world.lose_stream_tail, 0.0, nbytes)
        await asyncio.to_thread(self.world.start_nats)
        after = await self._last_seq()
        await asyncio.to_thread(self.world.proxy.accept)
        self.notes.append(f"stream tail lost: last_seq {state.last_seq} → {after} ({state.last_seq - after} messages, "
                          f"≥{originals_seen} of them relay-published events; {dropped} bytes)")
        self.injected["messages lost from the stream's tail"] += max(0, state.last_seq - after)
        self._done("stream tail lost (SIGKILL nats-server + unsynced writes dropped)")

    async def _last_seq(self) -> int:
        deadline = time.monotonic() + 15
        while True:
            try:
                return int((await self.js.stream_info(STREAM)).state.last_seq)
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    # -- messages -----------------------------------------------------------------------------

    async def duplicate_everything(self) -> None:
        """Every message on the stream so far, published again under a new Nats-Msg-Id."""
        state = (await self.js.stream_info(STREAM)).state
        skip = {p.seq for p in self.poison}
        acks = [
            await self.js.publish_async(msg.subject, msg.data, stream=STREAM,
                                        headers={"Nats-Msg-Id": f"dup-{msg.seq}-{uuid.uuid4()}"})
            for msg in await read_stream(self.nc, STREAM, "jusou.>", state.first_seq, state.last_seq)
            if msg.seq not in skip
        ]
        copies = sum(1 for ack in await asyncio.gather(*acks) if not ack.duplicate)
        self.injected["messages delivered twice"] += copies
        self._done("rounds of: every message republished")

    async def delay(self, max_delay_s: float, seconds: float) -> None:
        """Hold every chunk on every NATS connection for a random time: late and reordered across subjects."""
        before = self.world.proxy.delayed_chunks
        self.world.proxy.delay(max_delay_s)
        await asyncio.sleep(seconds)
        self.world.proxy.delay(0)
        self.injected["chunks delayed (reordered across connections)"] += self.world.proxy.delayed_chunks - before
        self._done(f"delay windows of {seconds:.0f} s (≤{max_delay_s * 1000:.0f} ms per chunk)")

    async def send_poison(self) -> None:
        """Bad JSON, an unknown type, an invalid payload, and an event whose handler always raises."""
        valid = {
            "event_id": str(uuid.uuid4()), "schema_version": 1, "case_id": str(uuid.uuid4()),
            "occurred_at": datetime.now(UTC).isoformat(), "correlation_id": str(uuid.uuid4()),
            "causation_id": None, "actor": {"staff_id": "faults", "division": LEAD},
        }
        cases = [
            ("jusou.intake.CaseEscalated", b"{not json", ("collaboration",), "not UTF-8 JSON"),
            ("jusou.meeting.MeetingDecided",
             json.dumps({**valid, "event_type": "NoSuchEvent", "source": "meeting", "source_position": 1,
                         "payload": {}}).encode(),
             ("intake", "collaboration", "outreach", "participation"), "unknown event"),
            ("jusou.participation.ResourceShortageReported",
             json.dumps({**valid, "event_id": str(uuid.uuid4()), "event_type": "ResourceShortageReported",
                         "source": "participation", "source_position": 1, "payload": {"need": 3}}).encode(),
             ("community",), "invalid payload"),
            # A closure request for a plan the meeting never heard of: its handler raises every time.
            # A position no real event reaches, so nothing is ever tracked at it.
            ("jusou.collaboration.PlanClosureRequested",
             json.dumps({**valid, "event_id": str(uuid.uuid4()), "event_type": "PlanClosureRequested",
                         "source": "collaboration", "source_position": 10**9 + len(self.poison),
                         "payload": {"plan_id": str(uuid.uuid4()), "program": "collaboration",
                                     "progress": "存在しないプラン"}}).encode(),
             ("meeting",), "failed"),
        ]
        assert all(c in SERVICES for _, _, consumers, _ in cases for c in consumers)
        for subject, data, consumers, reason in cases:
            ack = await self.js.publish(subject, data, stream=STREAM, headers={"Nats-Msg-Id": f"poison-{uuid.uuid4()}"})
            self.poison.append(Poison(ack.seq, data, subject, consumers, reason))
        self._done("rounds of: poison (bad JSON, unknown type, invalid payload, handler raises)")

    # -- PostgreSQL ---------------------------------------------------------------------------

    async def kill_pg_connections(self) -> None:
        killed, busy = await asyncio.to_thread(self.world.store.terminate_connections)
        self.injected["PostgreSQL connections terminated"] += killed
        self.injected["… of them mid-transaction or mid-query"] += busy
        self._done("rounds of: pg_terminate_backend")

    async def restart_postgres(self, down_s: float) -> None:
        """Crash the PostgreSQL server under load (immediate stop: WAL recovery on start), down for `down_s`."""
        await asyncio.to_thread(self.world.store.crash_and_restart, down_s)
        self._done("PostgreSQL crashed (immediate stop) and restarted")
