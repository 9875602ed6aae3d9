"""NATS connection and streams: explicit, safe settings (STYLE 8)."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from typing import cast

import nats
import structlog
from nats.aio.client import Client
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from shared import tenancy
from shared.contract.events import (
    DEAD_LETTER_PREFIX,
    DEAD_LETTER_STREAM,
    REPLAY_PREFIX,
    REPLAY_STREAM,
    STREAM,
    SUBJECT_PREFIX,
)
from shared.messaging import natsheaders
from shared.messaging.natsauth import client_credentials, inbox_prefix
from shared.messaging.natsversion import UNTRIED_NATS, UnsupportedNats, parse, require
from shared.settings import current

log = structlog.get_logger()

DUPLICATE_WINDOW_SECONDS = 120.0
#: The settings an existing stream is checked for (the replicas are the deployment's choice), with
#: the server's value for one that STREAMS leaves unset.
CHECKED_SETTINGS = {"subjects": None, "retention": None, "storage": None, "discard": DiscardPolicy.OLD,
                    "max_age": 0, "max_msgs": -1, "max_bytes": -1, "max_msgs_per_subject": -1,
                    "max_msg_size": -1, "duplicate_window": None}

#: JUSOU's consumer limit, set explicitly: nats-server 2.15 gives a stream that sets none 1,000 (`default_max_consumers`),
#: integrators' consumers included, and Jusou's own need 19 × (1 + P) at most (19 durable consumers, and with
#: JUSOU_PARTITIONS = P, up to 64, 19 × P partition consumers beside them while a switch is under way): 1,235. 4,096
#: leaves about 2,800 for integrators and the `jusou` commands' short-lived ordered consumers, while still bounding what
#: one NATS user can make (on servers before 2.15, where -1 was "no limit", it is a bound where there was none).
MAX_CONSUMERS = 4096

STREAMS = (
    StreamConfig(
        name=STREAM,
        description="Jusou integration events: the history of every case across programs",
        subjects=[f"{SUBJECT_PREFIX}.>"],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        max_age=0,  # history is never trimmed by time
        max_consumers=MAX_CONSUMERS,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
    ),
    StreamConfig(
        name=DEAD_LETTER_STREAM,
        description="Messages a Jusou consumer could not process, with the reason in headers",
        subjects=[f"{DEAD_LETTER_PREFIX}.>"],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.NEW,  # full (JUSOU_DLQ_MAX_BYTES): a new letter is refused, never an old one dropped
        max_age=0,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
    ),
    StreamConfig(
        name=REPLAY_STREAM,
        description="Dead letters replayed to the consumer that parked them (`jusou deadletters replay`), kept as a record",
        subjects=[f"{REPLAY_PREFIX}.>"],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.NEW,  # full (JUSOU_REPLAY_MAX_BYTES): a replay is refused, never a replayed letter dropped
        max_age=0,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
    ),
)

#: The setting that bounds each stream's bytes (0: no limit); JUSOU itself is the history and never bounded.
LIMITS = {DEAD_LETTER_STREAM: "dlq_max_bytes", REPLAY_STREAM: "replay_max_bytes"}


def stream_configs() -> tuple[StreamConfig, ...]:
    """STREAMS with the operator's limits (JUSOU_DLQ_MAX_BYTES, JUSOU_REPLAY_MAX_BYTES): what a missing stream is
    made with, and what an existing one is compared with."""
    env = current()
    return tuple(dataclasses.replace(config, max_bytes=int(getattr(env, LIMITS[str(config.name)])) or -1)
                 if config.name in LIMITS else config for config in STREAMS)


#: how often a service's connection pings NATS, and how many pings may go unanswered before it is taken for stale
PING_SECONDS, STALE_PINGS = 10, 2


async def connect(url: str, name: str, user: str | None = None, password: str | None = None) -> Client:
    """A connection that reconnects for ever, without spinning (2 s between tries), to a NATS the suite
    supports (shared/messaging/natsversion.py): an older server raises UnsupportedNats, the connection closed.

    It connects as `user`, else as shared.messaging.natsauth.client_credentials says (NATS_USER, or the
    operator of `jusou up`'s own NATS); a NATS without authorization ignores credentials. Its
    replies come on the user's own prefix, `_INBOX_<user>.…` (shared/messaging/natsauth.py: the only inbox
    a service's user may subscribe to).
    """
    natsheaders.install()  # nats-py's header parsing, the same result for less CPU (issue 19)
    credentials = client_credentials(user, password)
    nc = await nats.connect(
        servers(url),
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=2,
        connect_timeout=5,
        allow_reconnect=True,
        # a NATS that stops answering without closing the connection (hung, or a network path that drops silently) is
        # taken for gone after PING_SECONDS × (STALE_PINGS + 1), about 30 s, and reconnected; nats-py's defaults (120 s,
        # 2) kept /readyz 200 and jusou_bus_connected 1 for up to 6 minutes (120 s × 3) while every publish timed out
        ping_interval=PING_SECONDS,
        max_outstanding_pings=STALE_PINGS,
        **({"user": credentials[0], "password": credentials[1], "inbox_prefix": inbox_prefix(credentials[0])}
           if credentials else {}),
    )
    try:
        check_server(nc)
    except UnsupportedNats:
        await nc.close()
        raise
    return nc


def server_version(nc: Client) -> str:
    """The version the connected server announced in its INFO (`2.12.1`, `2.14.0-RC.1`)."""
    announced = nc.connected_server_version
    return f"{announced.major}.{announced.minor}.{announced.patch}" + (
        f"-{announced.prerelease}" if announced.prerelease else "")


def check_server(nc: Client) -> str:
    """The connected server's version; UnsupportedNats when it is older than the relay needs, a
    `bus.nats_untried_major` warning when it is of a major not yet tried."""
    found = server_version(nc)
    require(found)
    if parse(found) >= UNTRIED_NATS:
        log.warning("bus.nats_untried_major", version=found)
    return found


def exit_if_unsupported_nats(url: str, name: str, user: str | None = None, password: str | None = None) -> None:
    """A service's step before it starts (after shared.settings.exit_if_invalid): connect as it will,
    and on a NATS older than it supports stop with status 2 and the reason, no traceback.

    It waits for a NATS that is not there yet, as the service's own connection does. With a tenants file
    (issue 18) and no user given, it connects as the service's user of each tenant's account."""
    service = name.removesuffix("-version-check")
    tenants = tenancy.configured()
    logins = ([(t.nats_url or url, *tenancy.nats_login(t, service)) for t in tenants.values()] if tenants and not user
              else [(url, user or "", password or "")])

    async def probe() -> None:
        for server, login, secret in logins:
            nc = await connect(server, name, login or None, secret or None)
            await nc.close()

    try:
        asyncio.run(probe())
    except UnsupportedNats as refused:
        log.error("bus.nats_unsupported", version=refused.found)
        print(refused, file=sys.stderr)
        raise SystemExit(2) from None


def servers(url: str) -> list[str]:
    """`NATS_URL` as a list of servers: one URL, or several separated by commas (a NATS cluster).

    nats-py and FastStream take a list; a comma-separated string would be read as one bad URL."""
    return [part.strip() for part in url.split(",") if part.strip()]


def stream_replicas() -> int:
    """`JUSOU_STREAM_REPLICAS`: 1 on one nats-server, 3 on a three-node cluster (`jusou cluster up`)."""
    return current().stream_replicas


async def ensure_streams(nc: Client, replicas: int | None = None) -> list[str]:
    """Create the streams if missing (with `replicas` copies, default JUSOU_STREAM_REPLICAS);
    never rewrite an existing stream's settings, but say when they are not Jusou's.

    A service's NATS user may create exactly these three streams and never update one
    (shared/messaging/natsauth.py): `jusou up`, `jusou cluster up` and the operator's `jusou nats init` (Compose's
    nats-init, Kubernetes' Job nats-init) create them as the operator before any service starts. Whoever created a stream
    first decided its settings, so each start compares them with these and logs
    `bus.stream_settings_differ` (returned too: "<stream>.<setting>") for an operator to look at; one that takes
    other subjects, or mirrors or sources another stream, stops the caller (`ForeignStream`, status 2)."""
    js = nc.jetstream()
    copies = stream_replicas() if replicas is None else replicas
    differs: list[str] = []
    foreign: list[str] = []  # streams that take other subjects than Jusou's or copy another (`ForeignStream`)
    for config in stream_configs():
        try:
            info = await js.stream_info(cast(str, config.name))  # every stream in STREAMS is named
        except NotFoundError:
            await js.add_stream(dataclasses.replace(config, num_replicas=copies))
            continue
        wanted = {name: default if getattr(config, name) is None else getattr(config, name)
                  for name, default in CHECKED_SETTINGS.items()}
        found = [f"{config.name}.{name}" for name, value in wanted.items()
                 if value is not None and getattr(info.config, name) != value]
        if found:
            log.warning("bus.stream_settings_differ", stream=config.name, settings=found)
        differs += found
        if f"{config.name}.subjects" in found or info.config.mirror or info.config.sources:
            foreign.append(f"{config.name}: " + ", ".join([
                *(info.config.subjects or []), *([f"mirror {info.config.mirror.name}"] if info.config.mirror else []),
                *(f"sources {source.name}" for source in info.config.sources or [])]))
    if foreign:
        raise ForeignStream(foreign)
    return differs


async def raise_consumer_limit(nc: Client) -> int | None:
    """The operator's step at start (`jusou up`, `jusou cluster up`, `jusou nats init`): an existing `JUSOU` whose
    `max_consumers` is below MAX_CONSUMERS, or unset (-1: 1,000 on nats-server 2.15), gets MAX_CONSUMERS; nothing else
    of it changes, and a higher limit an operator chose stays. Returns the limit it had when raised, else None. Only
    the operator may: a service's user has no STREAM.UPDATE."""
    js = nc.jetstream()
    try:
        config = (await js.stream_info(STREAM)).config
    except NotFoundError:
        return None
    before = config.max_consumers if config.max_consumers is not None else -1
    if before >= MAX_CONSUMERS:
        return None
    await js.update_stream(dataclasses.replace(config, max_consumers=MAX_CONSUMERS))
    log.info("bus.consumer_limit_raised", stream=STREAM, before=before, after=MAX_CONSUMERS)
    return before


class ForeignStream(SystemExit):
    """A stream of Jusou's name that takes other subjects than Jusou's, or copies another stream: made by someone else
    (a service's NATS user may create the three streams, and the subjects travel in the request's body, so whoever held
    a service's password on an empty server could have made `JUSOU` capture the operator's replies). Nothing starts on
    it: status 2, the reason on stderr and in the log (`bus.foreign_stream`)."""

    def __init__(self, streams: list[str]) -> None:
        super().__init__(2)
        self.problem = (
            f"ストリーム {'; '.join(streams)} は Jusou のものではない subject を受け取るか、別のストリームを写しています。"
            "別の誰かが作ったもので、使わずに停止します。NATS の運用者が削除してから起動してください（Jusou が作り直します）"
            f" / the stream(s) {'; '.join(streams)} take subjects not Jusou's, or copy another stream: made by someone "
            "else, not used; stopping. The NATS operator deletes them (`nats stream rm <name>`), then Jusou makes its own")
        log.error("bus.foreign_stream", streams=streams, problem=self.problem)
        print(self.problem, file=sys.stderr)
