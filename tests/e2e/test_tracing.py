"""Tracing across services: one case's journey is one trace (issue 8).

A whole suite runs with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at a tiny OTLP/HTTP receiver in this
test process (protobuf, decoded with opentelemetry-proto). A person with an unusual name is
received at the counter, the case is escalated, collaboration opens it, a plan is proposed, the
meeting approves it and participation starts. Then the spans are read back: the case's trace id
is its correlation id, the trace spans every program that acted, every consumer span's parent is
the publish span of the same event in another service, and no span carries the person's details.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from support.auth import reader
from support.journey import COUNTER_STAFF, Journey
from support.municipality import ELDERLY
from support.poll import eventually
from support.servers import free_port, nats_server

from jusou.runner import Suite
from shared.kernel.journey import journey_id

#: The programs this journey passes through (outreach and community are not started: CI has 2 cores).
SERVICES = ("intake", "collaboration", "meeting", "participation")
PERSON = {
    "name": "轟木トレース次郎",
    "kana": "とどろきとれーすじろう",
    "phone": "042-481-9273",
    "birth_date": "1948-02-17",
    "address": "調布市佐須町十一丁目二十二番",
}
PERSONAL = (*PERSON.values(), "轟木", "とどろき")


@dataclass
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    start: int
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)

    def texts(self) -> list[str]:
        """Everything a span tells a trace viewer, as text."""
        return [self.name, *(f"{k}={v}" for k, v in {**self.attributes, **self.resource}.items())]


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


class Receiver:
    """An OTLP/HTTP trace receiver (`POST /v1/traces`, protobuf) on a free port of this process."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.requests = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                status = 200 if self.path == "/v1/traces" else 404
                if status == 200:
                    receiver.take(ExportTraceServiceRequest.FromString(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="otlp-receiver", daemon=True)

    def take(self, request: ExportTraceServiceRequest) -> None:
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    received.append(Span(
                        service=str(resource.get("service.name")), name=s.name, trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(), parent_id=s.parent_span_id.hex(), start=s.start_time_unix_nano,
                        attributes={a.key: _value(a.value) for a in s.attributes}, resource=resource,
                        links=[link.span_id.hex() for link in s.links],
                    ))
        with self.lock:
            self.spans += received
            self.requests += 1

    def trace(self, trace_id: str) -> list[Span]:
        with self.lock:
            return sorted((s for s in self.spans if s.trace_id == trace_id), key=lambda s: s.start)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture(scope="module")
def traced_suite(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Suite]:
    root = tmp_path_factory.mktemp("tracing")
    ports = {name: free_port() for name in SERVICES}
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # export within 0.1 s, so the test need not stop the suite
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    with nats_server(root / "nats") as nats, Suite(root / "data", nats_url=nats.url, ports=ports, services=SERVICES,
                                                     extra_env=env) as suite:
        yield suite


async def walk(suite: Suite) -> str:
    """Counter → consent → escalation → collaboration opens → plan → meeting approves → participation."""
    urls = {name: suite.url(name) for name in suite.services}
    async with httpx.AsyncClient(timeout=10, headers=reader()) as client:
        journey = Journey(urls, client)
        search = await client.get(f"{urls['intake']}/persons/search", headers=COUNTER_STAFF,
                                  params={"name": PERSON["name"], "birth_date": PERSON["birth_date"]})
        assert search.status_code == 200, search.text
        case = await journey.post("intake", "/consultations", {
            "counter": ELDERLY.code, "channel": "窓口", "concerns": ["高齢・介護", "ひきこもり"], "person": PERSON,
            "confirm_new_person": True}, COUNTER_STAFF)
        case_id: str = case["case_id"]
        await journey.post("intake", f"/cases/{case_id}/consent",
                           {"scope": "重層的支援会議での情報共有", "granted": True, "method": "書面"}, COUNTER_STAFF)
        await journey.post("intake", f"/cases/{case_id}/escalate",
                           {"reason": "母の介護と本人のひきこもり", "primary_agency": ELDERLY.ja}, COUNTER_STAFF)
        plan_id = await journey.draft_and_propose(case_id)
        meeting_id = await journey.convene()
        await journey.decide(meeting_id, plan_id, 1, "approved", connect_to=["participation"])
        await journey.get_when("participation", f"/supports/{case_id}", lambda s: True, "participation to start")
    return case_id


def by_id(spans: list[Span]) -> dict[str, Span]:
    return {s.span_id: s for s in spans}


async def test_one_cases_journey_is_one_trace_across_the_services_with_no_personal_information(
    traced_suite: Suite, receiver: Receiver,
) -> None:
    case_id = await walk(traced_suite)
    trace_id = journey_id(case_id).hex  # the case's correlation id is its trace id

    expected = {
        ("intake", "POST /cases/{case_id}/escalate"),
        ("intake", "publish jusou.intake.CaseEscalated"),
        ("collaboration", "process jusou.intake.CaseEscalated"),
        ("collaboration", "publish jusou.collaboration.CollaborationStarted"),
        ("collaboration", "POST /plans/{plan_id}/propose"),
        ("meeting", "process jusou.collaboration.PlanProposed"),
        ("meeting", "POST /meetings/{meeting_id}/decisions"),
        ("meeting", "publish jusou.meeting.MeetingDecided"),
        ("participation", "process jusou.meeting.MeetingDecided"),
        ("participation", "publish jusou.participation.ParticipationStarted"),
    }

    async def whole_trace() -> list[Span] | None:
        # Each service exports its spans in its own batches, so they arrive in any order: wait for
        # every expected span and for the parent of every span that names one.
        spans = receiver.trace(trace_id)
        index = by_id(spans)
        complete = expected <= {(s.service, s.name) for s in spans} and all(
            s.parent_id in index for s in spans if s.parent_id)
        return spans if complete else None

    try:
        spans = await eventually(whole_trace, "every program's spans in the case's trace", deadline_s=30)
    finally:
        got = receiver.trace(trace_id)
        print(f"\ntrace {trace_id} (case {case_id}): {len(got)} spans")
        for s in got:
            parent = by_id(got).get(s.parent_id)
            print(f"  {s.service:<14} {s.name:<58} <- {parent.service + ' ' + parent.name if parent else '(root)'}")

    assert {"intake", "collaboration", "meeting", "participation"} <= {s.service for s in spans}
    assert expected <= {(s.service, s.name) for s in spans}

    index = by_id(spans)
    # Across the bus: each consumer span is a child of the publish span of the same event, in another service.
    consumed = [s for s in spans if s.name.startswith("process ")]
    assert consumed
    for span in consumed:
        parent = index.get(span.parent_id)
        assert parent is not None, f"{span.service} {span.name}: parent {span.parent_id} not in the trace"
        assert parent.name == span.name.replace("process ", "publish ", 1), (span.name, parent.name)
        assert parent.attributes["event_id"] == span.attributes["event_id"]
        assert parent.service != span.service and parent.service == span.attributes["source"]
        assert span.attributes["case_id"] == case_id and span.attributes["correlation_id"] == str(journey_id(case_id))
    # Each publish continues what recorded the event: the command or the consumer span that caused it.
    for span in (s for s in spans if s.name.startswith("publish ")):
        parent = index.get(span.parent_id)
        assert parent is not None and parent.service == span.service, f"{span.name}: parent {span.parent_id}"
        assert parent.name.startswith(("POST ", "PUT ", "process ")), (span.name, parent.name)
    escalate = next(s for s in spans if s.name == "POST /cases/{case_id}/escalate")
    escalated = next(s for s in spans if s.name == "publish jusou.intake.CaseEscalated")
    assert escalated.parent_id == escalate.span_id
    decision = next(s for s in spans if s.name == "POST /meetings/{meeting_id}/decisions")
    assert decision.attributes["case_id"] == case_id  # learnt from the event it recorded, not the path

    with receiver.lock:
        everything = list(receiver.spans)
    leaks = [f"{s.service} {s.name}: {text!r}" for s in everything for text in s.texts()
             if any(word in text for word in PERSONAL)]
    assert not leaks, "\n".join(leaks)
    raw_paths = [s.name for s in everything if case_id in s.name or "?" in s.name]
    assert not raw_paths, raw_paths
