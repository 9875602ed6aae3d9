"""The whole suite under load: start-up, memory, hop latency at a steady rate, and saturation.

The suite runs as `jusou up` runs it (`jusou.runner.Suite`: its own nats-server with a NATS user
per service, six service processes, free ports, a temporary data folder). The load is driven over
HTTP only, as staff would drive it (`tests/support/journey.py`), and the figures come from where
they are true:

- hop latency: from the commit of `Case.Escalated` in intake's store to the commit of
  `CollaborationCase.Opened`, the event it causes, in collaboration's store (the events'
  timestamps, read back from both stores after the phase);
- bus events/s: the `JUSOU` stream's message count over the phase;
- memory: the RSS of each service's process (and its children) and of nats-server.

The load generator runs in several processes (`Drivers`: each its own event loop (uvloop), HTTP client
and NATS connection) so that it is never the limit; the main process sends each phase's share to every
driver and gathers the outcomes (case ids, timings, reads). Its CPU is counted apart from the
suite's, summed over its processes, and kept small: its HTTP client is bench/client.py (httpx's
requests byte for byte at ~1/20 of httpx's CPU a request). A journey waits for a state as an
integrator would: on the bus (core NATS subscriptions on the subjects of the events waited for) for
the event that must precede the state, then one HTTP read, retried only while the consuming service
has not applied the event yet (`BusWaits`, `DriverJourney`, `Lags`); every read is counted (reads
per journey in the figures).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Self
from uuid import UUID

import uvloop
from support.auth import reader
from support.journey import Journey

from bench import client as http_client
from bench.stats import cpu_seconds_of, pct, rate, rss_of

ESCALATED = "services.intake.domain:Case.Escalated"
OPENED = "services.collaboration.domain:CollaborationCase.Opened"


class BenchJourney(Journey):
    """The tests' journey, polling with a growing interval (10 ms → 100 ms) so that waiting
    workers do not become the load themselves."""

    async def get_when(self, service: str, path: str, predicate: Any, what: str) -> dict[str, Any]:
        delay = 0.01
        deadline = time.monotonic() + 30
        last: Any = None
        while time.monotonic() < deadline:
            response = await self.http.get(self.urls[service] + path)
            if response.status_code == 200:
                last = response.json()
                if predicate(last):
                    return dict(last)
            await asyncio.sleep(delay)
            delay = min(0.1, delay * 1.5)
        raise TimeoutError(f"timed out waiting for {what}; last seen: {str(last)[:200]}")


class StoreReader:
    """Reads one service's stored events of one type, from where it last stopped."""

    def __init__(self, service: str) -> None:
        from eventsourcing.application import Application

        from shared.kernel.app import DateAsISO
        from shared.kernel.store import store_env
        from shared.settings import Settings

        class Reader(Application):
            name = service

            def register_transcodings(self, transcoder: Any) -> None:
                super().register_transcodings(transcoder)
                transcoder.register(DateAsISO())

        self.app = Reader(env=store_env(Settings.from_env(service)))
        self.position = 0

    def read(self, topic: str) -> dict[UUID, datetime]:
        """originator id → timestamp of each event of `topic` recorded since the last read."""
        found: dict[UUID, datetime] = {}
        while True:
            batch = self.app.recorder.select_notifications(start=self.position + 1, limit=1000, topics=[topic])
            for notification in batch:
                event = self.app.mapper.to_domain_event(notification)
                found.setdefault(notification.originator_id, event.timestamp)
            if len(batch) < 1000:
                if batch:
                    self.position = batch[-1].id
                return found
            self.position = batch[-1].id

    def close(self) -> None:
        self.app.close()


class Hops:
    """Escalated (intake) → Opened (collaboration), matched by case id."""

    def __init__(self) -> None:
        self.intake = StoreReader("intake")
        self.collaboration = StoreReader("collaboration")
        self.escalated: dict[UUID, datetime] = {}
        self.opened: dict[UUID, datetime] = {}

    def refresh(self) -> None:
        self.escalated |= self.intake.read(ESCALATED)
        self.opened |= self.collaboration.read(OPENED)

    def missing(self, cases: list[str]) -> int:
        self.refresh()
        return sum(1 for c in cases if UUID(c) not in self.opened)

    def latencies_ms(self, cases: list[str], stored_at: dict[UUID, datetime]) -> dict[str, list[float]]:
        """The hop, and its two halves: commit → stored on the stream (the relay), stored → the
        caused event's commit (delivery and the inbox)."""
        self.refresh()
        out: dict[str, list[float]] = {"hop": [], "relay": [], "inbox": []}
        for case in map(UUID, cases):
            if case in self.escalated and case in self.opened:
                out["hop"].append((self.opened[case] - self.escalated[case]).total_seconds() * 1000)
                if case in stored_at:
                    out["relay"].append((stored_at[case] - self.escalated[case]).total_seconds() * 1000)
                    out["inbox"].append((self.opened[case] - stored_at[case]).total_seconds() * 1000)
        return out

    def close(self) -> None:
        self.intake.close()
        self.collaboration.close()


@dataclass
class MemorySampler:
    """Samples the RSS of each named process every `every` seconds, keeping the highest."""

    pids: dict[str, int]
    every: float = 0.5
    peak: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def snapshot(self) -> dict[str, float]:
        return {name: rss_of(pid) for name, pid in self.pids.items()}

    def __enter__(self) -> Self:
        def loop() -> None:
            while not self._stop.is_set():
                now = self.snapshot()
                total = sum(now.values())
                for name, value in [*now.items(), ("suite", total)]:
                    self.peak[name] = max(self.peak.get(name, 0.0), value)
                self._stop.wait(self.every)

        self._thread = threading.Thread(target=loop, name="bench-rss", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class CpuMeter:
    """CPU seconds each process used between `start` and `stop`, per event on the bus: the work
    an event costs, which a busy machine slows down but does not change much. The load generator's
    own (this process and the driver processes) is counted apart."""

    def __init__(self, pids: dict[str, int], drivers: dict[str, int] | None = None) -> None:
        self.pids = pids
        self.drivers = dict(drivers or {})
        self.began: dict[str, float] = {}
        self.drivers_began: dict[str, float] = {}

    def start(self) -> None:
        self.machine_began = machine_ticks()
        self.waits_began = {name: run_queue_seconds_of(pid) for name, pid in self.pids.items()}
        self.began = {name: cpu_seconds_of(pid) for name, pid in self.pids.items()}
        self.drivers_began = {name: cpu_seconds_of(pid, children=False) for name, pid in self.drivers.items()}
        self.driver_began = time.process_time()

    def stop(self, bus_events: int, seconds: float) -> dict[str, Any]:
        used = {name: cpu_seconds_of(pid) - self.began.get(name, 0.0) for name, pid in self.pids.items()}
        total = sum(used.values())
        per_event = {name: round(1000 * value / bus_events, 2) if bus_events else None for name, value in used.items()}
        # the load itself: this process (the bus watcher, the store readers, the phases) and the driver
        # processes (HTTP journeys, bus waits), each at most one core: the busiest near 1.0 would mean
        # the figures measure the load generator, not the suite
        driving = {name: cpu_seconds_of(pid, children=False) - self.drivers_began.get(name, 0.0)
                   for name, pid in self.drivers.items()}
        driving["main"] = time.process_time() - self.driver_began
        driver_total = sum(driving.values())
        machine = cores_busy(self.machine_began, machine_ticks())
        waited = sum(run_queue_seconds_of(pid) - self.waits_began.get(name, 0.0) for name, pid in self.pids.items())
        return {
            # every process on the machine (the suite, the load generator, this process, the kernel, anything else
            # running): what the suite's and the load generator's figures leave out is what else took the cores
            "machine_cores_busy": machine,
            "machine_cores": os.cpu_count(),
            # the suite's threads' time runnable but waiting for a core (/proc/<pid>/task/<tid>/schedstat), per
            # second and per second of their CPU: how much the machine's run queue stretched the suite's work
            "suite_run_queue_cores": round(waited / seconds, 2) if seconds else None,
            "suite_run_queue_per_cpu": round(waited / total, 2) if total else None,
            "cpu_ms_per_bus_event": per_event | {"suite": round(1000 * total / bus_events, 2) if bus_events else None},
            "cpu_cores_busy": round(total / seconds, 2) if seconds else None,
            "driver_cores_busy": round(driver_total / seconds, 2) if seconds else None,
            "driver_busiest_process_cores": round(max(driving.values()) / seconds, 2) if seconds else None,
            "driver_processes": len(driving),
            "driver_cpu_ms_per_bus_event": round(1000 * driver_total / bus_events, 2) if bus_events else None,
        }


def machine_ticks() -> list[int]:
    """/proc/stat's `cpu` line: user, nice, system, idle, iowait, irq, softirq, steal (clock ticks, all CPUs; empty
    where there is no /proc)."""
    try:
        with open("/proc/stat") as file:
            return [int(x) for x in file.readline().split()[1:9]]
    except (OSError, ValueError):
        return []


def cores_busy(before: list[int], after: list[int]) -> float | None:
    """Cores busy between two `machine_ticks` readings, every process counted: all but idle and iowait (and steal, the
    hypervisor's), of the machine's cores."""
    if len(before) < 8 or len(after) < 8:
        return None
    spent = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(spent)
    if total <= 0:
        return None
    return round((os.cpu_count() or 1) * (total - spent[3] - spent[4] - spent[7]) / total, 2)


def run_queue_seconds_of(pid: int) -> float:
    """Seconds a process's live threads spent runnable but waiting for a core (/proc/<pid>/task/<tid>/schedstat's
    second field; 0 where the kernel does not keep it). A thread that ended took its figure with it."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as file:
                total += int(file.read().split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9


class Bus:
    """The `JUSOU` stream as the operator sees it: message count and the consumers' backlog."""

    def __init__(self, url: str, user: str | None, password: str | None) -> None:
        self.url, self.user, self.password = url, user, password
        self.nc: Any = None

    async def open(self) -> None:
        import nats

        self.nc = await nats.connect(self.url, user=self.user, password=self.password, name="jusou-bench")
        self.js = self.nc.jetstream()
        self.stored_at: dict[UUID, datetime] = {}  # CaseEscalated: when the stream stored it

        async def escalated(msg: Any) -> None:
            try:
                self.stored_at[UUID(json.loads(msg.data)["case_id"])] = msg.metadata.timestamp
            except (ValueError, KeyError, TypeError):
                pass

        await self.js.subscribe("jusou.intake.CaseEscalated", cb=escalated, ordered_consumer=True,
                                deliver_policy="new")

    async def count(self) -> int:
        from shared.contract.events import STREAM

        info = await self.js.stream_info(STREAM)
        return int(info.state.messages)

    async def backlog(self) -> int:
        from shared.contract.events import STREAM

        consumers = await self.js.consumers_info(STREAM)
        return sum((c.num_pending or 0) + (c.num_ack_pending or 0) for c in consumers)

    async def drain(self, deadline_s: float) -> bool:
        """Wait until every consumer has caught up and the stream stopped growing."""
        deadline = time.monotonic() + deadline_s
        last = -1
        while time.monotonic() < deadline:
            count = await self.count()
            if count == last and await self.backlog() == 0:
                return True
            last = count
            await asyncio.sleep(0.25)
        return False

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.close()


@dataclass
class Outcome:
    """What one load phase did (in one driver process, or merged over all of them)."""

    started: int = 0
    completed: list[float] = field(default_factory=list)  # seconds each completed unit took
    cases: list[str] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    late: int = 0  # open loop: starts delayed because too many were in flight
    behind: int = 0  # open loop: starts more than BEHIND_S after their time (the driver fell behind)
    reads: int = 0  # HTTP reads (GET) of every unit started, completed or not: the suite's read load
    commands: int = 0  # HTTP commands (POST, PUT) of every unit started
    completed_reads: list[int] = field(default_factory=list)  # reads of each completed unit
    completed_commands: list[int] = field(default_factory=list)
    waits: int = 0  # waits for a state
    bus_waits: int = 0  # of which waited on the bus for the event that precedes the state
    bus_timeouts: int = 0  # the event did not come within BUS_WAIT_S: the wait went on with polls
    # where a completed unit's time went, summed over the completed units (seconds): HTTP requests (send to answer, as
    # the driver's loop sees it), waits on the bus for the preceding event, and the driver's own sleeps (the first
    # read's delay learnt by `Lags`, and the retries' backoff)
    http_s: float = 0.0
    bus_wait_s: float = 0.0
    slept_s: float = 0.0

    def failed(self, exc: BaseException) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = f"{type(exc).__name__}: {str(exc)[:300]}"

    def merge(self, other: Outcome) -> None:
        self.started += other.started
        self.completed += other.completed
        self.cases += other.cases
        self.errors += other.errors
        self.first_error = self.first_error or other.first_error
        self.late += other.late
        self.behind += other.behind
        self.reads += other.reads
        self.commands += other.commands
        self.completed_reads += other.completed_reads
        self.completed_commands += other.completed_commands
        self.waits += other.waits
        self.bus_waits += other.bus_waits
        self.bus_timeouts += other.bus_timeouts
        self.http_s += other.http_s
        self.bus_wait_s += other.bus_wait_s
        self.slept_s += other.slept_s

    def http_figures(self) -> dict[str, Any]:
        """Reads and commands per completed unit (a journey, or an escalation in the steady phase)."""
        done = len(self.completed_reads)
        return {
            "reads_per_journey": round(sum(self.completed_reads) / done, 2) if done else None,
            "commands_per_journey": round(sum(self.completed_commands) / done, 2) if done else None,
            "reads": self.reads,
            "commands": self.commands,
            "waits": self.waits,
            "bus_waits": self.bus_waits,
            "bus_wait_timeouts": self.bus_timeouts,
            # a completed journey's mean time in each part (ms); the rest is the driver's loop and the wakes between
            "journey_http_ms": round(1000 * self.http_s / done, 1) if done else None,
            "journey_bus_wait_ms": round(1000 * self.bus_wait_s / done, 1) if done else None,
            "journey_slept_ms": round(1000 * self.slept_s / done, 1) if done else None,
        }


async def timed(outcome: Outcome, unit: Callable[[], Awaitable[str]]) -> None:
    began = time.perf_counter()
    try:
        case = await unit()
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - the load goes on; errors are counted, the first shown
        outcome.failed(exc)
        return
    outcome.completed.append(time.perf_counter() - began)
    outcome.cases.append(case)


BEHIND_S = 0.02


async def open_loop(unit: Callable[[], Awaitable[str]], per_second: float, seconds: float,
                    max_in_flight: int = 200, offset: float = 0.0, outcome: Outcome | None = None) -> Outcome:
    """Start `unit` at a steady rate for `seconds` (the first `offset` seconds in), whatever the
    suite's pace; then let them finish."""
    outcome = Outcome() if outcome is None else outcome
    slots = asyncio.Semaphore(max_in_flight)
    tasks: list[asyncio.Task[None]] = []

    async def one() -> None:
        try:
            await timed(outcome, unit)
        finally:
            slots.release()

    began = time.perf_counter()
    i = 0
    while per_second > 0 and offset + i / per_second < seconds:
        due = began + offset + i / per_second
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        if time.perf_counter() - due > BEHIND_S:
            outcome.behind += 1
        if slots.locked():
            outcome.late += 1
        await slots.acquire()
        tasks.append(asyncio.create_task(one()))
        outcome.started += 1
        i += 1
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    return outcome


async def closed_loop(unit: Callable[[], Awaitable[str]], workers: int, seconds: float,
                      outcome: Outcome | None = None) -> Outcome:
    """`workers` loops, each starting the next unit when its last one ended; stopped after
    `seconds` (units still running then are cancelled and not counted)."""
    outcome = Outcome() if outcome is None else outcome
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            outcome.started += 1
            await timed(outcome, unit)

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return outcome


# ---- waiting on the bus, as an integrator would ------------------------------------------------

#: For a state a journey waits for (service, the path's first segment): the bus events that must
#: precede it, in the order the journey's successive waits on the same resource need them ("source.Type";
#: the k-th wait needs the first k). Past the end of a list, its last wait's needs hold.
PRECEDING: dict[tuple[str, str], list[str]] = {
    ("collaboration", "cases"): ["collaboration.CollaborationStarted"],
    ("meeting", "agenda"): ["collaboration.PlanProposed", "collaboration.PlanProposed",
                            "collaboration.PlanClosureRequested"],
    ("meeting", "consents"): ["intake.ConsentRecorded"],
    ("collaboration", "plans"): ["meeting.MeetingDecided", "meeting.MeetingDecided", "meeting.PlanClosed"],
    ("participation", "supports"): ["participation.ParticipationStarted"],
}
SUBJECT_HEAD = "jusou."
WANTED_SUBJECTS = sorted({SUBJECT_HEAD + kind for kinds in PRECEDING.values() for kind in kinds})
ID_FIELDS = (b'"case_id":"', b'"plan_id":"')  # the envelope's case id (before its payload), the payload's plan id
BUS_WAIT_S = 2.0  # past this the event is taken as missed (counted) and the wait polls as before
WAIT_DEADLINE_S = 30.0
FIRST_RETRY_S = 0.002  # the event is on the bus but its consumer has not applied it yet: 2, 4, 8 … 100 ms


def needs_for(service: str, path: str, ordinal: int) -> tuple[str, Counter[str]] | None:
    """The id (the path's last segment) and the events (and how many of each) a wait needs."""
    parts = [p for p in path.split("?")[0].split("/") if p]
    kinds = PRECEDING.get((service, parts[0])) if len(parts) >= 2 else None
    if not kinds:
        return None
    return parts[-1], Counter(kinds[: min(ordinal, len(kinds) - 1) + 1])


def ids_of(body: bytes) -> list[str]:
    """The case id and plan id a message's body names (its first `"case_id":"…"` is the envelope's:
    the envelope's fields come before the payload), read from the bytes without decoding the JSON."""
    found = []
    for field_name in ID_FIELDS:
        at = body.find(field_name)
        if at >= 0:
            start = at + len(field_name)
            end = body.find(b'"', start)
            if end > start:
                found.append(body[start:end].decode("ascii", errors="replace"))
    return found


class BusWaits:
    """One driver process's core NATS subscriptions on the subjects of the events a wait may need
    (`WANTED_SUBJECTS`, `jusou.<source>.<Type>`: CONTRACT.md's subjects, the same when consumers are
    partitioned): counts, for the ids its journeys registered (a case, a plan), the events about them
    that arrived, and wakes the waits. A message is read no further than its ids (`ids_of`): the
    subject names its source and type (the relay publishes an envelope on its own subject only)."""

    def __init__(self) -> None:
        self.nc: Any = None
        self.seen: dict[str, Counter[str]] = {}
        self.waiters: dict[str, list[tuple[Counter[str], asyncio.Future[None]]]] = {}
        self.messages = 0

    async def open(self, url: str, user: str | None, password: str | None) -> None:
        import nats

        self.nc = await nats.connect(url, user=user, password=password, name=f"jusou-bench-driver-{os.getpid()}",
                                     pending_size=64 * 1024 * 1024)
        for subject in WANTED_SUBJECTS:
            await self.nc.subscribe(subject, cb=self.on_message, pending_msgs_limit=1_000_000)

    def register(self, key: str) -> None:
        self.seen.setdefault(key, Counter())

    def forget(self, keys: set[str]) -> None:
        for key in keys:
            self.seen.pop(key, None)
            for _, future in self.waiters.pop(key, []):
                future.cancel()

    async def on_message(self, msg: Any) -> None:
        self.messages += 1
        kind = msg.subject[len(SUBJECT_HEAD):]  # "source.Type"
        seen = self.seen
        for key in ids_of(msg.data):
            counts = seen.get(key)
            if counts is None:
                continue
            counts[kind] += 1
            waiting = self.waiters.get(key)
            if waiting:
                still = []
                for need, future in waiting:
                    if self.has(counts, need):
                        if not future.done():
                            future.set_result(None)
                    else:
                        still.append((need, future))
                self.waiters[key] = still

    @staticmethod
    def has(counts: Counter[str], need: Counter[str]) -> bool:
        return all(counts[kind] >= n for kind, n in need.items())

    async def until(self, key: str, need: Counter[str], timeout: float) -> bool:
        """True once the events `need` about `key` have come; False after `timeout`."""
        counts = self.seen.setdefault(key, Counter())
        if self.has(counts, need):
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.setdefault(key, []).append((need, future))
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.close()


class Lags:
    """How long after the event that precedes a state (applied by another service) a journey's first
    read waits, per kind of wait (one process's journeys). A first read that came too early sets it
    to `jump` × the wait that found the state (at once: the suite's lag grows with its load); each
    first read that found the state takes `decay` of it off. So first reads are early about once in
    ln(jump × (lag + 2 ms) / lag) / decay (one in ~35 at a lag of 6 ms) and the reads per journey
    stay at what the journey must read.

    It was the median of the last 64 lags, a read found at the first try counted at 0.8 of its wait:
    that held the reads at the minimum only while the driver's own delay between its wake and its
    read reaching the suite (httpx's ~1 ms of CPU a request, bench/client.py) hid the lag; with a
    cheap client half the first reads came early (17.7 reads a journey against 12.3)."""

    def __init__(self, jump: float = 1.5, decay: float = 0.02, most: float = 0.25) -> None:
        self.jump, self.decay, self.most = jump, decay, most
        self.at: dict[str, float] = {}

    def first_read(self, key: str) -> float:
        return self.at.get(key, 0.0)

    def seen(self, key: str, seconds: float, at_first_try: bool) -> None:
        """The state was found `seconds` after the event's wake, at the first read or not."""
        at = self.at.get(key, 0.0)
        at = at * (1 - self.decay) if at_first_try else max(at, self.jump * seconds)
        self.at[key] = min(self.most, at)


@dataclass
class Tally:
    """One journey's HTTP requests and waits, and the ids it registered for bus waits."""

    reads: int = 0
    commands: int = 0
    waits: int = 0
    bus_waits: int = 0
    bus_timeouts: int = 0
    http_s: float = 0.0  # seconds in HTTP requests, waits on the bus, the driver's own sleeps (Outcome's)
    bus_wait_s: float = 0.0
    slept_s: float = 0.0
    keys: set[str] = field(default_factory=set)
    ordinals: Counter[tuple[str, str]] = field(default_factory=Counter)


class CountingClient:
    """The driver's shared HTTP client as one journey sees it: every request counted; the ids a
    command's answer names (`case_id`, `plan_id`) registered for bus waits before the next command."""

    def __init__(self, http: http_client.Client, tally: Tally, waits: BusWaits | None) -> None:
        self.http, self.tally, self.waits = http, tally, waits

    async def get(self, url: str, **kwargs: Any) -> http_client.Response:
        self.tally.reads += 1
        began = time.perf_counter()
        try:
            return await self.http.get(url, **kwargs)
        finally:
            self.tally.http_s += time.perf_counter() - began

    async def post(self, url: str, **kwargs: Any) -> http_client.Response:
        return self.registered(await self.counted(self.http.post(url, **kwargs)))

    async def put(self, url: str, **kwargs: Any) -> http_client.Response:
        return self.registered(await self.counted(self.http.put(url, **kwargs)))

    async def counted(self, request: Awaitable[http_client.Response]) -> http_client.Response:
        self.tally.commands += 1
        began = time.perf_counter()
        try:
            return await request
        finally:
            self.tally.http_s += time.perf_counter() - began

    def registered(self, response: http_client.Response) -> http_client.Response:
        if self.waits is not None and response.status_code in (200, 201):
            try:
                body = response.json()
            except ValueError:
                return response
            if isinstance(body, dict):
                for name in ("case_id", "plan_id"):
                    if isinstance(body.get(name), str):
                        self.waits.register(body[name])
                        self.tally.keys.add(body[name])
        return response


class DriverJourney(Journey):
    """The tests' journey, each wait for a state made on the bus first (the event that must precede
    it, `PRECEDING`), then read over HTTP: once, or again at 2, 4, 8 … 100 ms while the consuming
    service has not applied the event yet. When the event is another service's (the reader's service
    consumes it), the first read comes after the lag this process saw lately between such an event
    and the state (`Lags`), so that it is seldom too early, and an early one is read again at steps
    of a quarter of that wait, doubling (the suite's lag jumps under load). A wait the table does not
    know polls from the start (10 → 100 ms)."""

    def __init__(self, urls: dict[str, str], http: CountingClient, waits: BusWaits | None, tally: Tally,
                 lags: Lags | None = None) -> None:
        super().__init__(urls, http)  # type: ignore[arg-type]  # the journey uses get, post and put only
        self.waits, self.tally, self.lags = waits, tally, lags

    async def get_when(self, service: str, path: str, predicate: Any, what: str) -> dict[str, Any]:
        tally = self.tally
        tally.waits += 1
        delay, growth = 0.01, 1.5
        needs = None
        if self.waits is not None:
            parts = [p for p in path.split("/") if p]
            ordinal_key = (service, "/".join(parts[:1] + parts[-1:]))
            needs = needs_for(service, path, tally.ordinals[ordinal_key])
            tally.ordinals[ordinal_key] += 1
        lag_key, first = "", 0.0
        if needs is not None:
            tally.bus_waits += 1
            assert self.waits is not None
            waited = time.perf_counter()
            arrived = await self.waits.until(*needs, timeout=BUS_WAIT_S)
            tally.bus_wait_s += time.perf_counter() - waited
            if arrived:
                delay, growth = FIRST_RETRY_S, 2.0
                foreign = [kind for kind in needs[1] if not kind.startswith(service + ".")]
                if foreign and self.lags is not None:
                    lag_key = f"{service}<{','.join(sorted(foreign))}"
                    first = self.lags.first_read(lag_key)
                    delay = max(FIRST_RETRY_S, first / 4)  # early: again at 1.25, 1.75, 2.75 × the wait, not 2, 4, 8 … ms
            else:
                tally.bus_timeouts += 1
        began = time.monotonic()
        if first:
            await asyncio.sleep(first)
            tally.slept_s += time.monotonic() - began
        deadline = began + WAIT_DEADLINE_S
        last: Any = None
        attempts = 0
        while True:
            asked = time.monotonic()
            response = await self.http.get(self.urls[service] + path)
            attempts += 1
            if response.status_code == 200:
                last = response.json()
                if predicate(last):
                    if lag_key and self.lags is not None:
                        self.lags.seen(lag_key, asked - began, attempts == 1)
                    return dict(last)
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}; last seen: {str(last)[:200]}")
            slept = time.monotonic()
            await asyncio.sleep(delay)
            tally.slept_s += time.monotonic() - slept
            delay = min(0.1, delay * growth)

    async def whole_for_bench(self) -> str:
        case_id, _ = await self.whole(closed_at_intake=False)  # the journey as measured before (session 10)
        return case_id


# ---- the load generator's processes --------------------------------------------------------------

UNITS = ("receive_and_escalate", "whole_for_bench")


def driver_main(conn: Any, urls: dict[str, str], nats_url: str, user: str | None, password: str | None,
                bus_waits: bool, own_session: bool = True) -> None:
    """A driver process: runs the phases the main process sends, answers each with its Outcome.

    In a session of its own (`own_session`), as each of the suite's processes is (jusou/runner.py starts them with
    `start_new_session`): where the kernel groups CPU time by session (Linux's autogroup,
    /proc/sys/kernel/sched_autogroup_enabled), the driver processes sharing the bench's session shared one group's
    weight against a whole one for each service, and on a full machine waited for a core 12-45× their CPU (the
    services 2-3×; bench/queues.py, docs/capacity.md §5.16): the load generator, not the suite, set the pace."""
    if own_session:
        try:
            os.setsid()
        except OSError:  # already a session's leader
            pass
    uvloop.run(_driver(conn, urls, nats_url, user, password, bus_waits))  # the suite's loop: less CPU per wake


async def _driver(conn: Any, urls: dict[str, str], nats_url: str, user: str | None, password: str | None,
                  bus_waits: bool) -> None:
    waits = BusWaits() if bus_waits else None
    lags = Lags()
    if waits is not None:
        await waits.open(nats_url, user, password)
    try:
        async with client() as http:
            conn.send(("ready", os.getpid()))
            while True:
                command = await asyncio.to_thread(conn.recv)
                if command[0] == "stop":
                    break
                kind, unit_name, amount, seconds, offset = command
                outcome = Outcome()
                unit = _unit(unit_name, urls, http, waits, outcome, lags)
                try:
                    if kind == "open":
                        await open_loop(unit, amount, seconds, offset=offset, outcome=outcome)
                    elif amount:
                        await closed_loop(unit, int(amount), seconds, outcome=outcome)
                except Exception as exc:  # noqa: BLE001 - told to the main process, which shows it
                    outcome.failed(exc)
                conn.send(outcome)
    finally:
        if waits is not None:
            await waits.close()


def _unit(name: str, urls: dict[str, str], http: http_client.Client, waits: BusWaits | None,
          outcome: Outcome, lags: Lags | None = None) -> Callable[[], Awaitable[str]]:
    if name not in UNITS:
        raise ValueError(f"unknown unit {name}")

    async def unit() -> str:
        tally = Tally()
        journey = DriverJourney(urls, CountingClient(http, tally, waits), waits, tally, lags)
        try:
            case: str = await getattr(journey, name)()
        finally:
            outcome.reads += tally.reads
            outcome.commands += tally.commands
            outcome.waits += tally.waits
            outcome.bus_waits += tally.bus_waits
            outcome.bus_timeouts += tally.bus_timeouts
            if waits is not None:
                waits.forget(tally.keys)
        outcome.completed_reads.append(tally.reads)
        outcome.completed_commands.append(tally.commands)
        outcome.http_s += tally.http_s
        outcome.bus_wait_s += tally.bus_wait_s
        outcome.slept_s += tally.slept_s
        return case

    return unit


class Drivers:
    """`processes` driver processes (spawned: each its own interpreter, event loop, HTTP client and
    NATS connection). A phase is split between them: an open loop's rate, a closed loop's workers."""

    def __init__(self, processes: int, urls: dict[str, str], nats_url: str, user: str | None,
                 password: str | None, bus_waits: bool = True, own_sessions: bool = True) -> None:
        import multiprocessing

        self.context = multiprocessing.get_context("spawn")
        self.args = (urls, nats_url, user, password, bus_waits, own_sessions)
        self.count = max(1, processes)
        self.bus_waits = bus_waits
        self.pipes: list[Any] = []
        self.processes: list[Any] = []
        self.pids: dict[str, int] = {}

    def __enter__(self) -> Self:
        for i in range(self.count):
            mine, theirs = self.context.Pipe()
            process = self.context.Process(target=driver_main, args=(theirs, *self.args), name=f"bench-driver-{i}",
                                           daemon=True)
            process.start()
            self.pipes.append(mine)
            self.processes.append(process)
        for i, pipe in enumerate(self.pipes):
            if not pipe.poll(60):
                raise RuntimeError(f"bench driver {i} did not start")
            _, pid = pipe.recv()
            self.pids[f"driver-{i}"] = pid
        return self

    def __exit__(self, *exc: object) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(("stop",))
            except OSError:
                pass
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)

    async def run(self, commands: list[tuple[Any, ...]]) -> Outcome:
        for pipe, command in zip(self.pipes, commands, strict=True):
            pipe.send(command)
        outcomes = await asyncio.gather(*(asyncio.to_thread(pipe.recv) for pipe in self.pipes))
        merged = Outcome()
        for outcome in outcomes:
            merged.merge(outcome)
        return merged

    async def open(self, unit: str, per_second: float, seconds: float) -> Outcome:
        """`per_second` units started in all, driver i's the i-th of every `count` (interleaved)."""
        share = per_second / self.count
        return await self.run([("open", unit, share, seconds, i / per_second if per_second else 0.0)
                               for i in range(self.count)])

    async def closed(self, unit: str, workers: int, seconds: float) -> Outcome:
        shares = [workers // self.count + (1 if i < workers % self.count else 0) for i in range(self.count)]
        return await self.run([("closed", unit, share, seconds, 0.0) for share in shares])


def hop_figures(latencies: dict[str, list[float]]) -> dict[str, Any]:
    out: dict[str, Any] = {"hops": len(latencies["hop"])}
    for part, values in latencies.items():
        out[f"{part}_ms_p50"] = round(pct(values, 0.5), 2) if values else None
        out[f"{part}_ms_p99"] = round(pct(values, 0.99), 2) if values else None
    return out


async def steady_phase(drivers: Drivers, bus: Bus, hops: Hops, cpu: CpuMeter, events_per_s: float,
                       seconds: float) -> dict[str, Any]:
    """Escalations at a steady rate: each case is ConsultationReceived, ConsentRecorded,
    CaseEscalated at intake and CollaborationStarted at collaboration on the bus. The events a case
    puts on the bus are counted first (a few cases, drained), then the rate is paced to them."""
    unit = "receive_and_escalate"
    short = min(1.0, seconds / 3)
    warm = await drivers.open(unit, per_second=5, seconds=short)
    before = await bus.count()
    calibration = await drivers.open(unit, per_second=10, seconds=short)
    await bus.drain(30)
    per_case = max(1.0, (await bus.count() - before) / max(1, len(calibration.cases)))
    hops.missing(warm.cases + calibration.cases)  # read past them

    cases_per_s = events_per_s / per_case
    before = await bus.count()
    began = time.perf_counter()
    cpu.start()
    outcome = await drivers.open(unit, per_second=cases_per_s, seconds=seconds)
    window = time.perf_counter() - began  # includes the last cases' own time, so the rate is a floor
    on_bus_started = await bus.count()
    drained = await bus.drain(60)
    bus_events = await bus.count() - before
    used = cpu.stop(bus_events, time.perf_counter() - began)
    latencies = hops.latencies_ms(outcome.cases, bus.stored_at)
    return {
        "target_events_per_s": events_per_s,
        "events_per_case": round(per_case, 2),
        "cases_per_s_offered": round(cases_per_s, 2),
        "cases": len(outcome.cases),
        "errors": outcome.errors,
        "first_error": outcome.first_error,
        "late_starts": outcome.late,
        "cases_offered": outcome.started,
        "starts_behind_schedule": outcome.behind,  # > 20 ms late: the load generator's own lag
        "bus_events": bus_events,
        "bus_events_per_s": round(rate(on_bus_started - before, window), 1),
        "case_ms_p50": round(pct(outcome.completed, 0.5) * 1000, 1) if outcome.completed else None,
        "drained": drained,
        **hop_figures(latencies),
        **used,
        **outcome.http_figures(),
    }


async def saturation_phase(drivers: Drivers, bus: Bus, hops: Hops, cpu: CpuMeter, steps: list[int],
                           seconds: float, progress: Callable[[str], None]) -> list[dict[str, Any]]:
    """Whole journeys (11 events on the bus each) from more and more workers, until the hop
    latency climbs (p50 over 3× the first step's) or the bus rate falls (< 90% of the best)."""
    results: list[dict[str, Any]] = []
    for workers in steps:
        progress(f"saturation: {workers} journeys at once for {seconds:.0f} s "
                 f"(from {min(workers, drivers.count)} driver processes)")
        before = await bus.count()
        began = time.perf_counter()
        cpu.start()
        outcome = await drivers.closed("whole_for_bench", workers, seconds)
        window = time.perf_counter() - began
        bus_events = await bus.count() - before
        drained = await bus.drain(60)
        used = cpu.stop(await bus.count() - before, time.perf_counter() - began)
        step = {
            "workers": workers,
            "seconds": round(window, 2),
            "journeys": len(outcome.completed),
            "journeys_per_s": round(rate(len(outcome.completed), window), 2),
            "bus_events_per_s": round(rate(bus_events, window), 1),
            "journey_s_p50": round(pct(outcome.completed, 0.5), 3) if outcome.completed else None,
            "errors": outcome.errors,
            "first_error": outcome.first_error,
            "drained": drained,
            **hop_figures(hops.latencies_ms(outcome.cases, bus.stored_at)),
            **used,
            **outcome.http_figures(),
        }
        results.append(step)
        first, best = results[0], max(r["bus_events_per_s"] for r in results[:-1]) if len(results) > 1 else 0
        climbed = (len(results) > 1 and first["hop_ms_p50"] and step["hop_ms_p50"]
                   and step["hop_ms_p50"] > 3 * first["hop_ms_p50"])
        fell = len(results) > 1 and step["bus_events_per_s"] < 0.9 * best
        if climbed or fell:
            step["stopped_because"] = "hop latency climbed (p50 > 3× the first step's)" if climbed else \
                "bus rate fell (< 90% of the best step's)"
            break
    return results


class SaturationJourney(BenchJourney):
    """The tests' journey with backed-off polls, in one process (bench/scaleout.py drives it)."""

    async def whole_for_bench(self) -> str:
        case_id, _ = await self.whole(closed_at_intake=False)  # the journey as measured before (session 10)
        return case_id


def suite_pids(suite: Any) -> dict[str, int]:
    pids = {name: process.pid for name, process in suite.processes.items()}
    if suite.nats is not None:
        pids["nats"] = suite.nats.pid
    return pids


def client() -> http_client.Client:
    """The driver's HTTP client (bench/client.py: httpx's requests, byte for byte, at a tenth of its CPU)."""
    return http_client.Client(timeout=30, headers=reader())  # polls read as an auditor


def env_for_store(store: str, data_dir: Path) -> dict[str, str]:
    """The environment of the suite (and of this process's store readers)."""
    env = {"JUSOU_DATA_DIR": str(data_dir), "JUSOU_STORE": store}
    if store == "postgres":
        from bench.raw import pg_conninfo

        info = pg_conninfo()
        env |= {"JUSOU_PG_HOST": info["host"], "JUSOU_PG_PORT": str(info["port"]), "JUSOU_PG_USER": info["user"],
                "JUSOU_PG_PASSWORD": info["password"], "JUSOU_PG_DBNAME": info["dbname"],
                "JUSOU_PG_SCHEMA_PREFIX": f"bench_{os.getpid()}_{int(time.time()) % 100000}_"}
    return env


def drop_pg_schemas(prefix: str, services: tuple[str, ...]) -> None:
    import psycopg
    from psycopg import sql

    from bench.raw import pg_conninfo

    with psycopg.connect(**pg_conninfo(), autocommit=True) as conn:
        for service in services:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(prefix + service)))
