"""`python bench/thread_cpu.py [--tree DIR …]`: the CPU of a bench journey per service and per thread, without a profiler
(issue 19).

A service's CPU is spent on a few threads with different jobs: the event loop (`MainThread`: uvicorn, FastAPI and our
HTTP layers, the relay's publishes, the inbox's pulls and acks, nats-py), the worker threads of the lean hop (`jusou
worker N`: the routes' use cases and their store), the inbox's thread (`<service>-inbox_N`: a run's handlers and its
commit), the read models' follower (`<service>-readmodels`), anyio's workers (the relay's reads and position saves).
A profiler inflates small calls (cProfile) or counts time off the CPU (py-spy `--gil`, e.g. a send preempted inside the
system call); the kernel's own count per thread (/proc/<pid>/task/<tid>/stat, user + system) does neither. This runs
`bench/commands.py journey` on each tree (`--rounds`, trees alternating A B, B A …) with `bench/thread_names_site` on
the services' PYTHONPATH (each process writes its threads' names by native id) and, attached for the measured phase,
this script's `--sample` mode (the /proc figures at the start and at the end of the phase). Prints each service's CPU
per journey per thread role (numbers in names folded to N), the medians of the rounds and each tree's ratio to the
first. Resolution: the kernel's tick (10 ms) per thread per round; use -n 40 or more.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
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

#: a thread /proc knows and no name file named (ended before a dump, or not a Python thread)
UNNAMED = "(unnamed)"


def role(name: str) -> str:
    """A thread's name without its numbers: the threads of one job fold into one row (`jusou worker 7` → `jusou
    worker N`, `meeting-inbox_0` → `meeting-inbox_N`)."""
    return re.sub(r"\d+", "N", name)


def read_tasks(pid: int) -> dict[str, tuple[int, int]]:
    """{thread id: (user ticks, system ticks)} of a process's threads, from /proc (empty if it has gone)."""
    found: dict[str, tuple[int, int]] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            text = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        found[tid] = (int(fields[11]), int(fields[12]))
    return found


def by_role(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], names: dict[str, str],
            tick: float) -> dict[str, float]:
    """Seconds of CPU (user + system) each thread role spent between two /proc readings of one process: a thread
    started meanwhile counts from zero, one that ended meanwhile is lost (its ticks left with it)."""
    spent: dict[str, float] = collections.defaultdict(float)
    for tid, (user, system) in after.items():
        user0, system0 = before.get(tid, (0, 0))
        ticks = (user - user0) + (system - system0)
        if ticks > 0:
            spent[role(names.get(tid, UNNAMED))] += ticks * tick
    return dict(spent)


def sample(out: Path, pids: dict[str, int], names_prefix: str) -> None:
    """`--sample`: read every service's threads now and again at SIGINT (bench/commands.py's end of the measured
    phase); write {service: {role: seconds}} to `out`."""
    before = {name: read_tasks(pid) for name, pid in pids.items()}
    stop: list[int] = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    while not stop:
        time.sleep(0.05)
    after = {name: read_tasks(pid) for name, pid in pids.items()}
    tick = 1 / os.sysconf("SC_CLK_TCK")
    result: dict[str, dict[str, float]] = {}
    for name, pid in pids.items():
        try:
            names = json.loads(Path(f"{names_prefix}.{pid}.json").read_text())
        except (OSError, ValueError):
            names = {}
        result[name] = by_role(before[name], after[name], names, tick)
    out.write_text(json.dumps(result))


def one_round(tree: Path, n: int, concurrency: int, services: list[str], folder: Path, i: int,
              mode: str = "journey") -> dict[str, Any]:
    """One `bench/commands.py journey` (or `escalate`) round on `tree`, this script attached; {"units", "cpu_s", "threads"}."""
    names = folder / f"names-{i}"
    out = folder / f"threads-{i}.json"
    report = folder / f"round-{i}.json"
    attach = " ".join([sys.executable, str(Path(__file__).resolve()), "--sample", str(out), "--names", str(names),
                       *[f"--pid={s}={{{s}}}" for s in services]])
    command = [sys.executable, str(tree / "bench" / "commands.py"), mode, "-n", str(n), "--concurrency",
               str(concurrency), "--rounds", "1", "--json", str(report), "--attach", attach,
               f"--env=PYTHONPATH={HERE / 'bench' / 'thread_names_site'}", f"--env=JUSOU_BENCH_THREADS_OUT={names}"]
    done = subprocess.run(command, check=False, cwd=tree, capture_output=True, text=True)
    if done.returncode != 0 or not out.exists():
        raise SystemExit(f"round {i} on {tree} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    found = json.loads(report.read_text())["rounds"][str(tree)][0]
    return {"units": found["units"], "cpu_s": found["cpu_s"], "threads": json.loads(out.read_text())}


def table(trees: list[Path], rounds: dict[Path, list[dict[str, Any]]], services: list[str]) -> list[str]:
    """Each service's CPU per journey (ms), whole and per thread role: the median of each tree's rounds and the ratio to
    the first tree."""
    def per_journey(found: dict[str, Any], service: str, which: str | None) -> float:
        threads: dict[str, float] = found["threads"].get(service, {})
        spent = sum(threads.values()) if which is None else threads.get(which, 0.0)
        return 1000 * spent / int(found["units"])

    lines = [f"{'ms of CPU a journey (median of rounds)':48s}" + "".join(f"{t.name[:14]:>16s}" for t in trees)
             + ("  ÷ first" if len(trees) > 1 else "")]
    for service in services:
        roles = sorted({r for t in trees for found in rounds[t] for r in found["threads"].get(service, {})},
                       key=lambda r: -statistics.median(per_journey(f, service, r) for f in rounds[trees[0]]))
        for which in [None, *roles]:
            label = f"{service} (all threads)" if which is None else f"  {which}"
            medians = [statistics.median(per_journey(f, service, which) for f in rounds[t]) for t in trees]
            ratios = "".join(f"  {m / medians[0]:.2f}" if medians[0] else "  -" for m in medians[1:])
            lines.append(f"{label[:48]:48s}" + "".join(f"{m:16.2f}" for m in medians) + ratios)
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", nargs="?", choices=("journey", "escalate"), default="journey",
                        help="bench/commands.py's: whole journeys, or intake's escalations alone (units: cases)")
    parser.add_argument("-n", type=int, default=40, help="journeys (escalate: cases) a round")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="rounds per tree (trees alternating)")
    parser.add_argument("--tree", action="append", default=[], metavar="DIR", help="another source tree (repeatable)")
    parser.add_argument("--services", default="collaboration,meeting", help="comma-separated, or 'all'")
    parser.add_argument("--sample", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--names", help=argparse.SUPPRESS)
    parser.add_argument("--pid", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sample:
        sample(args.sample, {k: int(v) for k, v in (p.split("=", 1) for p in args.pid)}, args.names)
        return
    services = list(SERVICES) if args.services == "all" else [s for s in args.services.split(",") if s]
    trees = [HERE, *[Path(t).resolve() for t in args.tree]]
    rounds: dict[Path, list[dict[str, Any]]] = {t: [] for t in trees}
    folder = Path(tempfile.mkdtemp(prefix="jusou-thread-cpu-"))
    i = 0
    for r in range(args.rounds):
        for tree in (trees if r % 2 == 0 else list(reversed(trees))):
            load = Path("/proc/loadavg").read_text().split()[0]
            found = one_round(tree, args.n, args.concurrency, services, folder, i, args.mode)
            i += 1
            rounds[tree].append(found)
            whole = {s: round(1000 * found["cpu_s"][s] / found["units"], 2) for s in services}
            print(f"round {r + 1} {tree.name}: {whole} ms a journey (/proc of the process; load {load})",
                  file=sys.stderr)
    print("\n".join(table(trees, rounds, services)))


if __name__ == "__main__":
    main()
