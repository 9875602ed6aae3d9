"""Commit → on the bus: how soon the outbox relay publishes after a command's commit.

Measured beside the raw baseline of the same run: a plain nats-py JetStream publish (with ack)
→ receive on a push subscriber. Prints p50 / p99 and their ratio to the baseline.

    .venv/bin/python bench/relay_latency.py [--n 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import nats
from support.servers import nats_server

from services.intake.application import IntakeApplication
from services.intake.translate import translate
from shared.kernel.store import store_env
from shared.messaging.bus import connect, ensure_streams
from shared.messaging.relay import Relay
from shared.settings import Settings

STAFF = {"staff_id": "bench", "division": "elderly-support"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def raw_baseline(url: str, n: int) -> list[float]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    arrived: asyncio.Queue[float] = asyncio.Queue()

    async def on(msg: nats.aio.msg.Msg) -> None:
        arrived.put_nowait(time.perf_counter())

    await js.add_stream(name="RAW", subjects=["raw.>"])
    await js.subscribe("raw.>", cb=on)
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        await js.publish("raw.x", b"{}", headers={"Nats-Msg-Id": f"raw-{i}"})
        out.append((await arrived.get()) - t0)
    await nc.close()
    return out


async def relay_latency(url: str, data: Path, n: int) -> list[float]:
    os.environ["JUSOU_DATA_DIR"] = str(data)
    app = IntakeApplication(env=store_env(Settings.from_env("intake")))
    nc = await connect(url, "bench-relay")
    await ensure_streams(nc)
    relay = Relay(app, translate, nc, poll_seconds=5.0)
    task = asyncio.create_task(relay.run())
    watcher = await nats.connect(url)
    arrived: asyncio.Queue[float] = asyncio.Queue()

    async def on(msg: nats.aio.msg.Msg) -> None:
        arrived.put_nowait(time.perf_counter())

    await watcher.jetstream().subscribe("jusou.intake.ConsultationReceived", cb=on, deliver_policy="new")
    out = []
    for _ in range(n):
        def command() -> float:
            app.receive_consultation(STAFF, "houkatsu", "elderly-support", "窓口", ["高齢・介護"], {"name": "x"}, None)
            return time.perf_counter()  # the command has returned: its events are durable

        committed = await asyncio.to_thread(command)
        out.append((await arrived.get()) - committed)
    task.cancel()
    await watcher.close()
    await nc.close()
    return out


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, nats_server(Path(tmp) / "nats") as server:
        raw = await raw_baseline(server.url, n)
        relay = await relay_latency(server.url, Path(tmp) / "data", n)
    print(f"{'measure':42} {'p50 ms':>8} {'p99 ms':>8} {'p50 ratio':>10}")
    base50 = statistics.median(raw)
    for name, values in (("raw: js.publish(ack) → push receive", raw), ("relay: command return → on the bus", relay)):
        print(f"{name:42} {statistics.median(values) * 1000:8.2f} {pct(values, 0.99) * 1000:8.2f} "
              f"{statistics.median(values) / base50:10.1f}×")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    asyncio.run(main(parser.parse_args().n))
