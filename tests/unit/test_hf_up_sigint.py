"""`jusou up` stops on SIGINT however it was started (README: Ctrl-C stops everything). Started in the background from
a script (`jusou up &` in a non-interactive shell), it inherits SIGINT ignored, and Python keeps an ignored SIGINT
ignored: `kill -INT <pid>` did nothing (SIGTERM and a terminal's Ctrl-C worked). `jusou up` now puts back Python's own
SIGINT handling (KeyboardInterrupt, as a Ctrl-C), so the suite stops with every process it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from support.servers import free_port

from shared import settings

ROOT = Path(__file__).resolve().parents[2]
START_S = 300.0  # the whole suite's start on two shared cores under load (the runner's own deadline is per service)
STOP_S = 120.0


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command's name (state, ppid, … starttime at [19]); None: no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def descendants(pid: int) -> dict[int, str]:
    """Every process below `pid` (the services and nats-server `jusou up` started, and theirs): pid → start time,
    which tells the process from a later one given the same pid."""
    fields = {int(e.name): f for e in Path("/proc").iterdir() if e.name.isdigit() and (f := _stat(int(e.name)))}
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, f in fields.items() if int(f[1]) in frontier} - found
        found |= frontier
    return {child: fields[child][19] for child in found}


def alive(pid: int, started_at: str) -> bool:
    """Whether that process still runs (a zombie has ended: its parent, or init once that has gone, reaps it)."""
    fields = _stat(pid)
    return fields is not None and fields[19] == started_at and fields[0] != "Z"


def ignoring_sigint() -> None:
    """What a non-interactive shell does to a command it starts with `&`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_jusou_up_started_with_sigint_ignored_stops_on_sigint_with_its_children(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in settings.variable_names()}
    env |= {"JUSOU_DATA_DIR": str(tmp_path / "data"), "JUSOU_NATS_PORT": str(free_port()), "PYTHONUNBUFFERED": "1"}
    env |= {f"JUSOU_{name.upper()}_PORT": str(free_port()) for name in settings.PORTS}
    screen = tmp_path / "screen.log"
    with screen.open("wb") as out:
        up = subprocess.Popen([sys.executable, "-m", "jusou.cli", "up"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                              stdout=out, stderr=subprocess.STDOUT, preexec_fn=ignoring_sigint)  # noqa: PLW1509
    started: dict[int, str] = {}
    try:
        deadline = time.monotonic() + START_S
        while "Ctrl-C to stop" not in screen.read_text(errors="replace"):
            assert up.poll() is None and time.monotonic() < deadline, screen.read_text(errors="replace")[-3000:]
            time.sleep(0.2)
        started = descendants(up.pid)
        assert len(started) >= len(settings.PORTS) + 1, started  # six services and its own nats-server

        os.kill(up.pid, signal.SIGINT)  # `kill -INT <pid>`

        try:
            code = up.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"jusou up ignored SIGINT: {screen.read_text(errors='replace')[-2000:]}") from None
        assert code == 0, screen.read_text(errors="replace")[-3000:]
        assert "停止しています… / stopping…" in screen.read_text(errors="replace")
        deadline = time.monotonic() + STOP_S
        while left := {pid for pid, at in started.items() if alive(pid, at)}:
            assert time.monotonic() < deadline, f"still running after jusou up stopped: {left}"
            time.sleep(0.1)
    finally:
        if up.poll() is None:
            up.kill()
        up.wait()
        for pid, at in started.items():  # only what this test's jusou up started, and only while it is that process
            if alive(pid, at):
                os.kill(pid, signal.SIGKILL)
