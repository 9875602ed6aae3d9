"""The fault harness: fault-free journeys for the expectation, then many concurrent journeys under faults.

`run(world, plan)` starts the world, runs one journey of each kind without faults (their histories
are the expectation), then `plan.journeys` journeys at once while the faults of `plan` are injected
at random moments, lets everything settle, checks the invariants and returns a `Report`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from support.auth import staff_headers
from support.municipality import LEAD

from faults import invariants as inv
from faults.injectors import Faults
from faults.journeys import KINDS, REPLICA, Driver, Record
from faults.journeys import run as run_journey
from faults.world import PARTITIONABLE, World
from shared.contract.events import DEAD_LETTER_STREAM

LAG_DEADLINE_S = 30.0  # the invariant: consumer lag back to 0 within this long after the last fault
NATS_DEFAULT_RECONNECT_BUDGET_S = 60 * 2.0  # nats-py: max_reconnect_attempts=60 × reconnect_time_wait=2 s


@dataclass(frozen=True)
class Plan:
    journeys: int  # workers, each driving a journey (one after another while faults go on, if `repeat`)
    ramp_s: float  # the workers start over this long
    repeat: bool  # True: every worker starts before the faults and goes on until they are over (the
    # long run: `journeys` at once); False: one journey each, their starts spread over the faults (CI)
    service_kills: int  # per service
    nats_kills: int
    tail_losses: int
    duplicate_rounds: int
    delay_windows: int
    poison_rounds: int
    outage_s: float  # one nats-server outage with no load, CPU measured; 0 = none
    pg_kill_every_s: float  # 0 = never (SQLite)
    pg_restarts: int = 0  # PostgreSQL crashed (`pg_ctl stop -m immediate`) and started again: a private server only
    gap_s: tuple[float, float] = (0.3, 1.0)
    seed: int = 6

    @property
    def deadline_s(self) -> float:
        """How long a journey waits for one step: past a NATS outage, and longer under a heavy load."""
        return 60.0 + self.outage_s + self.journeys / 5

    @property
    def poll_s(self) -> float:
        """How often a journey looks again: the harness must not become the load it measures."""
        return max(0.75, self.journeys / 100)


@dataclass
class Report:
    store: str
    journeys: int
    seconds: float = 0.0
    invariants: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    windows: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    details: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def table(self) -> str:
        from rich.console import Console
        from rich.table import Table

        console = Console(record=True, width=120, force_terminal=False)
        t = Table(title=f"不変条件 / invariants — {self.store}, {self.journeys} journeys, {self.seconds:.0f} s")
        t.add_column("invariant"), t.add_column("count", justify="right")
        for name, n in self.invariants.items():
            t.add_row(name, str(n))
        console.print(t)
        f = Table(title="注入した障害 / faults injected")
        f.add_column("fault"), f.add_column("count", justify="right")
        for name, n in {**self.faults, **{f"window hit: {k}": v for k, v in self.windows.items()}}.items():
            f.add_row(name, str(n))
        console.print(f)
        if self.cpu:
            c = Table(title="CPU while idle: fraction of one core (NATS up → NATS down)")
            c.add_column("service"), c.add_column("NATS up", justify="right"), c.add_column("NATS down", justify="right")
            for name, v in self.cpu.items():
                if not name.startswith("_"):
                    c.add_row(name, f"{v['nats_up']:.3f}", f"{v['nats_down']:.3f}")
            console.print(c)
        g = Table(title="figures")
        g.add_column("figure"), g.add_column("value", justify="right")
        for name, v in self.figures.items():
            g.add_row(name, str(v))
        console.print(g)
        for line in self.notes:
            console.print(line)
        for name, lines in self.details.items():
            if lines:
                console.print(f"{name}:")
                for line in lines[:10]:
                    console.print(f"  {line}")
        return console.export_text()

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=2))


class NotSettled(AssertionError):
    """Some consumer or relay still had work when the deadline passed (`lags`: what each had left)."""

    def __init__(self, deadline_s: float, lags: dict[str, int]) -> None:
        super().__init__(f"the suite did not settle within {deadline_s} s: {lags}")
        self.lags = lags


async def quiesce(nc: Any, driver: Driver, deadline_s: float) -> float:
    """Wait until every consumer and relay has nothing left to do; return how long it took."""
    began = time.monotonic()
    while time.monotonic() - began < deadline_s:
        lags = {**await inv.consumer_lag(nc), **await inv.relay_lag(driver)}
        if all(v == 0 for v in lags.values()):
            await asyncio.sleep(0.5)  # and still nothing: an effect may have just published its event
            lags = {**await inv.consumer_lag(nc), **await inv.relay_lag(driver)}
            if all(v == 0 for v in lags.values()):
                return time.monotonic() - began
        await asyncio.sleep(0.2)
    raise NotSettled(deadline_s, lags)


async def settle_or_explain(nc: Any, driver: Driver, deadline_s: float, world: World, artifacts: Path) -> float:
    """`quiesce`; if it fails, what the services that did not settle were doing: their /readyz and their threads'
    stacks (py-spy dump) beside the logs in test-artifacts/."""
    try:
        return await quiesce(nc, driver, deadline_s)
    except NotSettled as exc:
        stuck = {name.split("--")[0].split(" ")[0] for name, lag in exc.lags.items() if lag}
        stuck |= {p for s in stuck for p in world.replicas_of(s)}  # a consumer's service: each of its replicas
        for name in sorted(stuck & set(world.processes)):
            target = artifacts / f"faults-{world.mode}-stuck-{name}.txt"
            with contextlib.suppress(Exception):
                service, replica = name.split("-")[0], world.replicas_of(name.split("-")[0]).index(name)
                ready = await driver.get(service, "/readyz", gated=False, replica=replica)
                target.write_text(f"/readyz {ready.status_code}\n{ready.text}\n\n")
            with contextlib.suppress(Exception):
                stacks = await asyncio.to_thread(py_spy_dump, world.service_pids()[name])
                with target.open("a") as out:
                    out.write(stacks)
        raise


def py_spy_dump(pid: int) -> str:
    binary = Path(sys.executable).parent / "py-spy"
    done = subprocess.run([str(binary if binary.exists() else "py-spy"), "dump", "--pid", str(pid)],
                          capture_output=True, text=True, timeout=60, check=False)
    return done.stdout + done.stderr


async def watch_lag(nc: Any, driver: Driver, since: float) -> dict[str, float]:
    """After the last fault, with the journeys paused: when each consumer and relay was first seen
    with nothing pending (the backlog the faults left is worked off)."""
    reached: dict[str, float] = {}
    names: set[str] = set()
    while time.monotonic() - since < LAG_DEADLINE_S:
        try:
            lags = {**{k: v for k, v in (await inv.consumer_lag(nc)).items()}, **await inv.relay_lag(driver)}
        except Exception:  # noqa: BLE001 - a scrape that failed is just not a sample
            await asyncio.sleep(0.2)
            continue
        names |= set(lags)
        for name, lag in lags.items():
            if lag == 0 and name not in reached:
                reached[name] = time.monotonic() - since
        if names and names <= set(reached):
            break
        await asyncio.sleep(0.1)
    return {name: reached.get(name, float("inf")) for name in names}


def schedule(plan: Plan, faults: Faults, rng: random.Random) -> list[tuple[str, Any]]:
    actions: list[tuple[str, Any]] = []
    moments = ("mid-request", "after-commit", "after-upstream")
    kills = [s for s in faults.world.processes for _ in range(plan.service_kills)]  # every replica
    actions += [(f"SIGKILL {s} {moments[i % 3]}", lambda s=s, m=moments[i % 3]: faults.kill_service(s, m))
                for i, s in enumerate(kills)]
    actions += [("SIGKILL nats-server", lambda: faults.kill_nats()) for _ in range(plan.nats_kills)]
    actions += [("stream tail lost", lambda: faults.lose_stream_tail(25)) for _ in range(plan.tail_losses)]
    actions += [("every message twice", lambda: faults.duplicate_everything()) for _ in range(plan.duplicate_rounds)]
    actions += [("delay window", lambda: faults.delay(0.15, 3.0)) for _ in range(plan.delay_windows)]
    actions += [("poison", lambda: faults.send_poison()) for _ in range(plan.poison_rounds)]
    actions += [("PostgreSQL crashed and restarted", lambda: faults.restart_postgres(3.0)) for _ in range(plan.pg_restarts)]
    rng.shuffle(actions)
    if plan.outage_s:
        actions.insert(len(actions) // 2, ("nats-server down, no load", lambda: faults.quiet_outage(plan.outage_s)))
    return actions


async def run(world: World, plan: Plan, artifacts: Path) -> Report:
    try:
        return await _run(world, plan, artifacts)
    except BaseException:
        await asyncio.to_thread(world.stop)
        with contextlib.suppress(Exception):
            keep_logs(world, artifacts)  # a run that broke off keeps its logs too (what the services did)
        raise
    finally:
        await asyncio.to_thread(world.stop)  # nats-server and the proxy too, however the run ended


async def _run(world: World, plan: Plan, artifacts: Path) -> Report:
    report = Report(store=world.mode, journeys=plan.journeys)
    began = time.monotonic()
    rng = random.Random(plan.seed)
    await asyncio.to_thread(world.start)
    report.figures["suite ready (s)"] = round(world.suite.ready_seconds or 0, 1)
    nc = await world.connect()
    gate = asyncio.Event()
    gate.set()
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=100)
    async with httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=3.0), limits=limits) as client:
        driver = Driver(world.urls(), client, gate, plan.deadline_s, plan.poll_s)
        faults = Faults(world, nc, gate, driver=driver, rng=random.Random(plan.seed + 1))
        workers: list[asyncio.Task[None]] = []
        try:
            # 1. The expectation: one journey of each kind, no faults.
            baseline_records = await asyncio.gather(*(run_journey(driver, Record(kind, 10_000 + i))
                                                      for i, kind in enumerate(KINDS)))
            broken = [r for r in baseline_records if r.failure]
            assert not broken, f"a fault-free journey failed (the harness is wrong): {broken}"
            await quiesce(nc, driver, 30)
            baseline = {r.kind: inv.fingerprint(await inv.histories(driver, r.case_id or "")) for r in baseline_records}
            driver.acked.clear()
            # 2. The load, with faults at random moments: `plan.journeys` workers each drive journeys
            # one after another until the faults are over, so the load lasts as long as the faults.
            records: list[Record] = []
            kinds = list(KINDS)
            faults_over = asyncio.Event()
            active = Counter[str]()

            async def worker(n: int) -> None:
                REPLICA.set(n)  # its journeys keep to one replica of each service (the n-th, modulo their number)
                await asyncio.sleep(plan.ramp_s * n / max(1, plan.journeys))
                while True:  # at least one journey each
                    record = Record(kinds[len(records) % len(kinds)], len(records))
                    records.append(record)
                    active["now"] += 1
                    active["peak"] = max(active["peak"], active["now"])
                    await run_journey(driver, record)
                    active["now"] -= 1
                    if faults_over.is_set() or not plan.repeat:
                        return

            load_began = time.monotonic()
            workers = [asyncio.create_task(worker(n)) for n in range(plan.journeys)]
            pg_task = asyncio.create_task(_pg_killer(faults, plan)) if plan.pg_kill_every_s else None
            await asyncio.sleep(plan.ramp_s if plan.repeat else min(2.0, plan.ramp_s))
            for name, action in schedule(plan, faults, rng):
                started = time.monotonic()
                await action()
                progress(began, f"{name} ({time.monotonic() - started:.1f} s); {len(records)} journeys started, "
                                f"{sum(1 for r in records if r.seconds)} ended")
                await asyncio.sleep(rng.uniform(*plan.gap_s))
            await faults.restarted()
            faults_over.set()
            if pg_task is not None:  # connections are killed as long as the journeys go on
                await asyncio.gather(*workers)
                pg_task.cancel()
                await asyncio.gather(pg_task, return_exceptions=True)
            progress(began, "faults over; watching the lag with no new commands")
            gate.clear()  # what is measured is the recovery from the faults, not a saturating load
            try:
                lag = await watch_lag(nc, driver, faults.last_fault_at)
            finally:
                gate.set()
            await asyncio.gather(*workers)
            report.figures["load: journeys under faults (s)"] = round(time.monotonic() - load_began, 1)
            progress(began, "journeys over; settling")
            settle = await settle_or_explain(nc, driver, 60, world, artifacts)
            report.figures["settled after the last journey (s)"] = round(settle, 1)
            # 3. What the journeys left, against the expectation.
            limit = asyncio.Semaphore(12)

            async def history(case_id: str) -> tuple[str, dict[str, list[dict[str, Any]]]]:
                async with limit:
                    return case_id, await inv.histories(driver, case_id)

            rows = dict(await asyncio.gather(*(history(r.case_id) for r in records if r.case_id)))
            found = {case: inv.fingerprint(h) for case, h in rows.items()}
            comparison = inv.compare(records, found, baseline)
            lost = inv.acknowledged_lost(driver.acked, rows)
            secretariat = staff_headers("kaigi-001", LEAD, "secretariat")

            async def meeting(meeting_id: str) -> str | None:
                async with limit:
                    response = await driver.until_answered(
                        lambda: driver.get("meeting", f"/meetings/{meeting_id}", secretariat), "a meeting")
                return None if response.status_code == 200 else \
                    f"meeting {meeting_id}: convened (acknowledged) but {response.status_code}"

            lost += [m for m in await asyncio.gather(*(meeting(m) for m in driver.meetings)) if m]
            progress(began, "histories compared; reading the streams")
            stream = await inv.stream_messages(nc)
            delivered = await inv.deliveries(nc)
            dead = await inv.messages(nc, DEAD_LETTER_STREAM)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            with contextlib.suppress(Exception):
                await faults.restarted()
            await nc.close()
            await asyncio.to_thread(world.suite.stop)
    progress(began, "suite stopped; reading the stores")
    marks = keep_logs(world, artifacts)
    report.figures["relay rewinds to the stream's last event (relay.stream_lost_tail)"] = marks[REWIND]
    report.figures["runs held for an earlier message delivered elsewhere (inbox.awaiting_redelivery)"] = marks[AWAITED]
    scan = await asyncio.to_thread(inv.scan_stores, world.store)
    stream_check = inv.check_stream(stream, scan, faults.poison)
    dead_check = inv.check_dead_letters(dead, faults.poison)
    # Partitioned services keep each case's order (docs/capacity.md §6.1), the others each source's.
    order, unknown_causes = inv.order_violations(scan, per_case={s for s in PARTITIONABLE if world.partitioned(s)})
    duplicates = inv.duplicate_effects(scan)
    late = {name: t for name, t in lag.items() if t > LAG_DEADLINE_S}

    report.invariants = {
        "acknowledged commands lost": len(lost),
        "events on the stream that no store recorded": len(stream_check.on_stream_not_stored),
        "public events in a store never on the stream": len(stream_check.stored_not_on_stream),
        "duplicate effects": len(duplicates) + comparison.extra_commands,
        "per-source order violations" if world.partitions == 1 else
        "order violations (per source; per case in the partitioned services)": len(order),
        "journeys whose final state differs from the fault-free run": len(comparison.differs),
        f"consumers/relays not back to lag 0 within {LAG_DEADLINE_S:.0f} s of the last fault": len(late),
        "poison messages not dead-lettered (or without their reason)":
            len(dead_check.poison_not_parked) + len(dead_check.wrong_reason),
        "real events dead-lettered (an effect parked)": len(dead_check.unexpected),
    }
    report.faults = dict(faults.injected)
    report.windows = dict(faults.windows)
    report.cpu = faults.cpu
    tally = driver.tally
    finite = [t for t in lag.values() if t != float("inf")]
    report.figures.update({
        "journeys run / completed": f"{len(records)} / {sum(1 for r in records if not r.failure)}",
        "journeys in flight at once (peak)": active["peak"],
        "journey seconds p50 / max": f"{_pct([r.seconds for r in records], 50):.1f} / {max(r.seconds for r in records):.1f}",
        "HTTP requests": tally.requests,
        "connections refused (service down), retried": tally.refused,
        "commands sent with an Idempotency-Key (at random, half)": tally.keyed,
        "outcome unknown (cut mid-request or 5xx)": tally.unknown,
        "… sent again with their Idempotency-Key": tally.keyed_resent,
        "… without a key, probed; of which had taken effect": tally.took_effect,
        "answers replayed for a key already recorded": tally.replayed,
        "… of which 'recorded, answer lost', then looked up": tally.recorded_unanswered,
        "409 conflicts retried": tally.conflicts_retried,
        "acknowledged commands checked": len(driver.acked) + len(driver.meetings),
        "events in the stores": scan.events,
        "messages on JUSOU / copies of an event": f"{stream_check.messages} / {stream_check.copies}",
        "deliveries to the services' consumers (per message on JUSOU)":
            f"{delivered} ({delivered / max(stream_check.messages, 1):.2f})",
        "dead letters": dead_check.parked,
        "slowest lag back to 0 after the last fault (s)": round(max(finite), 1) if finite else "-",
        "effects whose cause is on no store (poison)": unknown_causes,
        "nats-py default reconnect budget (s)": NATS_DEFAULT_RECONNECT_BUDGET_S,
    })
    if world.partitions > 1:
        report.figures["partitions (JUSOU_PARTITIONS) / replicas of " + ", ".join(PARTITIONABLE)] = \
            f"{world.partitions} / {len(world.replicas_of(PARTITIONABLE[0]))}"
        report.figures["partition leases taken / lost or taken away (partitions.taken, .lease_lost/.lease_taken)"] = \
            f"{marks[TAKEN]} / {marks[LOST] + marks[TAKEN_AWAY]}"
        applied = {p: marks[f"{APPLIED}:{p}"] for s in PARTITIONABLE for p in world.replicas_of(s)}
        report.figures["events applied per replica (inbox.applied in its log)"] = \
            ", ".join(f"{p} {n}" for p, n in applied.items())
        # Scale-out is the point: every replica of a partitioned service applied its share.
        report.invariants["replicas of a partitioned service that applied nothing"] = sum(1 for n in applied.values() if not n)
    report.notes = faults.notes + [f"poison parked as injected ({k}): {v}" for k, v in dead_check.reasons.items()]
    report.details = {
        "acknowledged commands lost": lost,
        "journeys that differ": comparison.differs,
        "on the stream, in no store": stream_check.on_stream_not_stored,
        "in a store, not on the stream": stream_check.stored_not_on_stream,
        "duplicate effects": duplicates,
        "order violations": order,
        "poison not parked": dead_check.poison_not_parked + dead_check.wrong_reason,
        "real events parked": dead_check.unexpected,
        "late consumers": [f"{k}: {v}" for k, v in late.items()],
        "commands whose outcome was unknown": driver.unknown,
    }
    report.seconds = time.monotonic() - began
    return report


REWIND = "relay.stream_lost_tail"
AWAITED = "inbox.awaiting_redelivery"  # a run (k > 1) held until a message pending elsewhere came again
TAKEN, LOST, TAKEN_AWAY = "partitions.taken", "partitions.lease_lost", "partitions.lease_taken"
APPLIED = "inbox.applied"


def keep_logs(world: World, artifacts: Path) -> Counter[str]:
    """Copy the run's logs to test-artifacts/ (the temporary folder goes); count the relays' rewinds and the
    inbox's runs held back."""
    target = artifacts / f"faults-{world.mode}-logs"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    marks = Counter[str]()
    for path in [*world.suite.logs_dir.glob("*.log"), world.root / "nats.log"]:
        text = path.read_text(errors="replace")
        for mark in (REWIND, AWAITED, TAKEN, LOST, TAKEN_AWAY):
            marks[mark] += text.count(mark)
        marks[f"{APPLIED}:{path.stem}"] = text.count(APPLIED)
        (target / path.name).write_text(text[-2_000_000:])
    return marks


def progress(began: float, what: str) -> None:
    print(f"[faults {time.monotonic() - began:6.1f} s] {what}", flush=True)


async def _pg_killer(faults: Faults, plan: Plan) -> None:
    while True:
        await asyncio.sleep(plan.pg_kill_every_s)
        await faults.kill_pg_connections()


def _cycle(items: list[str]) -> Any:
    while True:
        yield from items


def _pct(values: list[float], pct: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, len(ordered) * pct // 100)] if ordered else 0.0

