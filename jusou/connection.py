"""One NATS connection for one `jusou` command: it fails within seconds, saying why, instead of waiting for ever.

A service's connection (shared/messaging/bus.py `connect`) reconnects for ever, which is right for a service and
wrong for a command: a wrong NATS login or a NATS that is down left `jusou audit verify` waiting with no word. A
command's connection tries each server of NATS_URL twice, for at most `DEADLINE_SECONDS` in all, and then raises
`NatsUnavailable`, whose text (Japanese, then English) says what to check; `jusou` prints it and exits with
`EXIT_STATUS` (3), so that a script tells "could not look" (3) from "looked and found a problem" (1).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

NATS_TIMEOUT_SECONDS = 2.0  # one attempt at one server
DEADLINE_SECONDS = 5.0  # every attempt of one connection
EXIT_STATUS = 3


class StoreMissing(Exception):
    """A command that only reads found no store of the service where JUSOU_DATA_DIR points: it says so instead of
    making an empty store there (and a new cipher key). `jusou` prints it and exits with status 2."""

    def __init__(self, service: str, folder: Path, schema: str = "", database: str = "") -> None:
        if schema:  # JUSOU_STORE=postgres: the service's schema is not in the database
            super().__init__(f"データベース {database} に {service} のスキーマ {schema} がありません。JUSOU_PG_SCHEMA_PREFIX と"
                             f" JUSOU_PG_DBNAME がサービスのものと同じか確かめてください。\n"
                             f"no schema {schema} of {service} in database {database}: check that JUSOU_PG_SCHEMA_PREFIX "
                             "and JUSOU_PG_DBNAME are the services'")
            return
        super().__init__(f"{folder} に {service} のストアがありません。JUSOU_DATA_DIR（または --data-dir）が `jusou up` の"
                         f"データフォルダを指しているか確かめてください。\n"
                         f"no store of {service} in {folder}: check that JUSOU_DATA_DIR (or --data-dir) names the data "
                         "folder of `jusou up`")


class StreamMissing(Exception):
    """The NATS a command reached holds no stream it must read (a NATS no suite ever used, or NATS_URL naming another
    one): `jusou` says so with status 3 (could not look), not a traceback."""

    def __init__(self, stream: str) -> None:
        super().__init__(f"NATS にストリーム {stream} がありません。NATS_URL が Jusou の NATS を指しているか、Jusou がそこで"
                         f"起動したことがあるか（`jusou nats init`）確かめてください。\n"
                         f"NATS holds no stream {stream}: check that NATS_URL names Jusou's NATS and that Jusou has run "
                         "there (`jusou nats init` makes the streams)")


class ConsumerLimitReached(Exception):
    """A command could not make its (short-lived, ordered) consumer: the stream holds as many consumers as its limit
    allows. `jusou` says what the operator does, status 3 (could not look), not nats-py's traceback."""

    def __init__(self, stream: str) -> None:
        super().__init__(f"ストリーム {stream} の購読数が上限に達していて、読み取り用の購読を作れません。`jusou status` の"
                         f"「その他の購読」で使われていない購読を確かめて削除するか（nats consumer rm {stream} <名前>）、"
                         f"`jusou nats init` で上限を上げてから、もう一度実行してください。\n"
                         f"{stream} holds as many consumers as its limit allows, so this command could not make its own "
                         f"to read it: delete unused consumers (`jusou status` lists the other consumers; `nats consumer "
                         f"rm {stream} <name>`) or raise the limit with `jusou nats init`, then run it again")


class StreamsRefused(Exception):
    """NATS refused to make (or raise the limit of) the suite's streams: `jusou up`, `jusou cluster up` and `jusou nats
    init` say why and what to check, status 2, where they ended in nats-py's traceback (e.g. JUSOU_STREAM_REPLICAS=3
    on one nats-server: "replicas > 1 not supported in non-clustered mode")."""

    def __init__(self, description: str, replicas: int) -> None:
        super().__init__(f"NATS がストリームの作成を拒否しました（{description}）。JUSOU_STREAM_REPLICAS（{replicas}）が NATS の"
                         f"ノード数以下か（`jusou up` の NATS は 1 ノード: 1）、NATS_USER が運用者 jusou-operator か確かめて"
                         f"ください。\n"
                         f"NATS refused to make the streams ({description}): check that JUSOU_STREAM_REPLICAS ({replicas}) "
                         "is at most the number of NATS nodes (`jusou up`'s own NATS is one node: 1; 3 is for `jusou "
                         "cluster up` or a NATS cluster named in NATS_URL) and that NATS_USER is the operator, "
                         "jusou-operator")


class NatsUnavailable(Exception):
    """The command could not connect to NATS: not reachable, or its login refused."""

    def __init__(self, url: str, user: str | None, login_refused: bool, detail: str) -> None:
        super().__init__(url, user, login_refused, detail)
        self.url, self.user, self.login_refused, self.detail = url, user, login_refused, detail

    @property
    def short(self) -> str:
        """One line for `jusou status`'s NATS row."""
        if self.login_refused:
            return f"ログイン拒否 login refused ({self.user or 'ユーザーなし / no user'})"
        return f"接続できません not reachable ({self.detail})"

    def __str__(self) -> str:
        if self.login_refused and self.user:
            return (f"NATS ({self.url}) がユーザー {self.user} のログインを拒否しました。NATS_USER と NATS_PASSWORD を確かめて"
                    f"ください（設定しなければ、JUSOU_DATA_DIR のデータフォルダで `jusou up` が作った運用者 jusou-operator で"
                    f"接続します）。\n"
                    f"NATS at {self.url} refused the login of user {self.user!r} ({self.detail}): check NATS_USER and "
                    f"NATS_PASSWORD (unset, a jusou command logs in as the operator jusou-operator that `jusou up` made "
                    f"in the data folder JUSOU_DATA_DIR; `jusou nats credentials` prints a user's)")
        if self.login_refused:
            return (f"NATS ({self.url}) はログインを求めています。NATS_USER と NATS_PASSWORD を設定するか、JUSOU_DATA_DIR を"
                    f"その NATS を動かしている `jusou up` のデータフォルダにしてください。\n"
                    f"NATS at {self.url} requires a login ({self.detail}): set NATS_USER and NATS_PASSWORD, or "
                    f"JUSOU_DATA_DIR to the data folder of the `jusou up` that runs this NATS")
        return (f"NATS ({self.url}) に接続できません（{DEADLINE_SECONDS:.0f} 秒以内）。NATS が動いているか、NATS_URL"
                f"（未設定なら nats://127.0.0.1:JUSOU_NATS_PORT）がその NATS を指しているか確かめてください。\n"
                f"cannot reach NATS at {self.url} within {DEADLINE_SECONDS:.0f} s ({self.detail}): check that NATS "
                f"is running and that NATS_URL (unset: nats://127.0.0.1:JUSOU_NATS_PORT) names it")


def _described(error: BaseException) -> str:
    text = str(error).removeprefix("nats: ").strip("'")
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


async def connect_once(url: str, user: str | None = None, password: str | None = None, *, name: str = "jusou-ops",
                       check_version: bool = False) -> Any:
    """A NATS connection for one command, as `user` (else as shared.messaging.natsauth.client_credentials says):
    NatsUnavailable within DEADLINE_SECONDS when no server of `url` takes it; with `check_version`,
    UnsupportedNats on a server older than the suite needs (the connection closed)."""
    import nats

    from shared.messaging.bus import check_server, servers
    from shared.messaging.natsauth import client_credentials, inbox_prefix
    from shared.messaging.natsversion import UnsupportedNats

    credentials = client_credentials(user, password)
    seen: list[BaseException] = []

    async def noted(error: Exception) -> None:
        """Kept to say why, once, in the command's own words: no traceback from the client's logger."""
        seen.append(error)

    # max_reconnect_attempts=1: each server tried twice, then NoServersError (0 would mean "for ever" here)
    options: dict[str, Any] = {
        "servers": servers(url), "name": name, "connect_timeout": NATS_TIMEOUT_SECONDS, "allow_reconnect": True,
        "max_reconnect_attempts": 1, "reconnect_time_wait": 0.1, "error_cb": noted}
    if credentials:
        options |= {"user": credentials[0], "password": credentials[1], "inbox_prefix": inbox_prefix(credentials[0])}
    nc = nats.NATS()
    try:
        await asyncio.wait_for(nc.connect(**options), DEADLINE_SECONDS)
    except Exception as exc:  # noqa: BLE001 — every way of not connecting is told apart below
        await nc.close()
        refused = [e for e in seen if "authorization violation" in str(e).lower()]
        last = refused[-1] if refused else (seen[-1] if seen else exc)
        if isinstance(exc, TimeoutError) and not seen:
            last = TimeoutError(f"no answer in {DEADLINE_SECONDS:.0f} s")
        raise NatsUnavailable(url, credentials[0] if credentials else None, bool(refused), _described(last)) from None
    if check_version:
        try:
            check_server(nc)
        except UnsupportedNats:
            await nc.close()
            raise
    return nc
