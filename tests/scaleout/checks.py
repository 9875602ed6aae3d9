"""What the scale-out tests count: the stream, the stores (each case's history) and the consumers."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from nats.aio.client import Client
from nats.js.errors import NotFoundError
from support.journey import EXPECTED_EVENTS

from shared.contract.events import DEAD_LETTER_STREAM, STREAM, parse

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")


@dataclass
class StreamScan:
    messages: int = 0
    copies: list[str] = field(default_factory=list)  # Nats-Msg-Ids found more than once
    header_mismatch: list[int] = field(default_factory=list)  # seqs whose Nats-Msg-Id is not the event_id
    per_case: dict[str, Counter[tuple[str, str]]] = field(default_factory=dict)  # case → (source, type) counts
    source_of: dict[str, tuple[str, int]] = field(default_factory=dict)  # event_id → (source, source_position)
    order: list[str] = field(default_factory=list)  # a source's events out of store order on the stream


async def scan_stream(nc: Client) -> StreamScan:
    js = nc.jetstream()
    state = (await js.stream_info(STREAM)).state
    scan = StreamScan()
    ids: Counter[str] = Counter()
    last: dict[str, int] = {}
    for seq in range(state.first_seq, state.last_seq + 1) if state.messages else ():
        try:
            msg = await js.get_msg(STREAM, seq)
        except NotFoundError:
            continue
        scan.messages += 1
        envelope, _ = parse(msg.data or b"")
        event_id = str(envelope.event_id)
        msg_id = (msg.headers or {}).get("Nats-Msg-Id")
        if msg_id != event_id:
            scan.header_mismatch.append(seq)
        ids[msg_id or ""] += 1
        scan.per_case.setdefault(str(envelope.case_id), Counter())[(envelope.source, envelope.event_type)] += 1
        scan.source_of[event_id] = (envelope.source, envelope.source_position)
        if envelope.source_position < last.get(envelope.source, 0):
            scan.order.append(f"{envelope.source}@{envelope.source_position} after @{last[envelope.source]}")
        last[envelope.source] = max(last.get(envelope.source, 0), envelope.source_position)
    scan.copies = [i for i, n in ids.items() if n > 1]
    return scan


async def dead_letters(nc: Client) -> int:
    return int((await nc.jetstream().stream_info(DEAD_LETTER_STREAM)).state.messages)


def expected_per_case() -> Counter[tuple[str, str]]:
    return Counter(EXPECTED_EVENTS)


async def consumers_idle(nc: Client) -> bool:
    """Every durable consumer of the stream has nothing pending and nothing unacknowledged."""
    infos = await nc.jetstream().consumers_info(STREAM)
    return bool(infos) and all(i.num_pending == 0 and i.num_ack_pending == 0 for i in infos)


async def relays_done(client: httpx.AsyncClient, replicas: dict[str, list[str]]) -> bool:
    """Each service's relays (any live replica) have passed everything in its store."""
    for urls in replicas.values():
        bodies = []
        for url in urls:
            try:
                response = await client.get(f"{url}/readyz", timeout=2)
            except httpx.HTTPError:
                continue  # a killed replica
            if response.status_code == 200:
                bodies.append(response.json())
        if not bodies or max(b["relay_position"] for b in bodies) < max(b["store_position"] for b in bodies):
            return False
    return True


async def settle(nc: Client, client: httpx.AsyncClient, replicas: dict[str, list[str]], deadline_s: float = 60) -> None:
    """Wait until the bus is quiet: relays caught up, consumers idle, twice in a row."""
    deadline = time.monotonic() + deadline_s
    quiet = 0
    while quiet < 2:
        if time.monotonic() > deadline:
            raise AssertionError(f"the suite did not settle within {deadline_s} s")
        quiet = quiet + 1 if await relays_done(client, replicas) and await consumers_idle(nc) else 0
        await asyncio.sleep(0.3)


async def inbox_counts(client: httpx.AsyncClient, replicas: dict[str, list[str]]) -> Counter[str]:
    """applied / duplicates / dead_lettered summed over the live replicas (since each started)."""
    total: Counter[str] = Counter()
    for urls in replicas.values():
        for url in urls:
            try:
                body = (await client.get(f"{url}/readyz", timeout=2)).json()
            except (httpx.HTTPError, json.JSONDecodeError):
                continue
            total.update({k: int(body[k]) for k in ("applied", "duplicates", "dead_lettered", "published")})
    return total


@dataclass
class StoreScan:
    per_case: dict[str, dict[str, Counter[str]]] = field(default_factory=dict)  # case → service → event counts
    doubled: list[str] = field(default_factory=list)  # one cause applied twice
    rows: int = 0
    effects: list[tuple[str, int, str]] = field(default_factory=list)  # (service, store position, caused_by)


async def scan_histories(client: httpx.AsyncClient, urls: dict[str, str], cases: list[str]) -> StoreScan:
    """Each case's history in each service's store (GET /cases/{id}/history through the balancer)."""
    scan = StoreScan()
    for case_id in cases:
        services: dict[str, Counter[str]] = {}
        for service in SERVICES:
            response = await client.get(f"{urls[service]}/cases/{case_id}/history")
            assert response.status_code == 200, (service, case_id, response.status_code)
            rows: list[dict[str, Any]] = response.json()
            scan.rows += len(rows)
            services[service] = Counter(r["event"] for r in rows)
            causes = Counter((r["caused_by"], r["aggregate_id"], r["event"]) for r in rows if r["caused_by"])
            scan.doubled += [f"{service} {event} on {agg} caused by {cause} ×{n}"
                             for (cause, agg, event), n in causes.items() if n > 1]
            scan.effects += [(service, r["position"], r["caused_by"]) for r in rows if r["caused_by"]]
        scan.per_case[case_id] = services
    return scan


def order_violations(effects: list[tuple[str, int, str]], source_of: dict[str, tuple[str, int]]) -> list[str]:
    """In each consuming store, the effects of one source's events follow that source's order."""
    found = []
    last: dict[tuple[str, str], tuple[int, int]] = {}
    for service, position, cause in sorted(effects):
        if cause not in source_of:
            continue
        source, source_position = source_of[cause]
        seen = last.get((service, source))
        if seen and source_position < seen[1]:
            found.append(f"{service}@{position}: {source}@{source_position} applied after {source}@{seen[1]}")
        last[(service, source)] = (position, max(source_position, seen[1] if seen else 0))
    return found
