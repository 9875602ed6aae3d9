"""`python -m bench`: the raw baselines, then the whole suite under load, in one run.

Prints a table (every figure beside its baseline of the same run, as a ratio, and issue 19's
targets: bench/report.py), writes the figures as JSON and a chart of hop latency against load (PNG),
by default into `data/bench/`. Idle RSS, start-up and the audit figure are checked against a previous
run's JSON (`--baseline FILE`). The load comes from `--driver-processes` processes (bench/load.py
Drivers), whose CPU is counted apart from the suite's. `--quick` takes about a minute on a quiet machine; the full run a few minutes
more (and `bench/audit_replay.py` on 100,000 events).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in (str(ROOT / "tests"), str(ROOT)):
    if extra not in sys.path:
        sys.path.insert(0, extra)

from rich.console import Console

from bench import floor, load, profile, raw, report
from bench.stats import rss_of

AUDIT_REPLAY = ROOT / "bench" / "audit_replay.py"
SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")


@dataclass
class Sizes:
    raw_messages: int
    raw_seconds: float
    latency_seconds: float
    hop_rate: float
    hop_seconds: float
    steps: list[int]
    step_seconds: float
    audit_events: int
    floor_processes: int
    settle_seconds: float
    driver_processes: int  # the load generator's processes (bench/load.py Drivers)


DRIVERS = max(2, (os.cpu_count() or 2) // 2)
QUICK = Sizes(raw_messages=3000, raw_seconds=1.0, latency_seconds=2.0, hop_rate=200, hop_seconds=6,
              steps=[2, 8], step_seconds=8, audit_events=3000, floor_processes=6, settle_seconds=1.0,
              driver_processes=DRIVERS)
FULL = Sizes(raw_messages=20000, raw_seconds=5.0, latency_seconds=10.0, hop_rate=200, hop_seconds=30,
             steps=[1, 2, 4, 8, 16, 32], step_seconds=15, audit_events=100_000, floor_processes=6, settle_seconds=3.0,
             driver_processes=DRIVERS)

console = Console(stderr=True)


def say(text: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {text}")


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, Sizes]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="about a minute: fewer messages, shorter phases")
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite", help="the suite's stores")
    parser.add_argument("--no-pg", action="store_true", help="skip the PostgreSQL recorder baseline")
    parser.add_argument("--no-audit", action="store_true", help="do not run bench/audit_replay.py")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "bench", help="folder for the JSON and the PNG")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the suite's services (repeatable), e.g. JUSOU_LOG_FORMAT=json")
    parser.add_argument("--profile", default="", metavar="SERVICE[,SERVICE]",
                        help="sample these services with py-spy during the load phases (bench/profile.py)")
    parser.add_argument("--baseline", type=Path, default=None, metavar="FILE",
                        help="a previous run's JSON: idle RSS, start-up and the audit figure are checked against it")
    parser.add_argument("--poll-waits", action="store_true",
                        help="journeys wait for states by HTTP polls only (10 → 100 ms), not on the bus first")
    sizes = parser.add_argument_group("sizes (override the mode's)")
    for name in Sizes.__dataclass_fields__:
        kind = str if name == "steps" else type(getattr(QUICK, name))
        sizes.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None)
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    chosen = {}
    for name in Sizes.__dataclass_fields__:
        given = getattr(args, name)
        if given is None:
            chosen[name] = getattr(base, name)
        elif name == "steps":
            chosen[name] = [int(s) for s in given.split(",") if s.strip()]  # "": no saturation phase
        else:
            chosen[name] = given
    return args, Sizes(**chosen)


def bare_nats() -> tuple[subprocess.Popen[bytes], str, tempfile.TemporaryDirectory[str]]:
    from support.servers import free_port, nats_binary, wait_for_port

    folder = tempfile.TemporaryDirectory(prefix="jusou-bench-nats-")
    port = free_port()
    proc = subprocess.Popen([nats_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", folder.name],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port("127.0.0.1", port)
    return proc, f"nats://127.0.0.1:{port}", folder


def raw_phase(args: argparse.Namespace, sizes: Sizes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    say("raw: nats-py JetStream publish / consume / latency")
    proc, url, folder = bare_nats()
    try:
        time.sleep(0.3)
        out["nats_server_rss_mb"] = rss_of(proc.pid)
        out["nats"] = asyncio.run(raw.nats_figures(url, sizes.raw_messages, sizes.raw_seconds,
                                                   sizes.latency_seconds, sizes.hop_rate))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        folder.cleanup()
    say("raw: the eventsourcing recorder (SQLite" + ("" if args.no_pg else ", PostgreSQL") + ")")
    out["recorder"] = raw.recorder_all(sizes.raw_messages, sizes.raw_seconds, not args.no_pg)
    if args.store == "postgres" and "skipped" in out["recorder"].get("postgres", {"skipped": ""}):
        raise SystemExit(f"--store postgres, but PostgreSQL does not answer: {out['recorder']['postgres']['skipped']}")
    say("raw: the bare stack per operation (FastAPI on uvicorn, eventsourcing on SQLite, NATS: bench/floor.py)")
    out["stack_floor_us"] = floor.measure(min(sizes.raw_messages, 2000))
    say(f"raw: import floor ({sizes.floor_processes} bare Python processes)")
    out["import_floor"] = raw.import_floor(sizes.floor_processes)
    return out


def suite_phase(args: argparse.Namespace, sizes: Sizes) -> dict[str, Any]:
    from support.servers import free_port

    from jusou.runner import Suite

    with tempfile.TemporaryDirectory(prefix="jusou-bench-suite-") as folder:
        data = Path(folder) / "data"
        env = load.env_for_store(args.store, data) | dict(item.split("=", 1) for item in args.env)
        os.environ.update(env)  # this process reads the stores back with the suite's settings
        suite = Suite(data, nats_port=free_port(), ports={name: free_port() for name in SERVICES},
                      extra_env=env)
        say(f"suite: starting nats-server and six services ({args.store})")
        try:
            suite.start()
            assert suite.ready_seconds is not None
            say(f"suite: all ready in {suite.ready_seconds:.1f} s; settling {sizes.settle_seconds:.0f} s")
            time.sleep(sizes.settle_seconds)
            pids = load.suite_pids(suite)
            idle = {name: rss_of(pid) for name, pid in pids.items()}
            idle["suite"] = round(sum(idle.values()), 1)
            figures = asyncio.run(drive(suite, sizes, pids, args))
            figures["memory"]["idle_mb"] = idle
            figures["ready_seconds"] = round(suite.ready_seconds, 2)
            figures["store"] = args.store
            figures["logs_warnings"] = count_warnings(suite)
            return figures
        finally:
            suite.stop()
            if args.store == "postgres":
                load.drop_pg_schemas(env["JUSOU_PG_SCHEMA_PREFIX"], SERVICES)


async def drive(suite: Any, sizes: Sizes, pids: dict[str, int], args: argparse.Namespace) -> dict[str, Any]:
    bus = load.Bus(suite.nats_url, *suite.nats_operator())
    await bus.open()
    hops = await asyncio.to_thread(load.Hops)
    spies = profile.Spies(pids, [name for name in args.profile.split(",") if name], args.out)
    profiles: dict[str, Any] = {}
    why_not = spies.start()
    if why_not:
        profiles["skipped"] = why_not
    urls = {name: suite.url(name) for name in SERVICES}
    user, password = suite.nats_operator()
    say(f"load: {sizes.driver_processes} driver processes, waits {'by polls' if args.poll_waits else 'on the bus'}")
    try:
        with load.Drivers(sizes.driver_processes, urls, suite.nats_url, user, password,
                          bus_waits=not args.poll_waits) as drivers, load.MemorySampler(pids) as memory:
            say(f"hop: escalations at a steady {sizes.hop_rate:.0f} events/s on the bus for {sizes.hop_seconds:.0f} s")
            cpu = load.CpuMeter(pids, drivers.pids)
            steady = await load.steady_phase(drivers, bus, hops, cpu, sizes.hop_rate, sizes.hop_seconds)
            say(f"hop: p50 {steady['hop_ms_p50']} ms, p99 {steady['hop_ms_p99']} ms at "
                f"{steady['bus_events_per_s']} ev/s")
            saturation = await load.saturation_phase(drivers, bus, hops, cpu, sizes.steps, sizes.step_seconds, say)
        profiles |= await asyncio.to_thread(spies.stop)
        return {"steady": steady, "saturation": saturation, "memory": {"load_peak_mb": dict(memory.peak)},
                "profiles": profiles, "load_generator": {"driver_processes": sizes.driver_processes,
                                                         "waits": "polls" if args.poll_waits else "bus, then read"}}
    finally:
        await asyncio.to_thread(hops.close)
        await bus.close()


def count_warnings(suite: Any) -> dict[str, int]:
    """Warnings and errors each service logged during the run (retries, dead letters, …)."""
    counts = {}
    for name in SERVICES:
        try:
            text = suite.log_path(name).read_text(errors="replace")
        except OSError:
            continue
        counts[name] = sum(1 for line in text.splitlines() if "[warning" in line or "[error" in line
                           or '"level": "warning"' in line or '"level": "error"' in line)
    return counts


def audit_phase(args: argparse.Namespace, sizes: Sizes) -> dict[str, Any] | None:
    """bench/audit_replay.py's JSON figures, when the script is there."""
    if args.no_audit or not AUDIT_REPLAY.exists():
        return None
    say(f"replay and audit: bench/audit_replay.py on {sizes.audit_events:,} events")
    command = [sys.executable, str(AUDIT_REPLAY), "--json", "--events", str(sizes.audit_events)]
    if args.store == "postgres":
        command.append("--pg")
    done = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    lines = done.stdout.strip().splitlines()
    try:
        figures: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, ValueError):
        return {"error": f"exit {done.returncode}: {(done.stderr or done.stdout).strip()[-500:]}"}
    return figures


def baseline_of(path: Path | None) -> dict[str, Any] | None:
    """The figures a run must be no worse than, from a previous run's JSON (`--baseline`)."""
    if path is None:
        return None
    previous = json.loads(path.read_text())
    suite, audit = previous.get("suite") or {}, previous.get("audit_replay") or {}
    return {
        "file": str(path),
        "started_at": (previous.get("meta") or {}).get("started_at"),
        "load_before": (previous.get("meta") or {}).get("load_before"),
        "store": suite.get("store"),
        "idle_rss_mb": ((suite.get("memory") or {}).get("idle_mb") or {}).get("suite"),
        "ready_seconds": suite.get("ready_seconds"),
        "audit_history_ms_p50": audit.get("audit_history_ms_p50"),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args, sizes = parse(argv)
    baseline = baseline_of(args.baseline)  # read first: a wrong path fails before the run, not after
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))  # the runner's debug lines
    began = time.perf_counter()
    results: dict[str, Any] = {
        "meta": {
            "mode": "quick" if args.quick else "full",
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "load_before": ", ".join(f"{x:.1f}" for x in os.getloadavg()),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "sizes": vars(sizes),
            "suite_env": args.env,
        },
    }
    results["baseline"] = baseline
    results["raw"] = raw_phase(args, sizes)
    results["suite"] = suite_phase(args, sizes)
    results["audit_replay"] = audit_phase(args, sizes)
    results["meta"]["load_after"] = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    results["meta"]["seconds"] = round(time.perf_counter() - began, 1)
    figures = report.rows(results)
    results["figures"] = figures
    results["targets"] = [{"figure": r["figure"], "value": r["value"], "unit": r["unit"], "target": r["target"],
                           "met": r["met"]} for r in figures if r["target"]]  # issue 19's scorecard
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    json_path, png_path = args.out / f"bench-{stamp}.json", args.out / f"bench-{stamp}.png"
    results["chart"] = str(report.chart(results, png_path) or "") or None
    json_path.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    report.print_table(results, figures)
    profile.print_profiles(results["suite"]["profiles"])
    print(f"JSON: {json_path}")
    print(f"chart: {results['chart'] or '(matplotlib not installed: pip install -e .[bench])'}")
    say(f"done in {results['meta']['seconds']:.0f} s")
    return results


if __name__ == "__main__":
    main()
