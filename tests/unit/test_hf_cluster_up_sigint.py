"""`jusou cluster up` stops on SIGINT however it was started, as `jusou up` does (tests/unit/test_hf_up_sigint.py):
started in the background from a script it inherits SIGINT ignored, which Python keeps ignored, so `kill -INT` did
nothing. Its stop path is driven here with the cluster and replicas stood in for (`ScaleOut`: three nats-servers and
PostgreSQL-backed replicas are another test's cost); what is checked is that SIGINT reaches the stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from shared import settings

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 120.0

#: cluster_up with a ScaleOut that records its start and stop in `marks` instead of starting anything
DRIVER = textwrap.dedent("""
    import argparse, sys
    from pathlib import Path
    from jusou import cluster

    marks = Path(sys.argv[1])

    class Stand:
        def __init__(self, *args, **kwargs):
            pass

        def start(self):
            marks.write_text("started\\n")

        def exited(self):
            return {}

        def stop(self):
            with marks.open("a") as out:
                out.write("stopped\\n")

    cluster.ScaleOut = Stand
    cluster.print_ready = lambda scale: None
    sys.exit(cluster.cluster_up(argparse.Namespace(replicas=1, data_dir=sys.argv[2], nats_base_port=cluster.DEFAULT_BASE_PORT)))
""")


def ignoring_sigint() -> None:
    """What a non-interactive shell does to a command it starts with `&`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_jusou_cluster_up_started_with_sigint_ignored_stops_on_sigint(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    env = {k: v for k, v in os.environ.items() if k not in settings.variable_names()}
    up = subprocess.Popen([sys.executable, "-c", DRIVER, str(marks), str(tmp_path / "data")], cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          preexec_fn=ignoring_sigint)  # noqa: PLW1509
    try:
        deadline = time.monotonic() + WAIT_S
        while not (marks.exists() and "started" in marks.read_text()):
            assert up.poll() is None and time.monotonic() < deadline, up.communicate()
            time.sleep(0.05)

        os.kill(up.pid, signal.SIGINT)  # `kill -INT <pid>`

        try:
            _, err = up.communicate(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            raise AssertionError("jusou cluster up ignored SIGINT") from None
        assert up.returncode == 0, err
        assert "停止しています… / stopping…" in err and marks.read_text().splitlines() == ["started", "stopped"], err
    finally:
        if up.poll() is None:
            up.kill()
        up.communicate()
