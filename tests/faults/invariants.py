"""The invariants, each counted, from the journeys' histories, the stores, the stream and the dead letters."""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client
from nats.js.errors import NotFoundError

from faults.injectors import Poison
from faults.journeys import Acked, Driver, Record, Unreachable
from faults.world import API_TIMEOUT_S, SERVICES, Store, StreamMsg, read_stream
from shared.contract.events import STREAM, PoisonMessage, parse
from shared.kernel.store import store_env
from shared.settings import Settings, cipher_key_in

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
Row = tuple[str, str, str, bool]  # event, its fields and actor with ids blanked, caused by an event


def normalize(row: dict[str, Any]) -> Row:
    """A history row without what differs between two runs of the same journey (ids, times, positions: a field named
    `…_position`, such as the meeting's HeldCase.Announced `source_position`, the start event's place in its source's
    store, which depends on how the journeys run beside each other)."""
    kept = {k: ("<position>" if k.endswith("_position") else v) for k, v in row["fields"].items()} if isinstance(
        row["fields"], dict) else row["fields"]
    fields = UUID.sub("<id>", json.dumps(kept, sort_keys=True, ensure_ascii=False))
    actor = UUID.sub("<id>", json.dumps(row["actor"], sort_keys=True, ensure_ascii=False))
    return row["event"], fields, actor, row["caused_by"] is not None


Fingerprint = dict[str, Counter[Row]]


async def histories(driver: Driver, case_id: str) -> dict[str, list[dict[str, Any]]]:
    found = await asyncio.gather(*(driver.until_answered(lambda s=service: driver.history(s, case_id), f"{service} history")
                                   for service in SERVICES))
    return dict(zip(SERVICES, found, strict=True))


def fingerprint(rows: dict[str, list[dict[str, Any]]]) -> Fingerprint:
    return {service: Counter(normalize(r) for r in service_rows) for service, service_rows in rows.items()}


@dataclass
class Comparison:
    differs: list[str] = field(default_factory=list)  # journeys, each with what differs
    extra_commands: int = 0  # a person's command found more often than in the fault-free run
    extra_effects: int = 0
    missing: int = 0


def compare(records: list[Record], found: dict[str, Fingerprint], baseline: dict[str, Fingerprint]) -> Comparison:
    result = Comparison()
    for record in records:
        if record.failure or record.case_id is None:
            result.differs.append(f"{record.kind}#{record.index}: {record.failure}")
            continue
        mine, expected = found[record.case_id], baseline[record.kind]
        problems = []
        for service in SERVICES:
            extra, missing = mine[service] - expected[service], expected[service] - mine[service]
            for (event, _, _, caused), n in extra.items():
                problems.append(f"{service} {event} +{n}")
                if caused:
                    result.extra_effects += n
                else:
                    result.extra_commands += n
            for (event, _, _, _), n in missing.items():
                problems.append(f"{service} {event} -{n}")
                result.missing += n
        if problems:
            result.differs.append(f"{record.kind}#{record.index} {record.case_id}: {', '.join(problems)}")
    return result


def acknowledged_lost(acked: Iterable[Acked], rows: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    lost = []
    for a in acked:
        found = sum(1 for r in rows.get(a.case_id, {}).get(a.service, [])
                    if r["event"] == a.event and a.aggregate_id in (None, r["aggregate_id"]))
        if found < a.at_least:
            lost.append(f"{a.service} {a.event} of case {a.case_id}: acknowledged ×{a.at_least}, stored ×{found}")
    return lost


# -- the stores, read in this process ------------------------------------------------------------


@dataclass
class StoreScan:
    #: event_id → (source, source_position) of every public event any store recorded
    public: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: event_id → its case id (the partition key: a partitioned service keeps each case's order)
    cases: dict[str, str] = field(default_factory=dict)
    #: per consuming service, in store order: (caused_by event_id, aggregate id, topic)
    effects: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    events: int = 0


def settings_for(service: str, store: Store) -> Settings:
    pg = store.pg
    return Settings(
        service=service, data_dir=store.data_dir, store=store.kind,
        pg_host=pg.host if pg else "", pg_port=pg.port if pg else 0, pg_user=pg.user if pg else "",
        pg_password=pg.password if pg else "", pg_dbname=pg.dbname if pg else "", pg_schema_prefix=store.prefix,
        nats_url="", host="127.0.0.1", port=0, cipher_key=cipher_key_in(store.data_dir), max_deliver=5,
        relay_poll_seconds=1.0,
    )


def scan_stores(store: Store) -> StoreScan:
    from shared.kernel.app import ServiceApplication

    scan = StoreScan()
    for service in SERVICES:
        module = importlib.import_module(f"services.{service}.application")
        kind = next(v for v in vars(module).values()
                    if isinstance(v, type) and issubclass(v, ServiceApplication) and getattr(v, "service", None) == service)
        translate = importlib.import_module(f"services.{service}.translate").translate
        app = kind(env={**store_env(settings_for(service, store)), "JUSOU_READMODELS_FOLLOW": "0"})
        try:
            effects = scan.effects[service] = []
            for notification in app.notifications():
                scan.events += 1
                event = app.mapper.to_domain_event(notification)
                envelope = translate(event, notification.id)
                if envelope is not None:
                    scan.public[str(envelope.event_id)] = (service, notification.id)
                    scan.cases[str(envelope.event_id)] = str(envelope.case_id)
                caused_by = (getattr(event, "meta", None) or {}).get("caused_by")
                if caused_by:
                    effects.append((caused_by, str(notification.originator_id), notification.topic))
        finally:
            app.close()
    return scan


def duplicate_effects(scan: StoreScan) -> list[str]:
    """The same event applied twice: two events of one kind on one aggregate caused by one event."""
    found = []
    for service, effects in scan.effects.items():
        for (cause, aggregate, topic), n in Counter(effects).items():
            if n > 1:
                found.append(f"{service}: {topic} on {aggregate} ×{n} caused by {cause}")
    return found


def order_violations(scan: StoreScan, per_case: set[str] | frozenset[str] = frozenset()) -> tuple[list[str], int]:
    """Per consuming service and upstream source, effects must follow the source's positions; in the services of
    `per_case` (partitioned by case, docs/capacity.md §6.1) per upstream source and case."""
    violations, unknown = [], 0
    for service, effects in scan.effects.items():
        last: dict[tuple[str, str], int] = {}
        for cause, _, topic in effects:
            if cause not in scan.public:
                unknown += 1
                continue
            source, position = scan.public[cause]
            key = (source, scan.cases[cause] if service in per_case else "")
            if position < last.get(key, 0):
                case = f" (case {key[1]})" if key[1] else ""
                violations.append(f"{service}: {topic} from {source}@{position} after {source}@{last[key]}{case}")
            last[key] = max(position, last.get(key, 0))
    return violations, unknown


# -- the stream and the dead letters -----------------------------------------------------------


async def messages(nc: Client, stream: str) -> list[Any]:
    js = nc.jetstream(timeout=API_TIMEOUT_S)
    state = (await js.stream_info(stream)).state
    found = []
    for seq in range(state.first_seq, state.last_seq + 1) if state.messages else ():
        try:
            found.append(await js.get_msg(stream, seq))
        except NotFoundError:
            continue
    return found


@dataclass
class StreamCheck:
    on_stream_not_stored: list[str] = field(default_factory=list)
    stored_not_on_stream: list[str] = field(default_factory=list)
    copies: int = 0  # messages carrying an event already on the stream (the duplicate fault, a relay rewind)
    messages: int = 0


async def stream_messages(nc: Client) -> list[StreamMsg]:
    state = (await nc.jetstream(timeout=API_TIMEOUT_S).stream_info(STREAM)).state
    return await read_stream(nc, STREAM, "jusou.>", state.first_seq, state.last_seq)


def check_stream(msgs: list[StreamMsg], scan: StoreScan, poison: list[Poison]) -> StreamCheck:
    check = StreamCheck(messages=len(msgs))
    injected = {p.seq for p in poison}
    seen: Counter[str] = Counter()
    for msg in msgs:
        if msg.seq in injected:
            continue
        try:
            envelope, _ = parse(msg.data)
        except PoisonMessage as exc:
            check.on_stream_not_stored.append(f"seq {msg.seq}: {exc.reason}")
            continue
        event_id = str(envelope.event_id)
        seen[event_id] += 1
        if scan.public.get(event_id) != (envelope.source, envelope.source_position):
            check.on_stream_not_stored.append(f"seq {msg.seq}: {envelope.source}@{envelope.source_position} {envelope.event_type}")
    check.copies = sum(n - 1 for n in seen.values())
    check.stored_not_on_stream = [f"{s}@{p}" for event_id, (s, p) in scan.public.items() if event_id not in seen]
    return check


@dataclass
class DeadLetterCheck:
    parked: int = 0
    poison_not_parked: list[str] = field(default_factory=list)
    wrong_reason: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # a real event parked: its effect is missing
    reasons: dict[str, str] = field(default_factory=dict)


def headers_of(msg: Any) -> dict[str, str]:
    """The message's headers as UTF-8 text (nats-py's parser leaves non-ASCII values as email Header objects)."""
    raw = msg.hdrs or b""
    try:
        raw = base64.b64decode(raw, validate=True)  # as the stream's message-get API returns them
    except ValueError:
        pass
    lines = raw.decode("utf-8", errors="replace").split("\r\n")[1:]
    return dict(line.split(": ", 1) for line in lines if ": " in line)


def check_dead_letters(msgs: list[Any], poison: list[Poison]) -> DeadLetterCheck:
    check = DeadLetterCheck(parked=len(msgs))
    parked: dict[tuple[bytes, str], str] = {}
    for msg in msgs:
        headers = headers_of(msg)
        consumer, reason = headers.get("Jusou-Consumer", "?"), headers.get("Jusou-Dead-Letter-Reason", "")
        if not any(p.data == msg.data for p in poison):
            check.unexpected.append(f"{consumer} parked {headers.get('Jusou-Original-Subject')}: {reason[:200]}")
            continue
        parked[(msg.data, consumer)] = reason
    for p in poison:
        for consumer in p.consumers:
            reason = parked.get((p.data, consumer))
            if reason is None:
                check.poison_not_parked.append(f"{consumer} did not park {p.subject} ({p.reason})")
            elif p.reason not in reason:
                check.wrong_reason.append(f"{consumer} parked {p.subject} saying {reason[:200]!r}")
            else:
                check.reasons.setdefault(p.reason, reason[:160])
    return check


async def consumer_lag(nc: Client) -> dict[str, int]:
    """Messages not yet delivered or not yet acked, per durable consumer of the stream."""
    js = nc.jetstream(timeout=API_TIMEOUT_S)
    return {info.name: info.num_pending + info.num_ack_pending for info in await js.consumers_info(STREAM)
            if "--" in info.name}  # the services' durable consumers, not the harness's own readers


async def deliveries(nc: Client) -> int:
    """Every delivery nats-server made to the services' durable consumers of the stream (a redelivery too): with
    partitions, each partition consumer is delivered every event its filter names (docs/capacity.md §6.5)."""
    js = nc.jetstream(timeout=API_TIMEOUT_S)
    return sum(info.delivered.consumer_seq for info in await js.consumers_info(STREAM)
               if "--" in info.name and info.delivered is not None)


async def relay_lag(driver: Driver) -> dict[str, int]:
    """Each process's relay (every replica of a service runs one): the store's head less what it published."""
    lags = {}
    for service in SERVICES:
        for replica in range(len(driver.urls[service])):
            name = f"{driver.process(service, replica)} relay"
            try:
                response = await driver.get(service, "/readyz", gated=False, replica=replica)
                body = response.json()
                lags[name] = int(body["store_position"]) - int(body["relay_position"])
            except (Unreachable, KeyError, ValueError):
                lags[name] = -1
    return lags

