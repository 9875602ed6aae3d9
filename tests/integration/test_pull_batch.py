"""A standing pull request asks for `PULL_BATCH` messages and is asked again at half used (issue 19, shared/messaging/
runs.py): a consumer of the suite gets about one delivery a journey, so the request's size is how many journeys pass
between two requests (it was 64: a new request every 32 deliveries). Real nats-server."""

from __future__ import annotations

from support.servers import Nats
from test_inbox_standing import consumer

from shared.contract.events import STREAM
from shared.messaging.runs import StandingPull


async def test_a_hundred_deliveries_one_at_a_time_are_served_by_one_request(nats: Nats) -> None:
    nc = await consumer(nats.url)
    pull = StandingPull(nc, STREAM, "standing", "_INBOX_test.")
    await pull.start()
    js = nc.jetstream()
    try:
        for i in range(100):  # as in the suite: one at a time, each acked before the next comes
            await js.publish("jusou.t.Thing", str(i).encode())
            [msg] = await pull.get(5.0)
            assert msg.data == str(i).encode()
            await msg.ack()
        assert pull.requests == 1, pull.requests
    finally:
        await pull.stop()
        await nc.close()
