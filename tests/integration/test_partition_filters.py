"""Partition consumers filtered to what a service takes (issue 19): the server delivers nothing else, to none of the P.

With `JUSOU_PARTITIONS` = P each partition consumer of a source is delivered every event its filter names (subjects
are unchanged, so the partition is read from the body): P deliveries per event. Until this change the filter was
`jusou.<source>.*`, so an event of a type the service does not take was delivered P times too and acked unread each
time (a storm of 70,000 copies in the long fault run was 280,000 deliveries one at a time). A partition consumer now
has the filter of the unpartitioned consumer (`natsauth.consumer_filter`: `jusou.intake.ConsentRecorded` where the
service takes that one type of intake), and one made before the filters is given it when its partition is taken.

Against a real nats-server whose user `probe` has the services' least-privilege rights for P = 4
(`natsauth.permissions`: the CREATE subject names the narrowed filter, no other grant) and real SQLite, with the stand-in
service of bench/partitions.py (`SlowProbe`: intake's `ConsentRecorded` alone). The consumers' own `delivered` counts
are what the server delivered.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import nats as nats_py
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from support.poll import eventually
from test_partitions import nats_with_auth, replica, until_applied, until_balanced

from bench.partitions import SlowProbe, check, consents, open_probe, publish
from shared.contract.events import STREAM, Actor, Envelope
from shared.messaging import natsauth
from shared.messaging.bus import ensure_streams
from shared.messaging.inbox import ACK_WAIT_SECONDS
from shared.messaging.partitions import LAYOUT, consumer_name, partition_consumers, partition_permissions

P = 4
ALL_OF_INTAKE = "jusou.intake.*"  # every partition consumer's filter until this change
CONSENTS = "jusou.intake.ConsentRecorded"


def test_a_partition_consumer_has_the_filter_of_the_unpartitioned_consumer() -> None:
    consumers = partition_consumers("probe", SlowProbe.subscriptions, P)
    assert consumers == {consumer_name("probe", "intake", k): (STREAM, CONSENTS) for k in range(P)}
    assert consumers[consumer_name("probe", "intake", 0)][1] == \
        natsauth.durable_consumers("probe", SlowProbe.subscriptions)["probe--intake"][1]
    several = partition_consumers("meeting", {"collaboration": ("PlanClosureRequested", "PlanProposed")}, 2)
    assert set(several.values()) == {(STREAM, "jusou.collaboration.*")}
    # The rights name the narrowed filter in the CREATE subject and nothing wider: no new grant.
    rights = partition_permissions("probe", SlowProbe.subscriptions, P)
    creates = [s for s in rights if ".CONSUMER.CREATE." in s]
    assert creates == [f"$JS.API.CONSUMER.CREATE.{STREAM}.probe--intake--p{k}.{CONSENTS}" for k in range(P)]


def others_of_intake(cases: list[Any], first_position: int) -> list[Envelope]:
    """Per case a ConsultationReceived and a CaseEscalated of intake: types the stand-in service does not take."""
    found = []
    position = first_position
    for event_type in ("ConsultationReceived", "CaseEscalated"):
        for case_id in cases:
            found.append(Envelope(
                event_id=uuid4(), event_type=event_type, schema_version=1, source="intake", source_position=position,
                case_id=case_id, occurred_at=datetime.now(UTC), correlation_id=case_id, causation_id=None,
                actor=Actor(staff_id="s-001", division="elderly-support"), payload={}))
            position += 1
    return found


async def made_before_the_filters(nc: Any) -> None:
    """The four partition consumers as every replica made them until this change: filter `jusou.intake.*`."""
    js = nc.jetstream()
    for k in range(P):
        name = consumer_name("probe", "intake", k)
        await js.add_consumer(STREAM, ConsumerConfig(
            name=name, durable_name=name, filter_subject=ALL_OF_INTAKE, ack_policy=AckPolicy.EXPLICIT,
            max_ack_pending=1, ack_wait=ACK_WAIT_SECONDS, max_deliver=-1, deliver_policy=DeliverPolicy.ALL,
            metadata={LAYOUT: str(P)}))


@pytest.mark.parametrize("made_before", [False, True], ids=["new consumers", "consumers made before the filters"])
async def test_partition_consumers_are_delivered_only_the_type_the_service_takes_with_least_privilege(
        tmp_path: Path, monkeypatch: Any, made_before: bool) -> None:
    monkeypatch.setenv("JUSOU_PARTITIONS", str(P))
    rights = natsauth.permissions("probe", SlowProbe.subscriptions)
    with nats_with_auth(tmp_path, rights) as url:
        admin = await nats_py.connect(url, user="admin", password="admin-pw")
        js = admin.jetstream()
        await ensure_streams(admin)
        if made_before:
            await made_before_the_filters(admin)
        cases = [uuid4() for _ in range(12)]
        taken = consents(cases, 3)  # 36 ConsentRecorded, each case's interleaved with the others'
        ignored = others_of_intake(cases, first_position=len(taken) + 1)  # 24 of types the service does not take
        await publish(admin, [*taken, *ignored])
        reader = open_probe(tmp_path / "data")
        errors: list[str] = []
        async with replica(url, tmp_path / "data", "a", partitions=P, user="probe", password="probe-pw",
                           errors=errors) as a:
            await until_balanced(admin, 1, P)
            await until_applied(reader, len(cases) + len(taken))
            names = [consumer_name("probe", "intake", k) for k in range(P)]

            async def settled() -> list[Any] | None:
                infos = [await js.consumer_info(STREAM, name) for name in names]
                return infos if all(i.num_pending == 0 and i.num_ack_pending == 0 for i in infos) else None

            infos = await eventually(settled, "the four partition consumers with nothing pending")
            assert check(reader, taken) == []  # each case's consents once each, in order
            delivered = sum(i.delivered.consumer_seq for i in infos)
            assert delivered == P * len(taken), \
                f"{delivered} deliveries: P × the {len(taken)} consents, none of the {len(ignored)} other events"
            assert [i.config.filter_subject for i in infos] == [CONSENTS] * P
            assert a.unread == 0, "no event of another type reached the inbox"
            assert a.applied == len(taken) and a.skipped == (P - 1) * len(taken)
            await asyncio.sleep(0.5)  # a violation reported by the server arrives asynchronously
        assert not [e for e in errors if "permissions violation" in e.lower()], errors
        reader.close()
        await admin.close()
