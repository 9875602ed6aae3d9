"""NATS connection and streams: explicit, safe settings (STYLE 8)."""

from __future__ import annotations

import nats
from nats.aio.client import Client
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from shared.contracts import DEAD_LETTER_PREFIX, DEAD_LETTER_STREAM, STREAM, SUBJECT_PREFIX

DUPLICATE_WINDOW_SECONDS = 120.0

STREAMS = (
    StreamConfig(
        name=STREAM,
        description="Jusou integration events: the history of every case across programs",
        subjects=[f"{SUBJECT_PREFIX}.>"],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        max_age=0,  # history is never trimmed by time
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
    ),
    StreamConfig(
        name=DEAD_LETTER_STREAM,
        description="Messages a Jusou consumer could not process, with the reason in headers",
        subjects=[f"{DEAD_LETTER_PREFIX}.>"],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        max_age=0,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
    ),
)


async def connect(url: str, name: str) -> Client:
    """A connection that reconnects for ever, without spinning (2 s between tries)."""
    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=2,
        connect_timeout=5,
        allow_reconnect=True,
    )


async def ensure_streams(nc: Client) -> None:
    """Create the streams if missing; never rewrite an existing stream's settings."""
    js = nc.jetstream()
    for config in STREAMS:
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
