"""A `JUSOU` stream made first by someone else to capture other subjects is not used (session 20, HA, from HD's finding
on the lease buckets): every service's NATS user may create the three streams, and a stream's subjects travel in the
request's body, which permissions cannot see. On an empty server whoever held a service's password could make
`JUSOU_REPLAY` (or `JUSOU`, `JUSOU_DLQ`) take the operator's replies too, or copy the dead letters (`sources`). The
services' start (`ensure_streams`) refuses such a stream: status 2, the reason on stderr; other settings that differ are
still only reported (test_least_privilege_a_stream_someone_made_first_with_other_settings_is_reported_not_changed)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from nats.js.api import StreamSource

from security.test_nats_authorization import Bus, Client, _jusou_config, bus  # noqa: F401 - the fixture
from shared.contract.events import DEAD_LETTER_STREAM, REPLAY_STREAM
from shared.messaging.bus import ForeignStream, ensure_streams

MADE_FIRST: dict[str, dict[str, Any]] = {
    "the operator's replies among its subjects": {"subjects": ["jusou-replay.>", "_INBOX_jusou-operator.>"]},
    "the dead letters copied in": {"subjects": ["jusou-replay.>"], "sources": [StreamSource(name=DEAD_LETTER_STREAM)]},
}


@pytest.mark.parametrize("made", MADE_FIRST)
async def test_a_service_refuses_to_start_on_a_stream_made_first_to_capture_what_is_not_jusous(
        bus: Bus, made: str, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811 - the fixture
    nc = await bus.operator()
    try:
        js = nc.jetstream(timeout=5)
        await js.delete_stream(REPLAY_STREAM)
        await js.add_stream(dataclasses.replace(_jusou_config(-1), name=REPLAY_STREAM, **MADE_FIRST[made]))
    finally:
        await nc.close()
    client = await Client.open(bus, "intake")
    try:
        with pytest.raises(ForeignStream) as stopped:
            await ensure_streams(client.nc, 1)
    finally:
        await client.nc.close()

    assert stopped.value.code == 2
    said = capsys.readouterr().err
    assert REPLAY_STREAM in said and "made by someone else" in said and "別の誰かが作った" in said
