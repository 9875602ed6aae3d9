"""Partitioned consumption (issue 19): replicas divide a source's events by case, per-case order kept, exactly once.

Against a real nats-server (one with the services' NATS authorization where the rights are the point) and real
SQLite, with the stand-in service of bench/partitions.py (`SlowProbe`: one `Trail` per case noting the positions
of intake's `ConsentRecorded` in the order it applied them, and which replica did) and the partitioned inbox of
shared/messaging/partitions.py. Leases are 2 s here (15 s by default) so that a takeover fits a test.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import nats as nats_py
import pytest
from faststream.nats import NatsBroker
from support.poll import eventually
from support.servers import Nats, free_port, nats_binary, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.partitions import (  # the bench package lives beside the tests, at the repository's root
    SlowProbe,
    applied_count,
    balanced,
    check,
    consents,
    open_probe,
    owners,
    publish,
    start_replica,
    trails,
)
from jusou import partitions_cmd
from shared.contract.events import STREAM, envelope_json, parse
from shared.messaging import natsauth, partitions
from shared.messaging.bus import ensure_streams
from shared.messaging.inbox import Inbox
from shared.messaging.partitions import (
    PartitionedInbox,
    case_of,
    consumer_name,
    inbox_for,
    partition_of,
    partition_of_case,
    partition_permissions,
    tracking_name,
)

LEASE = 2.0


@asynccontextmanager
async def replica(url: str, data: Path, name: str, partitions: int = 4, user: str | None = None,
                  password: str | None = None, errors: list[str] | None = None,
                  slow_seconds: float = 0.0, lease: float = LEASE) -> AsyncIterator[PartitionedInbox]:
    """A replica in this process: its own store connection, broker and NATS connection; leaves cleanly on exit."""
    app = open_probe(data, slow_seconds, replica=name)
    broker = NatsBroker(url, logger=None, **natsauth.broker_credentials(user, password))
    inbox = PartitionedInbox(app, broker, max_deliver=3, partitions=partitions, lease_seconds=lease, me=name)
    await broker.start()

    async def error_cb(error: Exception) -> None:
        if errors is not None:
            errors.append(str(error))

    nc = await nats_py.connect(url, user=user, password=password, error_cb=error_cb,
                               inbox_prefix=natsauth.inbox_prefix(user or "probe"))
    task = asyncio.create_task(inbox.run(nc))
    try:
        yield inbox
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await broker.stop()
        await nc.close()
        app.close()


async def until_balanced(nc: Any, replicas: int, partitions: int = 4) -> dict[int, str]:
    held: dict[int, str] = await eventually(lambda: balanced(nc, partitions, replicas),
                                            f"{partitions} partitions over {replicas} replicas")
    return held


async def until_applied(reader: Any, expected: int, deadline_s: float = 20.0) -> None:
    await eventually(lambda: asyncio.sleep(0, applied_count(reader) >= expected), f"{expected} events recorded",
                     deadline_s=deadline_s)


@contextmanager
def nats_with_auth(root: Path, permissions: dict[str, Any]) -> Iterator[str]:
    """A nats-server whose user `probe` has `permissions`; `admin` may do anything. Yields its URL."""
    port = free_port()
    config = root / "nats.conf"
    config.write_text(json.dumps({
        "listen": f"127.0.0.1:{port}", "jetstream": {"store_dir": str(root / "js")},
        "authorization": {"users": [{"user": "admin", "password": "admin-pw"},
                                    {"user": "probe", "password": "probe-pw", "permissions": permissions}]}}))
    process = subprocess.Popen([nats_binary(), "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port)
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_per_case_order_kept_by_two_replicas_on_four_partitions_with_least_privilege(tmp_path: Path,
                                                                                            monkeypatch: Any) -> None:
    """The services' NATS rights with JUSOU_PARTITIONS=4 (shared/messaging/natsauth.py, `partition_permissions`) are enough."""
    monkeypatch.setenv("JUSOU_PARTITIONS", "4")
    rights = natsauth.permissions("probe", SlowProbe.subscriptions)  # its consumers' filters: ConsentRecorded alone
    assert set(partition_permissions("probe", SlowProbe.subscriptions, 4)) <= set(rights["publish"]["allow"])
    with nats_with_auth(tmp_path, rights) as url:
        admin = await nats_py.connect(url, user="admin", password="admin-pw")
        await ensure_streams(admin)
        reader = open_probe(tmp_path / "data")
        errors: list[str] = []
        async with (replica(url, tmp_path / "data", "a", user="probe", password="probe-pw", errors=errors) as a,
                    replica(url, tmp_path / "data", "b", user="probe", password="probe-pw", errors=errors) as b):
            held = await until_balanced(admin, 2)
            cases = [uuid4() for _ in range(24)]
            envelopes = consents(cases, 5)  # each case's 5 events interleaved with the others'
            await publish(admin, envelopes)
            await until_applied(reader, len(cases) + len(envelopes))

            assert check(reader, envelopes) == []  # each case's events once each, in its order
            assert a.applied > 0 and b.applied > 0 and a.applied + b.applied == len(envelopes)
            await eventually(lambda: asyncio.sleep(0, a.skipped + b.skipped == 3 * len(envelopes)),
                             "P deliveries per event: 4 × 120, of which 120 applied and 360 acked unread")
            for case_id, trail in trails(reader, cases).items():  # a case's events all by its partition's owner
                assert set(trail.replicas) == {held[partition_of_case(case_id, 4)]}
            for k in range(4):
                positions = [e.source_position for e in envelopes if partition_of_case(e.case_id, 4) == k]
                assert reader.recorder.max_tracking_id(tracking_name("intake", k)) == max(positions)
            assert not reader.recorder.max_tracking_id("intake")  # the unpartitioned tracking is not written
        assert not [e for e in errors if "permissions violation" in e.lower()], errors
        reader.close()
        await admin.close()


async def test_no_event_applied_twice_or_lost_when_a_replica_is_killed_mid_stream(nats: Nats, tmp_path: Path) -> None:
    admin = await nats_py.connect(nats.url)
    await ensure_streams(admin)
    data = tmp_path / "data"
    reader = open_probe(data)
    doomed = start_replica(nats.url, data, partitions=4, lease=LEASE, slow_ms=20, name="doomed")
    try:
        async with replica(nats.url, data, "survivor") as survivor:
            await until_balanced(admin, 2)
            cases = [uuid4() for _ in range(24)]
            envelopes = consents(cases, 5)
            await publish(admin, envelopes)

            async def doomed_applied() -> int:
                return sum(t.replicas.count("doomed") for t in trails(reader, cases).values())

            await eventually(lambda: asyncio.sleep(0, 10 <= applied_count(reader) - len(cases)), "ten applied")
            await eventually(doomed_applied, "the doomed replica applying")
            doomed.send_signal(signal.SIGKILL)  # mid-stream: 20 ms per event, 60 of its own to go
            doomed.wait(timeout=10)
            await until_applied(reader, len(cases) + len(envelopes), deadline_s=30)  # lease 2 s, then ack wait 5 s

            assert check(reader, envelopes) == []
            assert set((await owners(admin, 4)).values()) == {"survivor"}
            by = [r for t in trails(reader, cases).values() for r in t.replicas]
            assert 0 < by.count("doomed") < len(envelopes) and by.count("survivor") == survivor.applied
    finally:
        if doomed.poll() is None:
            doomed.kill()
        reader.close()
        await admin.close()


async def test_leases_rebalance_when_a_replica_joins_and_leaves(nats: Nats, tmp_path: Path) -> None:
    admin = await nats_py.connect(nats.url)
    await ensure_streams(admin)
    data = tmp_path / "data"
    reader = open_probe(data)
    cases = [uuid4() for _ in range(12)]
    envelopes = consents(cases, 5)
    async with replica(nats.url, data, "first", lease=6.0) as first:  # the bucket's lease: 6 s
        assert set((await until_balanced(admin, 1)).values()) == {"first"}
        await publish(admin, envelopes[:30])
        async with replica(nats.url, data, "joining") as joining:
            await publish(admin, envelopes[30:])  # while the partitions move
            held = await until_balanced(admin, 2)
            assert sorted(held.values()) == ["first", "first", "joining", "joining"]

            async def consuming_as_leased() -> bool:  # a lease is taken first, its consumer made (and examined) after
                return (first.held == sorted(k for k, owner in held.items() if owner == "first")
                        and joining.held == sorted(k for k, owner in held.items() if owner == "joining"))

            await eventually(consuming_as_leased, "each replica consuming the partitions it leased")
            await until_applied(reader, len(cases) + len(envelopes))
        # a clean leave releases its partitions at once: the first takes them back within about one renewal (1.5 s),
        # not after the lease (6 s)
        await eventually(lambda: balanced(admin, 4, 1), "the first replica holding all four again", deadline_s=3.0)
        assert check(reader, envelopes) == []

        # A replica started with another number of partitions consumes nothing and says why.
        async with replica(nats.url, data, "other-p", partitions=2) as other:
            await eventually(lambda: asyncio.sleep(0, other.problems()), "the layout refused")
            assert "made for 4 partitions" in other.problems()[0] and other.held == []
    reader.close()
    await admin.close()


async def test_switching_to_partitions_and_back_applies_nothing_twice_and_loses_nothing(
        nats: Nats, tmp_path: Path, monkeypatch: Any) -> None:
    """Unpartitioned → partitioned: the first partition consumers start after the unpartitioned consumer's floor, and
    what the unpartitioned tracking holds (here an event committed whose message was never acked) is a duplicate.
    Partitioned → unpartitioned (`back_to_unpartitioned`, replicas stopped mid-stream, partitions at different
    points): each partition brought to one stream point, the unpartitioned tracking set there."""
    monkeypatch.setattr(partitions, "UNPARTITIONED_QUIET", 1.0)  # 10 s: how long the last unpartitioned replica is waited for
    admin = await nats_py.connect(nats.url)
    await ensure_streams(admin)
    data = tmp_path / "data"
    app = open_probe(data, replica="unpartitioned")
    cases = [uuid4() for _ in range(8)]
    envelopes = consents(cases, 14)
    await publish(admin, envelopes[:40])
    async with unpartitioned(app, nats.url) as inbox:
        await eventually(lambda: asyncio.sleep(0, inbox.applied == 40), "forty applied unpartitioned")
    assert app.receive(*parse(envelope_json(envelopes[40])))  # tracking `intake`; its message comes later
    await publish(admin, envelopes[40:80])

    async with replica(nats.url, data, "partitioned", slow_seconds=0.02) as partitioned:
        await eventually(lambda: asyncio.sleep(0, partitioned.applied >= 10), "ten applied in partitions")
    assert partitioned.duplicates == 1 and partitioned.applied < 39  # stopped mid-stream
    info = await admin.jetstream().consumer_info(STREAM, consumer_name("probe", "intake", 0))
    assert info.config.opt_start_seq == 41  # after the unpartitioned consumer's acknowledged floor

    broker = NatsBroker(nats.url, logger=None)
    await broker.start()
    done = await partitions_cmd.back(app, admin.jetstream(), broker, max_deliver=3)  # `jusou partitions back probe`
    await broker.stop()
    back = done.tracking
    assert done.partitions == 4 and not done.refused
    assert sorted(done.deleted) == sorted(consumer_name("probe", "intake", k) for k in range(4))  # then deleted
    assert partitioned.applied + 1 + 40 <= back["intake"] <= 80
    assert app.recorder.max_tracking_id("intake") == back["intake"]
    await publish(admin, envelopes[80:])
    async with unpartitioned(app, nats.url) as inbox:
        await until_applied(app, len(cases) + len(envelopes))
        # the inbox counts a message once its commit is back on the loop, a moment after the store shows it
        await eventually(lambda: asyncio.sleep(0, inbox.applied >= len(envelopes) - back["intake"]),
                         "the inbox to count what the store shows applied")
        assert inbox.applied == len(envelopes) - back["intake"]
    assert check(app, envelopes) == []
    app.close()
    await admin.close()


async def test_the_way_back_sets_the_tracking_to_the_highest_position_applied_not_the_last_messages(
        nats: Nats, tmp_path: Path) -> None:
    """The last message the partitions were delivered is a copy of the first event (a duplicate publish): the way back
    sets the unpartitioned tracking to the highest position applied (30), not that copy's (1), so the unpartitioned
    inbox started afterwards applies nothing again."""
    admin = await nats_py.connect(nats.url)
    await ensure_streams(admin)
    js = admin.jetstream()
    app = open_probe(tmp_path / "data", replica="unpartitioned")
    cases = [uuid4() for _ in range(6)]
    envelopes = consents(cases, 5)
    await publish(admin, envelopes)
    copy = await js.publish(f"jusou.intake.{envelopes[0].event_type}", envelope_json(envelopes[0]), stream=STREAM,
                            headers={"Nats-Msg-Id": f"copy-{uuid4()}"})
    async with replica(nats.url, tmp_path / "data", "partitioned") as partitioned:
        await until_applied(app, len(cases) + len(envelopes))
        await eventually(lambda: asyncio.sleep(0, partitioned.duplicates >= 1), "the copy found a duplicate")
    broker = NatsBroker(nats.url, logger=None)
    await broker.start()
    done = await partitions_cmd.back(app, js, broker, max_deliver=3, keep_consumers=True)
    await broker.stop()
    infos = [await js.consumer_info(STREAM, consumer_name("probe", "intake", k)) for k in range(4)]
    assert max(i.delivered.stream_seq for i in infos) == copy.seq and not done.deleted
    assert done.tracking == {"intake": len(envelopes)} == {"intake": app.recorder.max_tracking_id("intake")}
    async with unpartitioned(app, nats.url) as inbox:
        await eventually(lambda: asyncio.sleep(0, inbox.duplicates == len(envelopes) + 1), "every message a duplicate")
        assert inbox.applied == 0
    assert check(app, envelopes) == []
    app.close()
    await admin.close()


async def test_the_way_back_is_refused_while_a_replica_runs(nats: Nats, tmp_path: Path) -> None:
    admin = await nats_py.connect(nats.url)
    await ensure_streams(admin)
    app = open_probe(tmp_path / "data", replica="operator")
    async with replica(nats.url, tmp_path / "data", "running"):
        await until_balanced(admin, 1)
        broker = NatsBroker(nats.url, logger=None)
        await broker.start()
        done = await partitions_cmd.back(app, admin.jetstream(), broker, wait_s=0.5)
        await broker.stop()
    assert "running" in done.refused and done.tracking == {} and done.deleted == []
    app.close()
    await admin.close()


def test_an_unpartitioned_replica_refuses_a_store_its_partitions_are_ahead_in(tmp_path: Path, monkeypatch: Any,
                                                                             capsys: Any) -> None:
    """Started without JUSOU_PARTITIONS beside partitioned replicas (or after them without the way back), an
    unpartitioned inbox would apply again what the partitions applied: it stops with status 2 and says what to do."""
    from eventsourcing.persistence import Tracking

    monkeypatch.delenv("JUSOU_PARTITIONS", raising=False)
    app = open_probe(tmp_path / "data")
    broker = NatsBroker("nats://127.0.0.1:1", logger=None)
    assert type(inbox_for(app, broker, 3)) is Inbox  # never partitioned
    app.recorder.insert_tracking(Tracking(application_name="intake", notification_id=3))
    app.recorder.insert_tracking(Tracking(application_name=tracking_name("intake", 2), notification_id=7))
    with pytest.raises(SystemExit) as stopped:
        inbox_for(app, broker, 3)
    assert stopped.value.code == 2
    said = capsys.readouterr().err
    assert "intake#p2 7 > intake 3" in said and "jusou partitions back probe" in said
    app.recorder.insert_tracking(Tracking(application_name="intake", notification_id=7))  # what the way back does
    assert type(inbox_for(app, broker, 3)) is Inbox
    app.close()


@asynccontextmanager
async def unpartitioned(app: Any, url: str) -> AsyncIterator[Inbox]:
    """Today's inbox (shared/messaging/inbox.py) for the stand-in service."""
    broker = NatsBroker(url, logger=None)
    inbox = Inbox(app, broker, max_deliver=3)
    await broker.start()
    try:
        yield inbox
    finally:
        await broker.stop()


def test_partitioning_is_off_unless_set(monkeypatch: Any) -> None:
    """JUSOU_PARTITIONS unset or 1: exactly today's inbox."""
    app = open_probe_popo()
    broker = NatsBroker("nats://127.0.0.1:1", logger=None)
    monkeypatch.delenv("JUSOU_PARTITIONS", raising=False)
    assert type(inbox_for(app, broker, 3)) is Inbox
    monkeypatch.setenv("JUSOU_PARTITIONS", "1")
    assert type(inbox_for(app, NatsBroker("nats://127.0.0.1:1", logger=None), 3)) is Inbox
    monkeypatch.setenv("JUSOU_PARTITIONS", "8")
    partitioned = inbox_for(app, NatsBroker("nats://127.0.0.1:1", logger=None), 3)
    assert isinstance(partitioned, PartitionedInbox) and partitioned.partitions == 8
    assert partition_permissions("probe", ["intake"], 1) == []


def open_probe_popo() -> Any:
    from bench.partitions import SlowProbe

    return SlowProbe(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def test_the_partition_is_crc32_of_the_case_id_read_from_the_body() -> None:
    """Stable across processes and languages (zlib's CRC-32 of the UUID's 16 bytes), read without decoding the envelope."""
    case = UUID("ec690e3f-443b-4d39-a976-0f60e0839faf")
    assert partition_of_case(case, 8) == 4150357461 % 8 == 5
    compact = envelope_json(consents([case], 1)[0])
    spaced = json.dumps(json.loads(compact), indent=2).encode()  # not where the fast path looks: decoded instead
    assert case_of(compact) == case_of(spaced) == case
    assert partition_of(compact, 8) == partition_of(spaced, 8) == 5
    assert partition_of(b"not json", 8) == partition_of(b'{"case_id": "no uuid"}', 8) == 0  # one partition parks it


def test_a_service_that_needs_each_sources_order_refuses_to_be_partitioned(monkeypatch: Any, capsys: Any) -> None:
    """Collaboration's household rule (D16) and community's regional issues rely on other cases' events applied first:
    with JUSOU_PARTITIONS > 1 such a service stops with status 2 and says why, rather than break the rule."""
    from shared.messaging.partitions import NEEDS_SOURCE_ORDER, inbox_for

    monkeypatch.setenv("JUSOU_PARTITIONS", "4")
    for service in NEEDS_SOURCE_ORDER:
        app = type("App", (), {"service": service})()
        with pytest.raises(SystemExit) as stopped:
            inbox_for(app, None, 5)  # type: ignore[arg-type]
        assert stopped.value.code == 2
        assert "JUSOU_PARTITIONS=1" in capsys.readouterr().err
