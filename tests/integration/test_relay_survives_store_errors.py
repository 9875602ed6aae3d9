"""A store error while the relay looks for foreign messages on its subjects must not end the relay (found by the
PostgreSQL fault harness: a connection killed during `look_for_foreign`'s read of an event id ended community's relay
task silently; the service went on serving and published nothing more). Real nats-server, real SQLite."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from eventsourcing.persistence import OperationalError
from support.servers import local_nats
from test_outbox_inbox import escalated_case, settings

from services.intake.application import IntakeApplication
from services.intake.translate import translate
from shared.contract.events import STREAM
from shared.kernel.store import store_env
from shared.messaging.bus import connect, ensure_streams
from shared.messaging.relay import Relay


async def test_a_store_error_while_looking_for_foreign_messages_leaves_the_relay_publishing(tmp_path: Path) -> None:
    with local_nats(tmp_path / "nats") as nats:
        intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
        nc = await connect(nats.url, "t")
        await ensure_streams(nc)
        relay = Relay(intake, translate, nc, poll_seconds=0.2)
        task = asyncio.create_task(relay.run())
        try:
            escalated_case(intake)
            while relay.position < 3:
                await asyncio.sleep(0.05)
            js = nc.jetstream()
            last = await js.get_last_msg(STREAM, "jusou.intake.>")
            real = intake.recorder.select_notifications

            def failing(*args: Any, **kwargs: Any) -> Any:  # the store away for the relay's one-event reads
                if kwargs.get("limit") == 1:
                    raise OperationalError("terminating connection due to administrator command")
                return real(*args, **kwargs)

            intake.recorder.select_notifications = failing  # type: ignore[method-assign]
            # a copy of its last message (the harness's "every message twice"): the relay looks at it
            await js.publish(last.subject, last.data, stream=STREAM, headers={"Nats-Msg-Id": "copy-1"})
            await asyncio.sleep(2)
            assert not task.done(), f"the relay's task ended: {task.exception() if task.done() else None}"
            intake.recorder.select_notifications = real  # type: ignore[method-assign]
            escalated_case(intake)
            head = intake.recorder.max_notification_id()
            for _ in range(100):
                if relay.position >= head:
                    break
                await asyncio.sleep(0.05)
            assert relay.position == head, (relay.position, head)
            assert relay.ended is None and not any("stopped" in p for p in relay.problems())
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await nc.close()


def test_a_relay_whose_task_ended_says_so_on_readyz() -> None:
    from shared.web.deps import _relay_ended

    class Ended:
        def cancelled(self) -> bool:
            return False

        def exception(self) -> BaseException:
            return RuntimeError("the store went away")

    relay = Relay.__new__(Relay)
    relay.ended, relay.foreign, relay.app = None, [], type("App", (), {"service": "community"})()
    _relay_ended(relay, Ended())  # type: ignore[arg-type]
    assert relay.problems() == [("community's relay stopped and publishes nothing more: RuntimeError: the store went "
                                 "away (restart the service)")]


async def test_a_relay_that_cannot_read_its_store_says_so_on_readyz(tmp_path: Path, monkeypatch: Any) -> None:
    """A store its cipher key cannot read (a key changed by hand, a restore with another key) made every publish fail
    with 'Invalid cipher tag' for ever while readyz said "ready" and `jusou status` exited 0 (the operator review,
    session 20). Now the relay's failing is named among readyz's problems once it has lasted, and goes when it
    publishes again."""
    import shared.messaging.relay as relay_module

    monkeypatch.setattr(relay_module, "FAILING_REPORTED_AFTER_SECONDS", 0.3, raising=False)
    with local_nats(tmp_path / "nats") as nats:
        intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
        nc = await connect(nats.url, "t")
        await ensure_streams(nc)
        real = intake.mapper.to_domain_event

        def unreadable(*args: Any, **kwargs: Any) -> Any:  # what AES-GCM says to another key
            raise ValueError("Invalid cipher tag")

        intake.mapper.to_domain_event = unreadable  # type: ignore[method-assign]
        relay = Relay(intake, translate, nc, poll_seconds=0.2)
        task = asyncio.create_task(relay.run())
        try:
            escalated_case(intake)
            for _ in range(200):
                if any("failed to publish" in p for p in relay.problems()):
                    break
                await asyncio.sleep(0.05)
            problems = relay.problems()
            assert any("failed to publish" in p and "Invalid cipher tag" in p and "JUSOU_CIPHER_KEY" in p
                       for p in problems), problems
            assert relay.position == 0
            intake.mapper.to_domain_event = real  # type: ignore[method-assign]
            head = intake.recorder.max_notification_id()
            for _ in range(200):
                if relay.position >= head:
                    break
                await asyncio.sleep(0.05)
            assert relay.position == head, (relay.position, head)
            assert not any("failed to publish" in p for p in relay.problems()), relay.problems()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await nc.close()
