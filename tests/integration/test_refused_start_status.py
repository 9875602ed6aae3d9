"""A service whose start is refused inside its lifespan (here collaboration with JUSOU_PARTITIONS > 1: it needs each
source's order, shared/messaging/partitions.py) ends with the refusal's status 2 and says why, not uvicorn's 3
(shared/web/http.py `_refused_start`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from support.servers import Nats

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_start_refused_in_the_lifespan_ends_the_process_with_status_2(nats: Nats, tmp_path: Path) -> None:
    env = {**os.environ, "NATS_URL": nats.url, "JUSOU_DATA_DIR": str(tmp_path / "data"),
           "JUSOU_COLLABORATION_PORT": str(free_port()), "JUSOU_PARTITIONS": "4"}
    done = subprocess.run([sys.executable, "-m", "services.collaboration"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "JUSOU_PARTITIONS=1" in done.stderr and "service.start_refused" in done.stderr, done.stderr[-3000:]
