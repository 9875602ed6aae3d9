"""`jusou up` with NATS_URL naming a NATS that does not answer (HF, session 20): it says so within seconds, in
Japanese and English, naming NATS_URL, and exits 3 as every `jusou` command that cannot reach NATS does; no service
is started. Before, it started the six services, waited 60 s for their /readyz and exited 1 with "intake did not
start" and the tracebacks of intake's log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support.servers import free_port


def test_jusou_up_on_an_existing_nats_that_does_not_answer_says_so_and_exits_3(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUSOU_", "NATS_"))}
    env |= {"NATS_URL": f"nats://127.0.0.1:{free_port()}", "JUSOU_DATA_DIR": str(tmp_path / "data")}
    env |= {f"JUSOU_{name.upper()}_PORT": str(free_port()) for name in
            ("intake", "collaboration", "meeting", "outreach", "participation", "community")}
    done = subprocess.run([str(Path(sys.executable).parent / "jusou"), "up"], env=env, capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 3, (done.returncode, done.stderr[-2000:])
    assert "NATS_URL" in done.stderr and "接続できません" in done.stderr and "cannot reach NATS" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data" / "logs").exists() or not any((tmp_path / "data" / "logs").iterdir())
