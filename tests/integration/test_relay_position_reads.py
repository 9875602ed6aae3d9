"""The relay on SQLite reads its saved position at most once per poll, not on every commit (issue 19): a SQLite store
has one relay; replicas sharing a saved position are PostgreSQL's (tests/scaleout/test_shared_store.py pins that a
relay there reads it on every wake, with the events in one statement: tests/integration/test_pg_round_trips.py). Real
SQLite and a real nats-server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import UUID

import pytest
from support.municipality import ELDERLY
from support.poll import eventually
from support.servers import Nats

from services.intake.application import IntakeApplication
from services.intake.translate import translate as intake_translate
from shared.contract.events import STREAM
from shared.kernel.store import store_env
from shared.messaging.bus import connect, ensure_streams
from shared.messaging.relay import Relay
from shared.settings import Settings

STAFF = {"staff_id": "s-001", "division": ELDERLY.division}


def escalated_case(app: IntakeApplication) -> UUID:
    case_id = app.receive_consultation(STAFF, ELDERLY.code, ELDERLY.division, "窓口", ["高齢・介護"], {"name": "調布 花子"},
                                       None)
    app.escalate_case(STAFF, case_id, "複合的な課題", ELDERLY.ja)
    return case_id


async def test_a_sqlite_relay_publishes_every_commit_reading_its_saved_position_once_per_poll(
        tmp_path: Path, nats: Nats, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JUSOU_STORE", "sqlite")
    intake = IntakeApplication(env=store_env(Settings.from_env("intake")))
    reads: list[int] = []
    read = intake.relay_position

    def counted() -> int:
        reads.append(1)
        return read()

    intake.relay_position = counted  # type: ignore[method-assign]
    nc = await connect(nats.url, "test-relay")
    await ensure_streams(nc)
    relay = Relay(intake, intake_translate, nc, poll_seconds=30.0)  # no poll within the test: commits wake it
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: asyncio.sleep(0, relay._loop is not None), "the relay to start")
        for _ in range(5):
            await asyncio.to_thread(escalated_case, intake)  # each commit wakes the relay
            head = intake.recorder.max_notification_id()
            await eventually(lambda head=head: asyncio.sleep(0, relay.position == head), "the relay to publish it")
        info = await nc.jetstream().stream_info(STREAM)
        assert relay.published == info.state.messages == 10  # each case: received, escalated
        assert len(reads) <= 2, f"read {len(reads)} times: at the start, and at most once per poll"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await nc.close()
        intake.close()
