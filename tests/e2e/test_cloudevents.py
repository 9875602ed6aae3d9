"""Every message on `JUSOU` is a CloudEvent in binary content mode (issue 17): CloudEvents tooling reads the
stream as it is, and the body stays the envelope (docs/integrating.md §2, "CloudEvents").

A real intake publishes through its relay to a real nats-server; the messages are read back from the
stream and handed, headers and body as they are, to the CloudEvents SDK (`cloudevents`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from support.auth import reader
from support.journey import Journey
from support.servers import free_port, nats_server

from jusou.runner import Suite
from shared.contract.events import STREAM, envelope_json, parse
from shared.messaging.bus import connect
from shared.messaging.relay import ENVELOPE_SCHEMA_ID, _header_value

SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "contract" / "schemas"


@pytest.fixture(scope="module")
def intake_alone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    root = tmp_path_factory.mktemp("cloudevents")
    with nats_server(root / "nats") as nats, Suite(root / "data", nats_url=nats.url, ports={"intake": free_port()},
                                                   services=("intake",)) as running:
        yield running


@pytest.fixture
async def intake_journey(intake_alone: Suite) -> AsyncIterator[Journey]:
    async with httpx.AsyncClient(timeout=10, headers=reader()) as client:
        yield Journey({"intake": intake_alone.url("intake")}, client)


async def messages(suite: Suite, count: int) -> list[Any]:
    """The stream's messages once it holds `count` (the relay publishes right after each commit)."""
    nc = await connect(suite.nats_url, "cloudevents-test", None, None)
    try:
        js = nc.jetstream()
        for _ in range(100):
            info = await js.stream_info(STREAM)
            if info.state.messages >= count:
                return [await js.get_msg(STREAM, seq) for seq in range(info.state.first_seq, info.state.last_seq + 1)]
            await asyncio.sleep(0.1)
        raise AssertionError(f"the stream has {info.state.messages} messages, not {count}")
    finally:
        await nc.close()


async def test_the_cloudevents_sdk_reads_every_message_of_the_stream_as_a_binary_mode_event(
    intake_journey: Journey, intake_alone: Suite
) -> None:
    case_id = await intake_journey.receive_and_escalate()  # ConsultationReceived, ConsentRecorded, CaseEscalated v1

    read = await messages(intake_alone, 3)

    kinds = []
    for message in read:
        envelope, _ = parse(message.data)  # the body is still the envelope, byte for byte
        assert message.data == envelope_json(envelope)
        event = from_http_event(HTTPMessage(headers=dict(message.headers), body=message.data))
        attributes = event.get_attributes()
        assert event.get_specversion() == "1.0"
        assert event.get_id() == str(envelope.event_id) == message.headers["Nats-Msg-Id"]
        assert event.get_source() == f"/jusou/{envelope.source}"
        assert event.get_type() == f"jusou.{envelope.event_type}.v{envelope.schema_version}"
        assert event.get_time() == envelope.occurred_at
        assert event.get_subject() == str(envelope.case_id) == case_id
        assert event.get_datacontenttype() == "application/json"
        assert event.get_dataschema() == ENVELOPE_SCHEMA_ID
        assert event.get_extension("sourceposition") == str(envelope.source_position)
        assert event.get_extension("correlationid") == str(envelope.correlation_id)
        assert attributes.get("causationid") == (str(envelope.causation_id) if envelope.causation_id else None)
        assert event.get_data() == json.loads(message.data)  # data: the envelope, actor and payload inside
        assert "content-type" in message.headers and not message.headers["content-type"].startswith(
            "application/cloudevents")  # the NATS binding: no CloudEvents content type means binary mode
        kinds.append(event.get_type())
    assert kinds == ["jusou.ConsultationReceived.v1", "jusou.ConsentRecorded.v1", "jusou.CaseEscalated.v1"]


def test_an_attribute_is_percent_encoded_as_the_nats_binding_says() -> None:
    # the binding's own example (3.1.3.2), and the characters it names: space, double quote, percent
    assert _header_value("Euro € 😀") == "Euro%20%E2%82%AC%20%F0%9F%98%80"
    assert _header_value('a "b" 100%') == "a%20%22b%22%20100%25"
    assert _header_value("/jusou/intake") == "/jusou/intake"


def test_the_dataschema_is_the_envelope_schemas_id() -> None:
    envelope_schema = json.loads((SCHEMAS / "Envelope.json").read_text(encoding="utf-8"))
    assert envelope_schema.get("$id") == ENVELOPE_SCHEMA_ID
