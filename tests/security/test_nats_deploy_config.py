"""The NATS users of docker-compose.yml and deploy/k8s/ (issue 6), on a real nats-server.

nats-server runs here with the checked-in deploy/nats/auth.conf and the password variables in its
environment, as the `nats` container and the nats pods do, the passwords made by the one-line
command of deploy/env.example. A service's user may publish its own events to `JUSOU` and nothing
of another program; a wrong password gets nobody in; the operator may do what the `jusou` commands
do (status, dead letters, replay).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nats as nats_py
import pytest
from support.servers import free_port, nats_binary, wait_for_port

from jusou.ops import nats_state
from security.test_nats_authorization import Violations, forged_decision_refused
from shared.contract.events import DEAD_LETTER_STREAM, REPLAY_STREAM, STREAM
from shared.messaging import natsauth
from shared.messaging.bus import ensure_streams
from shared.messaging.deadletters import (
    CONSUMER,
    ORIGINAL_SUBJECT,
    REASON,
    dead_letters,
    replay,
)

ENV_TEMPLATE = Path(natsauth.ROOT) / "deploy" / "env.example"
NATS_PLACEHOLDER = "REPLACE_WITH_A_NATS_PASSWORD_IN_HEX"


@dataclass(frozen=True)
class DeployedNats:
    url: str
    passwords: dict[str, str]  # JUSOU_NATS_<USER>_PASSWORD → its value

    def password(self, user: str) -> str:
        return self.passwords[natsauth.password_variable(user)]


def passwords_from_the_env_template(folder: Path) -> dict[str, str]:
    """`.env` as an operator makes it: a copy of deploy/env.example, filled by the command it names."""
    template = ENV_TEMPLATE.read_text(encoding="utf-8")
    [command] = [line.lstrip("#").strip() for line in template.splitlines()
                 if line.startswith("#") and NATS_PLACEHOLDER in line and "python3 -c" in line]
    words = shlex.split(command)
    assert words[:2] == ["python3", "-c"], words
    (folder / ".env").write_text(template, encoding="utf-8")
    subprocess.run([sys.executable, "-c", words[2]], cwd=folder, check=True, timeout=30)
    filled = dict(line.split("=", 1) for line in (folder / ".env").read_text(encoding="utf-8").splitlines()
                  if line.strip() and not line.startswith("#"))
    return {name: value for name, value in filled.items() if name.startswith("JUSOU_NATS_")}


@pytest.fixture
def deployed_nats(tmp_path: Path) -> Iterator[DeployedNats]:
    """nats-server as docker-compose.yml runs it: `-c deploy/nats/auth.conf -js`, passwords from the environment."""
    passwords = passwords_from_the_env_template(tmp_path)
    port = free_port()
    log = tmp_path / "nats.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [nats_binary(), "-c", str(natsauth.DEPLOY_CONFIG), "-a", "127.0.0.1", "-p", str(port),
             "-js", "-sd", str(tmp_path / "nats")],
            env={"PATH": os.environ.get("PATH", ""), **passwords}, stdout=output, stderr=subprocess.STDOUT,
        )
    try:
        try:
            wait_for_port("127.0.0.1", port)
        except TimeoutError:
            raise AssertionError(f"nats-server did not start: {log.read_text(errors='replace')}") from None
        yield DeployedNats(f"nats://127.0.0.1:{port}", passwords)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def connect_as(server: DeployedNats, user: str, password: str | None = None,
                     **options: object) -> nats_py.NATS:
    return await nats_py.connect(server.url, user=user, password=password or server.password(user),
                                 allow_reconnect=False, connect_timeout=5, inbox_prefix=f"_INBOX_{user}",
                                 **options)  # type: ignore[arg-type]


def test_the_env_template_command_makes_a_different_hex_password_for_every_nats_user(tmp_path: Path) -> None:
    passwords = passwords_from_the_env_template(tmp_path)

    assert set(passwords) == {natsauth.password_variable(u) for u in (natsauth.OPERATOR, natsauth.INTEGRATOR, *natsauth.PORTS)}
    assert all(re.fullmatch(r"[0-9a-f]{48}", value) for value in passwords.values()), passwords
    assert len(set(passwords.values())) == len(passwords)


async def test_a_deployed_service_publishes_its_own_events_to_the_stream_but_not_the_meetings_decision(
    deployed_nats: DeployedNats,
) -> None:
    violations = Violations()
    nc = await connect_as(deployed_nats, "intake", error_cb=violations.record)
    js = nc.jetstream()
    try:
        await ensure_streams(nc, 1)  # as a service does at start-up: it may create the streams
        ack = await js.publish("jusou.intake.ConsultationReceived", b'{"test": true}', timeout=5)
        assert ack.stream == STREAM
        await forged_decision_refused(nc, violations)
    finally:
        await nc.close()


async def test_least_privilege_a_deployed_service_may_neither_delete_the_stream_nor_read_dead_letters(
    deployed_nats: DeployedNats,
) -> None:
    """The deployed users have `jusou up`'s least privilege (issue 13): community, the first service up,
    creates the streams, but may not delete one, nor read another's consumer or a dead letter."""
    violations = Violations()
    nc = await connect_as(deployed_nats, "community", error_cb=violations.record)
    js = nc.jetstream(timeout=1)
    try:
        await ensure_streams(nc, 1)
        refused = []
        for what, call in {
            "$JS.API.STREAM.DELETE.JUSOU": lambda: js.delete_stream(STREAM),
            "$JS.API.CONSUMER.INFO.JUSOU.collaboration--intake": lambda: js.consumer_info(STREAM, "collaboration--intake"),
            "$JS.API.STREAM.MSG.GET.JUSOU_DLQ": lambda: js.get_msg(DEAD_LETTER_STREAM, 1),
        }.items():
            with pytest.raises(Exception):  # noqa: B017 - no answer: the server dropped the request
                await call()
            refused += await violations.of(what)
        info = await js.stream_info(STREAM)  # allowed, and the stream is still there
    finally:
        await nc.close()

    assert len(refused) >= 3 and info.config.name == STREAM


async def test_least_privilege_the_deployed_integrator_reads_jusou_through_its_own_consumer(
    deployed_nats: DeployedNats,
) -> None:
    intake = await connect_as(deployed_nats, "intake")
    try:
        await ensure_streams(intake, 1)
        await intake.jetstream().publish("jusou.intake.ConsultationReceived", b'{"test": true}', timeout=5)
    finally:
        await intake.close()
    violations = Violations()
    reader = await connect_as(deployed_nats, natsauth.INTEGRATOR, error_cb=violations.record)
    try:
        sub = await reader.jetstream().pull_subscribe("jusou.>", durable="mhlw-indicators", stream=STREAM)
        [msg] = await sub.fetch(1, timeout=5)
        await msg.ack()
        await reader.publish("jusou.intake.ConsultationReceived", b"{}")  # read-only
        await reader.flush()
        assert await violations.of("jusou.intake.ConsultationReceived")
    finally:
        await reader.close()

    assert msg.subject == "jusou.intake.ConsultationReceived"


@pytest.mark.parametrize("credentials", ["wrong password", "another service's password", "anonymous"])
async def test_the_deployed_nats_refuses_a_wrong_password(deployed_nats: DeployedNats, credentials: str) -> None:
    user, password = {
        "wrong password": ("intake", "0123456789abcdef" * 3),
        "another service's password": ("intake", deployed_nats.password("meeting")),
        "anonymous": (None, None),
    }[credentials]

    with pytest.raises(Exception) as refused:  # nats-py's classes differ by version
        await nats_py.connect(deployed_nats.url, user=user, password=password, allow_reconnect=False,
                              max_reconnect_attempts=0, connect_timeout=3)

    assert "authorization" in repr(refused.value).lower() or "no servers" in repr(refused.value).lower()


async def test_the_deployed_operator_may_do_what_the_commands_need(
    deployed_nats: DeployedNats, monkeypatch: pytest.MonkeyPatch
) -> None:
    meeting = await connect_as(deployed_nats, "meeting")
    intake = await connect_as(deployed_nats, "intake")
    try:
        await ensure_streams(meeting, 1)
        body = b'{"case_id": "c-1"}'
        original = await intake.jetstream().publish("jusou.intake.CaseEscalated", body, stream="JUSOU", timeout=5)
        parked = await meeting.jetstream().publish(  # what meeting's consumer parks (its own dead letters) of that message
            "jusou-dlq.meeting.intake.CaseEscalated", body, stream=DEAD_LETTER_STREAM,
            headers={REASON: "test", ORIGINAL_SUBJECT: "jusou.intake.CaseEscalated", CONSUMER: "meeting",
                     "Nats-Msg-Id": f"meeting:{original.seq}"}, timeout=5)  # as the inbox parks (replay checks it)
    finally:
        await meeting.close()
        await intake.close()
    monkeypatch.setenv("NATS_USER", natsauth.OPERATOR)  # as docker-compose.yml's header says
    monkeypatch.setenv("NATS_PASSWORD", deployed_nats.password(natsauth.OPERATOR))

    status = await nats_state(deployed_nats.url)  # `jusou status`
    operator = await nats_py.connect(deployed_nats.url, user=natsauth.OPERATOR,
                                     password=deployed_nats.password(natsauth.OPERATOR), allow_reconnect=False)
    try:
        js = operator.jetstream(timeout=5)
        _, replay_seq, new = await replay(js, parked.seq)  # `jusou deadletters replay`
        [letter] = await dead_letters(js)  # `jusou deadletters list`
    finally:
        await operator.close()

    assert status["up"] and all("error" not in row for row in status["streams"].values()), status
    assert status["dead_letters"] == {"meeting": 1, "meeting--intake": 1}
    assert new and letter.replay is not None and letter.replay.seq == replay_seq
    assert letter.status == "replay_pending"
    assert REPLAY_STREAM in status["streams"]
