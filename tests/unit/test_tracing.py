"""shared/observe/tracing.py in one process: a command's span is in its case's trace, and the context goes on
through the stored event, the publish and the consumer (the whole suite: tests/e2e/test_tracing.py)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.kernel.journey import JourneyAggregate, acting, journey_id
from shared.observe import tracing

CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class Note(JourneyAggregate):
    def __init__(self, case_id: UUID) -> None:
        self.case_id = case_id


def note_app(service: str, exporter: InMemorySpanExporter | None) -> FastAPI:
    api = FastAPI()

    @api.post("/cases/{case_id}/notes")
    def add(case_id: UUID) -> dict[str, Any]:
        with acting({"staff_id": "t-1", "division": "welfare-general"}):
            note = Note(case_id=case_id)
        return dict(note.collect_events()[0].meta)

    @api.post("/notes")
    def add_without_case() -> dict[str, Any]:
        return {}

    tracing.install(api, service, exporter=exporter) if exporter else tracing.install(api, service)
    return api


def envelope(case_id: UUID) -> SimpleNamespace:
    return SimpleNamespace(event_type="NoteAdded", case_id=case_id, event_id=uuid4(), source="intake",
                           correlation_id=journey_id(case_id), source_position=7, subject="jusou.intake.NoteAdded")


def test_without_an_endpoint_nothing_is_traced(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in tracing.ENDPOINT_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    api = note_app("untraced", None)
    case_id = uuid4()

    with TestClient(api) as client:
        meta = client.post(f"/cases/{case_id}/notes").json()

    assert "traceparent" not in meta and not tracing.enabled("untraced")
    assert api.user_middleware == []
    assert tracing.PublishSpan("untraced", envelope(case_id), SimpleNamespace(meta=meta)).headers == {}


def test_a_command_on_a_case_is_in_the_cases_trace_and_its_context_crosses_the_bus() -> None:
    exporter = InMemorySpanExporter()
    case_id = uuid4()
    with TestClient(note_app("traced", exporter)) as client:
        meta = client.post(f"/cases/{case_id}/notes?name=鈴木", headers={"traceparent": CALLER}).json()
        _, trace_id, command_span_id, _ = meta["traceparent"].split("-")
        event = SimpleNamespace(meta=meta)
        published = tracing.PublishSpan("traced", envelope(case_id), event)
        published.end()
        with tracing.consuming("traced", envelope(case_id), published.headers):
            effect = tracing.traceparent_now(str(case_id), str(journey_id(case_id)))
        client.post("/notes", headers={"traceparent": CALLER})
    spans = {span.name: span for span in exporter.get_finished_spans()}

    assert trace_id == journey_id(case_id).hex  # the case's correlation id is its trace id
    command = spans["POST /cases/{case_id}/notes"]
    assert (f"{command.context.trace_id:032x}", f"{command.context.span_id:016x}") == (trace_id, command_span_id)
    assert command.parent is None and [f"{link.context.trace_id:032x}" for link in command.links] == [CALLER[3:35]]
    assert command.attributes["case_id"] == str(case_id) and command.attributes["http.route"] == "/cases/{case_id}/notes"
    publish = spans["publish jusou.intake.NoteAdded"]
    assert publish.parent.span_id == command.context.span_id
    assert published.headers["traceparent"].split("-")[2] == f"{publish.context.span_id:016x}"
    consume = spans["process jusou.intake.NoteAdded"]
    assert consume.parent.span_id == publish.context.span_id and consume.context.trace_id == command.context.trace_id
    assert effect is not None and effect.split("-")[2] == f"{consume.context.span_id:016x}"
    outside = spans["POST /notes"]  # on no case: the caller's trace, under the caller's span
    assert f"{outside.context.trace_id:032x}" == CALLER[3:35] and f"{outside.parent.span_id:016x}" == CALLER[36:52]
    assert all("鈴木" not in str(value) for span in spans.values() for value in [span.name, *span.attributes.values()])
