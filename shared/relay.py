"""Outbox relay: the one road out (STYLE 7).

Publishes a service's recorded events to the `JUSOU` stream from its event store, in store
order, with `Nats-Msg-Id` = `event_id`. Its position is kept in the store itself (a tracking
record) and saved after the stream acknowledged, so a restart resumes where it stopped; an
event published again after a crash is the same message (deterministic `event_id`) and the
stream drops it. The relay is woken on every commit, and polls as a fallback for commits made
by another process (a second replica on PostgreSQL).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anyio
import structlog
from nats.aio.client import Client
from nats.errors import Error as NatsError

from shared.app import ServiceApplication
from shared.contracts import STREAM, Envelope, envelope_json

log = structlog.get_logger()

Translate = Callable[[Any, int], Envelope | None]
BATCH = 256


class Relay:
    def __init__(self, app: ServiceApplication, translate: Translate, nc: Client, poll_seconds: float) -> None:
        self.app = app
        self.translate = translate
        self.nc = nc
        self.js = nc.jetstream()
        self.poll_seconds = poll_seconds
        self.position = 0
        self.published = 0
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Thread-safe: called by the application after each commit."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.app.on_commit(self.wake)
        self.position = await anyio.to_thread.run_sync(self.app.relay_position)
        backoff = 0.1
        while True:
            self._wake.clear()
            try:
                moved = await self.publish_pending()
                backoff = 0.1
            except (NatsError, asyncio.TimeoutError, ConnectionError, OSError) as exc:
                log.warning("relay.publish_failed", service=self.app.service, error=str(exc), retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if not moved:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
                except TimeoutError:
                    pass

    async def publish_pending(self) -> int:
        """Publish what the store holds beyond the saved position; return how many were read."""
        notifications = await anyio.to_thread.run_sync(
            lambda: self.app.recorder.select_notifications(start=self.position + 1, limit=BATCH)
        )
        for notification in notifications:
            envelope = self.translate(self.app.mapper.to_domain_event(notification), notification.id)
            if envelope is not None:
                await self.js.publish(
                    envelope.subject,
                    envelope_json(envelope),
                    stream=STREAM,
                    headers={"Nats-Msg-Id": str(envelope.event_id)},
                    timeout=5,
                )
                self.published += 1
        if notifications:
            self.position = notifications[-1].id
            await anyio.to_thread.run_sync(self.app.save_relay_position, self.position)
        return len(notifications)
