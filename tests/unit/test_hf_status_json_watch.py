"""`jusou status --json --watch [SECONDS]` (HF, session 20): one JSON object per line (JSON Lines), again every SECONDS,
until Ctrl-C, for a script that follows the suite. Before, --watch was silently ignored with --json: one pretty
object and the exit, as if no --watch had been given."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from support.servers import free_port


def test_status_json_watch_prints_one_object_per_line_until_interrupted(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUSOU_", "NATS_"))}
    env |= {"JUSOU_DATA_DIR": str(tmp_path), "JUSOU_NATS_PORT": str(free_port())}  # nothing runs: every service down
    env |= {f"JUSOU_{name.upper()}_PORT": str(free_port()) for name in
            ("intake", "collaboration", "meeting", "outreach", "participation", "community")}
    jusou = str(Path(sys.executable).parent / "jusou")
    with subprocess.Popen([jusou, "status", "--json", "--watch", "0.1"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as running:
        assert running.stdout is not None
        first, second = running.stdout.readline(), running.stdout.readline()  # each line: one whole object
        running.send_signal(signal.SIGINT)
        code = running.wait(timeout=60)
    for line in (first, second):
        found = json.loads(line)
        assert set(found["services"]) >= {"intake", "community"} and found["ok"] is False
    assert code == 1  # as without --watch: something is down
