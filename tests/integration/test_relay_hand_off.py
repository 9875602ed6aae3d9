"""The relay takes what its own process committed from the commit, not from the store (issue 19, docs/capacity.md
§6.7): no thread hop, no read, no decryption or decoding for an event this process just recorded; and it reads the
store, as before, for whatever was not handed over (a commit of another process on the same store, one made before
the relay started), so that what is published is the store's events, in the store's order, whatever the mix.
Real SQLite, a real nats-server."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from nats.aio import client as nats_client
from support.municipality import ELDERLY
from support.poll import eventually
from support.servers import Nats

from services.intake.application import IntakeApplication
from services.intake.translate import translate as intake_translate
from shared.contract.events import STREAM, SUBJECT_PREFIX, envelope_json
from shared.kernel.store import store_env
from shared.messaging import natsheaders
from shared.messaging.bus import connect, ensure_streams
from shared.messaging.relay import Relay, cloudevents_headers
from shared.settings import Settings

STAFF = {"staff_id": "s-001", "division": ELDERLY.division}


def escalated_case(app: IntakeApplication) -> UUID:
    case_id = app.receive_consultation(STAFF, ELDERLY.code, ELDERLY.division, "窓口", ["高齢・介護"], {"name": "調布 花子"},
                                       None)
    app.record_consent(STAFF, case_id, "重層的支援会議での情報共有", True, "書面")
    app.escalate_case(STAFF, case_id, "複合的な課題", ELDERLY.ja)
    return case_id


def counting(target: Any, name: str, calls: list[str]) -> None:
    """Count the calls the relay makes (the application's own commands and read models read the store too)."""
    original = getattr(target, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename.endswith("shared/messaging/relay.py"):
                calls.append(name)
                break
            frame = frame.f_back
        return original(*args, **kwargs)

    setattr(target, name, counted)


async def stream_messages(nc: Any, service: str) -> list[Any]:
    js = nc.jetstream()
    sub = await js.pull_subscribe(f"{SUBJECT_PREFIX}.{service}.>", durable=None, stream=STREAM)
    found: list[Any] = []
    while True:
        try:
            batch = await sub.fetch(100, timeout=1)
        except TimeoutError:
            return found
        found += batch
        for msg in batch:
            await msg.ack()


async def test_the_relay_publishes_its_own_commits_without_reading_them_back_and_the_rest_from_the_store(
        tmp_path: Path, nats: Nats, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JUSOU_STORE", "sqlite")
    intake = IntakeApplication(env=store_env(Settings.from_env("intake")))
    other = IntakeApplication(env=store_env(Settings.from_env("intake")))  # another process on the same store
    await asyncio.to_thread(escalated_case, intake)  # before the relay starts: read from the store
    nc = await connect(nats.url, "test-relay")
    assert nats_client.Client._parse_header_lines is natsheaders.parse_header_lines  # a service's connection
    await ensure_streams(nc)
    reads: list[str] = []
    relay = Relay(intake, intake_translate, nc, poll_seconds=30.0)  # no poll within the test: commits wake it
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: asyncio.sleep(0, relay.position == intake.recorder.max_notification_id()),
                         "the relay to publish what was there before it started")
        counting(intake.recorder, "select_notifications", reads)
        counting(intake.mapper, "to_domain_event", reads)
        for _ in range(5):
            await asyncio.to_thread(escalated_case, intake)  # each commit wakes the relay
            head = intake.recorder.max_notification_id()
            await eventually(lambda head=head: asyncio.sleep(0, relay.position == head), "the relay to publish it")
        assert reads == [], "this process's own commits are handed over, not read back"
        assert relay.handed_over > 0

        await asyncio.to_thread(escalated_case, other)  # not this process's: only the store has them
        await asyncio.to_thread(escalated_case, intake)  # handed over, but after the other's: the store first
        head = intake.recorder.max_notification_id()
        relay.wake()
        await eventually(lambda: asyncio.sleep(0, relay.position == head), "the relay to publish the mix")
        assert "select_notifications" in reads

        # What is on the stream is the store's public events, in the store's order, each as the store's copy reads
        messages = await stream_messages(nc, "intake")
        stored = [n for n in intake.recorder.select_notifications(start=1, limit=1000)]
        expected = [(n.id, intake_translate(intake.mapper.to_domain_event(n), n.id)) for n in stored]
        expected = [(position, e) for position, e in expected if e is not None]
        assert [int(m.headers["ce-sourceposition"]) for m in messages] == [p for p, _ in expected]
        for msg, (_, envelope) in zip(messages, expected, strict=True):
            assert msg.data == envelope_json(envelope)
            assert {k: v for k, v in msg.headers.items() if k.startswith("ce-") or k == "content-type"} == \
                cloudevents_headers(envelope)
        assert relay.published == len(expected)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await nc.close()
        intake.close()
        other.close()


async def test_a_failed_publish_leaves_the_events_ids_for_the_failure_line_and_a_published_one_logs_them(
        tmp_path: Path, nats: Nats, monkeypatch: pytest.MonkeyPatch) -> None:
    import structlog
    from nats.errors import TimeoutError as NatsTimeout

    from shared.messaging import relay as relay_module

    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JUSOU_STORE", "sqlite")
    intake = IntakeApplication(env=store_env(Settings.from_env("intake")))
    case_id = await asyncio.to_thread(escalated_case, intake)
    nc = await connect(nats.url, "test-relay")
    await ensure_streams(nc)
    relay = Relay(intake, intake_translate, nc, poll_seconds=30.0)
    try:
        await relay.follow_stream()
        publish = relay.js.publish

        async def refused(*args: Any, **kwargs: Any) -> Any:
            raise NatsTimeout

        relay.js.publish = refused  # type: ignore[method-assign]
        with pytest.raises(NatsTimeout):
            await relay.publish_pending()
        bound = structlog.contextvars.get_contextvars()
        assert bound["case_id"] == str(case_id) and bound["event_type"] == "ConsultationReceived"  # relay.publish_failed's

        relay.js.publish = publish  # type: ignore[method-assign]
        # the relay's own logger, recorded (structlog's capture_logs misses a logger cached by an earlier test's config)
        lines: list[dict[str, Any]] = []

        class Recorded:
            def __getattr__(self, level: str) -> Any:
                return lambda event, **fields: lines.append({"event": event, "level": level, **fields})

        monkeypatch.setattr(relay_module, "log", Recorded())
        while await relay.publish_pending():
            pass
        published = [line for line in lines if line["event"] == "relay.published"]
        assert [line["event_type"] for line in published] == ["ConsultationReceived", "ConsentRecorded", "CaseEscalated"]
        assert all(line["case_id"] == str(case_id) and line["event_id"] for line in published)
    finally:
        await nc.close()
        intake.close()
