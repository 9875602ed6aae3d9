"""`python bench/queues.py [--steps 4,16] [--seconds 15]`: where a journey waits when the suite saturates (issue 19).

The scorecard's saturation steps (bench/load.py `saturation_phase`: whole journeys from N workers at once, closed loop)
grow the bus rate little from 4 to 16 journeys while the suite's processes use ~1.4–1.5 of the 2 cores and the hop
latency triples. This runs the same steps on a suite started as the bench starts it and reads, for each step, what
the kernel knows of every thread of every process on the machine (not only the suite's):

- per thread (`/proc/<pid>/task/<tid>/schedstat`): the CPU it used, and the time it was **runnable but waiting for a
  core** (the run queue): a thread at 0.3 of a core that waited 0.3 more was slowed 2× by the CPU, not by a lock;
- the machine (`/proc/stat`): the cores busy (user + system + irq), idle and iowait, every process counted, and the
  runnable threads (`/proc/loadavg`'s running count, sampled every 10 ms);
- each service's `http.command` lines' `ms` (the command's time inside the service, its ASGI middleware's clock) and
  the journeys' own times.

Threads are named by `bench/thread_names_site` (Python threads) or by `comm` (nats-server's, the kernel's); numbers
in names are folded to N. The suite runs with the bench's environment (`JUSOU_INBOX_BATCH=16`; SQLite, or PostgreSQL with `--store postgres`, whose backends are then named for their service and their waits sampled: `PgWaits`), the load from
bench/load.py's driver processes, waits on the bus as the scorecard's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parents[1]
for extra in (str(ROOT / "tests"), str(ROOT)):
    if extra not in sys.path:
        sys.path.insert(0, extra)

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
TICK = 1 / os.sysconf("SC_CLK_TCK")


def schedstat(pid: int) -> dict[str, tuple[int, int, int, str, int, int]]:
    """{tid: (ns on a CPU, ns runnable waiting for a CPU, time slices, comm, voluntary switches (it blocked: a lock,
    the GIL, a queue, epoll), involuntary switches (preempted))} of a process's threads."""
    found = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            run, wait, slices = (int(x) for x in Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split())
            comm = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
            status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
            voluntary = int(status.split("voluntary_ctxt_switches:", 1)[1].split()[0])
            involuntary = int(status.split("nonvoluntary_ctxt_switches:", 1)[1].split()[0])
        except (OSError, ValueError, IndexError):
            continue
        found[tid] = (run, wait, slices, comm, voluntary, involuntary)
    return found


def user_system(pid: int) -> tuple[float, float]:
    """A process's user and system CPU seconds (/proc/<pid>/stat, its own threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return (0.0, 0.0)
    return (int(fields[11]) * TICK, int(fields[12]) * TICK)


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def machine() -> list[int]:
    """/proc/stat's first line: user nice system idle iowait irq softirq steal (ticks, all CPUs)."""
    return [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]


def role(name: str) -> str:
    return re.sub(r"\d+", "N", name)


class Runnable:
    """The machine's runnable threads (/proc/loadavg's 4th field, running/total), sampled every `every` s."""

    def __init__(self, every: float = 0.01) -> None:
        self.every, self.samples = every, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-runnable", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            # the reading thread itself is running when it reads: one less
            self.samples.append(int(Path("/proc/loadavg").read_text().split()[3].split("/")[0]) - 1)
            self._stop.wait(self.every)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class LogTail:
    """Each service's `http.command` lines since the last read: (route, ms)."""

    MS = re.compile(r"\bms=([0-9.]+)")
    ROUTE = re.compile(r"\broute=(\S+)")

    def __init__(self, paths: dict[str, Path]) -> None:
        self.paths = paths
        self.at = {name: (p.stat().st_size if p.exists() else 0) for name, p in paths.items()}

    def read(self) -> dict[str, list[tuple[str, float]]]:
        out: dict[str, list[tuple[str, float]]] = {}
        for name, path in self.paths.items():
            with open(path, "rb") as file:
                file.seek(self.at[name])
                text = file.read().decode(errors="replace")
                self.at[name] = file.tell()
            found = []
            for line in text.splitlines():
                if "http.command" not in line:
                    continue
                ms, route = self.MS.search(line), self.ROUTE.search(line)
                if ms:
                    found.append((route.group(1) if route else "?", float(ms.group(1))))
            out[name] = found
        return out


class GilSpy:
    """`py-spy record --gil --idle --nonblocking --threads` on one process for a step: only the thread holding the GIL
    is sampled, so the samples ÷ (rate × seconds) are the share of the time the process's GIL was held, by which thread
    (py-spy reads the holder from the interpreter's memory without stopping it: a holder preempted by the kernel, off
    every core, still holds it and is counted). At `nice -10`, so that its samples keep their pace on a full machine."""

    def __init__(self, pid: int, seconds: float, out: Path, rate: int = 100) -> None:
        import shutil
        import subprocess

        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.rate, self.seconds, self.out = rate, seconds, out
        self.proc = subprocess.Popen(
            ["nice", "-n", "-10", spy, "record", "--pid", str(pid), "--gil", "--idle", "--nonblocking", "--threads",
             "--rate", str(rate), "--duration", str(max(1, round(seconds))), "--format", "raw", "-o", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def held(self) -> dict[str, float]:
        """{thread role: share of the step's time it held the GIL} and "(any)"."""
        self.proc.wait(timeout=self.seconds + 30)
        found: dict[str, float] = defaultdict(float)
        try:
            text = self.out.read_text()
        except OSError:
            return {}
        for line in text.splitlines():
            head, _, count = line.rpartition(" ")
            name = head.split(";", 1)[0].split(": ", 1)[-1] if head.startswith("thread (") else "?"
            found[role(name)] += int(count)
        whole = self.rate * max(1, round(self.seconds))
        out = {name: round(n / whole, 3) for name, n in found.items()}
        out["(any)"] = round(sum(found.values()) / whole, 3)
        return out


class PgWaits:
    """PostgreSQL's side of a step (`--store postgres`): every `every` s, what each backend of the suite is doing
    (`pg_stat_activity`, named `jusou-<service>` by bench/switch_site through PGAPPNAME): active on a CPU
    (`running`), waiting for a lock, for the WAL's flush, for the client (idle in a transaction: the service holds it
    open), or idle; with the statement's first words. The samples ÷ the samples taken are the mean number of the
    service's backends in that state: a service whose commits wait for each other at its events table's
    `LOCK TABLE` shows `Lock:relation`; one whose flushes queue, `LWLock:WALWrite` / `IO:WALSync`."""

    def __init__(self, conninfo: dict[str, Any], every: float = 0.01) -> None:
        self.conninfo, self.every = conninfo, every
        self.counts: dict[tuple[str, str], int] = defaultdict(int)
        self.samples = 0
        self.pids: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-pg-waits", daemon=True)

    def _loop(self) -> None:
        import psycopg

        with psycopg.connect(**self.conninfo, autocommit=True) as conn:
            while not self._stop.is_set():
                rows = conn.execute(
                    "SELECT pid, application_name, state, wait_event_type, wait_event, left(query, 40) "
                    "FROM pg_stat_activity WHERE application_name LIKE 'jusou-%%'").fetchall()
                self.samples += 1
                for pid, app, state, wtype, wevent, query in rows:
                    who = "pg:" + app.removeprefix("jusou-")
                    self.pids[pid] = who
                    if state == "idle":
                        what = "idle"
                    elif wtype is None:
                        what = f"running | {' '.join((query or '').split()[:3])}"
                    else:
                        what = f"{state}: {wtype}:{wevent} | {' '.join((query or '').split()[:3])}"
                    self.counts[(who, what)] += 1
                self._stop.wait(self.every)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def means(self) -> dict[str, dict[str, float]]:
        """{pg:<service>: {state: mean backends in it}}."""
        out: dict[str, dict[str, float]] = defaultdict(dict)
        for (who, what), n in sorted(self.counts.items(), key=lambda kv: -kv[1]):
            out[who][what] = round(n / max(1, self.samples), 3)
        return out


def pg_statements(conninfo: dict[str, Any], reset: bool = False) -> dict[str, tuple[int, float, int]] | None:
    """{statement the clients sent (schemas folded): (calls, total ms executing, WAL bytes)} from `pg_stat_statements`
    (top-level statements: a function's own statements are its caller's; a `LOCK TABLE` inside one is waited for
    inside the caller's time) when the server
    has it (a scratch cluster with `shared_preload_libraries = 'pg_stat_statements'`: `--env JUSOU_PG_PORT=...`),
    then reset when `reset`; None when it has not."""
    import psycopg

    try:
        with psycopg.connect(**conninfo, autocommit=True) as conn:
            rows = conn.execute("SELECT query, calls, total_exec_time, wal_bytes FROM pg_stat_statements "
                                "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                                "AND toplevel").fetchall()  # what the clients sent (not a function's own statements)
            if reset:
                conn.execute("SELECT pg_stat_statements_reset()")
    except psycopg.Error:
        return None
    out: dict[str, tuple[int, float, int]] = {}
    for query, calls, ms, wal in rows:
        key = re.sub(r'"bench_[0-9_]+_([a-z]+)"', r'"\1"', " ".join(query.split()))[:110]
        c0, m0, w0 = out.get(key, (0, 0.0, 0))
        out[key] = (c0 + int(calls), m0 + float(ms), w0 + int(wal))
    return out


def pg_backends(conninfo: dict[str, Any]) -> dict[int, str]:
    """pid → `pg:<service>` of the suite's PostgreSQL backends (PGAPPNAME), and `pg:server` for PostgreSQL's own
    processes (the WAL writer, the checkpointer, ...), `pg:others` for other clients' backends (other programs)."""
    import psycopg

    with psycopg.connect(**conninfo, autocommit=True) as conn:
        rows = conn.execute("SELECT pid, application_name, backend_type FROM pg_stat_activity").fetchall()
    return {pid: ("pg:" + app.removeprefix("jusou-") if app.startswith("jusou-")
                  else "pg:others" if kind == "client backend" else "pg:server") for pid, app, kind in rows}


def owners(suite_pids: dict[str, int], driver_pids: dict[str, int]) -> dict[int, str]:
    """pid → who: a suite process, a driver, this process, or `other` (another program on the machine)."""
    named = {pid: name for name, pid in suite_pids.items()} | {pid: "drivers" for pid in driver_pids.values()}
    named[os.getpid()] = "bench main"
    return named


def snapshot(named: dict[int, str]) -> dict[int, dict[str, tuple[int, int, int, str]]]:
    return {pid: schedstat(pid) for pid in all_pids()} | {pid: schedstat(pid) for pid in named}


def thread_names(prefix: str, pid: int) -> dict[str, str]:
    try:
        return json.loads(Path(f"{prefix}.{pid}.json").read_text())
    except (OSError, ValueError):
        return {}


def spent(before: dict[int, dict[str, tuple[int, int, int, str]]], after: dict[int, dict[str, tuple[int, int, int, str]]],
          named: dict[int, str], names_prefix: str) -> dict[tuple[str, str], list[float]]:
    """(who, thread role) → [cpu s, run-queue wait s, slices, voluntary, involuntary switches] between two snapshots."""
    out: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0, 0.0])
    for pid, threads in after.items():
        who = named.get(pid, "other")
        names = thread_names(names_prefix, pid) if who not in ("other", "drivers", "bench main", "nats") else {}
        for tid, (run, wait, slices, comm, voluntary, involuntary) in threads.items():
            run0, wait0, slices0, _, voluntary0, involuntary0 = before.get(pid, {}).get(tid, (0, 0, 0, "", 0, 0))
            # a process started meanwhile (another program's test, a tool) counts from zero (what it used before it
            # ended is in the machine's figures only)
            row = out[(who, role(names.get(tid, comm)) if pid in before else "(started meanwhile)")]
            row[0] += (run - run0) / 1e9
            row[1] += (wait - wait0) / 1e9
            row[2] += slices - slices0
            row[3] += voluntary - voluntary0
            row[4] += involuntary - involuntary0
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from support.servers import free_port

    from bench import load
    from jusou.runner import Suite

    results: dict[str, Any] = {"load_before": os.getloadavg(), "steps": []}
    with tempfile.TemporaryDirectory(prefix="jusou-bench-queues-") as folder:
        data = Path(folder) / "data"
        names_prefix = str(Path(folder) / "names")
        env = load.env_for_store(args.store, data) | {
            "JUSOU_BENCH_PGAPPNAME": "1",
            # bench/switch_site names the threads (bench/thread_names_site) and sets JUSOU_BENCH_SWITCH_INTERVAL if given
            "PYTHONPATH": str(ROOT / "bench" / "switch_site"), "JUSOU_BENCH_THREADS_OUT": names_prefix,
        } | dict(item.split("=", 1) for item in args.env)
        os.environ.update({k: v for k, v in env.items() if k != "PYTHONPATH"})
        suite = Suite(data, nats_port=free_port(), ports={name: free_port() for name in SERVICES}, extra_env=env)
        suite.start()
        try:
            await asyncio.sleep(1.0)
            pids = load.suite_pids(suite)
            urls = {name: suite.url(name) for name in SERVICES}
            user, password = suite.nats_operator()
            tail = LogTail({name: suite.log_path(name) for name in SERVICES})
            bus = load.Bus(suite.nats_url, user, password)
            await bus.open()
            hops = await asyncio.to_thread(load.Hops)
            try:
                with load.Drivers(args.drivers, urls, suite.nats_url, user, password,
                                  own_sessions=not args.shared_session) as drivers:
                    named = owners(pids, drivers.pids)
                    await drivers.closed("whole_for_bench", 2, args.warm)  # warm: the lags learnt, caches filled
                    await bus.drain(30)
                    pg_info = None
                    if args.store == "postgres":
                        from bench.raw import pg_conninfo

                        pg_info = pg_conninfo()
                    for workers in args.steps:
                        if pg_info is not None:
                            named.update(await asyncio.to_thread(pg_backends, pg_info))
                        tail.read()
                        load_before = os.getloadavg()[0]
                        m0, s0 = machine(), snapshot(named)
                        us0 = {name: user_system(pid) for name, pid in pids.items()}
                        count0 = await bus.count()
                        began = time.perf_counter()
                        spies = {name: GilSpy(pids[name], args.seconds, Path(folder) / f"gil-{name}-{workers}.raw")
                                 for name in args.gil}
                        pg_waits = PgWaits(pg_info) if pg_info is not None else None
                        if pg_info is not None:
                            await asyncio.to_thread(pg_statements, pg_info, True)
                        with Runnable() as runnable, (pg_waits or contextlib.nullcontext()):
                            outcome = await drivers.closed("whole_for_bench", workers, args.seconds)
                        if pg_info is not None:
                            named.update(await asyncio.to_thread(pg_backends, pg_info))
                        wall = time.perf_counter() - began
                        m1, s1 = machine(), snapshot(named)
                        us1 = {name: user_system(pid) for name, pid in pids.items()}
                        bus_events = await bus.count() - count0
                        commands = tail.read()
                        await bus.drain(60)
                        ticks = [b - a for a, b in zip(m0, m1, strict=True)]
                        total = sum(ticks) or 1
                        cores = os.cpu_count() or 1
                        threads = spent(s0, s1, named, names_prefix)
                        latencies = hops.latencies_ms(outcome.cases, bus.stored_at)
                        step = {
                            "workers": workers, "seconds": round(wall, 2), "load_before": load_before,
                            "journeys": len(outcome.completed), "errors": outcome.errors,
                            "bus_events_per_s": round(bus_events / wall, 1),
                            "journey_ms_p50": round(1000 * statistics.median(outcome.completed), 1)
                            if outcome.completed else None,
                            "journey_ms_mean": round(1000 * statistics.fmean(outcome.completed), 1)
                            if outcome.completed else None,
                            **{k: v for k, v in outcome.http_figures().items() if k.startswith("journey_")},
                            "hop_ms_p50": round(statistics.median(latencies["hop"]), 2) if latencies["hop"] else None,
                            "relay_ms_p50": round(statistics.median(latencies["relay"]), 2) if latencies["relay"] else None,
                            "inbox_ms_p50": round(statistics.median(latencies["inbox"]), 2) if latencies["inbox"] else None,
                            "machine_cores_busy": round(cores * (total - ticks[3] - ticks[4]) / total, 2),
                            "machine_cores_iowait": round(cores * ticks[4] / total, 2),
                            "machine_cores_softirq": round(cores * ticks[6] / total, 2),
                            "runnable_mean": round(statistics.fmean(runnable.samples), 2) if runnable.samples else None,
                            "runnable_over_cores_share": round(sum(1 for r in runnable.samples if r > cores)
                                                               / max(1, len(runnable.samples)), 3),
                            "threads": {f"{who}|{name}": [round(v, 3) for v in row] for (who, name), row in threads.items()},
                            "commands_ms": {
                                name: {"n": len(rows), "p50": round(statistics.median([ms for _, ms in rows]), 1),
                                       "p90": round(sorted(ms for _, ms in rows)[int(0.9 * len(rows))], 1)}
                                for name, rows in commands.items() if rows},
                            "per_journey_commands": {
                                name: round(len(rows) / max(1, len(outcome.completed)), 2)
                                for name, rows in commands.items() if rows},
                        }
                        step["system_share"] = {  # of each process's CPU, the kernel's (system calls, switches)
                            name: round((us1[name][1] - us0[name][1]) / max(1e-9, sum(us1[name]) - sum(us0[name])), 2)
                            for name in pids}
                        step["gil_held"] = {name: spy.held() for name, spy in spies.items()}
                        step["pg_waits"] = pg_waits.means() if pg_waits is not None else {}
                        statements = await asyncio.to_thread(pg_statements, pg_info) if pg_info is not None else None
                        step["pg_statements"] = {  # per journey: calls, ms executing, WAL bytes
                            q: [round(c / max(1, len(outcome.completed)), 2), round(ms / max(1, len(outcome.completed)), 3),
                                round(w / max(1, len(outcome.completed)))]
                            for q, (c, ms, w) in sorted((statements or {}).items(), key=lambda kv: -kv[1][1])}
                        results["steps"].append(step)
                        print(render(step), flush=True)
            finally:
                await asyncio.to_thread(hops.close)
                await bus.close()
        finally:
            suite.stop()
            if args.store == "postgres":
                load.drop_pg_schemas(env["JUSOU_PG_SCHEMA_PREFIX"], SERVICES)
    return results


def render(step: dict[str, Any]) -> str:
    lines = [(f"== {step['workers']} journeys at once ({step['seconds']} s, load before {step['load_before']:.1f}): "
             f"{step['bus_events_per_s']} bus ev/s, journey p50 {step['journey_ms_p50']} ms, hop p50 "
             f"{step['hop_ms_p50']} (relay {step['relay_ms_p50']}, inbox {step['inbox_ms_p50']}) ms"),
             (f"   a journey's mean {step['journey_ms_mean']} ms: HTTP requests {step.get('journey_http_ms')}, waits on "
             f"the bus {step.get('journey_bus_wait_ms')}, the driver's sleeps (first-read delay, retries) "
             f"{step.get('journey_slept_ms')} ms"),
             (f"   machine: {step['machine_cores_busy']} cores busy (iowait {step['machine_cores_iowait']}, softirq "
             f"{step['machine_cores_softirq']}); runnable threads mean {step['runnable_mean']}, more than the cores "
             f"{100 * step['runnable_over_cores_share']:.0f} % of the time"),
             (f"   {'who | thread':44s} {'CPU cores':>9s} {'run-queue':>9s} {'wait/CPU':>8s} {'slices/s':>8s}"
             f" {'vol/s':>7s} {'invol/s':>7s}")]
    wall = step["seconds"]
    rows = sorted(step["threads"].items(), key=lambda kv: -(kv[1][0] + kv[1][1]))
    by_who: dict[str, list[float]] = defaultdict(lambda: [0.0] * 5)
    for key, row in rows:
        who = key.split("|")[0]
        for i, v in enumerate(row):
            by_who[who][i] += v
    for who, (cpu, wait, slices, vol, invol) in sorted(by_who.items(), key=lambda kv: -(kv[1][0])):
        if cpu + wait < 0.01 * wall:
            continue
        lines.append(f"   {who + ' (all)':44s} {cpu / wall:9.3f} {wait / wall:9.3f} {wait / cpu if cpu else 0:8.2f}"
                     f" {slices / wall:8.0f} {vol / wall:7.0f} {invol / wall:7.0f}")
        for key, (tcpu, twait, tslices, tvol, tinvol) in rows:
            if key.split("|")[0] == who and tcpu + twait >= 0.01 * wall:
                lines.append(f"     {key.split('|', 1)[1][:42]:42s} {tcpu / wall:9.3f} {twait / wall:9.3f} "
                             f"{twait / tcpu if tcpu else 0:8.2f} {tslices / wall:8.0f} {tvol / wall:7.0f} {tinvol / wall:7.0f}")
    lines.append("   kernel (system) share of each process's CPU: "
                 + ", ".join(f"{k} {v:.2f}" for k, v in step.get("system_share", {}).items()))
    for name, held in step.get("gil_held", {}).items():
        cpu = sum(row[0] for key, row in step["threads"].items() if key.split("|")[0] == name) / wall
        parts = ", ".join(f"{k} {v:.2f}" for k, v in sorted(held.items(), key=lambda kv: -kv[1]) if k != "(any)")
        lines.append(f"   {name}: GIL held {held.get('(any)', 0):.2f} of the time (its CPU {cpu:.2f} cores): {parts}")
    for who, states in sorted(step.get("pg_waits", {}).items()):
        lines.append(f"   {who} backends, mean number in each state: "
                     + "; ".join(f"{what} {n:.2f}" for what, n in list(states.items())[:8]))
    statements = step.get("pg_statements") or {}
    if statements:
        lines.append(f"   PostgreSQL statements per journey (pg_stat_statements): {sum(v[0] for v in statements.values()):.1f} "
                     f"calls, {sum(v[1] for v in statements.values()):.2f} ms executing, "
                     f"{sum(v[2] for v in statements.values()):.0f} WAL bytes; the costliest:")
        for q, (calls, ms, wal) in list(statements.items())[:14]:
            lines.append(f"     {calls:7.2f} calls {ms:8.3f} ms {wal:7.0f} B  {q}")
    for name, c in step["commands_ms"].items():
        lines.append(f"   {name}: {c['n']} commands ({step['per_journey_commands'][name]} a journey), in-service ms "
                     f"p50 {c['p50']} p90 {c['p90']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="4,16", help="journeys at once, comma-separated")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warm", type=float, default=5.0, help="seconds of 2 journeys at once first")
    parser.add_argument("--drivers", type=int, default=max(2, (os.cpu_count() or 2) // 2))
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite",
                        help="the suite's stores; postgres also names its backends and samples their waits")
    parser.add_argument("--shared-session", action="store_true",
                        help="the driver processes in this process's session (before 2026-12-07), not each in its own")
    parser.add_argument("--gil", default="", metavar="SERVICE[,SERVICE]",
                        help="sample who holds these services' GIL with py-spy (--gil --nonblocking) during each step")
    args = parser.parse_args(argv)
    args.steps = [int(s) for s in args.steps.split(",") if s]
    args.gil = [s for s in args.gil.split(",") if s]
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    results = asyncio.run(run(args))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
