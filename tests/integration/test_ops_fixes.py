"""The operator commands against a real nats-server: what `jusou deadletters` reads while a replay fails again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import nats as nats_py
from support.poll import eventually
from support.servers import Nats

from shared.contract.events import DEAD_LETTER_PREFIX, DEAD_LETTER_STREAM, REPLAY_STREAM
from shared.messaging import deadletters
from shared.messaging.bus import ensure_streams
from shared.messaging.deadletters import CONSUMER, ORIGINAL_SUBJECT, REASON, REPLAY_OF, replay_consumer
from shared.messaging.deadletters import replay as send_replay

SERVICE = "collaboration"


class Interleaved:
    """The operator's JetStream context, running `hook` once just before its `at`-th call (0, 1, …): another
    process's step placed between two of `dead_letters`' reads, at every place in turn."""

    def __init__(self, js: Any, at: int, hook: Callable[[], Awaitable[None]]) -> None:
        self.js, self.at, self.hook, self.calls = js, at, hook, 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.js, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.calls == self.at:
                await self.hook()
            self.calls += 1
            return await method(*args, **kwargs)

        return call


async def test_a_replay_parked_again_between_the_reads_is_never_shown_as_replayed(nats: Nats) -> None:
    """`jusou deadletters replay` exits 0 only for a replay that was processed: the consumer parks a failing replay
    (JUSOU_DLQ) and then terminates it (its ack floor moves); wherever that falls among `dead_letters`' reads, the
    letter is `replay_pending` (not yet) or `failed_again`, never `replayed`."""
    nc = await nats_py.connect(nats.url)
    try:
        await ensure_streams(nc)
        js = nc.jetstream(timeout=5)
        durable = replay_consumer(SERVICE)
        seen: dict[int, str] = {}
        at = 0
        while True:
            await js.purge_stream(DEAD_LETTER_STREAM)  # each place starts from one letter and its replay
            await js.purge_stream(REPLAY_STREAM)
            pull = await js.pull_subscribe(f"jusou-replay.{SERVICE}.>", durable=durable, stream=REPLAY_STREAM)
            parked = await js.publish(f"{DEAD_LETTER_PREFIX}.{SERVICE}.intake.CaseEscalated", b'{"poison": true}',
                                      stream=DEAD_LETTER_STREAM,
                                      headers={REASON: "boom", CONSUMER: SERVICE,
                                               ORIGINAL_SUBJECT: "jusou.intake.CaseEscalated"})
            _, replay_seq, _ = await send_replay(js, parked.seq)
            [delivered] = await pull.fetch(1, timeout=5)  # the service holds the replay, applying it fails

            async def park_and_term(seq: int = parked.seq, msg: Any = delivered, replay_seq: int = replay_seq) -> None:
                """As shared/messaging/deadletters.py `park_again`: the new letter first, then the termination."""
                await js.publish(f"{DEAD_LETTER_PREFIX}.{SERVICE}.intake.CaseEscalated", msg.data,
                                 stream=DEAD_LETTER_STREAM,
                                 headers={REASON: "failed again", CONSUMER: SERVICE, REPLAY_OF: str(seq),
                                          ORIGINAL_SUBJECT: "jusou.intake.CaseEscalated"})
                await msg.term()

                async def floor_moved() -> bool:
                    return await deadletters.replay_floor(js, SERVICE) >= replay_seq

                await eventually(floor_moved, what="the replay consumer's ack floor past the terminated replay")

            read = Interleaved(js, at, park_and_term)
            [letter] = [d for d in await deadletters.dead_letters(read) if d.seq == parked.seq]
            seen[at] = letter.status
            ran = read.calls > at
            if not ran:
                await park_and_term()  # after every read: the next read sees it
            [after] = [d for d in await deadletters.dead_letters(js) if d.seq == parked.seq]
            assert after.status == "failed_again", after
            await pull.unsubscribe()
            await js.delete_consumer(REPLAY_STREAM, durable)
            if not ran:
                break
            at += 1
    finally:
        await nc.close()
    assert "replayed" not in seen.values(), seen
    assert seen[0] == "failed_again" and seen[at] == "replay_pending", seen  # parked before every read, after every one
