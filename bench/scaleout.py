"""Scale-out figures for docs/capacity.md: journeys through the 3-node NATS cluster and two replicas.

    .venv/bin/python bench/scaleout.py [--seconds 20] [--workers 8] [--no-single] [--json]

In one run, on PostgreSQL (JUSOU_PG_*, database `test` by default, a schema prefix of its own,
dropped afterwards):

- raw: the eventsourcing recorder saving one aggregate per transaction (bench/raw.py), the store
  write every event needs at least once — the baseline the figures below are divided by;
- events per case: one journey (tests/support/journey.py) alone, counted in every store and on the
  stream;
- the scale-out shape (`jusou.cluster.ScaleOut`: three nats-servers, two replicas per service)
  under a closed loop of `--workers` concurrent journeys for `--seconds`, spread over the replicas
  by the tests' balancer: journeys/s, events/s stored (every store's head) and on the bus, journey
  time p50/p99;
- unless --no-single: the same load on one nats-server and one process per service
  (`jusou.runner.Suite`), so the cost or gain of the cluster on this machine is a ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in (str(ROOT / "tests"), str(ROOT)):  # first, even when PYTHONPATH names them: `scaleout` is
    if extra in sys.path:                          # tests/scaleout, not this script's own folder's scaleout.py
        sys.path.remove(extra)
    sys.path.insert(0, extra)

import httpx
from rich.console import Console
from rich.table import Table
from scaleout.balancer import Balancer
from support.auth import reader
from support.journey import EXPECTED_EVENTS
from support.servers import free_port

from bench import raw
from bench.load import SaturationJourney, closed_loop
from bench.stats import pct, rate
from shared.contract.events import STREAM
from shared.messaging.bus import connect

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
console = Console(stderr=True)


def pg_env(prefix: str) -> dict[str, str]:
    info = raw.pg_conninfo()
    return {"JUSOU_STORE": "postgres", "JUSOU_PG_HOST": info["host"], "JUSOU_PG_PORT": str(info["port"]),
            "JUSOU_PG_USER": info["user"], "JUSOU_PG_PASSWORD": info["password"], "JUSOU_PG_DBNAME": info["dbname"],
            "JUSOU_PG_SCHEMA_PREFIX": prefix, "JUSOU_PG_POOL_SIZE": "2", "JUSOU_LOG_FORMAT": "json"}


def drop(prefix: str) -> None:
    import psycopg

    with psycopg.connect(**raw.pg_conninfo(), autocommit=True) as conn:
        for (schema,) in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (prefix + "%",)):
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


async def heads(client: httpx.AsyncClient, replicas: dict[str, list[str]]) -> int:
    """Events in every store (the highest head any replica of each service reports)."""
    total = 0
    for urls in replicas.values():
        found = []
        for url in urls:
            try:
                found.append((await client.get(f"{url}/readyz", timeout=5)).json()["store_position"])
            except (httpx.HTTPError, ValueError, KeyError):
                continue
        total += max(found, default=0)
    return total


async def measure(replicas: dict[str, list[str]], nats_url: str, operator: tuple[Any, Any], workers: int,
                  seconds: float) -> dict[str, Any]:
    balancer = Balancer(replicas)
    nc = await connect(nats_url, "bench-scaleout", *operator)
    async with httpx.AsyncClient(transport=balancer, timeout=30, trust_env=False, headers=reader()) as client:
        journey = SaturationJourney(balancer.urls(), client)
        before_store, before_bus = await heads(client, replicas), (await nc.jetstream().stream_info(STREAM)).state.messages
        case = await journey.whole_for_bench()  # alone: events per case
        await asyncio.sleep(2)  # its last effects
        stored_per_case = await heads(client, replicas) - before_store
        bus_per_case = (await nc.jetstream().stream_info(STREAM)).state.messages - before_bus
        start_store, start_bus = await heads(client, replicas), (await nc.jetstream().stream_info(STREAM)).state.messages
        began = time.perf_counter()
        outcome = await closed_loop(journey.whole_for_bench, workers, seconds)
        elapsed = time.perf_counter() - began
        stored = await heads(client, replicas) - start_store
        bus = (await nc.jetstream().stream_info(STREAM)).state.messages - start_bus
    await nc.close()
    return {
        "alone_case": case,
        "stored_events_per_case": stored_per_case,
        "bus_events_per_case": bus_per_case,
        "journeys": len(outcome.completed),
        "errors": outcome.errors,
        "first_error": outcome.first_error,
        "journeys_per_s": round(rate(len(outcome.completed), elapsed), 3),
        "stored_events_per_s": round(rate(stored, elapsed), 1),
        "bus_events_per_s": round(rate(bus, elapsed), 1),
        "journey_s_p50": round(pct(outcome.completed, 0.5), 2) if outcome.completed else None,
        "journey_s_p99": round(pct(outcome.completed, 0.99), 2) if outcome.completed else None,
    }


def scaleout_phase(folder: Path, workers: int, seconds: float) -> dict[str, Any]:
    from jusou.cluster import NodePorts, ScaleOut

    prefix = f"bso{uuid.uuid4().hex[:6]}_"
    scale = ScaleOut(folder / "scaleout", nodes=tuple(NodePorts(free_port(), free_port(), free_port()) for _ in range(3)),
                     ports={s: [free_port(), free_port()] for s in SERVICES}, extra_env=pg_env(prefix))
    try:
        with scale:
            figures = asyncio.run(measure({s: scale.urls(s) for s in SERVICES}, scale.cluster.url,
                                          scale.cluster.operator(), workers, seconds))
            figures["start_up_s"] = round(scale.ready_seconds or 0, 1)
            return figures
    finally:
        drop(prefix)


def single_phase(folder: Path, workers: int, seconds: float) -> dict[str, Any]:
    from jusou.runner import Suite

    prefix = f"bsi{uuid.uuid4().hex[:6]}_"
    suite = Suite(folder / "single", nats_port=free_port(), ports={s: free_port() for s in SERVICES},
                  extra_env=pg_env(prefix))
    try:
        with suite:
            figures = asyncio.run(measure({s: [suite.url(s)] for s in SERVICES}, suite.nats_url, suite.nats_operator(),
                                          workers, seconds))
            figures["start_up_s"] = round(suite.ready_seconds or 0, 1)
            return figures
    finally:
        drop(prefix)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=8, help="concurrent journeys (closed loop)")
    parser.add_argument("--no-single", action="store_true", help="skip the one-node, one-replica comparison")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    args = parser.parse_args(argv)
    why = raw.postgres_answers()
    if why is not None:
        raise SystemExit(f"PostgreSQL is needed (JUSOU_PG_*): {why}")
    out: dict[str, Any] = {"workers": args.workers, "seconds": args.seconds, "events_per_case_on_bus": len(EXPECTED_EVENTS)}
    console.print("raw: the recorder saving one aggregate per transaction (PostgreSQL)…")
    out["raw_postgres"] = raw.recorder_all(2000, 3.0, use_pg=True)["postgres"]
    with tempfile.TemporaryDirectory(prefix="jusou-bench-scaleout-") as folder:
        console.print("scale-out: 3 NATS nodes, 2 replicas per service…")
        out["scaleout"] = scaleout_phase(Path(folder), args.workers, args.seconds)
        if not args.no_single:
            console.print("single: 1 NATS, 1 process per service…")
            out["single"] = single_phase(Path(folder), args.workers, args.seconds)
    save = out["raw_postgres"]["save_one_aggregate_per_s"]
    table = Table(title="scale-out on this machine / この機械でのスケールアウト", title_justify="left")
    for column in ("figure", "3 NATS × 2 replicas", "ratio to raw save", *(("1 NATS × 1", "cluster ÷ single") if "single" in out else ())):
        table.add_column(column)
    for key in ("journeys_per_s", "stored_events_per_s", "bus_events_per_s", "journey_s_p50", "journey_s_p99",
                "stored_events_per_case", "bus_events_per_case", "errors", "start_up_s"):
        value = out["scaleout"][key]
        row = [key, str(value), f"{value / save:.3f}" if key == "stored_events_per_s" and value else ""]
        if "single" in out:
            other = out["single"][key]
            row += [str(other), f"{value / other:.2f}" if isinstance(value, float) and other else ""]
        table.add_row(*row)
    console.print(table)
    console.print(f"raw PostgreSQL save, one aggregate per transaction: {save}/s")
    target = ROOT / "data" / "bench"
    target.mkdir(parents=True, exist_ok=True)
    (target / "scaleout.json").write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(out, indent=2, ensure_ascii=False))
    return out


if __name__ == "__main__":
    main()
