"""CaseEscalated v1 and v2 on one real stream: collaboration handles both, a v1-only consumer keeps working."""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import uuid4

import nats as nats_py
from integration.test_outbox_inbox import (
    escalated_case,
    inbox_running,
    relay_running,
    settings,
    stream_messages,
)
from support.municipality import ELDERLY, HARDSHIP
from support.poll import eventually
from support.servers import Nats
from support.v1_consumer import escalation_reasons

from services.collaboration.application import CollaborationApplication
from services.intake.application import IntakeApplication
from services.intake.translate import translate as intake_translate
from shared.contract.events import CaseEscalatedV2, Envelope, envelope_json, parse
from shared.kernel.journey import journey_id
from shared.kernel.store import store_env
from shared.messaging.bus import connect, ensure_streams


def store_env_for(service: str, data_dir: Path, url: str) -> dict[str, str]:
    return store_env(settings(service, data_dir, url))


def escalated_v2(position: int) -> Envelope:
    """A CaseEscalated v2 as intake would publish it once it moves to v2."""
    case_id = uuid4()
    payload = CaseEscalatedV2(reason_code="compound", reason_text="介護と困窮が重なる", concerns=["高齢・介護", "困窮"],
                              primary_agency=HARDSHIP.ja)
    return Envelope.model_validate({
        "event_id": uuid4(), "event_type": "CaseEscalated", "schema_version": 2, "source": "intake",
        "source_position": position, "case_id": case_id, "occurred_at": "2026-11-28T01:02:03+00:00",
        "correlation_id": journey_id(case_id), "causation_id": None,
        "actor": {"staff_id": "kouki-012", "division": ELDERLY.division}, "payload": payload.model_dump(mode="json"),
    })


async def test_v1_and_v2_on_the_stream_reach_collaboration_and_a_v1_consumer(nats: Nats, tmp_path: Path) -> None:
    intake = IntakeApplication(env=store_env_for("intake", tmp_path, nats.url))
    collab = CollaborationApplication(env=store_env_for("collaboration", tmp_path, nats.url))
    v1_case = escalated_case(intake, reason="複合的な課題")
    async with relay_running(intake, intake_translate, nats.url) as relay:
        await eventually(lambda: asyncio.sleep(0, relay.position >= 3), "intake to publish v1")
    v2 = escalated_v2(position=10)
    nc = await connect(nats.url, "v2-producer")
    await ensure_streams(nc)
    await nc.jetstream().publish(v2.subject, envelope_json(v2), headers={"Nats-Msg-Id": str(v2.event_id)})
    await nc.close()

    async with inbox_running(collab, nats.url) as inbox:
        await eventually(lambda: asyncio.sleep(0, inbox.applied == 2), "both escalations applied")
        assert inbox.dead_lettered == 0
    assert collab.case_view(v1_case)["reason"] == "複合的な課題"
    assert collab.case_view(v2.case_id)["reason"] == "【複合化】介護と困窮が重なる"

    bodies = [m.data for m in await stream_messages(nats.url)]
    assert sorted(parse(b)[0].schema_version for b in bodies if b"CaseEscalated" in b) == [1, 2]
    assert escalation_reasons(bodies) == {str(v1_case): "複合的な課題"}


async def test_a_v1_consumer_reads_the_live_stream_with_plain_nats_py(nats: Nats, tmp_path: Path) -> None:
    intake = IntakeApplication(env=store_env_for("intake", tmp_path, nats.url))
    cases = [escalated_case(intake, reason=f"理由{i}") for i in range(3)]
    async with relay_running(intake, intake_translate, nats.url) as relay:
        await eventually(lambda: asyncio.sleep(0, relay.position >= 9), "intake to publish")
    nc = await nats_py.connect(nats.url)
    sub = await nc.jetstream().pull_subscribe("jusou.intake.CaseEscalated", durable="legacy-v1-reader", stream="JUSOU")
    msgs = await sub.fetch(10, timeout=2)
    for msg in msgs:
        await msg.ack()
    await nc.close()
    assert escalation_reasons(m.data for m in msgs) == {str(c): f"理由{i}" for i, c in enumerate(cases)}
