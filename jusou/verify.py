"""`jusou audit verify` and `jusou replay`: the stores are the source of truth; prove the rest agrees.

verify, for every service:
- every event its store recorded and its relay has passed is on the `JUSOU` stream exactly once,
  with the very bytes the store would publish now (an event changed in the store or on the stream
  shows as *altered*); events beyond the relay's position are *pending*, not missing;
- nothing is on the stream under a service's subjects that its store did not record (*unknown*);
- every durable consumer's position is consistent: its tracking record never passes what its
  source recorded, and every message JetStream counts as acknowledged was applied (its position is
  within the tracking record) or parked in the dead-letter stream;
- the seal chain (shared/kernel/readmodel.py) recomputed from the store equals the recorded seals:
  a stored event changed or removed after it was sealed breaks the chain at that position;
- no record is quarantined by the read models (one they could not read: *quarantined*, with why).
`--repair` republishes what the stream lost, in store order, with the same `Nats-Msg-Id`.

replay rebuilds a service's read models from its store, with a progress bar, and re-checks the seals.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from nats.js.api import DeliverPolicy
from nats.js.errors import APIError, NotFoundError

from jusou.connection import ConsumerLimitReached, StoreMissing, StreamMissing
from jusou.runner import Translate, application_class, translator
from shared import tenancy
from shared.contract.events import (
    DEAD_LETTER_STREAM,
    STREAM,
    SUBJECT_PREFIX,
    envelope_json,
    parse,
)
from shared.kernel.app import ServiceApplication
from shared.kernel.journey import event_id_of
from shared.kernel.readmodel import GENESIS, seal
from shared.kernel.store import store_env
from shared.messaging.relay import cloudevents_headers
from shared.settings import PORTS, Settings, current


def service_parts(service: str) -> tuple[type[ServiceApplication], Translate]:
    """The Application class and the translator of a service (`services/<service>/`)."""
    if service not in PORTS:
        raise SystemExit(f"サービス {service!r} はありません。{', '.join(PORTS)} のいずれかです / unknown service")
    return application_class(service), translator(service)


def require_stores(services: Iterable[str]) -> None:
    """On SQLite, StoreMissing for the first service whose store the data folder lacks (a mistyped folder), before
    anything is made there: opening a store made an empty one, and Settings a new cipher.key."""
    env_now = current()
    if env_now.store == "postgres":
        require_schemas(services)
        return
    if tenancy.current_tenant() is not None:
        return
    for service in services:
        if not (env_now.data_path / f"{service}.sqlite").is_file():
            raise StoreMissing(service, env_now.data_path)


def require_schemas(services: Iterable[str]) -> None:
    """On PostgreSQL, StoreMissing for the first service whose schema (`JUSOU_PG_SCHEMA_PREFIX` + service) the database
    lacks: opening its store made an empty schema (a mistyped prefix gave six). A database that does not answer is
    left to the store's own error."""
    import psycopg

    env = current()
    wanted = {service: f"{env.pg_schema_prefix}{service}" for service in services}
    try:
        with psycopg.connect(host=env.pg_host, port=env.pg_port, user=env.pg_user, password=env.pg_password,
                             dbname=env.pg_dbname, connect_timeout=5) as conn:
            found = {row[0] for row in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)",
                                                    (list(wanted.values()),))}
    except psycopg.OperationalError:
        return
    for service, schema in wanted.items():
        if schema not in found:
            raise StoreMissing(service, env.data_path, schema, env.pg_dbname)


@contextmanager
def open_store(service: str, follow: bool = False, *, must_exist: bool = False) -> Iterator[ServiceApplication]:
    """A service's store, opened beside (or without) the running service, as settings say. `must_exist` (the
    commands that only read): on SQLite, StoreMissing where the data folder holds no store of the service, before
    anything is made there (opening one made an empty store, and Settings a new cipher.key, in a mistyped folder)."""
    app_class, _ = service_parts(service)
    if must_exist:
        require_stores((service,))
    env = store_env(Settings.from_env(service)) | {"JUSOU_READMODELS_FOLLOW": "1" if follow else "0"}
    app = app_class(env=env)
    try:
        yield app
    finally:
        app.close()


@dataclass
class ServiceReport:
    service: str
    store_events: int = 0
    integration_events: int = 0
    relay_position: int = 0
    on_stream: int = 0
    pending: int = 0
    missing: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    altered: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    consumer_problems: list[str] = field(default_factory=list)
    seal_breaks: list[int] = field(default_factory=list)
    unreadable: list[int] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)  # "position (topic): reason" (shared/kernel/readmodel.py)
    unsealed: int = 0
    republished: int = 0
    held_by_window: list[str] = field(default_factory=list)

    @property
    def problems(self) -> int:
        return (len(self.missing) + len(self.duplicates) + len(self.altered) + len(self.unknown)
                + len(self.consumer_problems) + len(self.seal_breaks) + len(self.unreadable) + len(self.quarantined))


@dataclass
class StreamMessage:
    seq: int
    subject: str
    msg_id: str
    digest: str
    source_position: int


CONSUMER_LIMIT = 10026  # JetStream's "maximum consumers limit reached"


async def read_stream(nc: Any, stream: str, subjects: str) -> list[Any]:
    """Every message of `stream` in order (an ordered consumer; nothing is acknowledged or kept)."""
    js = nc.jetstream()
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        raise StreamMissing(stream) from None
    if info.state.messages == 0:
        return []
    try:
        sub = await js.subscribe(subjects, stream=stream, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
    except APIError as error:
        if error.err_code == CONSUMER_LIMIT:  # the stream full of consumers: it was nats-py's traceback
            raise ConsumerLimitReached(stream) from None
        raise
    messages = []
    try:
        while True:
            msg = await sub.next_msg(timeout=10)
            messages.append(msg)
            if msg.metadata.num_pending == 0:
                return messages
    finally:
        await sub.unsubscribe()


def _source_position(data: bytes) -> int:
    try:
        return int(json.loads(data).get("source_position", 0))
    except (ValueError, AttributeError, TypeError, OverflowError, RecursionError):  # 1e400, a list, nested too deep
        return 0


def check_seals(app: ServiceApplication, report: ServiceReport) -> None:
    """Recompute the chain from the store and compare it with the recorded seals."""
    app.readmodels.catch_up()  # seal what the service has not sealed yet
    recorded = iter(app.readmodels.view.seals(1, 1 << 62))
    chain = GENESIS
    current = next(recorded, None)
    for notification in app.notifications():
        chain = seal(chain, notification)
        while current is not None and current[0] < notification.id:
            report.seal_breaks.append(current[0])  # sealed once, gone from the store now
            current = next(recorded, None)
        if current is None:
            report.unsealed += 1
            continue
        if current[0] == notification.id:
            if current[1] != chain:
                report.seal_breaks.append(notification.id)
                chain = current[1]  # report each break once, not every link after it
            current = next(recorded, None)
    while current is not None:
        report.seal_breaks.append(current[0])
        current = next(recorded, None)


def tracking_beyond(tracked: Iterable[tuple[str, str, int]], heads: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(consumer, problem) for each tracking position beyond its source's store head.

    `tracked` is (consumer service, source, tracking position); `heads` each source's store head
    (sources not in it, or not a number, are not judged). A source's events carry their store
    position, so no real event is beyond its head: a tracking record there was moved by a message
    the source never recorded, and the consumer takes the source's real events still to come for
    duplicates. `jusou audit verify` and `jusou status` (jusou/ops.py) both judge with this.
    """
    found = []
    for service, source, position in tracked:
        head = heads.get(source)
        if isinstance(head, int) and not isinstance(head, bool) and position > head:
            found.append((service, f"{service}--{source}: tracking {position} beyond {source}'s store head {head}"))
    return found


class Verification:
    """One run of `jusou audit verify` over some services."""

    def __init__(self, services: tuple[str, ...], nats_url: str, progress: Callable[[str], None] | None = None) -> None:
        self.services = services
        self.nats_url = nats_url
        self.say = progress or (lambda _: None)
        self.ack_floors: dict[str, int] = {}
        self.tracked: list[tuple[str, str, int]] = []  # (consumer service, source, tracking position)

    async def run(self, repair: bool = False) -> list[ServiceReport]:
        from jusou.connection import connect_once

        nc = await connect_once(self.nats_url, name="jusou-audit-verify", check_version=True)
        try:
            await self.load_ack_floors(nc)
            self.say("reading the JUSOU stream")
            raw = await read_stream(nc, STREAM, f"{SUBJECT_PREFIX}.>")
            stream = [StreamMessage(m.metadata.sequence.stream, m.subject, (m.headers or {}).get("Nats-Msg-Id", ""),
                                    hashlib.sha256(m.data).hexdigest(), _source_position(m.data)) for m in raw]
            parked = {(m.headers or {}).get("Nats-Msg-Id", "") for m in await read_stream(nc, DEAD_LETTER_STREAM, ">")}
            by_service: dict[str, list[StreamMessage]] = defaultdict(list)
            for message in stream:
                by_service[message.subject.split(".")[1]].append(message)
            heads: dict[str, int] = {}
            reports = []
            for service in self.services:
                self.say(f"checking {service}")
                report = ServiceReport(service)
                with open_store(service, must_exist=True) as app:
                    heads[service] = app.recorder.max_notification_id() or 0
                    to_publish = self.compare(app, report, by_service.get(service, []))
                    check_seals(app, report)
                    report.quarantined = [f"{q['position']} ({q['topic']}): {q['reason']}"
                                          for q in app.readmodels.quarantined()]
                    self.check_consumers(app, report, stream, parked)
                if repair and to_publish:
                    js = nc.jetstream()
                    for _, subject, event_id, data in sorted(to_publish):
                        envelope, _ = parse(data)  # the same ce-* headers as the relay's publish (a CloudEvent)
                        ack = await js.publish(subject, data, stream=STREAM, timeout=5,
                                               headers={"Nats-Msg-Id": event_id, **cloudevents_headers(envelope)})
                        if ack.duplicate:
                            # removed from the stream less than its duplicate window ago: JetStream still
                            # remembers the id and drops the copy; run --repair again after the window
                            report.held_by_window.append(event_id)
                        else:
                            report.republished += 1
                reports.append(report)
            for service, problem in tracking_beyond(self.tracked, heads):
                next(r for r in reports if r.service == service).consumer_problems.append(problem)
            return reports
        finally:
            await nc.drain()

    @staticmethod
    def compare(app: ServiceApplication, report: ServiceReport,
                mine: list[StreamMessage]) -> list[tuple[int, str, str, bytes]]:
        """The store's integration events against the stream's; what a repair would republish."""
        _, translate = service_parts(app.service)
        report.relay_position = app.relay_position()
        expected: dict[str, tuple[int, str, bytes]] = {}
        for notification in app.notifications():
            report.store_events += 1
            try:
                event = app.mapper.to_domain_event(notification)
            except Exception:  # noqa: BLE001 - a stored event that no longer decrypts is itself the finding
                report.unreadable.append(notification.id)
                continue
            envelope = translate(event, notification.id)
            if envelope is not None:
                expected[str(envelope.event_id)] = (notification.id, envelope.subject, envelope_json(envelope))
        report.integration_events = len(expected)
        report.on_stream = len(mine)
        seen = Counter(m.msg_id for m in mine)
        report.duplicates = sorted(i for i, n in seen.items() if n > 1)
        report.unknown = sorted(m.msg_id or f"seq {m.seq}" for m in mine if m.msg_id not in expected)
        digests = {m.msg_id: m.digest for m in mine}
        to_publish = []
        for event_id, (position, subject, data) in expected.items():
            if event_id not in seen:
                if position <= report.relay_position:
                    report.missing.append(event_id)
                    to_publish.append((position, subject, event_id, data))
                else:
                    report.pending += 1
            elif digests[event_id] != hashlib.sha256(data).hexdigest():
                report.altered.append(event_id)
        return to_publish

    def check_consumers(self, app: ServiceApplication, report: ServiceReport, stream: list[StreamMessage],
                        parked: set[str]) -> None:
        """A consumer's tracking record against what its source published and what JetStream says was acked."""
        for source, types in app.subscriptions.items():
            tracked = app.recorder.max_tracking_id(source) or 0
            self.tracked.append((app.service, source, tracked))
            relevant = [m for m in stream if m.subject.startswith(f"{SUBJECT_PREFIX}.{source}.")
                        and m.subject.rsplit(".", 1)[-1] in types]
            published = max((m.source_position for m in relevant), default=0)
            if tracked > published:
                report.consumer_problems.append(
                    f"{app.service}--{source}: tracking {tracked} beyond anything {source} published ({published})")
            floor = self.ack_floors.get(f"{app.service}--{source}", 0)
            for m in relevant:
                if m.seq <= floor and m.source_position > tracked and f"{app.service}:{m.seq}" not in parked:
                    report.consumer_problems.append(
                        f"{app.service}--{source}: stream seq {m.seq} acknowledged but never applied "
                        f"(source position {m.source_position} > tracking {tracked})")

    async def load_ack_floors(self, nc: Any) -> None:
        """Each durable consumer's ack floor (the stream sequence up to which everything was acknowledged)."""
        from nats.js.errors import NotFoundError

        js = nc.jetstream()
        for service in self.services:
            app_class, _ = service_parts(service)
            for source in app_class.subscriptions:
                durable = f"{service}--{source}"
                try:
                    info = await js.consumer_info(STREAM, durable)
                except NotFoundError:
                    continue
                self.ack_floors[durable] = info.ack_floor.stream_seq if info.ack_floor else 0


def run_verify(services: tuple[str, ...], nats_url: str, repair: bool,
               progress: Callable[[str], None] | None = None) -> tuple[list[ServiceReport], list[ServiceReport] | None]:
    """Verify; with `repair`, republish what is missing and verify again. (before, after)."""

    async def go() -> tuple[list[ServiceReport], list[ServiceReport] | None]:
        before = await Verification(services, nats_url, progress).run(repair=repair)
        if not any(r.republished for r in before):
            return before, None
        return before, await Verification(services, nats_url, progress).run()

    return asyncio.run(go())


def report_dict(report: ServiceReport) -> dict[str, Any]:
    return {**asdict(report), "problems": report.problems}


def replay(service: str, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Rebuild a service's read models from its store; the figures of the run."""
    with open_store(service, must_exist=True) as app:
        head = app.recorder.max_notification_id() or 0
        before = app.readmodels.view.dump()
        done = 0

        def step(n: int) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(done, head)

        started = time.perf_counter()
        events = app.readmodels.rebuild(progress=step)
        seconds = time.perf_counter() - started
        after = app.readmodels.view.dump()
        return {
            "service": service,
            "events": events,
            "seconds": round(seconds, 3),
            "events_per_second": round(events / seconds) if seconds else None,
            "seal_breaks": list(app.readmodels.seal_mismatches),
            "equal_to_live": before == after,
            "changed_tables": sorted(t for t in after if before.get(t) != after[t]),
        }


def default_nats_url() -> str:
    return current().nats_address


# --- recovering a consumer whose tracking a forged message moved (`jusou tracking rewind`) ----------------


@dataclass
class Rewind:
    """What `jusou tracking rewind` found and did (README, Operating)."""

    consumer: str
    source: str
    source_head: int
    tracking: int
    rewound_to: int | None = None
    removed: list[dict[str, Any]] = field(default_factory=list)  # foreign messages taken off JUSOU
    consumer_deleted: bool = False


def _envelope_fields(data: bytes) -> tuple[int | None, str | None]:
    try:
        body = json.loads(data)
        position, event_id = body.get("source_position"), body.get("event_id")
    except (ValueError, AttributeError, RecursionError):
        return None, None
    return (position if isinstance(position, int) and not isinstance(position, bool) else None), event_id


def foreign_messages(app: ServiceApplication, messages: list[Any]) -> tuple[list[Any], list[Any]]:
    """(real, foreign): the messages on the source's subjects its store recorded (the `event_id` stored at
    the position they claim), and the others, put there by someone holding its NATS password."""
    real: list[Any] = []
    foreign: list[Any] = []
    for m in messages:
        position, event_id = _envelope_fields(m.data)
        found = app.recorder.select_notifications(start=position, limit=1, stop=position) if position and \
            0 < position <= (app.recorder.max_notification_id() or 0) else []
        ours = bool(found) and str(event_id_of(app.service, found[0].originator_id, found[0].originator_version)) == event_id
        (real if ours else foreign).append(m)
    return real, foreign


async def rewind_tracking(consumer: str, source: str, nats_url: str, dry_run: bool = False) -> Rewind:
    """Undo what a forged far position did to `consumer`'s tracking of `source` (the service stopped).

    A tracking beyond the source's store head was moved there by a message on the source's subjects that
    the source never recorded. Every real event of the source before the first such message was handled
    in order, every one after it with a lower position was skipped: the tracking goes back to the highest
    real position before it. The foreign messages are taken off `JUSOU` (so that they are not delivered
    again), and the durable consumer `<consumer>--<source>` is deleted: the service, started again,
    creates it from the first event, takes what it applied for duplicates and applies what it skipped.
    """
    from jusou.connection import connect_once

    app_class, _ = service_parts(consumer)
    if source not in app_class.subscriptions:
        raise SystemExit(f"{consumer} は {source} を購読していません / {consumer} consumes nothing from {source}")
    nc = await connect_once(nats_url, name="jusou-tracking-rewind", check_version=True)
    try:
        messages = await read_stream(nc, STREAM, f"{SUBJECT_PREFIX}.{source}.>")
        with open_store(source, must_exist=True) as upstream:
            head = upstream.recorder.max_notification_id() or 0
            real, foreign = foreign_messages(upstream, messages)
        with open_store(consumer, must_exist=True) as app:
            tracking = app.recorder.max_tracking_id(source) or 0
            done = Rewind(consumer, source, head, tracking)
            if tracking <= head:
                return done  # nothing moved it past its source
            first = min((m.metadata.sequence.stream for m in foreign
                         if (_envelope_fields(m.data)[0] or 0) > head), default=None)
            before = [_envelope_fields(m.data)[0] or 0 for m in real
                      if first is None or m.metadata.sequence.stream < first]
            done.rewound_to = max(before, default=0)
            done.removed = [{"seq": m.metadata.sequence.stream, "subject": m.subject,
                             "source_position": _envelope_fields(m.data)[0], "body": m.data.decode("utf-8", "replace")}
                            for m in foreign]
            if dry_run:
                return done
            js = nc.jetstream()
            for m in foreign:
                await js.delete_msg(STREAM, m.metadata.sequence.stream)
            _set_tracking(app, source, done.rewound_to)
        from nats.js.errors import NotFoundError

        try:
            done.consumer_deleted = await nc.jetstream().delete_consumer(STREAM, f"{consumer}--{source}")
        except NotFoundError:
            done.consumer_deleted = True
        return done
    finally:
        await nc.drain()


def _set_tracking(app: ServiceApplication, source: str, position: int) -> None:
    """Set the single tracking row of `source` (eventsourcing raises it only; a rewind lowers it)."""
    recorder: Any = app.recorder
    with recorder.datastore.transaction(commit=True) as cursor:
        if app.env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
            from psycopg.sql import SQL, Identifier

            cursor.execute(SQL("UPDATE {0}.{1} SET notification_id = %s WHERE application_name = %s").format(
                Identifier(recorder.datastore.schema), Identifier(recorder.tracking_table_name)), (position, source))
        else:
            cursor.execute("UPDATE tracking SET notification_id = ? WHERE application_name = ?", (position, source))
