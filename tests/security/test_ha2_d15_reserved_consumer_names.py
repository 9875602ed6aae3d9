"""D15 (nothing the bus carried lost silently): the integrator may make no consumer under a name a service could ever
consume under, and may neither pull from nor ack on one (session 20, HA; shared/messaging/natsauth.py
`reserved_consumers`).

A service adopts an existing durable consumer of its name. The rendered rights used to deny the integrator only the
names of today's `JUSOU_PARTITIONS`: with it unset, `meeting--intake--p3` was the integrator's to make, with
deliver_policy new, and the meeting, once P was raised, adopted it. On nats-server as docker-compose.yml runs it
(deploy/nats/auth.conf, `jusou nats config`): every pair's `--p<k>` for k < MAX_PARTITIONS is refused to the
integrator, made (create), read (info), pulled (MSG.NEXT) or acked, while its own consumer still works.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats as nats_py
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from jusou.runner import subscriptions
from security.test_nats_authorization import Violations
from security.test_nats_deploy_config import DeployedNats, connect_as, deployed_nats  # noqa: F401 - the fixture
from shared.contract.events import STREAM
from shared.messaging import natsauth
from shared.messaging.bus import ensure_streams

PAIRS = sorted(durable for service, sources in subscriptions().items()
               for durable, (stream, _) in natsauth.durable_consumers(service, sources).items() if stream == STREAM)
#: a partition name of every pair, the lowest and the highest k (more than the P any config was rendered for)
NAMES = [f"{pair}--p{k}" for pair in PAIRS for k in (1, 3, natsauth.MAX_PARTITIONS - 1)]


async def refused(nc: nats_py.NATS, violations: Violations, subject: str, body: dict[str, Any]) -> bool:
    """Whether the server refused `user` the request (a permissions violation: no answer comes)."""
    seen = len(violations.seen)
    try:
        reply = await nc.request(subject, json.dumps(body).encode(), timeout=1.0)
    except (TimeoutError, nats_py.errors.TimeoutError, nats_py.errors.NoRespondersError):
        return any("permissions violation" in s.lower() for s in violations.seen[seen:])
    answer = json.loads(reply.data or b"{}")
    return "error" in answer and answer["error"].get("code") == 403


def create_body(name: str, **config: Any) -> dict[str, Any]:
    made = ConsumerConfig(name=name, durable_name=name, filter_subject="jusou.intake.>", ack_policy=AckPolicy.EXPLICIT,
                          deliver_policy=DeliverPolicy.NEW, **config)
    return {"stream_name": STREAM, "config": made.as_dict()}


async def test_d15_the_integrator_may_make_no_consumer_under_any_partition_name_of_any_pair(
        deployed_nats: DeployedNats) -> None:  # noqa: F811 - the fixture
    operator = await connect_as(deployed_nats, natsauth.OPERATOR)
    await ensure_streams(operator)
    violations = Violations()
    integrator = await connect_as(deployed_nats, natsauth.INTEGRATOR, error_cb=violations.record)
    try:
        outcomes = await asyncio.gather(*(
            refused(integrator, violations, f"$JS.API.CONSUMER.CREATE.{STREAM}.{name}.jusou.intake.>", create_body(name))
            for name in NAMES))
        made = [name for name, no in zip(NAMES, outcomes, strict=True) if not no]

        assert made == []
        assert {c.name for c in await operator.jetstream().consumers_info(STREAM)} == set()
        # its own consumer it still makes
        assert not await refused(integrator, violations, f"$JS.API.CONSUMER.CREATE.{STREAM}.hoken-reader.jusou.intake.>",
                                 create_body("hoken-reader"))
    finally:
        await integrator.close()
        await operator.close()


@pytest.mark.parametrize("name", ["meeting--intake--p3", f"intake--meeting--p{natsauth.MAX_PARTITIONS - 1}"])
async def test_d15_the_integrator_may_neither_pull_from_nor_ack_on_a_partition_consumer_of_a_service(
        deployed_nats: DeployedNats, name: str) -> None:  # noqa: F811 - the fixture
    """A partition consumer the service made after P was raised (the operator stands in for it here, with the
    config rendered before: P unset)."""
    operator = await connect_as(deployed_nats, natsauth.OPERATOR)
    await ensure_streams(operator)
    js = operator.jetstream()
    source = name.split("--")[1]
    for n in range(3):
        await js.publish(f"jusou.{source}.Probe", b'{"probe": %d}' % n, stream=STREAM)
    await js.add_consumer(STREAM, ConsumerConfig(name=name, durable_name=name, filter_subject=f"jusou.{source}.*",
                                                 ack_policy=AckPolicy.EXPLICIT, max_ack_pending=1, ack_wait=30))
    pulled = await js.pull_subscribe_bind(durable=name, stream=STREAM)
    [message] = await pulled.fetch(1, timeout=5)  # delivered to the service, not yet acked
    before = await js.consumer_info(STREAM, name)
    violations = Violations()
    integrator = await connect_as(deployed_nats, natsauth.INTEGRATOR, error_cb=violations.record)
    try:
        pull, info = await asyncio.gather(
            refused(integrator, violations, f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{name}", {"batch": 1, "no_wait": True}),
            refused(integrator, violations, f"$JS.API.CONSUMER.INFO.{STREAM}.{name}", {}))
        seen = len(violations.seen)
        await integrator.publish(message.reply, b"+ACK")  # the pending message's own ack subject
        await integrator.flush()

        async def ack_refused() -> bool:
            for _ in range(100):
                if any("permissions violation" in s.lower() for s in violations.seen[seen:]):
                    return True
                await asyncio.sleep(0.02)
            return False

        assert (pull, info, await ack_refused()) == (True, True, True)
        after = await js.consumer_info(STREAM, name)
        assert (after.ack_floor.stream_seq, after.num_ack_pending, after.delivered.stream_seq) == (
            before.ack_floor.stream_seq, before.num_ack_pending, before.delivered.stream_seq)
    finally:
        await integrator.close()
        await operator.close()
