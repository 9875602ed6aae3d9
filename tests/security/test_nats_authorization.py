"""NATS authorization: each service is its own NATS user with least privilege (issues 6 and 13).

The suite's own nats-server (`jusou up`, `Suite` without `nats_url`) runs with a generated
config: a user per service, a read-only integrator, an operator for the runner and the `jusou`
commands. The server itself refuses a forbidden publish (a permissions violation); the whole
journey still runs; a NATS the suite did not start, without authorization, keeps working.

Least privilege (issue 13, item 5): on `jusou up`'s nats-server, every forbidden JetStream call is
tried with every service's credentials and the integrator's (delete, purge or update a stream,
delete a message, another's consumer, a consumer on another's subjects, the dead letters, another
client's replies, another's subjects) and refused, the streams and consumers unchanged; what the
services and an integrator do still works; `jusou status` fails naming a missing consumer.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import stat
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import nats as nats_py
import pytest
from nats.errors import NoRespondersError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import APIError, NoStreamResponseError
from rich.console import Console
from support.auth import reader
from support.journey import Journey
from support.poll import eventually
from support.servers import Nats, free_port

from jusou import ops
from jusou.runner import Suite, run_async, subscriptions_of
from security.conftest import SERVICES
from shared.contract.events import DEAD_LETTER_STREAM, REPLAY_STREAM, STREAM
from shared.messaging import natsauth
from shared.messaging.bus import connect, ensure_streams, stream_configs
from shared.messaging.relay import newest_on_stream


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
                                 allow_reconnect=False, connect_timeout=5, inbox_prefix=f"_INBOX_{user}", **options)


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
    assert set(passwords) == {natsauth.OPERATOR, INTEGRATOR, *SERVICES}
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



# --- least privilege (issue 13, item 5) -----------------------------------------------------------

INTEGRATOR = "integrator"  # the read-only user of new programs (docs/integrating.md §5)
USERS = (*SERVICES, INTEGRATOR)
INTEGRATORS_OWN = "mhlw-indicators"  # a consumer an integrator made for itself
CALL_TIMEOUT_S = 1.0
#: JetStream's own refusals: a create of an existing stream with other settings; a consumer create whose
#: request names another filter than its subject (the subject is what the permissions see)
REFUSALS = {10058: "stream name already in use with a different configuration",
            10131: "consumer create request did not match filtered subject from create subject"}


def consumers_of(service: str) -> dict[str, tuple[str, str]]:
    """A service's durable consumers as shared/messaging/inbox.py and shared/messaging/deadletters.py name them:
    name → (stream, filter), from its Application's subscriptions."""
    subscribed = subscriptions_of(service)
    sources = sorted(subscribed)
    # one event type of a source: the consumer names it, the server delivers nothing else (issue 19)
    found = {f"{service}--{source}": (STREAM, f"jusou.{source}.{next(iter(set(subscribed[source])))}"
                                      if len(set(subscribed[source])) == 1 else f"jusou.{source}.*")
             for source in sources}
    if sources:
        found[f"{service}--replay"] = (REPLAY_STREAM, f"jusou-replay.{service}.>")
    return found


def own_consumer(user: str) -> tuple[str, str, str]:
    """(name, stream, filter) of one consumer of `user` on JUSOU."""
    if user == INTEGRATOR:
        return INTEGRATORS_OWN, STREAM, "jusou.>"
    name, (stream, subject) = next((n, c) for n, c in consumers_of(user).items() if c[0] == STREAM)
    return name, stream, subject


def anothers_consumer(user: str) -> tuple[str, str, str]:
    """(name, stream, filter) of a consumer on JUSOU of the next service."""
    others = [s for s in SERVICES if s != user]
    return own_consumer(others[0])


def one_type_consumer(user: str) -> str:
    """A consumer of `user` on JUSOU that takes one event type (made with that filter in its CREATE subject); a name
    that is none of its consumers where it has no such one (the integrator: its own consumer)."""
    if user == INTEGRATOR:
        return INTEGRATORS_OWN
    return next((n for n, (stream, subject) in consumers_of(user).items() if stream == STREAM and not subject.endswith(".*")),
                f"{user}--nothing")


def anothers_several_types_consumer(user: str) -> str:
    """A consumer on JUSOU of another service that takes several event types of its source (`filter_subjects`)."""
    return next(n for other in SERVICES if other != user
                for n, (stream, subject) in consumers_of(other).items() if stream == STREAM and subject.endswith(".*"))


def without_filter_in_subject(name: str, *filters: str) -> dict[str, Any]:
    """A CREATE request body for `$JS.API.CONSUMER.CREATE.JUSOU.<name>`: the filters in the body only."""
    return {"stream_name": STREAM, "config": {"name": name, "durable_name": name, "filter_subjects": list(filters),
                                              "deliver_policy": "all", "ack_policy": "explicit", "max_ack_pending": 1}}


def inbox_config(name: str, subject: str) -> ConsumerConfig:
    """The config shared/messaging/inbox.py gives a durable consumer (FastStream sends it so)."""
    return ConsumerConfig(name=name, durable_name=name, filter_subject=subject, deliver_policy=DeliverPolicy.ALL,
                          ack_policy=AckPolicy.EXPLICIT, max_ack_pending=1, ack_wait=5, max_deliver=-1)


@dataclasses.dataclass
class Bus:
    """`jusou up`'s nats-server (its generated users, the streams made by the operator), no services."""

    suite: Suite

    @property
    def url(self) -> str:
        return self.suite.nats_url

    def password(self, user: str) -> str:
        return natsauth.credentials(self.suite.data_dir, self.suite.services)[user]

    async def operator(self) -> nats_py.NATS:
        return await connect(self.url, "operator-test", *self.suite.nats_operator())


async def populate(bus: Bus) -> None:
    """An event of every service on JUSOU, a dead letter and a replay for every service, and every
    durable consumer the services make (with their config), plus one of the integrator's."""
    nc = await bus.operator()
    try:
        js = nc.jetstream(timeout=5)
        for service in SERVICES:
            await js.publish(f"jusou.{service}.Probe", b'{"probe": true}', stream=STREAM)
            await js.publish(f"jusou-dlq.{service}.intake.Probe", b'{"parked": true}', stream=DEAD_LETTER_STREAM)
            await js.publish(f"jusou-replay.{service}.intake.Probe", b'{"replayed": true}', stream=REPLAY_STREAM)
        named = {subject for service in SERVICES for stream, subject in consumers_of(service).values()
                 if stream == STREAM and not subject.endswith(".*")}
        for subject in sorted(named):  # an event for each consumer that names the one type it takes
            await js.publish(subject, b'{"probe": true}', stream=STREAM)
        for service in SERVICES:
            for name, (stream, subject) in consumers_of(service).items():
                await js.add_consumer(stream, inbox_config(name, subject))
        await js.add_consumer(STREAM, inbox_config(INTEGRATORS_OWN, "jusou.>"))
    finally:
        await nc.close()


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[Bus]:
    """A fresh server for each test: a call that was not refused changes nothing for the next."""
    suite = Suite(tmp_path / "data", nats_port=free_port(), services=SERVICES)
    try:
        suite.start_nats()  # as `jusou up`: the generated config, the streams made by the operator
        found = Bus(suite)
        run_async(populate(found))
        yield found
    finally:
        suite.stop()


async def snapshot(bus: Bus) -> dict[str, Any]:
    """Every stream's settings and contents and every consumer's settings and progress, as the operator sees them."""
    nc = await bus.operator()
    try:
        js = nc.jetstream(timeout=5)
        found: dict[str, Any] = {}
        for stream in (STREAM, DEAD_LETTER_STREAM, REPLAY_STREAM):
            try:
                info = await js.stream_info(stream)
            except Exception as exc:  # noqa: BLE001 — a deleted stream is part of the picture
                found[stream] = repr(exc)
                continue
            config = {k: v for k, v in info.config.as_dict().items() if k != "metadata"}
            found[stream] = (config, info.state.messages, info.state.first_seq, info.state.last_seq,
                             info.state.num_deleted)
            found[f"{stream} consumers"] = {
                c.name: (c.config.filter_subject, c.config.max_ack_pending, c.delivered.stream_seq, c.num_ack_pending)
                for c in await js.consumers_info(stream)}
        return found
    finally:
        await nc.close()


class Client:
    """One user's connection with its private reply prefix, and what the server refused it."""

    def __init__(self, nc: nats_py.NATS, user: str, violations: Violations) -> None:
        self.nc, self.user, self.violations = nc, user, violations
        self.js = nc.jetstream(timeout=CALL_TIMEOUT_S)

    @classmethod
    async def open(cls, bus: Bus, user: str) -> Client:
        violations = Violations()
        nc = await nats_py.connect(bus.url, user=user, password=bus.password(user), allow_reconnect=False,
                                   connect_timeout=5, inbox_prefix=f"_INBOX_{user}", error_cb=violations.record)
        return cls(nc, user, violations)

    async def outcome(self, call: Callable[[Client], Awaitable[Any]]) -> tuple[bool, str]:
        """(refused, how): refused only by a permissions violation or by one of JetStream's `REFUSALS`; any
        other answer (done, or an error such as "stream not found") is not."""
        seen = len(self.violations.seen)
        try:
            await asyncio.wait_for(call(self), CALL_TIMEOUT_S * 2)
            await self.nc.flush()
        except APIError as exc:
            return exc.err_code in REFUSALS, f"JetStream: {exc.err_code} {exc.description}"
        except Exception as exc:  # noqa: BLE001 — a request without permission gets no answer
            found = self._violation(seen)
            return (True, found) if found else (False, f"{type(exc).__name__} {exc}")
        deadline = time.monotonic() + CALL_TIMEOUT_S
        while time.monotonic() < deadline:  # a publish or subscribe is refused after the fact
            if found := self._violation(seen):
                return True, found
            await asyncio.sleep(0.02)
        return False, "done"

    def _violation(self, since: int) -> str | None:
        found = [s for s in self.violations.seen[since:] if "permissions violation" in s.lower()]
        return found[0] if found else None


async def _raw(client: Client, subject: str, body: dict[str, Any]) -> Any:
    reply = await client.nc.request(subject, json.dumps(body).encode(), timeout=CALL_TIMEOUT_S)
    answer = json.loads(reply.data or b"{}")
    if "error" in answer:
        raise APIError(code=answer["error"].get("code"), err_code=answer["error"].get("err_code"),
                       description=answer["error"].get("description"))
    return answer


def _jusou_config(max_msgs: int) -> Any:
    from shared.messaging.bus import STREAMS

    return dataclasses.replace(STREAMS[0], max_msgs=max_msgs, num_replicas=1)


async def _pull(client: Client, stream: str, name: str) -> Any:
    return await _raw(client, f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{name}", {"batch": 1, "no_wait": True})


async def _another_client_inbox(client: Client) -> None:
    await client.nc.subscribe("_INBOX.>")  # every reply to every other client: pulled events, dead letters read


def _create(stream: str, name: str, subject: str, **config: Any) -> Callable[[Client], Awaitable[Any]]:
    return lambda c: c.js.add_consumer(stream, dataclasses.replace(inbox_config(name, subject), **config))


FORBIDDEN: dict[str, Callable[[Client], Awaitable[Any]]] = {
    "delete the JUSOU stream": lambda c: c.js.delete_stream(STREAM),
    "delete the dead-letter stream": lambda c: c.js.delete_stream(DEAD_LETTER_STREAM),
    "purge the JUSOU stream": lambda c: c.js.purge_stream(STREAM),
    "update the JUSOU stream": lambda c: c.js.update_stream(_jusou_config(max_msgs=1)),
    "create the existing JUSOU stream with other settings": lambda c: c.js.add_stream(_jusou_config(max_msgs=1)),
    "delete a stored message": lambda c: c.js.delete_msg(STREAM, 1),
    "delete another's consumer": lambda c: c.js.delete_consumer(STREAM, anothers_consumer(c.user)[0]),
    # a service may delete its own consumers of JUSOU (shared/messaging/adoption.py replaces one that would not deliver
    # what it has still to apply): not its replay consumer; the integrator deletes none, its own neither
    "delete its own replay consumer (the integrator: its own consumer)": lambda c: c.js.delete_consumer(
        REPLAY_STREAM, f"{c.user}--replay") if c.user != INTEGRATOR else c.js.delete_consumer(STREAM, INTEGRATORS_OWN),
    "delete the integrator's consumer": lambda c: c.js.delete_consumer(STREAM, INTEGRATORS_OWN),
    "create (change) another's consumer": lambda c: _create(*anothers_consumer(c.user), max_ack_pending=1000)(c),
    "read another's consumer info": lambda c: c.js.consumer_info(STREAM, anothers_consumer(c.user)[0]),
    "pull from another's consumer": lambda c: _pull(c, STREAM, anothers_consumer(c.user)[0]),
    "ack another's consumer's message": lambda c: c.nc.publish(
        f"$JS.ACK.{STREAM}.{anothers_consumer(c.user)[0]}.1.1.1.0.0", b"+TERM"),
    "a consumer of its own name on every subject": lambda c: _create(
        STREAM, own_consumer(c.user)[0], "jusou.>" if c.user != INTEGRATOR else "jusou-dlq.>")(c),
    "a consumer whose request hides another filter": lambda c: _raw(
        c, f"$JS.API.CONSUMER.CREATE.{STREAM}.{own_consumer(c.user)[0]}.{own_consumer(c.user)[2]}",
        {"stream_name": STREAM, "config": {**inbox_config(own_consumer(c.user)[0], "jusou.meeting.>").as_dict()}}),
    "a legacy durable consumer (no filter in its subject)": lambda c: _raw(
        c, f"$JS.API.CONSUMER.DURABLE.CREATE.{STREAM}.{own_consumer(c.user)[0]}",
        {"stream_name": STREAM, "config": {"durable_name": own_consumer(c.user)[0], "ack_policy": "explicit"}}),
    "a one-type consumer of its own without a filter in its subject": lambda c: _raw(
        c, f"$JS.API.CONSUMER.CREATE.{STREAM}.{one_type_consumer(c.user)}",
        without_filter_in_subject(one_type_consumer(c.user), "jusou.>")),
    "another's consumer of several types without a filter in its subject": lambda c: _raw(
        c, f"$JS.API.CONSUMER.CREATE.{STREAM}.{anothers_several_types_consumer(c.user)}",
        without_filter_in_subject(anothers_several_types_consumer(c.user), "jusou.>")),
    "an unnamed consumer on JUSOU": lambda c: _raw(
        c, f"$JS.API.CONSUMER.CREATE.{STREAM}", {"stream_name": STREAM, "config": {"ack_policy": "explicit"}}),
    "get a dead letter": lambda c: c.js.get_msg(DEAD_LETTER_STREAM, 1),
    "get a replay": lambda c: c.js.get_msg(REPLAY_STREAM, 1),
    "a consumer on the dead letters": _create(DEAD_LETTER_STREAM, "peek", "jusou-dlq.>"),
    "subscribe to the dead letters": lambda c: c.nc.subscribe("jusou-dlq.>"),
    "subscribe to every other client's replies": _another_client_inbox,
    "publish another program's event": lambda c: c.js.publish(
        f"jusou.{anothers_consumer(c.user)[0].split('--')[0]}.MeetingDecided", b"{}", stream=STREAM),
    "publish another program's dead letter": lambda c: c.js.publish(
        f"jusou-dlq.{anothers_consumer(c.user)[0].split('--')[0]}.intake.Probe", b"{}", stream=DEAD_LETTER_STREAM),
}


async def attempt(bus: Bus, user: str, call: Callable[[Client], Awaitable[Any]]) -> tuple[bool, str]:
    client = await Client.open(bus, user)
    try:
        return await client.outcome(call)
    finally:
        await client.nc.close()


@pytest.mark.parametrize("call", FORBIDDEN)
async def test_least_privilege_no_service_nor_the_integrator_may(bus: Bus, call: str) -> None:
    before = await snapshot(bus)

    outcomes = dict(zip(USERS, await asyncio.gather(*(attempt(bus, user, FORBIDDEN[call]) for user in USERS)),
                        strict=True))

    assert {user: how for user, (refused, how) in outcomes.items() if not refused} == {}
    assert await snapshot(bus) == before, "the call changed the streams or consumers"


async def test_least_privilege_a_service_makes_its_consumers_of_several_types_with_a_filter_per_type_by_name(
        bus: Bus) -> None:
    """Issue 19: a consumer of several event types of one source has one filter per type (`filter_subjects`), whose
    CREATE request names no filter in its subject; each service may send it for those named consumers of its own only
    (no read boundary given away: it may read any JUSOU message by sequence anyway, natsauth's docstring)."""
    made = {}
    for service in SERVICES:
        several = natsauth.several_types(service, subscriptions_of(service))
        for name in several:
            source = name.split("--")[1]
            filters = natsauth.consumer_filters(source, subscriptions_of(service)[source])
            made[name] = await attempt(bus, service, lambda c, n=name, f=filters: _raw(
                c, f"$JS.API.CONSUMER.CREATE.{STREAM}.{n}", without_filter_in_subject(n, *f)))
    assert "collaboration--intake" in made and set(made) == {  # every consumer of several types, and only those
        n for s in SERVICES for n, (stream, subject) in consumers_of(s).items() if stream == STREAM and subject.endswith(".*")}
    assert {name: how for name, (refused, how) in made.items() if refused} == {}


async def test_least_privilege_the_integrator_may_not_publish_nor_get_messages_nor_make_streams(bus: Bus) -> None:
    before = await snapshot(bus)
    calls: dict[str, Callable[[Client], Awaitable[Any]]] = {
        "publish": lambda c: c.js.publish("jusou.intake.ConsultationReceived", b"{}", stream=STREAM),
        "get by sequence": lambda c: c.js.get_msg(STREAM, 1),
        "create a stream": lambda c: c.js.add_stream(dataclasses.replace(_jusou_config(0), name="MINE", subjects=["x.>"])),
    }

    outcomes = {what: await attempt(bus, INTEGRATOR, call) for what, call in calls.items()}

    assert {what: how for what, (refused, how) in outcomes.items() if not refused} == {}
    assert await snapshot(bus) == before


async def test_least_privilege_what_each_service_does_still_works(bus: Bus) -> None:
    for service in SERVICES:
        client = await Client.open(bus, service)
        js = client.js
        try:
            await ensure_streams(client.nc, 1)  # at start-up: the streams are there, nothing created
            assert await newest_on_stream(js, service) is not None  # the relay's look at its own tail
            ack = await js.publish(f"jusou.{service}.Probe", b'{"probe": 2}', stream=STREAM, timeout=5)
            parked = await js.publish(f"jusou-dlq.{service}.intake.Probe", b"{}", stream=DEAD_LETTER_STREAM, timeout=5)
            assert ack.stream == STREAM and parked.stream == DEAD_LETTER_STREAM
            counted = await js.stream_info(DEAD_LETTER_STREAM, subjects_filter=f"jusou-dlq.{service}.>")  # /metrics
            assert sum((counted.state.subjects or {}).values()) == 2
            for name, (stream, subject) in consumers_of(service).items():  # as FastStream binds and pulls
                sub = await js.pull_subscribe(subject, durable=name, stream=stream, config=inbox_config(name, subject))
                [msg] = await sub.fetch(1, timeout=5)
                await msg.ack_sync()
                info = await js.consumer_info(stream, name)  # /metrics, readyz
                assert info.ack_floor.stream_seq >= msg.metadata.sequence.stream, name
                await sub.unsubscribe()
            assert client._violation(0) is None, client.violations.seen
        finally:
            await client.nc.close()


async def test_least_privilege_an_integrator_reads_jusou_through_its_own_consumer(bus: Bus) -> None:
    client = await Client.open(bus, INTEGRATOR)
    try:
        sub = await client.js.pull_subscribe("jusou.>", durable="mhlw-reader", stream=STREAM,
                                             config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
        batch = await sub.fetch(6, timeout=5)
        for msg in batch:
            await msg.ack()
        await client.nc.flush()
        last = batch[-1].metadata.sequence.stream
        for _ in range(50):  # an ack is a message the server applies on its own time: wait for exactly that floor
            info = await client.js.consumer_info(STREAM, "mhlw-reader")
            if info.ack_floor.stream_seq == last:
                break
            await asyncio.sleep(0.1)
        stream = await client.js.stream_info(STREAM)
    finally:
        await client.nc.close()

    assert [m.subject for m in batch] == [f"jusou.{s}.Probe" for s in SERVICES]
    assert info.ack_floor.stream_seq == batch[-1].metadata.sequence.stream and stream.state.messages >= 6
    assert client._violation(0) is None, client.violations.seen


def test_least_privilege_jusou_status_fails_naming_a_missing_durable_consumer(
    bus: Bus, own_suite: Suite, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The running services of the package's suite, `bus`'s NATS: once a consumer is gone, status says which."""
    for name in SERVICES:
        monkeypatch.setenv(f"JUSOU_{name.upper()}_PORT", str(own_suite.ports[name]))
    monkeypatch.setenv("NATS_URL", bus.url)
    monkeypatch.setenv("NATS_USER", natsauth.OPERATOR)
    monkeypatch.setenv("NATS_PASSWORD", bus.password(natsauth.OPERATOR))
    gone, _, _ = own_consumer("intake")

    def status() -> tuple[int, dict[str, Any]]:
        code = ops.status(argparse.Namespace(json=True, watch=None))
        return code, json.loads(capsys.readouterr().out)

    complete, before = status()

    async def delete() -> None:
        nc = await bus.operator()
        try:
            await nc.jetstream().delete_consumer(STREAM, gone)
        finally:
            await nc.close()

    run_async(delete())
    try:
        code, after = status()
    finally:
        run_async(populate_one(bus, gone))

    assert (complete, before["ok"]) == (0, True), before
    assert (code, after["ok"]) == (1, False)
    assert after["missing_consumers"] == [{"name": gone, "stream": STREAM, "service": "intake"}]
    console = Console(record=True, width=200)  # the table `jusou status` prints
    console.print(ops.render_status(after))
    table = console.export_text()
    assert f"購読 {gone} (JUSOU) がありません" in table and "durable consumer missing" in table


async def populate_one(bus: Bus, name: str) -> None:
    nc = await bus.operator()
    try:
        service = name.split("--")[0]
        stream, subject = consumers_of(service)[name]
        await nc.jetstream().add_consumer(stream, inbox_config(name, subject))
    finally:
        await nc.close()


async def test_least_privilege_a_stream_someone_made_first_with_other_settings_is_reported_not_changed(
    bus: Bus,
) -> None:
    """A service may create the streams but never update one: `ensure_streams` finds `jusou up`'s streams
    as Jusou makes them, and one created first with other settings is reported, as it is."""
    nc = await bus.operator()
    try:
        js = nc.jetstream(timeout=5)
        await js.delete_stream(REPLAY_STREAM)
        # JUSOU_REPLAY as Jusou makes it (its discard policy and byte limit: shared/messaging/bus.py stream_configs)
        # but for one setting, so that the report names exactly that one
        made = next(c for c in stream_configs() if c.name == REPLAY_STREAM)
        await js.add_stream(dataclasses.replace(made, max_msgs=5, num_replicas=1))
    finally:
        await nc.close()
    client = await Client.open(bus, "intake")
    try:
        differs = await ensure_streams(client.nc, 1)
        kept = await client.js.stream_info(REPLAY_STREAM)
    finally:
        await client.nc.close()

    assert differs == [f"{REPLAY_STREAM}.max_msgs"]
    assert kept.config.max_msgs == 5


async def test_least_privilege_the_streams_jusou_up_made_are_jusous(bus: Bus) -> None:
    client = await Client.open(bus, "meeting")
    try:
        assert await ensure_streams(client.nc, 1) == []
    finally:
        await client.nc.close()


async def test_least_privilege_a_push_consumer_aimed_at_the_replays_stores_nothing(bus: Bus) -> None:
    """A consumer's `deliver_subject` is in the request body, where permissions cannot look: one aimed at
    another program's replay subject delivers nothing while nobody subscribes there (natsauth's docstring)."""
    before = (await snapshot(bus))[REPLAY_STREAM]
    client = await Client.open(bus, INTEGRATOR)
    try:
        await client.js.add_consumer(STREAM, ConsumerConfig(
            name="mhlw-push", durable_name="mhlw-push", filter_subject="jusou.>",
            deliver_subject="jusou-replay.collaboration.meeting.MeetingDecided"))
        await asyncio.sleep(1.5)
    finally:
        await client.nc.close()

    assert (await snapshot(bus))[REPLAY_STREAM] == before
