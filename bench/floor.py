"""`python bench/floor.py`: the bare stack's CPU for one journey, measured on this machine now (issue 19).

Issue 19 asks for ≤ 3 ms of the whole suite's CPU per bus event, from an estimate of what the stack itself costs
("0.5 ms per command, 0.2 ms per stored event with AES and zlib, 0.1 ms per batched delivery": about 1.5 ms per bus
event). A target in milliseconds moves with the machine (the same code measured 8.94 ms on one session's machine and
4.80 on the next); this script measures that floor on the machine of the run, with the libraries the suite is made
of and nothing of ours on top, so that the suite's figure can be read as a ratio to it:

- HTTP: a bare FastAPI app on uvicorn (httptools, uvloop, as the services run), one route shaped like a read of ours
  (a path parameter, a header, a pydantic answer), as a plain `def` (FastAPI's thread pool, as our blocking routes
  run) and as `async def` (no thread); the server process's CPU per request over keep-alive connections;
- the store: the eventsourcing library's `Application` on a SQLite file with AES-GCM and zlib, as the services
  store: CPU per `save` of a new aggregate of one event (one transaction, fsynced), and per load of an aggregate of
  five events;
- NATS: nats-py against a bare nats-server with JetStream: the CPU of both processes per message published with its
  ack (one at a time, as the relay does), and per message pulled from a durable consumer and acked (one at a time,
  as an inbox does at low rates).

The floor of a journey is then those costs times the journey's operations (`--requests`, `--saves`, `--loads`,
`--publishes`, `--deliveries`; the defaults are the bench journey's counts, docs/capacity.md §5.9–§5.10: 12
commands and ~17 reads, ~20 transactions, ~60 aggregate loads, 12 bus events, 20 deliveries), divided by its bus
events. `bench/commands.py journey` measures the suite's own figure for the same journey; the two together say how
many times the bare stack the suite costs, on any machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

HERE = Path(__file__).resolve().parents[1]
for extra in (str(HERE), str(HERE / "tests")):
    if extra not in sys.path:
        sys.path.insert(0, extra)

from bench.stats import cpu_seconds_of

APP = '''
import sys
from typing import Annotated
from uuid import UUID
import uvicorn
from fastapi import FastAPI, Header
from pydantic import BaseModel

class View(BaseModel):
    case_id: UUID
    status: str
    concerns: list[str]

app = FastAPI()

@app.get("/def/{case_id}")
def read_def(case_id: UUID, authorization: Annotated[str, Header()] = "") -> View:
    return View(case_id=case_id, status="open", concerns=["高齢・介護", "ひきこもり"])

@app.get("/async/{case_id}")
async def read_async(case_id: UUID, authorization: Annotated[str, Header()] = "") -> View:
    return View(case_id=case_id, status="open", concerns=["高齢・介護", "ひきこもり"])

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error", loop="uvloop", http="httptools",
            access_log=False)
'''


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def http_floor(n: int, connections: int) -> dict[str, float]:
    """The bare app's server CPU per request, µs, for each route kind."""
    from support.servers import free_port, wait_for_port

    port = free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(APP)
    server = subprocess.Popen([sys.executable, script.name, str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port, deadline_s=30)
        return asyncio.run(_drive_http(server.pid, port, n, connections))
    finally:
        server.terminate()
        server.wait(10)
        os.unlink(script.name)


async def _drive_http(pid: int, port: int, n: int, connections: int) -> dict[str, float]:
    from bench.client import Client

    out: dict[str, float] = {}
    case = uuid4()
    clients = [Client(headers={"authorization": "Bearer x"}) for _ in range(connections)]
    try:
        for kind in ("def", "async"):
            url = f"http://127.0.0.1:{port}/{kind}/{case}"

            async def some(client: Client, k: int, url: str = url) -> None:
                for _ in range(k):
                    response = await client.get(url)
                    if response.status_code != 200:
                        raise RuntimeError(f"{url}: {response.status_code}")

            await asyncio.gather(*(some(c, 50) for c in clients))  # warm
            before = cpu_seconds_of(pid)
            await asyncio.gather(*(some(c, n // connections) for c in clients))
            out[f"http_{kind}_us"] = (cpu_seconds_of(pid) - before) / (n // connections * connections) * 1e6
    finally:
        for c in clients:
            await c.aclose()
    return out


def store_floor(n: int) -> dict[str, float]:
    """CPU per save (a new aggregate, one event, one fsynced transaction) and per load of a five-event aggregate, µs,
    through the library's Application on a SQLite file with AES-GCM and zlib."""
    from eventsourcing.application import Application
    from eventsourcing.cryptography import AESCipher
    from eventsourcing.domain import Aggregate, event

    class Note(Aggregate):
        @event("Opened")
        def __init__(self, status: str, concerns: list[str], division: str) -> None:
            self.status, self.concerns, self.division = status, concerns, division
            self.notes: list[str] = []

        @event("Noted")
        def note(self, text: str, by: str) -> None:
            self.notes.append(text)

    with tempfile.TemporaryDirectory(prefix="jusou-floor-") as folder:
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(Path(folder) / "floor.db"),
               "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher", "CIPHER_KEY": AESCipher.create_key(16),
               "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"}
        app = Application(env=env)
        try:
            ids = []
            for _ in range(50):  # warm
                app.save(Note("open", ["高齢・介護"], "elderly-support"))
            before = _own_cpu()
            for _ in range(n):
                aggregate = Note("open", ["高齢・介護", "ひきこもり"], "elderly-support")
                app.save(aggregate)
                ids.append(aggregate.id)
            save_us = (_own_cpu() - before) / n * 1e6
            some = ids[: min(n, 200)]
            for aggregate_id in some:
                aggregate = app.repository.get(aggregate_id)
                for i in range(4):
                    aggregate.note(f"記録 {i}", "staff-1")
                app.save(aggregate)
            before = _own_cpu()
            loads = 0
            while loads < n:
                for aggregate_id in some:
                    app.repository.get(aggregate_id)
                    loads += 1
            load_us = (_own_cpu() - before) / loads * 1e6
        finally:
            app.close()
    return {"save_us": save_us, "load5_us": load_us}


async def nats_floor(n: int) -> dict[str, float]:
    """CPU of the client and nats-server together per JetStream publish + ack, and per pulled + acked message, µs."""
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

    from bench.run import bare_nats

    proc, url, folder = bare_nats()
    try:
        nc = await nats.connect(url)
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="FLOOR", subjects=["floor.>"], duplicate_window=120.0))
        body = b'{"schema_version":1,"event_type":"CaseEscalated","source":"intake","source_position":1}' * 4
        for i in range(50):
            await js.publish("floor.warm", body, headers={"Nats-Msg-Id": f"w-{i}"})

        def both() -> float:
            return cpu_seconds_of(proc.pid) + _own_cpu()

        before = both()
        for i in range(n):
            await js.publish("floor.one", body, headers={"Nats-Msg-Id": f"p-{i}"})
        publish_us = (both() - before) / n * 1e6
        subscription = await js.pull_subscribe("floor.one", durable="floor", config=ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT, max_ack_pending=1))
        before = both()
        got = 0
        while got < n:
            for message in await subscription.fetch(1, timeout=5):
                await message.ack()
                got += 1
        deliver_us = (both() - before) / n * 1e6
        await nc.close()
        return {"publish_ack_us": publish_us, "deliver_ack_us": deliver_us}
    finally:
        proc.terminate()
        proc.wait(10)
        folder.cleanup()


#: The bench journey's operations other than its requests and bus events, which the bench counts in each run
#: (docs/capacity.md §5.9–§5.10, counted with cProfile and nats-server's figures): store transactions, aggregate
#: loads and deliveries a journey.
JOURNEY_COUNTS = {"saves": 20.0, "loads": 60.0, "deliveries": 20.0}


def measure(n: int) -> dict[str, float]:
    """The bare stack's CPU per operation, µs (HTTP, store, NATS), `n` operations of each kind."""
    costs: dict[str, float] = {}
    costs |= http_floor(n, 4)
    costs |= store_floor(n)
    costs |= asyncio.run(nats_floor(n))
    return costs


def parts_of(costs: dict[str, float], requests: float, publishes: float, saves: float = JOURNEY_COUNTS["saves"],
             loads: float = JOURNEY_COUNTS["loads"], deliveries: float = JOURNEY_COUNTS["deliveries"]) -> dict[str, float]:
    """A journey's floor by part, µs: each operation's bare cost times how many a journey has."""
    return {
        "HTTP (def routes: FastAPI's thread pool)": requests * costs["http_def_us"],
        "store: saves": saves * costs["save_us"],
        "store: loads of five events": loads * costs["load5_us"],
        "bus: publish + ack": publishes * costs["publish_ack_us"],
        "bus: delivery + ack": deliveries * costs["deliver_ack_us"],
    }


def per_bus_event_ms(costs: dict[str, float], requests: float, publishes: float) -> float:
    """The bare stack's CPU per bus event, ms, for a journey of `requests` HTTP requests and `publishes` bus events
    (and JOURNEY_COUNTS' other operations)."""
    return sum(parts_of(costs, requests, publishes).values()) / 1000 / publishes


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python bench/floor.py", description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="operations of each kind")
    parser.add_argument("--requests", type=float, default=29, help="HTTP requests a journey (commands + reads)")
    parser.add_argument("--saves", type=float, default=JOURNEY_COUNTS["saves"], help="store transactions a journey")
    parser.add_argument("--loads", type=float, default=JOURNEY_COUNTS["loads"], help="aggregate loads a journey")
    parser.add_argument("--publishes", type=float, default=12, help="bus events a journey")
    parser.add_argument("--deliveries", type=float, default=JOURNEY_COUNTS["deliveries"], help="deliveries a journey")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    costs = measure(args.n)
    parts = parts_of(costs, args.requests, args.publishes, args.saves, args.loads, args.deliveries)
    journey_ms = sum(parts.values()) / 1000
    per_bus_event_ms = journey_ms / args.publishes
    async_ms = (sum(parts.values()) - args.requests * (costs["http_def_us"] - costs["http_async_us"])) / 1000
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("the bare stack, CPU per operation (µs):")
    for name, value in costs.items():
        print(f"  {name:<20} {value:8.1f}")
    print(f"a journey's floor ({args.requests:g} requests, {args.saves:g} saves, {args.loads:g} loads, "
          f"{args.publishes:g} publishes, {args.deliveries:g} deliveries), ms:")
    for name, value in parts.items():
        print(f"  {name:<42} {value / 1000:6.2f}")
    print(f"  {'total':<42} {journey_ms:6.2f}  = {per_bus_event_ms:.2f} ms per bus event "
          f"({async_ms / args.publishes:.2f} with async routes)")
    result = {"costs_us": costs, "journey_ms": journey_ms, "per_bus_event_ms": per_bus_event_ms,
              "per_bus_event_ms_async_routes": async_ms / args.publishes, "counts": vars(args) | {"json": None},
              "load_average": os.getloadavg()}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
