"""Messages on a service's subjects its store never recorded cannot stop its relay for good.

The review from outside (an attacker with intake's NATS password, on `jusou up`): 1,050 messages on `jusou.intake.Junk`.
At its next start (or reconnect) intake's relay looks back from the last message on `jusou.intake.>` for its newest
event, `LOOK_BACK` (1,000) messages at most; it did not find it and raised, again every 5 s, for ever: intake
published nothing more (its store 9, its relay 7), no case reached collaboration, and /readyz said "ready" with no
problem. It goes on from its saved position, chained onto the last message on its subjects, and says so (readyz
degraded) until it finds its newest again.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from faults.invariants import settings_for
from faults.world import Store, World
from support.municipality import ELDERLY

from services.intake.application import IntakeApplication
from services.intake.translate import translate
from shared.contract.events import STREAM, parse
from shared.kernel.store import store_env
from shared.messaging.relay import LOOK_BACK, Relay

STAFF = {"staff_id": "s-001", "division": ELDERLY.division}


def escalated_case(app: IntakeApplication) -> None:
    case_id = app.receive_consultation(STAFF, ELDERLY.code, ELDERLY.division, "窓口", ["高齢・介護", "ひきこもり"],
                                       {"name": "調布 花子"}, None)
    app.escalate_case(STAFF, case_id, "複合的な課題", ELDERLY.ja)


async def test_a_relay_whose_newest_event_is_buried_under_foreign_messages_goes_on_and_says_so(tmp_path: Path) -> None:
    world = World(tmp_path, Store("sqlite", tmp_path / "data"))
    await asyncio.to_thread(world.start_nats)
    intake = IntakeApplication(env=store_env(settings_for("intake", world.store)))
    nc = await world.connect()
    js = nc.jetstream()
    try:
        first = Relay(intake, translate, nc, poll_seconds=0.2)
        escalated_case(intake)  # positions 1..3 (the Person record stays private)
        await first.follow_stream()
        await first.publish_pending()
        saved = first.position
        for n in range(LOOK_BACK + 50):  # as whoever holds intake's password: on intake's subjects, no envelope
            await js.publish("jusou.intake.Junk", b"x", headers={"Nats-Msg-Id": f"junk-{n}"})
        escalated_case(intake)  # recorded while the relay is away: positions 4..6

        again = Relay(intake, translate, nc, poll_seconds=0.2)  # the service started again
        again.position = saved  # as `run` reads it from the store
        await again.follow_stream()
        await again.publish_pending()

        last = await js.get_last_msg(STREAM, "jusou.intake.CaseEscalated")
        envelope, _ = parse(last.data)
        assert envelope.source_position == again.position and again.position > saved
        assert any("did not find its newest event" in problem for problem in again.problems()), again.problems()
    finally:
        await nc.close()
        intake.close()
        world.kill_nats(signal.SIGTERM)
