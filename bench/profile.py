"""`--profile SERVICE`: where a service's time goes under the bench's load.

py-spy (from PyPI) samples every thread of the running service process without changing it; a
service does most of its work in worker threads (HTTP handlers, the inbox, the read models), which
pyinstrument, following one thread, would not see. The samples are summarised by what they were
doing (waiting, a SQLite commit, logging, …) and by the busiest frames.
"""

from __future__ import annotations

import collections
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

#: (category, test on the semicolon-joined stack and its innermost frame), first match wins
CATEGORIES: list[tuple[str, Any]] = [
    ("waiting (idle loop, queue, lock)", lambda stack, leaf: leaf.startswith(("EpollSelector.select", "Condition.wait",
                                                                               "Event.wait", "Lock.acquire"))),
    ("SQLite commit (fsync)", lambda stack, leaf: "SQLiteConnection.commit" in stack),
    ("PostgreSQL", lambda stack, leaf: "psycopg" in stack),
    ("SQLite query", lambda stack, leaf: "sqlite.py" in leaf or "SQLiteCursor.execute" in leaf),
    ("logging (structlog)", lambda stack, leaf: "structlog" in stack or "shared/observe/logs.py" in stack),
    ("AES + zlib", lambda stack, leaf: "cryptography" in stack or "compressor" in leaf),
    ("metrics", lambda stack, leaf: "metrics.py" in stack or "prometheus" in stack),
    ("read models", lambda stack, leaf: "readmodel.py" in stack),
    ("relay", lambda stack, leaf: "relay.py" in stack),
    ("inbox / FastStream", lambda stack, leaf: "inbox.py" in stack or "faststream" in stack),
    ("nats client", lambda stack, leaf: "/nats/" in stack),
    ("HTTP (h11, Starlette, FastAPI, pydantic)", lambda stack, leaf: any(  # not "uvicorn": the loop runs in it
        s in stack for s in ("h11_impl", "starlette", "fastapi", "pydantic", "shared/web/http.py"))),
    ("eventsourcing", lambda stack, leaf: "eventsourcing" in stack),
    # uvloop runs the loop in C: py-spy's innermost Python frame is then `Runner.run` (socket reads and
    # writes, timers; on a loaded machine also a runnable loop thread waiting for a core)
    ("event loop in C (uvloop)", lambda stack, leaf: leaf.startswith("Runner.run")),
    ("asyncio loop", lambda stack, leaf: "asyncio" in stack),
]

#: Whose transaction a commit sample belongs to (first match wins; "other" otherwise): the inbox commits
#: one transaction per bus event, the commands one per command (issue 19: commits per bus event are the lever).
COMMITTERS: list[tuple[str, str]] = [
    ("inbox (ServiceApplication.receive)", "ServiceApplication.receive"),
    ("relay (its position)", "relay.py"),
    ("read models", "readmodel.py"),
    ("a service's own key store (services/intake/keys.py)", "keys.py"),
    ("commands (Application.save)", "Application.save"),
]


def is_commit(stack: str) -> bool:
    """A sample inside a commit: the store's (SQLite's, or psycopg's), or intake's key store's insert
    (autocommit, its journal written, synced and deleted: `SQLiteKeys._put`)."""
    return ("SQLiteConnection.commit" in stack or ("psycopg" in stack and ".commit (" in stack)
            or "SQLiteKeys._put (" in stack)


#: ASGI middleware of ours (`RequestContext` in shared/observe/logs.py, `RequestMetrics` in shared/web/metrics.py, …):
#: every request's stack passes through them, so they are left out before categorising, or all HTTP
#: work would count as logging.
MIDDLEWARE = re.compile(r"(\.__call__|send_watching) \(shared/")


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Spies:
    """py-spy recording each named process until `stop`."""

    def __init__(self, pids: dict[str, int], names: list[str], out: Path) -> None:
        self.binary = py_spy()
        self.files = {name: out / f"profile-{name}.txt" for name in names if name in pids}
        self.pids = pids
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> str | None:
        """None, or why nothing is recorded."""
        if not self.files:
            return None
        if self.binary is None:
            return "py-spy is not installed: pip install -e '.[bench]'"
        for name, path in self.files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            self.procs[name] = subprocess.Popen(
                [self.binary, "record", "--pid", str(self.pids[name]), "--rate", "100", "--format", "raw",
                 "--output", str(path), "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return None

    def stop(self) -> dict[str, Any]:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGINT)  # py-spy writes its output when interrupted
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        return {name: summarise(path) for name, path in self.files.items() if path.exists()}


def summarise(path: Path, top: int = 12) -> dict[str, Any]:
    categories: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    commits: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        stack = ";".join(frame for frame in stack.split(";") if not MIDDLEWARE.search(frame))
        leaf = stack.rsplit(";", 1)[-1]
        name = next((c for c, test in CATEGORIES if test(stack, leaf)), "other")
        categories[name] += n
        if not name.startswith("waiting"):
            leaves[leaf] += n
        if is_commit(stack):
            commits[next((who for who, mark in COMMITTERS if mark in stack), "other")] += n
    share = (lambda n: round(100 * n / total, 1)) if total else (lambda n: 0.0)
    return {
        "file": str(path),
        "samples": total,
        "categories_pct": {name: share(n) for name, n in categories.most_common()},
        "busiest_frames_pct": [[frame, share(n)] for frame, n in leaves.most_common(top)],
        "commits_pct": {who: share(n) for who, n in commits.most_common()},
    }


def print_profiles(profiles: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    for name, found in profiles.items():
        if not isinstance(found, dict) or "categories_pct" not in found:
            continue
        table = Table(title=f"profile: {name} ({found['samples']} samples, py-spy, all threads)", title_justify="left")
        table.add_column("what the threads were doing")
        table.add_column("% of samples", justify="right")
        for category, share in found["categories_pct"].items():
            table.add_row(category, f"{share:.1f}")
        Console(width=180).print(table)
        if found.get("commits_pct"):
            commits = Table(title=f"profile: {name}, whose commits (% of all samples)", title_justify="left")
            commits.add_column("transaction")
            commits.add_column("% of samples", justify="right")
            for who, share in found["commits_pct"].items():
                commits.add_row(who, f"{share:.1f}")
            Console(width=180).print(commits)
