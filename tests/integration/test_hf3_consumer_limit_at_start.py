"""A service whose first consumers the stream's consumer limit keeps from being made stops saying so, with what the
operator does (Japanese and English, status 2), not nats-py's traceback (session 21: HE's finding, the lead to HF).

Since nats-server 2.15 a stream that sets no `max_consumers` holds 1,000 consumers, the integrator's included; once
JUSOU is full, a service starting for the first time (or after a release that subscribes to more) cannot make its
durable consumers at `broker.start` (FastStream). It stopped with `nats.js.errors.BadRequestError: ... maximum
consumers limit reached` and its traceback in the log, uvicorn's "Application startup failed" and status 3. Here on a
real nats-server of the test's own (JUSOU's `max_consumers` set to the consumers it already holds, as when they fill
the 1,000), intake is started as its own process (`python -m services.intake`).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import nats as nats_py
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig
from support.servers import free_port, local_nats

from shared import settings
from shared.contract.events import STREAM
from shared.messaging.bus import ensure_streams

ROOT = Path(__file__).resolve().parents[2]


async def fill_the_stream(url: str) -> None:
    """JUSOU with one consumer of someone else's (an integrator's) and room for no more."""
    nc = await nats_py.connect(url)
    try:
        await ensure_streams(nc)
        js = nc.jetstream()
        await js.add_consumer(STREAM, ConsumerConfig(durable_name="integrator-dashboard", filter_subject="jusou.>",
                                                     ack_policy=AckPolicy.EXPLICIT))
        config: StreamConfig = (await js.stream_info(STREAM)).config
        config.max_consumers = 1
        await js.update_stream(config)
    finally:
        await nc.close()


def test_a_service_that_cannot_make_its_consumers_for_the_limit_stops_saying_what_to_do(tmp_path: Path) -> None:
    with local_nats(tmp_path / "nats") as nats:
        asyncio.run(fill_the_stream(nats.url))
        env = {k: v for k, v in os.environ.items() if k not in settings.variable_names()}
        env |= {"JUSOU_DATA_DIR": str(tmp_path / "data"), "NATS_URL": nats.url, "JUSOU_INTAKE_PORT": str(free_port()),
                "JUSOU_AUTH_DIR": os.environ.get("JUSOU_AUTH_DIR", str(tmp_path / "auth"))}
        done = subprocess.run([sys.executable, "-m", "services.intake"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-3000:]
    for said in ("上限", "maximum consumers limit reached", "jusou status", "nats consumer rm", "max_consumers",
                 "intake--"):
        assert said in done.stderr, (said, done.stderr[-3000:])
    assert "Traceback" not in output and "BadRequestError" not in output, output[-3000:]
