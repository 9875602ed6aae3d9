"""NATS authorization: each service is its own NATS user and may publish only its own subjects (issue 6).

The suite's own nats-server (`jusou up`, `Suite` without `nats_url`) runs with a generated
config: a user per service, an operator for the runner and the `jusou` commands. The server
itself refuses a forbidden publish (a permissions violation); the whole journey still runs; a
NATS the suite did not start, without authorization, keeps working.
"""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path
from typing import Any

import httpx
import nats as nats_py
import pytest
from nats.errors import NoRespondersError
from nats.js.errors import NoStreamResponseError
from support.auth import reader
from support.journey import Journey
from support.poll import eventually
from support.servers import Nats

from security.conftest import SERVICES
from shared import natsauth
from shared.bus import connect
from shared.contracts import STREAM
from shared.runner import Suite


class Violations:
    """What the server told a client it may not do (`-ERR 'Permissions Violation …'`; nats-py lowercases it)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def record(self, error: Exception) -> None:  # nats-py's error_cb
        self.seen.append(str(error))

    async def of(self, subject: str) -> list[str]:
        async def probe() -> list[str]:
            return [s for s in self.seen if "permissions violation" in s.lower() and subject.lower() in s.lower()]

        return await eventually(probe, f"the server to refuse {subject}", deadline_s=5)


async def connect_as(suite: Suite, user: str, password: str | None = None, **options: Any) -> nats_py.NATS:
    passwords = natsauth.credentials(suite.data_dir, suite.services)
    return await nats_py.connect(suite.nats_url, user=user, password=password or passwords[user],
                                 allow_reconnect=False, connect_timeout=5, **options)


async def forged_decision_refused(nc: nats_py.NATS, violations: Violations) -> None:
    """Intake's user publishing the meeting's decision: the server refuses it, nothing reaches the stream,
    and the connection stays up for what it may do."""
    js = nc.jetstream()
    before = (await js.stream_info(STREAM)).state.last_seq  # the JetStream API is allowed
    await nc.publish("jusou.meeting.MeetingDecided", b'{"forged": true}')
    await nc.flush()
    with pytest.raises((NoStreamResponseError, NoRespondersError, asyncio.TimeoutError, nats_py.errors.Error)):
        await js.publish("jusou.meeting.MeetingDecided", b'{"forged": true}', timeout=1)
    assert await violations.of("jusou.meeting.MeetingDecided")
    assert (await js.stream_info(STREAM)).state.last_seq == before, "a forged event reached the stream"
    assert nc.is_connected  # refused, not disconnected


async def test_intake_may_not_publish_the_meetings_decision(own_suite: Suite) -> None:
    violations = Violations()
    nc = await connect_as(own_suite, "intake", error_cb=violations.record)
    try:
        await forged_decision_refused(nc, violations)
    finally:
        await nc.close()


@pytest.mark.parametrize(("user", "subject"), [
    ("collaboration", "jusou.intake.ConsultationReceived"),
    ("outreach", "jusou-dlq.meeting.intake.CaseEscalated"),
    ("community", "jusou-replay.participation.meeting.MeetingDecided"),
])
async def test_a_service_may_not_publish_as_another_program(own_suite: Suite, user: str, subject: str) -> None:
    violations = Violations()
    nc = await connect_as(own_suite, user, error_cb=violations.record)
    try:
        await nc.publish(subject, b"{}")
        await nc.flush()

        assert await violations.of(subject)
    finally:
        await nc.close()


async def test_a_service_may_not_read_another_programs_dead_letters(own_suite: Suite) -> None:
    violations = Violations()
    nc = await connect_as(own_suite, "intake", error_cb=violations.record)
    try:
        await nc.subscribe("jusou-dlq.meeting.>")
        await nc.flush()

        assert await violations.of("jusou-dlq.meeting.>")
    finally:
        await nc.close()


@pytest.mark.parametrize("credentials", [None, ("intake", "not-its-password"), ("nobody", "x")],
                         ids=["anonymous", "wrong password", "unknown user"])
async def test_without_valid_credentials_nobody_gets_in(own_suite: Suite, credentials: tuple[str, str] | None) -> None:
    user, password = credentials or (None, None)

    with pytest.raises(Exception) as refused:  # nats-py's classes differ by version
        await nats_py.connect(own_suite.nats_url, user=user, password=password, allow_reconnect=False,
                              max_reconnect_attempts=0, connect_timeout=3)

    assert "authorization" in repr(refused.value).lower() or "no servers" in repr(refused.value).lower()


async def test_the_operator_may_do_what_the_runner_and_commands_need(own_suite: Suite) -> None:
    nc = await connect(own_suite.nats_url, "operator-test", *own_suite.nats_operator())
    try:
        names = sorted([info.config.name or "" async for info in _streams(nc)])
        assert STREAM in names
    finally:
        await nc.close()


async def _streams(nc: nats_py.NATS) -> Any:
    for info in await nc.jetstream().streams_info():
        yield info


async def test_the_whole_journey_runs_with_authorization_on(own_suite: Suite) -> None:
    async with httpx.AsyncClient(timeout=15, trust_env=False, headers=reader()) as client:
        journey = Journey({name: own_suite.url(name) for name in SERVICES}, client)

        case_id, plan_id = await journey.whole()

        plan = (await client.get(own_suite.url("collaboration") + f"/plans/{plan_id}")).json()
        assert plan["status"] == "closed" and plan["case_id"] == case_id
    for name, process in own_suite.processes.items():  # each service runs as its own NATS user
        environ = Path(f"/proc/{process.pid}/environ").read_bytes().split(b"\0")
        assert f"NATS_USER={name}".encode() in environ, name


def test_passwords_are_generated_once_per_data_folder_and_kept_private(own_suite: Suite, tmp_path: Path) -> None:
    kept = own_suite.data_dir / natsauth.CREDENTIALS_FILE
    config = own_suite.data_dir / natsauth.SERVER_CONFIG_FILE

    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and stat.S_IMODE(config.stat().st_mode) == 0o600
    passwords = json.loads(kept.read_text())
    assert set(passwords) == {natsauth.OPERATOR, *SERVICES}
    assert natsauth.credentials(own_suite.data_dir) == passwords  # the same on every start
    elsewhere = natsauth.credentials(tmp_path)
    assert not set(elsewhere.values()) & set(passwords.values())
    assert len(set(passwords.values())) == len(passwords)
    served = json.loads(config.read_text())["authorization"]["users"]
    allowed = {u["user"]: u.get("permissions", {}).get("publish", {}).get("allow") for u in served}
    assert allowed[natsauth.OPERATOR] is None  # the operator may do anything
    for service in SERVICES:
        own = [s for s in allowed[service] if s.startswith(("jusou.", "jusou-dlq.", "jusou-replay."))]
        assert own == [f"jusou.{service}.>", f"jusou-dlq.{service}.>"], own


async def test_a_nats_without_authorization_still_takes_a_client_with_credentials(nats: Nats) -> None:
    nc = await connect(nats.url, "no-auth-test", "intake", "any-password")
    try:
        reply = await nc.jetstream().account_info()
        assert reply.streams >= 0
    finally:
        await nc.close()
