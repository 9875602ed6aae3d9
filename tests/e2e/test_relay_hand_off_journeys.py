"""What every relay published from its own commits is what its store holds (issue 19, docs/capacity.md §6.7).

The relays take their own process's commits from the commit (`Relay.recorded`), not read back from the store:
the domain events as the services recorded them, not as the store decodes them. A whole suite runs whole
journeys (every service's public events, intake's with personal data encrypted apart); then, the services
stopped, each store is read and translated as a relay reading the store would: every service's messages on the
stream are those bodies, byte for byte, in the store's order.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from support.auth import reader
from support.journey import Journey
from support.servers import SERVICES, suite_on_nats

from jusou.runner import application_class, translator
from shared.contract.events import STREAM, envelope_json
from shared.kernel.store import store_env
from shared.messaging.bus import connect
from shared.settings import Settings


async def stream_bodies(url: str) -> dict[str, list[bytes]]:
    nc = await connect(url, "hand-off-test", None, None)
    try:
        js = nc.jetstream()
        info = await js.stream_info(STREAM)
        found: dict[str, list[bytes]] = {}
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(STREAM, seq)
            found.setdefault((msg.subject or "").split(".")[1], []).append(msg.data or b"")
        return found
    finally:
        await nc.close()


def store_bodies(service: str) -> list[bytes]:
    app = application_class(service)(env=store_env(Settings.from_env(service)))
    translate = translator(service)
    try:
        bodies = []
        for notification in app.recorder.select_notifications(start=1, limit=100_000):
            envelope = translate(app.mapper.to_domain_event(notification), notification.id)
            if envelope is not None:
                bodies.append(envelope_json(envelope))
        return bodies
    finally:
        app.close()


async def test_every_relay_published_its_stores_events_byte_for_byte_in_store_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with suite_on_nats(tmp_path) as suite:
        async with httpx.AsyncClient(timeout=30, headers=reader()) as client:
            journey = Journey({name: suite.url(name) for name in SERVICES}, client)
            for _ in range(2):
                await journey.whole()
        published: dict[str, list[bytes]] = {}
        for _ in range(100):  # the last events' relays and consumers settle
            published = await stream_bodies(suite.nats_url)
            await asyncio.sleep(0.3)
            if published == await stream_bodies(suite.nats_url):
                break
        suite.stop()
        monkeypatch.setenv("JUSOU_DATA_DIR", str(suite.data_dir))
        monkeypatch.setenv("JUSOU_READMODELS_FOLLOW", "0")
        assert {"intake", "collaboration", "meeting", "participation"} <= set(published)
        for service in SERVICES:
            expected = store_bodies(service)
            assert published.get(service, []) == expected, service
