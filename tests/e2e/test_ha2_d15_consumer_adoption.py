"""D15 (everything that happened is kept and replayable: nothing the bus carried is lost silently): a service adopts an
existing durable consumer of its name only if it will deliver everything after the service's own tracking; else the
consumer is replaced, starting right after that tracking, and reported (session 20, HA; shared/messaging/adoption.py).

On a real nats-server whose user `probe` has the rights `jusou nats config` renders for a service (natsauth.permissions,
now with the deletion of its own consumers of JUSOU), with the stand-in service of bench/partitions.py. The consumer
someone else made first is made here by the operator: it stands in for the integrator under the rights of the previous
version (a partition name above the P they were rendered for), or for anyone holding the operator's password, or a
pair a later release subscribes to.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import nats as nats_py
from faststream.nats import NatsBroker
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy
from support.poll import eventually

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from integration.test_partitions import nats_with_auth, replica

from bench.partitions import SlowProbe, applied_count, check, consents, open_probe, publish
from shared.contract.events import STREAM
from shared.messaging import natsauth
from shared.messaging.bus import ensure_streams
from shared.messaging.inbox import Inbox
from shared.messaging.partitions import LAYOUT, consumer_name, partition_of_case

P = 4
FILTER = "jusou.intake.ConsentRecorded"


def cases_in_every_partition(per_partition: int = 2) -> list[UUID]:
    """Case ids, `per_partition` in each of the P partitions (crc32 of the id's bytes mod P)."""
    found: dict[int, list[UUID]] = {k: [] for k in range(P)}
    while any(len(ids) < per_partition for ids in found.values()):
        case = uuid4()
        if len(found[partition_of_case(case, P)]) < per_partition:
            found[partition_of_case(case, P)].append(case)
    return [case for k in range(P) for case in found[k]]


def rights(monkeypatch: Any, partitions: int) -> dict[str, Any]:
    """What `jusou nats config` renders for the service `probe` with JUSOU_PARTITIONS = `partitions`."""
    monkeypatch.setenv("JUSOU_PARTITIONS", str(partitions))
    return natsauth.permissions("probe", SlowProbe.subscriptions)


async def until_applied(reader: Any, expected: int) -> None:
    await eventually(lambda: asyncio.sleep(0, applied_count(reader) >= expected), f"{expected} events recorded")


async def made_first(admin: Any, name: str, after: Sequence[Any] = (), **config: Any) -> ConsumerInfo:
    """A consumer of the service's name made by hand before the service, as a careful forger would: the service's own
    settings and metadata, starting after what the stream holds (`deliver_policy` new) unless told otherwise; `after`
    is published first (what the stream held when it was made)."""
    await publish(admin, list(after))
    return await admin.jetstream().add_consumer(STREAM, ConsumerConfig(**{
        "name": name, "durable_name": name, "filter_subject": FILTER, "ack_policy": AckPolicy.EXPLICIT,
        "max_ack_pending": 1, "ack_wait": 5, "max_deliver": -1, "deliver_policy": DeliverPolicy.NEW, **config}))


@asynccontextmanager
async def unpartitioned(app: Any, url: str) -> AsyncIterator[Inbox]:
    """The unpartitioned inbox (shared/messaging/inbox.py) of the stand-in service, as its NATS user `probe`."""
    broker = NatsBroker(url, logger=None, **natsauth.broker_credentials("probe", "probe-pw"))
    inbox = Inbox(app, broker, max_deliver=3)
    await broker.start()
    try:
        yield inbox
    finally:
        await broker.stop()


async def test_d15_a_partition_consumer_made_with_deliver_new_before_p_was_raised_is_replaced_and_nothing_is_lost(
        tmp_path: Path, monkeypatch: Any) -> None:
    with nats_with_auth(tmp_path, rights(monkeypatch, P)) as url:
        admin = await nats_py.connect(url, user="admin", password="admin-pw")
        await ensure_streams(admin)
        js = admin.jetstream()
        data = tmp_path / "data"
        reader = open_probe(data)
        cases = cases_in_every_partition()
        envelopes = consents(cases, 3)
        forged = consumer_name("probe", "intake", 3)
        await made_first(admin, forged, envelopes[:16], metadata={LAYOUT: str(P)})  # while JUSOU_PARTITIONS was unset
        await publish(admin, envelopes[16:])

        async with replica(url, data, "a", user="probe", password="probe-pw") as a:
            await until_applied(reader, len(cases) + len(envelopes))

            assert check(reader, envelopes) == []  # partition 3's first 16 events too, each once, in order
            [problem] = a.problems()
            assert problem.startswith(f"{forged}: ") and "acknowledged through it" in problem and "replaced" in problem
            info = await js.consumer_info(STREAM, forged)
            assert info.config.deliver_policy == DeliverPolicy.ALL  # made again from the first event owed (seq 1)
        reader.close()
        await admin.close()


async def test_d15_a_new_pair_made_first_with_deliver_new_is_replaced_and_its_events_delivered(
        tmp_path: Path, monkeypatch: Any) -> None:
    """Unpartitioned: `<service>--<source>` made before the release that subscribes to it."""
    with nats_with_auth(tmp_path, rights(monkeypatch, 1)) as url:
        admin = await nats_py.connect(url, user="admin", password="admin-pw")
        await ensure_streams(admin)
        app = open_probe(tmp_path / "data")
        cases = [uuid4() for _ in range(5)]
        envelopes = consents(cases, 3)
        await made_first(admin, "probe--intake", envelopes[:10])
        await publish(admin, envelopes[10:])

        async with unpartitioned(app, url) as inbox:
            await until_applied(app, len(cases) + len(envelopes))

            assert check(app, envelopes) == []
            assert [p.split(":")[0] for p in inbox.problems()] == ["probe--intake"]
            assert inbox.applied == len(envelopes) and inbox.duplicates == 0
        app.close()
        await admin.close()


async def test_d15_two_replicas_starting_at_once_on_a_consumer_made_first_apply_everything_once(
        tmp_path: Path, monkeypatch: Any) -> None:
    with nats_with_auth(tmp_path, rights(monkeypatch, 1)) as url:
        admin = await nats_py.connect(url, user="admin", password="admin-pw")
        await ensure_streams(admin)
        js = admin.jetstream()
        first, second = open_probe(tmp_path / "data", replica="a"), open_probe(tmp_path / "data", replica="b")
        cases = [uuid4() for _ in range(6)]
        envelopes = consents(cases, 4)
        await made_first(admin, "probe--intake", envelopes[:12], deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                         opt_start_seq=9)
        async with unpartitioned(first, url) as a, unpartitioned(second, url) as b:
            await publish(admin, envelopes[12:])
            await until_applied(first, len(cases) + len(envelopes))

            assert check(first, envelopes) == []  # each event once, each case in order
            assert a.applied + b.applied == len(envelopes)
            assert "probe--intake" in {p.split(":")[0] for p in [*a.problems(), *b.problems()]}
            assert [c.name for c in await js.consumers_info(STREAM)] == ["probe--intake"]
        first.close()
        second.close()
        await admin.close()


async def test_d15_healthy_consumers_are_adopted_unchanged_after_a_restart_with_a_parked_tail(
        tmp_path: Path, monkeypatch: Any) -> None:
    """The upgrade and restart path: the consumers a service made itself keep their delivered and acknowledged state,
    also when the last message of the source was parked after its handler failed (acknowledged through its consumer,
    never applied: its dead letter accounts for it)."""
    with nats_with_auth(tmp_path, rights(monkeypatch, P)) as url:
        admin = await nats_py.connect(url, user="admin", password="admin-pw")
        await ensure_streams(admin)
        js = admin.jetstream()
        data = tmp_path / "data"
        reader = open_probe(data)
        cases, failing = cases_in_every_partition(), uuid4()
        first, tail = consents(cases, 2), consents([failing], 1, first_position=17)
        then = consents(cases, 2, first_position=18)
        receive = SlowProbe.receive

        def fails_for_one_case(self: SlowProbe, envelope: Any, *args: Any, **kwargs: Any) -> Any:
            if envelope.case_id == failing:
                raise RuntimeError("this case's handler fails")
            return receive(self, envelope, *args, **kwargs)

        with monkeypatch.context() as patched:
            patched.setattr(SlowProbe, "receive", fails_for_one_case)
            async with replica(url, data, "a", user="probe", password="probe-pw") as a:
                await publish(admin, first + tail)
                await until_applied(reader, len(cases) + len(first))
                await eventually(lambda: asyncio.sleep(0, a.dead_lettered == 1), "the failing event parked")
        names = [consumer_name("probe", "intake", k) for k in range(P)]
        before = {n: (await js.consumer_info(STREAM, n)).created for n in names}
        await publish(admin, then)

        async with replica(url, data, "b", user="probe", password="probe-pw") as b:
            await until_applied(reader, len(cases) + len(first) + len(then))

            assert check(reader, first + then) == []
            assert b.problems() == []
            assert {n: (await js.consumer_info(STREAM, n)).created for n in names} == before  # not made again
        reader.close()
        await admin.close()


KINDS: dict[str, tuple[dict[str, Any], str | None]] = {
    "the service's own, from the start": ({"deliver_policy": DeliverPolicy.ALL}, None),
    "deliver_policy new": ({}, "acknowledged through it"),
    "a late start": ({"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": 4}, "acknowledged through it"),
    "an early start": ({"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": 1}, None),
    "last per subject": ({"deliver_policy": DeliverPolicy.LAST_PER_SUBJECT}, "last_per_subject"),
    "acks none": ({"deliver_policy": DeliverPolicy.ALL, "ack_policy": AckPolicy.NONE}, "ack_policy none"),
    "one delivery at most": ({"deliver_policy": DeliverPolicy.ALL, "max_deliver": 1}, "max_deliver 1"),
    "headers only": ({"deliver_policy": DeliverPolicy.ALL, "headers_only": True}, "headers_only"),
    "deleted when idle": ({"deliver_policy": DeliverPolicy.ALL, "inactive_threshold": 3600.0}, "inactive_threshold"),
}


async def test_d15_what_a_consumer_of_its_name_is_asked_before_it_is_adopted(tmp_path: Path, monkeypatch: Any) -> None:
    """shared/messaging/adoption.py `examine` on consumers made in each way, the service's tracking at position 2 of 6
    (so a consumer starting at the 4th message passed the 3rd, which the service has still to apply)."""
    from shared.messaging import adoption

    with nats_with_auth(tmp_path, rights(monkeypatch, 1)) as url:
        admin = await nats_py.connect(url, user="admin", password="admin-pw")
        await ensure_streams(admin)
        js = admin.jetstream()
        await publish(admin, consents([uuid4() for _ in range(2)], 3))
        found = {}
        for kind, (config, _) in KINDS.items():
            name = f"probe-{len(found)}"
            verdict = await adoption.examine(js, await made_first(admin, name, **config), service="probe", source="intake",
                                             subjects=[FILTER], tracking=2, max_deliver=3)
            found[kind] = verdict.problems

        assert {kind: bool(problems) for kind, problems in found.items()} == {
            kind: why is not None for kind, (_, why) in KINDS.items()}
        assert {kind: [p for p in found[kind] if why in p] != [] for kind, (_, why) in KINDS.items() if why} == {
            kind: True for kind, (_, why) in KINDS.items() if why}  # each named for what it would lose
        await admin.close()


async def test_d15_with_the_nats_rights_of_an_older_version_a_consumer_it_cannot_replace_is_reported_and_kept(
        tmp_path: Path, monkeypatch: Any) -> None:
    """Upgraded services on a NATS config rendered before they could delete their consumers: not silent either."""
    older = rights(monkeypatch, 1)
    older["publish"]["allow"] = [s for s in older["publish"]["allow"] if ".CONSUMER.DELETE." not in s]
    with nats_with_auth(tmp_path, older) as url:
        admin = await nats_py.connect(url, user="admin", password="admin-pw")
        await ensure_streams(admin)
        js = admin.jetstream()
        app = open_probe(tmp_path / "data")
        made = await made_first(admin, "probe--intake", consents([uuid4()], 3))

        async with unpartitioned(app, url) as inbox:
            await eventually(lambda: asyncio.sleep(0, inbox.problems()), "the consumer reported")

            [problem] = inbox.problems()
            assert problem.startswith("probe--intake: ") and "its deletion was refused" in problem
            assert "kept as it is" in problem and "jusou nats config" in problem
            assert (await js.consumer_info(STREAM, "probe--intake")).created == made.created
        app.close()
        await admin.close()


async def test_d15_a_partition_consumer_holds_a_message_whose_handler_is_waiting_rather_than_park_it(
        tmp_path: Path, monkeypatch: Any) -> None:
    """As the unpartitioned inbox does (shared/messaging/waiting.py): a handler's `Waiting` past `max_deliver` tries
    (3 here) is tried again, reported while held, and applied once what it waited for came, never parked."""
    from shared.messaging.waiting import Waiting

    with nats_with_auth(tmp_path, rights(monkeypatch, P)) as url:
        admin = await nats_py.connect(url, user="admin", password="admin-pw")
        await ensure_streams(admin)
        data = tmp_path / "data"
        reader = open_probe(data)
        cases = cases_in_every_partition(1)
        envelopes = consents(cases, 1)
        waiting_for, tried = cases[3], []
        receive = SlowProbe.receive

        def waits_four_times(self: SlowProbe, envelope: Any, *args: Any, **kwargs: Any) -> Any:
            if envelope.case_id == waiting_for and len(tried) < 4:
                tried.append(envelope.source_position)
                raise Waiting("what this event needs is on its way")
            return receive(self, envelope, *args, **kwargs)

        monkeypatch.setattr(SlowProbe, "receive", waits_four_times)
        async with replica(url, data, "a", user="probe", password="probe-pw") as a:
            await publish(admin, envelopes)
            await eventually(lambda: asyncio.sleep(0, len(tried) == 4 and a.problems()), "the held message reported")
            assert "a message held after" in a.problems()[0]
            await until_applied(reader, len(cases) + len(envelopes))

            assert check(reader, envelopes) == []
            assert a.dead_lettered == 0
            await eventually(lambda: asyncio.sleep(0, a.problems() == []), "the report cleared once applied")
        reader.close()
        await admin.close()


async def test_a_lease_bucket_made_first_to_capture_other_subjects_is_refused_not_used(
        tmp_path: Path, monkeypatch: Any) -> None:
    """Where the first service makes its lease bucket (Compose, Kubernetes), whoever held a service's password could
    have made it first with the operator's replies among its subjects (HD, tests/security/test_hd2_nats_lease_bucket.py
    for `jusou up`): the service reports it and consumes nothing through it."""
    from nats.js.api import StreamConfig

    bucket = natsauth.bucket_name("probe")
    with nats_with_auth(tmp_path, rights(monkeypatch, P)) as url:
        admin = await nats_py.connect(url, user="admin", password="admin-pw")
        await ensure_streams(admin)
        js = admin.jetstream()
        await js.add_stream(StreamConfig(name=f"KV_{bucket}", subjects=[f"$KV.{bucket}.>", "_INBOX_admin.>"],
                                         allow_direct=True, max_msgs_per_subject=1))
        reader = open_probe(tmp_path / "data")
        await publish(admin, consents([uuid4()], 1))
        async with replica(url, tmp_path / "data", "a", user="probe", password="probe-pw") as a:
            await eventually(lambda: asyncio.sleep(0, a.problems()), "the bucket refused")

            assert "_INBOX_admin.>" in a.problems()[0] and "made by someone else" in a.problems()[0]
            assert a.held == [] and applied_count(reader) == 0
        reader.close()
        await admin.close()


async def test_d4_a_partition_consumer_parks_a_handlers_refusal_at_once_with_its_reason_and_clears_what_it_held(
        tmp_path: Path, monkeypatch: Any) -> None:
    """As `Inbox.handle` does: a handler's PoisonMessage (the meeting refusing a forged plan, D4) is parked on that try
    with its own reason, not retried until max_deliver and parked as "failed N times"; the message it held as waiting
    before is settled with it (readyz no longer names it)."""
    from shared.contract.events import DEAD_LETTER_STREAM, PoisonMessage
    from shared.messaging.waiting import Waiting

    with nats_with_auth(tmp_path, rights(monkeypatch, P)) as url:
        admin = await nats_py.connect(url, user="admin", password="admin-pw")
        await ensure_streams(admin)
        data = tmp_path / "data"
        reader = open_probe(data)
        cases = cases_in_every_partition(1)
        envelopes = consents(cases, 1)
        refused, tried = cases[2], []
        receive = SlowProbe.receive

        def waits_then_refuses(self: SlowProbe, envelope: Any, *args: Any, **kwargs: Any) -> Any:
            if envelope.case_id == refused:
                tried.append(envelope.source_position)
                if len(tried) <= 3:
                    raise Waiting("what this event needs is on its way")
                raise PoisonMessage("this plan is another program's: not applied (D4)")
            return receive(self, envelope, *args, **kwargs)

        monkeypatch.setattr(SlowProbe, "receive", waits_then_refuses)
        async with replica(url, data, "a", user="probe", password="probe-pw") as a:
            await publish(admin, envelopes)
            await eventually(lambda: asyncio.sleep(0, a.dead_lettered == 1), "the refusal parked")

            parked = await admin.jetstream().get_msg(DEAD_LETTER_STREAM, 1)
            assert parked.headers["Jusou-Dead-Letter-Reason"] == "this plan is another program's: not applied (D4)"
            assert len(tried) == 4 and a.problems() == []
            await until_applied(reader, 2 * len(cases) - 2)  # every other case's event
        reader.close()
        await admin.close()
