"""`python bench/commands.py`: CPU per HTTP command and per bus event, a fixed amount of work (issue 19).

The whole-suite bench (`python -m bench`) runs for a fixed time, so a slower machine does less work
and polls more; on a shared machine its figures move by more than the changes being measured. This
one does a fixed amount of work and counts the CPU each process spent on it (user + system, /proc):

- `escalate` (default): N cases received, consented and escalated at intake (3 commands each, no
  reads), `--concurrency` at once; then it waits until every consumer has caught up. Intake's CPU
  per command is the HTTP stack + the command's own work; the other services' CPU is what the
  escalation causes downstream (their inboxes, relays and commands caused by events);
- `journey`: N whole journeys (tests/support/journey.py, 15 commands and the reads that wait for
  each step; the reads are counted and reported apart, as they vary with the machine's speed).

Each round starts a fresh suite (`jusou.runner.Suite`, SQLite, a temporary folder) from a source tree:
`--tree DIR` (repeatable) runs the same rounds on other trees, alternately (A B, B A, A B …), e.g. a
`git archive` of the commit before a change, so that the machine's load falls on both alike; the
table gives the medians and the ratio of each tree to the first.

`--profile SERVICE` samples that service with py-spy during the measured phase (only the thread
holding the GIL, `--gil`: CPU in Python, not waiting) and prints where the samples were, inclusive
and innermost.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")


def _paths(root: Path) -> None:
    for extra in (str(root / "tests"), str(root)):  # the tree's code (and its bench.load) first
        if extra in sys.path:
            sys.path.remove(extra)
        sys.path.insert(0, extra)


def _cpu(pid: int) -> float:
    """User + system CPU seconds of a process (its threads included), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- one round, in a child process whose sys.path is the tree's --------------------------------------------------


async def _drive(suite: Any, mode: str, n: int, concurrency: int, warm: int, spy: list[str],
                 attach: str = "", cprofile: str = "") -> dict[str, Any]:
    import httpx
    from support.auth import reader
    from support.journey import Journey

    from bench.load import Bus, suite_pids

    pids = suite_pids(suite)
    ports = {str(suite.ports[name]): name for name in SERVICES}
    counts: collections.Counter[tuple[str, str]] = collections.Counter()

    async def count(request: httpx.Request) -> None:
        counts[(ports.get(str(request.url.port), "?"), "read" if request.method == "GET" else "command")] += 1

    bus = Bus(suite.nats_url, *suite.nats_operator())
    await bus.open()
    client = httpx.AsyncClient(timeout=30, trust_env=False, headers=reader(), event_hooks={"request": [count]},
                               limits=httpx.Limits(max_connections=100, max_keepalive_connections=100,
                                                   keepalive_expiry=2.0))  # under uvicorn's 5 s: never reuse one it closes
    journey = Journey({name: suite.url(name) for name in SERVICES}, client)
    unit = journey.receive_and_escalate if mode == "escalate" else journey.whole

    async def run(total: int) -> None:
        queue = iter(range(total))

        async def worker() -> None:
            for _ in queue:
                await unit()

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    try:
        await run(warm)
        await bus.drain(60)
        counts.clear()
        before_bus = await bus.count()
        profiler = _spy_start(spy[0], pids[spy[0]]) if spy else None
        attached = _attach(attach, pids) if attach else None
        if cprofile:
            os.kill(pids[cprofile], signal.SIGUSR1)  # bench/cprofile_site: the figures before the measured phase
            await _snapshot_taken(os.environ.get("JUSOU_BENCH_CPROFILE_OUT", "") + ".a")
        began = {name: _cpu(pid) for name, pid in pids.items()}
        wall = time.perf_counter()
        await run(n)
        drained = await bus.drain(60)
        wall = time.perf_counter() - wall
        used = {name: _cpu(pid) - began[name] for name, pid in pids.items()}
        if cprofile:
            os.kill(pids[cprofile], signal.SIGUSR2)
        profile = _spy_stop(profiler) if profiler else None
        if attached is not None:
            os.killpg(attached.pid, signal.SIGINT)
            attached.wait(timeout=60)
        bus_events = await bus.count() - before_bus
    finally:
        await client.aclose()
        await bus.close()
    commands = {name: counts[(name, "command")] for name in SERVICES}
    reads = {name: counts[(name, "read")] for name in SERVICES}
    return {"units": n, "bus_events": bus_events, "drained": drained, "wall_s": round(wall, 2),
            "cpu_s": {k: round(v, 3) for k, v in used.items()}, "commands": commands, "reads": reads,
            "profile": profile, "cprofile": _cprofile_diff(os.environ.get("JUSOU_BENCH_CPROFILE_OUT", "")) if cprofile else None}


async def _snapshot_taken(path: str, within: float = 30.0) -> None:
    """Wait until the profiled service wrote its first snapshot, then past the client's keep-alive expiry (2 s).
    The snapshot holds the service's loop for a second or two, and the connections the client kept from the warm-up
    met the service's keep-alive timers running late: the measured phase's first request to it (the meeting's
    `POST /meetings`) failed with a ReadError (issue 19). Idle past their expiry, the client opens new ones."""
    deadline = time.monotonic() + within
    while not Path(path).exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(2.5)


def _cprofile_diff(out: str) -> str | None:
    """b − a of bench/cprofile_site's two snapshots, as a pstats file (None if they were not written)."""
    import marshal

    deadline = time.monotonic() + 30
    while not (Path(out + ".a").exists() and Path(out + ".b").exists()) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    try:
        before = marshal.loads(Path(out + ".a").read_bytes())
        after = marshal.loads(Path(out + ".b").read_bytes())
    except (OSError, ValueError, EOFError):
        return None
    diff = {}
    for func, (cc, nc, tt, ct, callers) in after.items():
        b = before.get(func, (0, 0, 0.0, 0.0, {}))
        if nc - b[1] <= 0 and tt - b[2] <= 0:
            continue
        mine = {caller: tuple(x - y for x, y in zip(fig, b[4].get(caller, (0, 0, 0.0, 0.0)), strict=True))
                for caller, fig in callers.items()}
        diff[func] = (cc - b[0], nc - b[1], tt - b[2], ct - b[3], {k: v for k, v in mine.items() if v[0] > 0})
    Path(out + ".diff").write_bytes(marshal.dumps(diff))
    return out + ".diff"


def _attach(command: str, pids: dict[str, int]) -> subprocess.Popen[bytes]:
    """A tool attached to the suite's processes for the measured phase (`--attach "strace -c -f -p {intake}"`);
    its output goes to this process's stderr."""
    proc = subprocess.Popen(command.format(**pids), shell=True, stdout=sys.stderr, start_new_session=True)
    time.sleep(1.0)
    return proc


def _spy_start(name: str, pid: int) -> tuple[subprocess.Popen[bytes], Path] | None:
    binary = Path(sys.executable).parent / "py-spy"
    found = str(binary) if binary.exists() else shutil.which("py-spy")
    if found is None:
        print("py-spy is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return None
    out = Path(tempfile.mkdtemp(prefix="jusou-spy-")) / f"{name}.txt"
    proc = subprocess.Popen([found, "record", "--pid", str(pid), "--rate", "250", "--format", "raw", "--gil",
                             "--output", str(out), "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # attached
    return proc, out


def _spy_stop(spy: tuple[subprocess.Popen[bytes], Path]) -> str:
    proc, out = spy
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    return str(out)


def one_round(root: Path, mode: str, n: int, concurrency: int, warm: int, env: list[str], spy: list[str],
              attach: str = "", cprofile: str = "") -> dict[str, Any]:
    _paths(root)
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    from support.servers import free_port

    from bench.load import env_for_store
    from jusou.runner import Suite

    with tempfile.TemporaryDirectory(prefix="jusou-bench-commands-") as folder:
        data = Path(folder) / "data"
        extra = env_for_store("sqlite", data) | dict(item.split("=", 1) for item in env)
        if cprofile:  # bench/cprofile_site/sitecustomize.py in that service's process
            extra |= {"JUSOU_BENCH_CPROFILE": cprofile, "JUSOU_BENCH_CPROFILE_OUT": str(Path(folder) / "cprofile"),
                      "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE / "bench" / "cprofile_site"),
                                                                   os.environ.get("PYTHONPATH", "")]))}
        os.environ.update(extra)
        suite = Suite(data, nats_port=free_port(), ports={name: free_port() for name in SERVICES}, extra_env=extra)
        suite.start()
        try:
            time.sleep(1.0)
            found = asyncio.run(_drive(suite, mode, n, concurrency, warm, spy, attach, cprofile))
            if found.get("cprofile"):  # kept past the temporary folder
                kept = Path(tempfile.mkdtemp(prefix="jusou-cprofile-")) / f"{cprofile}.pstats"
                shutil.copy(found["cprofile"], kept)
                found["cprofile"] = str(kept)
            return found
        finally:
            suite.stop()


# -- the rounds, alternating between trees ------------------------------------------------------------------------


def summarise(rounds: list[dict[str, Any]], mode: str) -> dict[str, Any]:
    """Medians over a tree's rounds: CPU ms per command (intake's commands), per bus event and per unit."""
    def med(values: list[float]) -> float:
        return round(statistics.median(values), 3) if values else float("nan")

    out: dict[str, Any] = {"rounds": len(rounds)}
    names = [*SERVICES, "nats"]
    per_unit = {name: med([1000 * r["cpu_s"][name] / r["units"] for r in rounds]) for name in names}
    per_unit["suite"] = med([1000 * sum(r["cpu_s"].values()) / r["units"] for r in rounds])
    out["cpu_ms_per_unit"] = per_unit
    out["cpu_ms_per_bus_event"] = med([1000 * sum(r["cpu_s"].values()) / max(1, r["bus_events"]) for r in rounds])
    commands = [sum(r["commands"].values()) for r in rounds]
    out["commands_per_unit"] = med([c / r["units"] for c, r in zip(commands, rounds, strict=True)])
    out["reads_per_unit"] = med([sum(r["reads"].values()) / r["units"] for r in rounds])
    out["bus_events_per_unit"] = med([r["bus_events"] / r["units"] for r in rounds])
    if mode == "escalate":  # intake receives only commands here: its CPU per command
        out["intake_cpu_ms_per_command"] = med([1000 * r["cpu_s"]["intake"] / max(1, r["commands"]["intake"])
                                                for r in rounds])
    out["wall_s"] = med([r["wall_s"] for r in rounds])
    out["drained"] = all(r["drained"] for r in rounds)
    return out


def print_table(trees: list[str], summaries: list[dict[str, Any]], mode: str, load: list[str]) -> None:
    first = summaries[0]
    rows: list[tuple[str, list[float]]] = []
    if mode == "escalate":
        rows.append(("intake CPU per command (ms)", [s["intake_cpu_ms_per_command"] for s in summaries]))
    rows.append(("suite CPU per bus event (ms)", [s["cpu_ms_per_bus_event"] for s in summaries]))
    for name in [*SERVICES, "nats", "suite"]:
        rows.append((f"{name} CPU per {mode} (ms)", [s["cpu_ms_per_unit"][name] for s in summaries]))
    rows.append((f"commands per {mode}", [s["commands_per_unit"] for s in summaries]))
    rows.append((f"reads per {mode}", [s["reads_per_unit"] for s in summaries]))
    rows.append((f"bus events per {mode}", [s["bus_events_per_unit"] for s in summaries]))
    rows.append(("wall seconds", [s["wall_s"] for s in summaries]))
    width = max(len(r[0]) for r in rows)
    print(f"load average before each round: {', '.join(load)}")
    print(f"{'':{width}}  " + "  ".join(f"{Path(t).name or t:>14}" for t in trees) + "  " +
          "  ".join(f"{'÷ first':>8}" for _ in trees[1:]))
    for label, values in rows:
        ratios = [f"{(v / values[0]) if values[0] else float('nan'):8.2f}" for v in values[1:]]
        print(f"{label:{width}}  " + "  ".join(f"{v:14.2f}" for v in values) + "  " + "  ".join(ratios))
    if not all(s["drained"] for s in summaries):
        print("warning: a round did not drain within 60 s")
    del first


def print_profile(path: str, top: int = 25) -> None:
    """Inclusive (a frame anywhere in the stack) and innermost shares of the GIL-holding samples."""
    inclusive: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for line in Path(path).read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].split("site-packages/")[-1] + ")"
                  if " (" in f else f for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += n
        leaves[frames[-1]] += n
    print(f"\nprofile {path}: {total} samples holding the GIL")
    print("inclusive:")
    for frame, n in inclusive.most_common(top * 2):
        print(f"  {100 * n / total:5.1f}%  {frame}")
    print("innermost:")
    for frame, n in leaves.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {frame}")


#: (category, test on a profiled function's file and name), first match wins: where a service's CPU goes.
CATEGORIES: list[tuple[str, Any]] = [
    ("SQLite (the C library, its fsyncs' CPU)", lambda f, n: f == "~" and "sqlite3" in n),
    ("AES + zlib", lambda f, n: "cryptography" in f or "compressor" in f or (f == "~" and ("zlib" in n or "AESGCM" in n))),
    ("eventsourcing (mapper, recorder, repository)", lambda f, n: "/eventsourcing/" in f),
    ("HTTP framework (uvicorn, Starlette, FastAPI, pydantic)", lambda f, n: any(
        p in f for p in ("/uvicorn/", "/starlette/", "/fastapi/", "/pydantic", "/httptools", "/annotated_doc"))),
    ("our HTTP layer (shared/web, idempotency, request logs)", lambda f, n: "/shared/web/" in f
     or "shared/kernel/idempotency.py" in f or "shared/observe/" in f or "/prometheus_client/" in f),
    ("logging (structlog)", lambda f, n: "/structlog/" in f or "/logging/" in f),
    ("relay", lambda f, n: "shared/messaging/relay.py" in f),
    ("inbox (ours, FastStream, fast_depends)", lambda f, n: "shared/messaging/" in f or "/faststream/" in f
     or "/fast_depends/" in f),
    ("nats client", lambda f, n: "/nats/" in f),
    ("read models", lambda f, n: "shared/kernel/readmodel.py" in f or "shared/kernel/library.py" in f),
    ("domain and application (services/, shared/domain, shared/kernel)", lambda f, n: "/services/" in f
     or "/shared/" in f),
    ("threads and the loop (asyncio, anyio, threading, queue, uvloop)", lambda f, n: any(
        p in f for p in ("/asyncio/", "/anyio/", "threading.py", "queue.py", "/uvloop/", "contextvars"))
     or (f == "~" and any(p in n for p in ("_thread", "_asyncio", "_contextvars", "select", "uvloop")))),
    ("JSON, UUIDs, dates, typing (stdlib)", lambda f, n: any(p in f for p in ("/json/", "uuid.py", "typing.py",
                                                                             "datetime", "enum.py", "/re/"))
     or (f == "~" and any(p in n for p in ("json", "orjson", "uuid", "datetime", "isinstance")))),
]


def categorise(path: str) -> list[tuple[str, float]]:
    """Self time (tottime) of a pstats file's functions, by CATEGORIES, as shares of the whole."""
    import pstats

    stats = pstats.Stats(path).stats  # type: ignore[attr-defined]
    totals: collections.Counter[str] = collections.Counter()
    for (filename, _, name), (_, _, tottime, _, _) in stats.items():
        if "cprofile_site" in filename:
            continue  # the snapshot itself
        category = next((c for c, test in CATEGORIES if test(filename, name)), "other")
        totals[category] += tottime
    whole = sum(totals.values()) or 1.0
    return [(category, round(100 * t / whole, 1)) for category, t in totals.most_common()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python bench/commands.py", description=__doc__.split("\n")[0])
    parser.add_argument("mode", nargs="?", choices=("escalate", "journey"), default="escalate")
    parser.add_argument("-n", type=int, default=100, help="cases (escalate) or journeys per round")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--warm", type=int, default=10, help="units before the measured ones")
    parser.add_argument("--rounds", type=int, default=1, help="rounds per tree (alternating)")
    parser.add_argument("--tree", action="append", default=[], metavar="DIR",
                        help="another source tree (e.g. a git archive of an earlier commit); repeatable")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="a setting for the services")
    parser.add_argument("--profile", default="", metavar="SERVICE", help="py-spy this service (first tree, first round)")
    parser.add_argument("--cprofile", default="", metavar="SERVICE",
                        help="cProfile every thread of this service (CPU clocks; first tree, first round)")
    parser.add_argument("--attach", default="", metavar="COMMAND",
                        help='a tool run on the suite during the measured phase (first round), e.g. "strace -c -f -p {intake}"')
    parser.add_argument("--json", type=Path, default=None, help="write the rounds and medians here")
    parser.add_argument("--one", type=Path, default=None, help=argparse.SUPPRESS)  # a child: one round, this tree
    args = parser.parse_args(argv)
    if args.one is not None:
        spy = [args.profile] if args.profile else []
        print(json.dumps(one_round(args.one, args.mode, args.n, args.concurrency, args.warm, args.env, spy, args.attach,
                                             args.cprofile)))
        return
    trees = [str(HERE), *[str(Path(t).resolve()) for t in args.tree]]
    results: dict[str, list[dict[str, Any]]] = {t: [] for t in trees}
    load: list[str] = []
    for i in range(args.rounds):
        # A B, then B A, …: the tree run first in a pair measured 10–20% cheaper in every process (nats-server
        # included), whichever it was; reversing every other round puts that on each tree alike.
        order = list(enumerate(trees)) if i % 2 == 0 else list(reversed(list(enumerate(trees))))
        for j, tree in order:
            load.append(f"{os.getloadavg()[0]:.1f}")
            command = [sys.executable, str(Path(__file__).resolve()), args.mode, "-n", str(args.n), "--concurrency",
                       str(args.concurrency), "--warm", str(args.warm), "--one", tree,
                       *[f"--env={e}" for e in args.env]]
            if args.profile and i == 0 and j == 0:
                command.append(f"--profile={args.profile}")
            if args.attach and i == 0 and j == 0:
                command.append(f"--attach={args.attach}")
            if args.cprofile and i == 0 and j == 0:
                command.append(f"--cprofile={args.cprofile}")
            done = subprocess.run(command, cwd=tree, capture_output=True, text=True, timeout=1800, check=False)
            if args.attach and i == 0 and j == 0:
                print(done.stderr[-20000:], file=sys.stderr)
            try:
                found = json.loads(done.stdout.strip().splitlines()[-1])
            except (IndexError, ValueError):
                raise SystemExit(f"round {i + 1} on {tree} failed (exit {done.returncode}):\n{done.stderr[-3000:]}") from None
            results[tree].append(found)
            cpu = sum(found["cpu_s"].values())
            print(f"round {i + 1} {Path(tree).name}: suite {1000 * cpu / max(1, found['bus_events']):.2f} ms/bus event, "
                  f"intake {1000 * found['cpu_s']['intake'] / max(1, found['commands']['intake']):.2f} ms/command "
                  f"(load {load[-1]})", file=sys.stderr)
    summaries = [summarise(results[t], args.mode) for t in trees]
    print_table(trees, summaries, args.mode, load)
    profile = results[trees[0]][0].get("profile")
    if profile:
        print_profile(profile)
    cprofiled = results[trees[0]][0].get("cprofile")
    if cprofiled:
        import pstats

        print(f"\ncProfile of {args.cprofile} (every thread, CPU clocks, the measured phase): {cprofiled}")
        for category, share in categorise(cprofiled):
            print(f"  {share:5.1f}%  {category}")
        stats = pstats.Stats(cprofiled)
        stats.sort_stats("tottime").print_stats(40)
        stats.sort_stats("cumulative").print_stats(60)
    if args.json:
        args.json.write_text(json.dumps({"trees": trees, "load": load, "rounds": results, "medians": summaries}, indent=1))


if __name__ == "__main__":
    main()
