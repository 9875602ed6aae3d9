"""`jusou status --watch` ends on Ctrl-C however it was started (HC's operator review, session 24).

README: `--watch [SECONDS]` refreshes "until Ctrl-C". Started in the background from a script (`jusou status --watch
--json >> status.jsonl &`, a shell without job control) it inherits SIGINT ignored, and Python keeps an ignored SIGINT
ignored: `kill -INT` did nothing and it went on for ever (seen on a jusou up of HC's: SigIgn held SIGINT, still running
after the signal). `jusou up` had been fixed for the same (jusou/cli.py). It now takes SIGINT as Ctrl-C, and SIGTERM the
same way, ending with the status of its last look (1 here: nothing answers) and its last line whole."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.servers import free_port

from jusou.runner import ROOT
from shared import settings


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_watch_started_with_sigint_ignored_ends_on_the_signal(tmp_path: Path, signum: int) -> None:
    env = {k: v for k, v in os.environ.items() if k not in settings.variable_names()} | {
        "JUSOU_DATA_DIR": str(tmp_path), "JUSOU_NATS_PORT": str(free_port()),
        **{f"JUSOU_{name.upper()}_PORT": str(free_port()) for name in settings.PORTS}}
    # SIGINT ignored, as a non-interactive shell starts `cmd &`, and kept so across exec
    command = f"trap '' INT; exec {shlex.quote(sys.executable)} -m jusou.cli status --watch 1 --json"
    proc = subprocess.Popen(["sh", "-c", command], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # its first look is out: it is in its loop
        assert json.loads(first)["ok"] is False
        proc.send_signal(signum)
        try:
            rest, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"jusou status --watch went on after {signal.Signals(signum).name}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    assert "Traceback" not in err, err
    for line in rest.splitlines():
        json.loads(line)
