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
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Self
from uuid import UUID

import httpx
from support.auth import reader
from support.journey import Journey

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
    an event costs, which a busy machine slows down but does not change much."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.began: dict[str, float] = {}

    def start(self) -> None:
        self.began = {name: cpu_seconds_of(pid) for name, pid in self.pids.items()}
        self.driver_began = time.process_time()

    def stop(self, bus_events: int, seconds: float) -> dict[str, Any]:
        used = {name: cpu_seconds_of(pid) - self.began.get(name, 0.0) for name, pid in self.pids.items()}
        total = sum(used.values())
        per_event = {name: round(1000 * value / bus_events, 2) if bus_events else None for name, value in used.items()}
        return {
            "cpu_ms_per_bus_event": per_event | {"suite": round(1000 * total / bus_events, 2) if bus_events else None},
            "cpu_cores_busy": round(total / seconds, 2) if seconds else None,
            # the load itself (this process: HTTP client, polls, the bus watcher), in one Python thread
            # at most one core: near 1.0, the figures measure the load generator, not the suite
            "driver_cores_busy": round((time.process_time() - self.driver_began) / seconds, 2) if seconds else None,
        }


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
    """What one load phase did."""

    started: int = 0
    completed: list[float] = field(default_factory=list)  # seconds each completed unit took
    cases: list[str] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    late: int = 0  # open loop: starts delayed because too many were in flight

    def failed(self, exc: BaseException) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = f"{type(exc).__name__}: {str(exc)[:300]}"


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


async def open_loop(unit: Callable[[], Awaitable[str]], per_second: float, seconds: float,
                    max_in_flight: int = 200) -> Outcome:
    """Start `unit` at a steady rate for `seconds`, whatever the suite's pace; then let them finish."""
    outcome = Outcome()
    slots = asyncio.Semaphore(max_in_flight)
    tasks: list[asyncio.Task[None]] = []

    async def one() -> None:
        try:
            await timed(outcome, unit)
        finally:
            slots.release()

    began = time.perf_counter()
    i = 0
    while time.perf_counter() - began < seconds:
        await asyncio.sleep(max(0.0, began + i / per_second - time.perf_counter()))
        if slots.locked():
            outcome.late += 1
        await slots.acquire()
        tasks.append(asyncio.create_task(one()))
        outcome.started += 1
        i += 1
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    return outcome


async def closed_loop(unit: Callable[[], Awaitable[str]], workers: int, seconds: float) -> Outcome:
    """`workers` loops, each starting the next unit when its last one ended; stopped after
    `seconds` (units still running then are cancelled and not counted)."""
    outcome = Outcome()
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


def hop_figures(latencies: dict[str, list[float]]) -> dict[str, Any]:
    out: dict[str, Any] = {"hops": len(latencies["hop"])}
    for part, values in latencies.items():
        out[f"{part}_ms_p50"] = round(pct(values, 0.5), 2) if values else None
        out[f"{part}_ms_p99"] = round(pct(values, 0.99), 2) if values else None
    return out


async def steady_phase(journey: Journey, bus: Bus, hops: Hops, cpu: CpuMeter, events_per_s: float,
                       seconds: float) -> dict[str, Any]:
    """Escalations at a steady rate: each case is ConsultationReceived, ConsentRecorded,
    CaseEscalated at intake and CollaborationStarted at collaboration on the bus. The events a case
    puts on the bus are counted first (a few cases, drained), then the rate is paced to them."""
    short = min(1.0, seconds / 3)
    warm = await open_loop(journey.receive_and_escalate, per_second=5, seconds=short)
    before = await bus.count()
    calibration = await open_loop(journey.receive_and_escalate, per_second=10, seconds=short)
    await bus.drain(30)
    per_case = max(1.0, (await bus.count() - before) / max(1, len(calibration.cases)))
    hops.missing(warm.cases + calibration.cases)  # read past them

    cases_per_s = events_per_s / per_case
    before = await bus.count()
    began = time.perf_counter()
    cpu.start()
    outcome = await open_loop(journey.receive_and_escalate, per_second=cases_per_s, seconds=seconds)
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
        "bus_events": bus_events,
        "bus_events_per_s": round(rate(on_bus_started - before, window), 1),
        "case_ms_p50": round(pct(outcome.completed, 0.5) * 1000, 1) if outcome.completed else None,
        "drained": drained,
        **hop_figures(latencies),
        **used,
    }


async def saturation_phase(journey: Journey, bus: Bus, hops: Hops, cpu: CpuMeter, steps: list[int],
                           seconds: float, progress: Callable[[str], None]) -> list[dict[str, Any]]:
    """Whole journeys (11 events on the bus each) from more and more workers, until the hop
    latency climbs (p50 over 3× the first step's) or the bus rate falls (< 90% of the best)."""
    results: list[dict[str, Any]] = []
    for workers in steps:
        progress(f"saturation: {workers} journeys at once for {seconds:.0f} s")
        before = await bus.count()
        began = time.perf_counter()
        cpu.start()
        outcome = await closed_loop(journey.whole_for_bench, workers, seconds)
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
    async def whole_for_bench(self) -> str:
        case_id, _ = await self.whole()
        return case_id


def suite_pids(suite: Any) -> dict[str, int]:
    pids = {name: process.pid for name, process in suite.processes.items()}
    if suite.nats is not None:
        pids["nats"] = suite.nats.pid
    return pids


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=30, trust_env=False, headers=reader(),  # polls read as an auditor
                             limits=httpx.Limits(max_connections=400, max_keepalive_connections=100))


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
