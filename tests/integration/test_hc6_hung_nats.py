"""A NATS that stops answering without closing the connection is taken for gone within about 30 s (HC's operator
review, session 24).

On a `jusou up` of HC's, nats-server was frozen (SIGSTOP: a hung server, or a network path that drops packets without
a reset): for as long as it was, each service's `/readyz` answered 200 and `jusou_bus_connected` stayed 1 while every
publish timed out, since a service's connection (shared/messaging/bus.py `connect`) kept nats-py's pings, one each
120 s with 2 unanswered allowed: up to 6 minutes before the connection was found stale, then 2 more before
JusouBusDisconnected. The connection now pings every 10 s and is taken for stale after 2 unanswered, then reconnects
once the server answers again.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from support.poll import eventually
from support.servers import local_nats

from shared.messaging.bus import connect


async def test_a_frozen_nats_is_found_stale_and_the_connection_comes_back(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NATS_USER", "NATS_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))  # no operator's password of a data folder: a NATS without auth
    with local_nats(tmp_path / "nats") as nats:
        pid = nats.stop.__self__.pid  # type: ignore[attr-defined]  # local_nats: stop is the Popen's terminate
        nc = await connect(nats.url, "hung-nats-test")
        try:
            assert nc.is_connected
            os.kill(pid, signal.SIGSTOP)
            try:
                async def gone() -> bool:
                    return not nc.is_connected

                await eventually(gone, "the connection to a frozen nats-server to be taken for stale", deadline_s=60)
            finally:
                os.kill(pid, signal.SIGCONT)

            async def back() -> bool:
                return nc.is_connected

            await eventually(back, "the connection to come back once nats-server answers again", deadline_s=30)
            await nc.flush(timeout=5)
        finally:
            await nc.close()
