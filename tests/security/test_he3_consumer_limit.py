"""A service whose consumer the stream's consumer limit keeps from being made says so (readyz `degraded`, naming the
limit and what the operator does), instead of consuming part of its events in silence (session 21, HE).

The review from outside: since nats-server 2.15 a stream that sets no `max_consumers` holds at most 1,000 consumers
(`default_max_consumers`), and the integrator's NATS user may make consumers of its own on `JUSOU` under any name but
Jusou's. On `jusou up` it made 970 in 0.6 s (`flood-0`…), then "maximum consumers limit reached". From then on no
consumer of Jusou's could be made: `jusou audit verify` ended in a traceback, and

- partitioned (`JUSOU_PARTITIONS` = 4, two slots left): a replica made two partition consumers, and for the other two
  logged `partitions.take_failed … consumer not found` twice a second (the create's refusal hidden by the look-up after
  it) while `readyz` said nothing: `problems()` was `[]`, half the cases' events were never applied;
- unpartitioned: a consumer of the service's name that adoption replaces (deleted, made again) could not be made again
  after its deletion, and readyz said "not replaced after 4 attempts (other replicas replacing it too?)" and "kept as
  it is" of a consumer that was gone.

On a real nats-server, the service's NATS rights as `jusou nats config` renders them, the stand-in service of
bench/partitions.py; the other consumers are made by the operator (`admin`) standing in for the integrator, and the
limit is the stream's own `max_consumers`, a few above them (the same refusal as at 1,000, without a thousand consumers
to make and a server slow to stop).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any
from uuid import uuid4

import nats as nats_py
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from support.poll import eventually

ROOT = Path(__file__).resolve().parents[2]
for folder in (ROOT / "tests", ROOT / "tests" / "e2e"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from integration.test_partitions import nats_with_auth, replica
from test_ha2_d15_consumer_adoption import FILTER, cases_in_every_partition, rights, unpartitioned

from bench.partitions import applied_count, check, consents, open_probe, publish
from shared.contract.events import STREAM
from shared.messaging.bus import ensure_streams
from shared.messaging.partitions import consumer_name

SAYS = ("maximum consumers limit reached", "max_consumers", "上限")


async def flood(js: Any, count: int, limit: int) -> list[str]:
    """`count` consumers of someone else's on JUSOU, as the integrator may make them; then the stream's limit `limit`
    (consumers it holds beyond it are kept, no new one is made)."""
    names = [f"flood-{i}" for i in range(count)]
    await asyncio.gather(*(js.add_consumer(STREAM, ConsumerConfig(durable_name=n, filter_subject="jusou.>",
                                                                  ack_policy=AckPolicy.EXPLICIT)) for n in names))
    config: StreamConfig = (await js.stream_info(STREAM)).config
    config.max_consumers = limit
    await js.update_stream(config)
    return names


async def test_partition_consumers_the_consumer_limit_keeps_from_being_made_are_reported_and_made_once_there_is_room(
        tmp_path: Path, monkeypatch: Any) -> None:
    with nats_with_auth(tmp_path, rights(monkeypatch, 4)) as url:
        admin = await nats_py.connect(url, user="admin", password="admin-pw")
        await ensure_streams(admin)
        js = admin.jetstream()
        others = await flood(js, 3, limit=5)  # room for two of the four partition consumers
        data = tmp_path / "data"
        reader = open_probe(data)
        cases = cases_in_every_partition(1)
        envelopes = consents(cases, 1)
        await publish(admin, envelopes)

        async with replica(url, data, "a", user="probe", password="probe-pw") as a:
            await eventually(lambda: asyncio.sleep(0, len(a.held) == 2 and len(a.problems()) == 2),
                             "two partitions consumed, two reported")
            missing = sorted(set(range(4)) - set(a.held))
            for partition, problem in zip(missing, a.problems(), strict=True):
                assert problem.startswith(consumer_name("probe", "intake", partition) + ": ")
                assert all(words in problem for words in SAYS), problem

            for name in others[:2]:  # the operator makes room (nats consumer rm)
                await js.delete_consumer(STREAM, name)
            await eventually(lambda: asyncio.sleep(0, applied_count(reader) >= len(cases) + len(envelopes)),
                             "every partition's events applied")
            assert check(reader, envelopes) == []
            assert a.held == [0, 1, 2, 3] and a.problems() == []
        reader.close()
        await admin.close()


async def test_a_consumer_replaced_by_adoption_and_not_made_again_for_the_limit_is_reported_gone(
        tmp_path: Path, monkeypatch: Any) -> None:
    """The stream at its limit after the deletion: an explicit `max_consumers` one below the consumers it holds (the
    consumers beyond it are kept), as when the integrator takes the slot the deletion freed."""
    with nats_with_auth(tmp_path, rights(monkeypatch, 1)) as url:
        admin = await nats_py.connect(url, user="admin", password="admin-pw")
        await ensure_streams(admin)
        js = admin.jetstream()
        app = open_probe(tmp_path / "data")
        await publish(admin, consents([uuid4()], 3))
        name = "probe--intake"
        await js.add_consumer(STREAM, ConsumerConfig(name=name, durable_name=name, filter_subject=FILTER,
                                                     ack_policy=AckPolicy.EXPLICIT, max_ack_pending=1, ack_wait=5,
                                                     max_deliver=-1, deliver_policy=DeliverPolicy.NEW))
        await flood(js, 3, limit=3)  # it holds 4

        async with unpartitioned(app, url) as inbox:
            await eventually(lambda: asyncio.sleep(0, inbox.problems()), "the consumer reported")

            [problem] = inbox.problems()
            assert problem.startswith(f"{name}: ") and "acknowledged through it" in problem
            assert all(words in problem for words in SAYS), problem
            assert "deleted, not made again" in problem and "kept as it is" not in problem
            assert name not in [c.name for c in await js.consumers_info(STREAM)]
        app.close()
        await admin.close()
