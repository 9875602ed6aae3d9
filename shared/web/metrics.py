"""`GET /metrics`: what a service is doing, in the Prometheus text format (prometheus_client).

Each app has its own CollectorRegistry (several services can run in one process, as in tests).
Two kinds of figures:

- counted as things happen: HTTP requests by route template, method and status (an ASGI
  middleware; the route template, never the raw path, which can carry a name), and each
  integration event a consumer handled, by source, type and outcome, with the handler's
  latency (`Inbox.observe`, set by `create_service`);
- read at scrape time by `JusouCollector` from what the service already keeps: the store's
  head and size, the relay's position and count, the inbox's counts, the events recorded by
  type (following the store's notification log from where the last scrape stopped), and, with a
  short timeout, each durable consumer's info from JetStream (`num_pending`,
  `num_redelivered`, …) and the dead letters parked for this service;
- what makes readyz say `degraded` about the bus (issue 13): each consumer's tracking position
  per source (`jusou_consumer_tracking_position`, to set beside the source's
  `jusou_store_position`: never above it), the real events skipped behind a tracking some
  message moved past them (`jusou_consumer_skipped_behind_tracking_total`) and the messages on
  the service's own subjects that its store never recorded (`jusou_relay_foreign_messages_total`);
- what an operator must act on (issue 17): the read models' own position and lag behind the store
  (`jusou_readmodel_position`, `jusou_readmodel_lag`) and the dead letters no replay has been sent for
  (`jusou_dead_letters_unreplayed`).

Every series carries a `service` label, and on a deployment of many municipalities the store and bus figures a
`tenant` label (issue 18). Counters restart with the process, except
`jusou_events_recorded_total`, which is counted from the store itself.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import anyio
from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Histogram,
    generate_latest,
)
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Scope

from shared.contract.events import (
    DEAD_LETTER_PREFIX,
    DEAD_LETTER_STREAM,
    REPLAY_PREFIX,
    REPLAY_STREAM,
    STREAM,
)
from shared.observe.logs import AfterEachRequest
from shared.web.policy import public

#: JetStream answers in about a millisecond; a scrape must not hang on a bus that does not.
CONSUMER_INFO_TIMEOUT_SECONDS = 1.0
NOTIFICATIONS_PER_READ = 1000
HANDLER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class ConsumerState:
    """One durable consumer as JetStream reports it (None: it did not answer)."""

    name: str
    stream: str
    delivered: int | None = None
    ack_floor: int | None = None
    pending: int | None = None
    redelivered: int | None = None
    ack_pending: int | None = None


@dataclass
class Snapshot:
    """What a scrape read, handed to the collector."""

    store_position: int = 0
    store_bytes: int | None = None
    recorded: dict[str, int] = field(default_factory=dict)
    tracking: dict[str, int] = field(default_factory=dict)
    consumers: list[ConsumerState] = field(default_factory=list)
    parked: int | None = None
    replays_sent: int | None = None  # messages on JUSOU_REPLAY sent back to this service's consumers
    readmodel_position: int | None = None
    bus_connected: bool = False
    quarantined: int = 0  # records the read models could not read (shared/kernel/readmodel.py)


class RecordedEvents:
    """Events in the store by type, counted by following its notification log (one pass overall)."""

    def __init__(self) -> None:
        self.position = 0
        self.by_type: Counter[str] = Counter()
        self._lock = threading.Lock()  # two scrapes at once must not count a notification twice

    def catch_up(self, app: Any) -> dict[str, int]:
        with self._lock:
            return self._catch_up(app)

    def _catch_up(self, app: Any) -> dict[str, int]:
        while True:
            batch = app.recorder.select_notifications(start=self.position + 1, limit=NOTIFICATIONS_PER_READ)
            for notification in batch:
                self.by_type[notification.topic.rsplit(":", 1)[-1]] += 1
            if batch:
                self.position = batch[-1].id
            if len(batch) < NOTIFICATIONS_PER_READ:
                return dict(self.by_type)


class JusouCollector(Collector):
    """The figures read at scrape time (`Snapshot`) and the runtime's own counters.

    On a deployment of many municipalities (issue 18) a scrape reads every tenant's runtime and each series of these
    figures carries a `tenant` label; with one municipality the series are as they always were (no `tenant`)."""

    def __init__(self, service: str, api: FastAPI) -> None:
        self.service = service
        self.api = api
        self.views: list[tuple[str, Any, Snapshot]] = []  # (tenant, its runtime, what this scrape read of it)
        self.tenanted = False

    def collect(self) -> Iterator[Metric]:
        if not self.views:
            return
        service, extra = self.service, (["tenant"] if self.tenanted else [])
        families: dict[str, Any] = {}  # Gauge- or CounterMetricFamily, in the order first met

        def family(kind: Any, name: str, doc: str, labels: list[str]) -> Any:
            if name not in families:
                families[name] = kind(name, doc, labels=[*labels, *extra])
            return families[name]

        for tenant, runtime, s in self.views:
            who = [tenant] if extra else []

            def gauge(name: str, doc: str, value: float | None, who: list[str] = who) -> None:
                if value is not None:
                    family(GaugeMetricFamily, name, doc, ["service"]).add_metric([service, *who], value)

            def counter(name: str, doc: str, value: float, who: list[str] = who) -> None:
                family(CounterMetricFamily, name, doc, ["service"]).add_metric([service, *who], value)

            self._figures(runtime, s, gauge, counter)
            tracking = family(GaugeMetricFamily, "jusou_consumer_tracking_position",
                              "the source position this service's consumer of a source has reached (its tracking "
                              "record); never above that source's jusou_store_position", ["service", "source"])
            for source, position in sorted(s.tracking.items()):
                tracking.add_metric([service, source, *who], position)
            skipped = family(CounterMetricFamily, "jusou_consumer_skipped_behind_tracking",
                             "events of a source skipped as duplicates behind a tracking position that some message "
                             "moved past them, since start (shared/messaging/inbox.py)", ["service", "source"])
            for source, behind in sorted(getattr(runtime.inbox, "behind", {}).items()):
                skipped.add_metric([service, source, *who], behind.skipped)
            replaced = family(CounterMetricFamily, "jusou_consumer_replaced",
                              "existing consumers of this service's name replaced (or found wanting and kept) rather "
                              "than adopted since start, as they would not deliver what it has still to apply "
                              "(shared/messaging/adoption.py; readyz degraded names each)", ["service", "consumer"])
            for consumer in sorted(getattr(runtime.inbox, "replaced", {})):
                replaced.add_metric([service, consumer, *who], 1)
            recorded = family(CounterMetricFamily, "jusou_events_recorded",
                              "events in the store, by type (from the store)", ["service", "type"])
            for event_type, count in sorted(s.recorded.items()):
                recorded.add_metric([service, event_type, *who], count)
            for name, (attribute, doc) in CONSUMER_FIELDS.items():
                each = family(GaugeMetricFamily, name, f"durable consumer (JetStream consumer info): {doc}",
                              ["service", "consumer", "stream"])
                for consumer in s.consumers:
                    value = getattr(consumer, attribute)
                    if value is not None:
                        each.add_metric([service, consumer.name, consumer.stream, *who], value)
            up = family(GaugeMetricFamily, "jusou_consumer_info_up",
                        "1 when JetStream answered for the consumer at this scrape", ["service", "consumer", "stream"])
            for consumer in s.consumers:
                up.add_metric([service, consumer.name, consumer.stream, *who], int(consumer.pending is not None))
        yield from families.values()

    @staticmethod
    def _figures(runtime: Any, s: Snapshot, gauge: Callable[[str, str, float | None], None],
                 counter: Callable[[str, str, float], None]) -> None:
        """One runtime's single-valued figures (store, relay, dead letters, read models, bus)."""
        gauge("jusou_store_position", "notification id of the newest event in the store (store size)", s.store_position)
        gauge("jusou_store_bytes", "bytes of the SQLite store file and its write-ahead log", s.store_bytes)
        gauge("jusou_relay_position", "the last store position the relay has dealt with", runtime.relay.position)
        gauge("jusou_relay_lag", "events recorded but not yet dealt with by the relay (store − relay)",
              max(0, s.store_position - runtime.relay.position))
        counter("jusou_events_published", "events the relay published to JUSOU since start", runtime.relay.published)
        counter("jusou_dead_lettered", "messages this service's consumers parked on JUSOU_DLQ since start",
                runtime.inbox.dead_lettered)
        gauge("jusou_dead_letters_parked", "messages on JUSOU_DLQ parked by this service (all time)", s.parked)
        gauge("jusou_dead_letters_unreplayed",
              "dead letters parked by this service that no `jusou deadletters replay` has sent back yet "
              "(parked − replays sent; a replay that fails again parks a new one)",
              None if s.parked is None or s.replays_sent is None else max(0, s.parked - s.replays_sent))
        gauge("jusou_readmodel_position", "the store position the read models have indexed (their tracking)",
              s.readmodel_position)
        gauge("jusou_readmodel_lag", "events in the store the read models have not indexed yet (store − read model)",
              None if s.readmodel_position is None else max(0, s.store_position - s.readmodel_position))
        gauge("jusou_bus_connected", "1 when the service's NATS connection is up", int(s.bus_connected))
        counter("jusou_readmodel_quarantined", "stored records the read models could not read and skipped "
                "(position and reason: GET /readyz)", s.quarantined)
        counter("jusou_relay_foreign_messages",
                "messages on this service's own subjects that its store never recorded, seen since start",
                getattr(runtime.relay, "foreign_count", 0))


CONSUMER_FIELDS = {
    "jusou_consumer_delivered_sequence": ("delivered", "stream sequence of the last message delivered"),
    "jusou_consumer_ack_floor_sequence": ("ack_floor", "stream sequence up to which every message was acked"),
    "jusou_consumer_pending": ("pending", "messages on the stream the consumer has not been given yet (lag)"),
    "jusou_consumer_redelivered": ("redelivered", "messages delivered more than once and not yet acked"),
    "jusou_consumer_ack_pending": ("ack_pending", "messages delivered and not yet acked"),
}


#: the methods counted under their own name (every route takes some of them); any other the HTTP parser lets through
#: (PROPFIND, MKCOL, SEARCH … about thirty) is counted as `other`, so that requests without a token cannot add series
#: (HB's review, session 24: 1,292 such requests made intake's /metrics 2.95 MB, 25,882 series)
COUNTED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """A service's metrics: its registry, the live counters and the scrape-time collector."""

    def __init__(self, service: str, api: FastAPI) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = PromCounter("jusou_http_requests", "HTTP requests by route template, method and status",
                                    ["service", "route", "method", "status"], registry=self.registry)
        self.request_seconds = Histogram("jusou_http_request_seconds", "HTTP request duration by route template",
                                         ["service", "route", "method"], registry=self.registry)
        self.consumed = PromCounter(
            "jusou_events_consumed",
            "integration events a consumer handled, by source, type and outcome (applied, duplicate, failed); "
            "`via` is `stream` (JUSOU) or `replay` (JUSOU_REPLAY)",
            ["service", "source", "type", "outcome", "via"], registry=self.registry)
        self.redeliveries = PromCounter("jusou_redeliveries", "events handled again after an earlier try, by source",
                                        ["service", "source"], registry=self.registry)
        self.handler_seconds = Histogram("jusou_handler_seconds", "time to apply an integration event (app.receive)",
                                         ["service", "source", "type"], buckets=HANDLER_BUCKETS, registry=self.registry)
        self.collector = JusouCollector(service, api)
        self.registry.register(self.collector)
        self.recorded: dict[str, RecordedEvents] = {}  # by tenant ("": the one municipality)
        self._request_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}  # (route, method, status) → series
        #: (source, type, outcome, via) → the consumed counter's and the handler histogram's series; source → redeliveries'
        self._event_series: dict[tuple[str, str, str, str], tuple[Any, Any]] = {}
        self._redelivery_series: dict[str, Any] = {}

    def count_request(self, scope: Scope, status: int, seconds: float) -> None:
        """An answered HTTP request, by its route template (never the raw path), method and status. Each label set's
        counter and histogram are looked up once (`labels` hashes and locks on every call)."""
        route = getattr(scope.get("route"), "path", None) or "(unmatched)"
        method = scope.get("method", "")
        if method not in COUNTED_METHODS:
            method = "other"  # PROPFIND, M-SEARCH…: a label set the client chose was a series for the process's life
        found = self._request_series.get((route, method, status))
        if found is None:
            found = self._request_series[route, method, status] = (
                self.requests.labels(self.service, route, method, str(status)),
                self.request_seconds.labels(self.service, route, method))
        found[0].inc()
        found[1].observe(seconds)

    def observe(self, envelope: Any, outcome: str, seconds: float, tries: int, via: str = "stream") -> None:
        """Called by the inbox after each try of an integration event (shared/messaging/inbox.py). Each label set's
        series are looked up once, as `count_request`'s (issue 19: two `labels` a message, each hashing and locking)."""
        source, event_type = str(envelope.source), str(envelope.event_type)
        found = self._event_series.get((source, event_type, outcome, via))
        if found is None:
            found = self._event_series[source, event_type, outcome, via] = (
                self.consumed.labels(self.service, source, event_type, outcome, via),
                self.handler_seconds.labels(self.service, source, event_type))
        found[0].inc()
        found[1].observe(seconds)
        if tries > 1:
            again = self._redelivery_series.get(source)
            if again is None:
                again = self._redelivery_series[source] = self.redeliveries.labels(self.service, source)
            again.inc()

    async def scrape(self, runtime: Any) -> bytes:
        """Read every tenant's runtime (one, without a tenants file), then render; no await between the two."""
        tenants: dict[str, Any] | None = getattr(runtime, "runtimes", None)  # shared/web/deps.py Tenants
        views = [(tenant, one, await self._snapshot(tenant, one)) for tenant, one in (tenants or {"": runtime}).items()]
        self.collector.views, self.collector.tenanted = views, tenants is not None
        return generate_latest(self.registry)

    async def _snapshot(self, tenant: str, runtime: Any) -> Snapshot:
        snapshot = Snapshot(bus_connected=bool(runtime.relay.nc.is_connected))
        snapshot.store_position, snapshot.recorded, snapshot.tracking = await anyio.to_thread.run_sync(
            self._read_store, tenant, runtime.app)
        snapshot.readmodel_position = await anyio.to_thread.run_sync(runtime.app.readmodels.position)
        snapshot.quarantined = len(await anyio.to_thread.run_sync(runtime.app.readmodels.quarantined))
        snapshot.store_bytes = sqlite_bytes(runtime.app)
        snapshot.consumers, snapshot.parked, snapshot.replays_sent = await self._read_bus(runtime)
        return snapshot

    def _read_store(self, tenant: str, app: Any) -> tuple[int, dict[str, int], dict[str, int]]:
        head = app.recorder.max_notification_id() or 0
        recorded = self.recorded.setdefault(tenant, RecordedEvents())  # each tenant's store followed on its own
        return head, recorded.catch_up(app), tracking_positions(app)

    async def _read_bus(self, runtime: Any) -> tuple[list[ConsumerState], int | None, int | None]:
        js = runtime.relay.nc.jetstream()
        names = [(f"{self.service}--{source}", STREAM) for source in sorted(runtime.app.subscriptions)]
        if runtime.app.subscriptions:
            names.append((f"{self.service}--replay", REPLAY_STREAM))

        async def info(name: str, stream: str) -> ConsumerState:
            state = ConsumerState(name, stream)
            try:
                found = await asyncio.wait_for(js.consumer_info(stream, name, timeout=CONSUMER_INFO_TIMEOUT_SECONDS),
                                               CONSUMER_INFO_TIMEOUT_SECONDS)
            except Exception:  # noqa: BLE001 — a consumer that did not answer is shown as such (info_up 0)
                return state
            state.delivered = found.delivered.stream_seq if found.delivered else None
            state.ack_floor = found.ack_floor.stream_seq if found.ack_floor else None
            state.pending, state.redelivered = found.num_pending, found.num_redelivered
            state.ack_pending = found.num_ack_pending
            return state

        async def on_subjects(stream_name: str, prefix: str) -> int | None:
            try:
                stream = await asyncio.wait_for(
                    js.stream_info(stream_name, subjects_filter=f"{prefix}.{self.service}.>"),
                    CONSUMER_INFO_TIMEOUT_SECONDS)
            except Exception:  # noqa: BLE001 — unknown this time; the gauge is left out
                return None
            waiting: int = sum((stream.state.subjects or {}).values())
            return waiting

        if not runtime.relay.nc.is_connected:
            return [ConsumerState(name, stream) for name, stream in names], None, None
        *consumers, parked, sent = await asyncio.gather(
            *(info(n, s) for n, s in names), on_subjects(DEAD_LETTER_STREAM, DEAD_LETTER_PREFIX),
            on_subjects(REPLAY_STREAM, REPLAY_PREFIX))
        # gather's results, in order
        return cast("list[ConsumerState]", consumers), cast("int | None", parked), cast("int | None", sent)


def tracking_positions(app: Any) -> dict[str, int]:
    """Each upstream source → the position this service's tracking record of it has reached (0: none yet); with
    JUSOU_PARTITIONS = P > 1 also each partition's, `<source>#p<k>` (shared/messaging/partitions.py; jusou/ops.py reads them)."""
    from shared.messaging.partitions import partitions_setting, tracking_name

    partitions = partitions_setting()
    names = [name for source in sorted(app.subscriptions)
             for name in (source, *(tracking_name(source, k) for k in range(partitions if partitions > 1 else 0)))]
    return {name: app.recorder.max_tracking_id(name) or 0 for name in names}


def sqlite_bytes(app: Any) -> int | None:
    """Size of the SQLite store (file + WAL); None for PostgreSQL."""
    name = app.env.get("SQLITE_DBNAME") if app.env.get("PERSISTENCE_MODULE") == "eventsourcing.sqlite" else None
    if not name or name == ":memory:":
        return None
    return sum(os.path.getsize(path) for path in (name, f"{name}-wal") if os.path.exists(path))


class RequestMetrics(AfterEachRequest):
    """ASGI middleware: count each HTTP request by its route template, never the raw path (`Metrics.count_request`;
    a service's edge, shared/web/edge.py, calls it itself)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        super().__init__(app)
        self.metrics = metrics

    def done(self, scope: Scope, status: int, seconds: float) -> None:
        self.metrics.count_request(scope, status, seconds)


def install_metrics(api: FastAPI, service: str, middleware: bool = True) -> Metrics:
    """`GET /metrics` and the request counting middleware (`middleware` False: the service's edge, shared/web/edge.py,
    counts); the inbox is hooked in the lifespan."""
    metrics = Metrics(service, api)
    api.state.metrics = metrics
    if middleware:
        api.add_middleware(RequestMetrics, metrics=metrics)

    @api.get("/metrics", tags=["ops"], response_class=Response, dependencies=[public()], responses={200: {
        "description": "Prometheus のテキスト形式 / the Prometheus text format",
        "content": {"text/plain": {"schema": {"type": "string"}}}}})
    async def prometheus(request: Request) -> Response:
        """Prometheus text format: commands, events, relay and consumer lag, dead letters, latency, store size."""
        body = await metrics.scrape(request.app.state.runtime)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return metrics
