"""Operating the running suite: `jusou status` and `jusou deadletters list|show|replay|discard`.

They find the suite as `jusou history` does: each service at `127.0.0.1:JUSOU_<SERVICE>_PORT`
(8101…8106), NATS at `NATS_URL` or `nats://127.0.0.1:JUSOU_NATS_PORT` (4223), with the
credentials `jusou up` keeps in the data folder (shared/messaging/natsauth.py). What does not answer is
shown as down (停止), never a traceback.

On a deployment of many municipalities (issue 18) each names its tenant, `--tenant ID` (jusou/tenant.py): the
services' /readyz rows of that tenant, and NATS as that tenant account's operator (its streams, consumers and dead
letters alone).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import signal
import sys
import time
import unicodedata
from typing import Any

from jusou import connection
from jusou.connection import NATS_TIMEOUT_SECONDS, NatsUnavailable
from jusou.runner import subscriptions_of
from jusou.tenant import option as tenant_option
from shared import settings, tenancy
from shared.contract.events import (
    DEAD_LETTER_PREFIX,
    DEAD_LETTER_STREAM,
    REPLAY_STREAM,
    STREAM,
)
from shared.messaging.natsauth import durable_consumers

HTTP_TIMEOUT_SECONDS = 2.0
#: a partition consumer `<service>--<source>--p<k>` and a partition's tracking `<source>#p<k>` (shared/messaging/partitions.py)
PARTITION_CONSUMER = re.compile(r"--p\d+$")
PARTITION_TRACKING = re.compile(r"(.+)#p\d+")
HEALTH_LABELS = {"ready": "稼働中 ready", "degraded": "要確認 degraded", "not ready": "異常 not ready",
                 "down": "停止 down"}


# --- where the suite is ------------------------------------------------------------------------


def service_urls() -> dict[str, str]:
    return {name: f"http://127.0.0.1:{settings.current().port_of(name)}" for name in settings.PORTS}


def nats_url() -> str:
    return settings.current().nats_address


async def connect_once(url: str, user: str | None = None, password: str | None = None) -> Any:
    """A NATS connection for one command (as `user`, else as the settings say): NatsUnavailable within seconds
    instead of reconnecting for ever (jusou/connection.py)."""
    return await connection.connect_once(url, user, password)


# --- jusou status --------------------------------------------------------------------------------


async def _readyz(client: Any, name: str, url: str) -> dict[str, Any]:
    import httpx

    row: dict[str, Any] = {"url": url, "health": "down"}
    try:
        response = await client.get(f"{url}/readyz")
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        row["error"] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return row
    code = response.status_code
    tenant = tenancy.CURRENT.get()
    if tenant is not None and isinstance(body.get("tenants"), dict):  # a service of many municipalities: its row
        body = body["tenants"].get(tenant) or {"status": f"自治体 {tenant} を扱っていません / does not serve tenant {tenant}"}
        code = 200 if body.get("status") in ("ready", "degraded") else 503
    row["health"] = "ready" if code == 200 else "not ready"
    if code != 200:
        row["error"] = str(body.get("status") or body)
    for key in ("store_position", "relay_position", "readmodel_position", "published", "applied", "duplicates",
                "dead_lettered", "tracking"):
        row[key] = body.get(key)
    row["problems"] = list(body.get("problems") or [])
    if row["health"] == "ready" and body.get("status") == "degraded":
        row["health"] = "degraded"
        row["error"] = "; ".join(row["problems"]) or "degraded"
    if isinstance(row.get("store_position"), int) and isinstance(row.get("relay_position"), int):
        row["relay_lag"] = max(0, row["store_position"] - row["relay_position"])
    if isinstance(row.get("store_position"), int) and isinstance(row.get("readmodel_position"), int):
        row["readmodel_lag"] = max(0, row["store_position"] - row["readmodel_position"])  # not yet in the lists
    return row


def _consumer_row(info: Any, stream: str) -> dict[str, Any]:
    return {
        "name": info.name,
        "stream": stream,
        "delivered": info.delivered.stream_seq if info.delivered else None,
        "ack_floor": info.ack_floor.stream_seq if info.ack_floor else None,
        "pending": info.num_pending,
        "redelivered": info.num_redelivered,
        "ack_pending": info.num_ack_pending,
    }


#: A bounded stream (JUSOU_DLQ_MAX_BYTES, JUSOU_REPLAY_MAX_BYTES) this full is named by `jusou status` (exit 1): the
#: next dead letter may not fit (up to NATS's max payload, 1 MiB by default), and a consumer keeps it unacknowledged.
NEARLY_FULL = 0.9


def _stream_row(info: Any) -> dict[str, Any]:
    state = info.state
    limit = info.config.max_bytes if info.config.max_bytes is not None and info.config.max_bytes > 0 else None
    return {"messages": state.messages, "bytes": state.bytes, "first_seq": state.first_seq,
            "last_seq": state.last_seq, "consumers": state.consumer_count, "max_bytes": limit,
            "full": limit is not None and state.bytes >= NEARLY_FULL * limit}


async def every_consumer(js: Any, stream: str) -> list[Any]:
    """Every consumer of the stream, page by page: the server lists 256 a page (sorted by name), and the integrator's
    consumers named before Jusou's (`aa-000` …) took the whole first page, so status called all of Jusou's missing."""
    found: list[Any] = []
    while True:
        page = await js.consumers_info(stream, offset=len(found) or None)
        if not page or page[0].name in {info.name for info in found}:  # the end (a server ignoring offset: its first)
            return found
        found += page


async def nats_state(url: str) -> dict[str, Any]:
    """The NATS server, the three streams, every durable consumer and the dead letters per consumer."""
    state: dict[str, Any] = {"url": url, "up": False, "streams": {}, "consumers": [], "dead_letters": {}}
    try:
        nc = await connect_once(url)
    except NatsUnavailable as failed:  # shown on the NATS row: down, or its login refused (and what to check)
        state["error"], state["login_refused"], state["advice"] = failed.short, failed.login_refused, str(failed)
        return state
    try:
        state["up"] = True
        state["servers"] = await _servers(url, nc)
        state["version"] = state["servers"][0]["version"]
        js = nc.jetstream(timeout=NATS_TIMEOUT_SECONDS)
        for stream in (STREAM, DEAD_LETTER_STREAM, REPLAY_STREAM):
            try:
                state["streams"][stream] = _stream_row(await js.stream_info(stream))
            except Exception as exc:  # noqa: BLE001 — a missing stream is shown, not raised
                state["streams"][stream] = {"error": f"{type(exc).__name__}: {exc}"}
                continue
            if stream != DEAD_LETTER_STREAM:
                state["consumers"] += [_consumer_row(info, stream) for info in await every_consumer(js, stream)]
        try:
            parked = await js.stream_info(DEAD_LETTER_STREAM, subjects_filter=f"{DEAD_LETTER_PREFIX}.>")
            for subject, count in (parked.state.subjects or {}).items():
                parts: list[str] = [*str(subject).split("."), "", ""]
                service, source = parts[1], parts[2]
                for key in (service, f"{service}--{source}"):  # per service and per durable consumer
                    state["dead_letters"][key] = state["dead_letters"].get(key, 0) + count
        except Exception:  # noqa: BLE001, S110 — already reported on the stream's row
            pass
        state["connections"] = await _connections(nc)
    finally:
        await nc.close()
    return state


def _server_row(url: str, nc: Any) -> dict[str, Any]:
    """The server a connection reached: its name, its version, and (`outside`) why that version is outside the
    supported range, if it is (shared/messaging/natsversion.py)."""
    from shared.messaging.bus import server_version
    from shared.messaging.natsversion import MINIMUM_NATS, judge, parse

    version = server_version(nc)
    info = getattr(nc, "_server_info", None) or {}  # nats-py keeps the server's INFO there, not publicly
    try:
        too_old = parse(version) < MINIMUM_NATS
    except ValueError:
        too_old = False  # unreadable: `outside` says so
    return {"url": url, "name": info.get("server_name") or info.get("server_id"), "id": info.get("server_id"),
            "version": version, "outside": judge(version), "too_old": too_old}


async def _servers(url: str, nc: Any) -> list[dict[str, Any]]:
    """Each NATS server: the one `nc` reached, then every other one NATS_URL names or the cluster announces
    (`connect_urls`), each asked once on a connection of its own; one not reachable from here is shown so."""
    from shared.messaging.bus import servers

    reached = nc.connected_url.geturl() if nc.connected_url else url
    rows = [_server_row(reached, nc)]
    others = [u for u in dict.fromkeys([*servers(url), *(d.geturl() for d in nc.discovered_servers)]) if u != reached]

    async def ask(other: str) -> dict[str, Any]:
        try:
            nc_other = await connect_once(other)
        except NatsUnavailable as failed:  # shown as not reachable from here
            return {"url": other, "error": failed.short if failed.login_refused else failed.detail}
        try:
            return _server_row(other, nc_other)
        finally:
            await nc_other.close()

    seen = {rows[0]["id"]}
    for row in await asyncio.gather(*(ask(other) for other in others)):
        if "error" in row or row["id"] not in seen:
            rows.append(row)
            seen.add(row.get("id"))
    return rows


async def _connections(nc: Any) -> int | None:
    """Connections to the account, from the server's account-scoped STATZ (no monitoring port needed)."""
    try:
        reply = await nc.request("$SYS.REQ.ACCOUNT.PING.STATZ", b"{}", timeout=1)
        statz = json.loads(reply.data)["data"]["account_statz"]
        return int(sum(account.get("conns", 0) for account in statz))
    except Exception:  # noqa: BLE001 — not allowed or not answered: shown as unknown
        return None


async def gather_status(urls: dict[str, str], url: str) -> dict[str, Any]:
    import httpx

    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS, trust_env=False) as client:
        rows, bus = await asyncio.gather(
            asyncio.gather(*(_readyz(client, name, u) for name, u in urls.items())), nats_state(url))
    services = dict(zip(urls, rows, strict=True))
    await _judge_tracking(services, urls)
    partitions = settings.current().partitions
    for consumer in bus["consumers"]:
        partitioned = PARTITION_CONSUMER.search(consumer["name"])
        consumer["dead_letters"] = (None if consumer["stream"] != STREAM or partitioned  # parked per source, not partition
                                    else bus["dead_letters"].get(consumer["name"], 0))
        if consumer["stream"] == STREAM and (partitions > 1) != bool(partitioned):
            consumer["unused"] = True  # of the other layout (before a switch, after the way back): its pending is no lag
    owned = {name: owned_consumers(name) for name in services}
    for name, row in services.items():
        row["consumers"] = [c for c in bus["consumers"] if (c["stream"], c["name"]) in owned[name]]
        row["dead_letters"] = bus["dead_letters"].get(name, 0) if bus["up"] else None
        row["partitions"] = partitions
        row["lag"] = _source_lag(name, row["consumers"], partitions) if bus["up"] else {}
        if partitions > 1:  # a partition consumer's row has none: a message is parked per source
            row["source_dead_letters"] = {source: bus["dead_letters"].get(f"{name}--{source}", 0)
                                          for source in sorted(subscriptions_of(name))} if bus["up"] else {}
    # the integrator may name a consumer `intake--anything` (only the services' own names are denied it): a consumer is a
    # service's only by its exact name, never by its prefix, so another's is never shown, or summed, as the service's
    others = [c for c in bus["consumers"] if not any((c["stream"], c["name"]) in names for names in owned.values())]
    down = [name for name, row in services.items() if row["health"] not in ("ready", "degraded")] + (
        [] if bus["up"] else ["nats"])
    degraded = [name for name, row in services.items() if row["health"] == "degraded"]
    nats = {k: v for k, v in bus.items() if k not in ("consumers", "dead_letters")}
    missing = _missing_consumers(tuple(services), bus, partitions)
    # a server older than the services accept is a fault (they refuse to start on it); an untried major is shown
    too_old = [server["url"] for server in bus.get("servers", []) if server.get("too_old")]
    full = [name for name, row in bus.get("streams", {}).items() if row.get("full")]  # dead letters may be refused
    return {"ok": not down and not degraded and not missing and not too_old and not full, "down": down,
            "degraded": degraded, "full_streams": full,
            "services": services, "nats": nats, "other_consumers": others, "missing_consumers": missing,
            "nats_too_old": too_old}


async def _judge_tracking(services: dict[str, dict[str, Any]], urls: dict[str, str]) -> None:
    """A consumer whose tracking of a source is beyond that source's store head is degraded (as `jusou audit
    verify` judges it, jusou/verify.py): some message moved it past every real event still to come. The readyz
    were read at once: a source's head read a moment before its consumer's tracking may be behind an event
    just applied, so a source under suspicion is asked again before judging."""
    import httpx

    from jusou.verify import tracking_beyond

    def judged() -> list[tuple[str, str]]:
        tracked = [(name, source, position) for name, row in services.items()
                   for source, position in tracked_sources(row.get("tracking") or {}).items()]
        return tracking_beyond(tracked, {name: row.get("store_position") for name, row in services.items()})

    suspects = sorted({problem.split("--", 1)[1].split(":", 1)[0] for _, problem in judged()})
    if not suspects:
        return
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS, trust_env=False) as client:
        again = await asyncio.gather(*(_readyz(client, source, urls[source]) for source in suspects))
    for source, row in zip(suspects, again, strict=True):
        if isinstance(row.get("store_position"), int):
            services[source]["store_position"] = row["store_position"]
    for name, problem in judged():
        row = services[name]
        row["problems"] = [*row.get("problems", []), problem]
        if row["health"] in ("ready", "degraded"):
            row["health"] = "degraded"
            row["error"] = "; ".join(row["problems"])


def tracked_sources(tracking: dict[str, Any]) -> dict[str, int]:
    """readyz `tracking` per source: `<source>` and, partitioned (shared/messaging/partitions.py), `<source>#p<k>`, each a
    real position of the source once applied, so the highest of them is what must not pass the source's store head."""
    found: dict[str, int] = {}
    for name, position in tracking.items():
        if isinstance(position, int) and not isinstance(position, bool):
            partitioned = PARTITION_TRACKING.fullmatch(name)
            source = partitioned[1] if partitioned else name
            found[source] = max(found.get(source, 0), position)
    return found


def owned_consumers(service: str) -> set[tuple[str, str]]:
    """(stream, name) of every durable consumer the service makes or could make, whatever JUSOU_PARTITIONS is: each
    `<service>--<source>` with its partition consumers `--p0` … `--p63`, and its replay consumer (the names the
    integrator is denied, shared/messaging/natsauth.reserved_consumers)."""
    from shared.messaging.natsauth import MAX_PARTITIONS

    found: set[tuple[str, str]] = set()
    for durable, (stream, _) in durable_consumers(service, subscriptions_of(service)).items():
        found.add((stream, durable))
        if stream == STREAM:
            found.update((STREAM, f"{durable}--p{k}") for k in range(MAX_PARTITIONS))
    return found


def expected_consumers(service: str, partitions: int) -> dict[str, tuple[str, str]]:
    """The durable consumers the service pulls: name → (stream, filter). One per source (natsauth.durable_consumers), or
    with JUSOU_PARTITIONS = P > 1 P per source (`<service>--<source>--p<k>`, partitions.partition_consumers); the replay
    consumer either way."""
    subscribed = subscriptions_of(service)
    sources = sorted(subscribed)
    found = durable_consumers(service, subscribed)
    if partitions > 1 and sources:
        from shared.messaging.partitions import partition_consumers

        found = {name: where for name, where in found.items() if name not in {f"{service}--{s}" for s in sources}}
        found.update(partition_consumers(service, subscribed, partitions))  # each with its type filter (issue 19)
    return found


def _source_lag(service: str, consumers: list[dict[str, Any]], partitions: int) -> dict[str, int | None]:
    """Per source, what the service has still to take: its consumer's pending plus ack pending; partitioned, the largest
    of that over the source's partition consumers (each is delivered every event of the source its filter names;
    None: no consumer)."""
    pulled = {c["name"]: c for c in consumers if c["stream"] == STREAM and not c.get("unused")}
    lag: dict[str, int | None] = {}
    for source in sorted(subscriptions_of(service)):
        names = ([f"{service}--{source}--p{k}" for k in range(partitions)] if partitions > 1 else [f"{service}--{source}"])
        found = [pulled[n] for n in names if n in pulled]
        lag[source] = max((c["pending"] or 0) + (c["ack_pending"] or 0) for c in found) if found else None
    return lag


def _missing_consumers(names: tuple[str, ...], bus: dict[str, Any], partitions: int = 1) -> list[dict[str, Any]]:
    """The durable consumers the services need (`expected_consumers`, with the JUSOU_PARTITIONS of this command) that
    JetStream does not have (issue 13): a service whose consumer is gone still answers ready while its source's events
    wait for nobody. Where the other layout's consumers of that source are there, `layout` says how many partitions
    (1: one consumer per source) they were made for: JUSOU_PARTITIONS here may differ from the services'."""
    if not bus["up"]:
        return []
    there = {(c["stream"], c["name"]) for c in bus["consumers"]}
    missing: list[dict[str, Any]] = []
    for name in names:
        for durable, (stream, _) in expected_consumers(name, partitions).items():
            if (stream, durable) in there:
                continue
            row: dict[str, Any] = {"name": durable, "stream": stream, "service": name}
            base = PARTITION_CONSUMER.sub("", durable)
            made = max((int(c.rsplit("--p", 1)[1]) + 1 for s, c in there  # the P they were made for, at least
                        if s == STREAM and PARTITION_CONSUMER.search(c) and PARTITION_CONSUMER.sub("", c) == base), default=0)
            if partitions > 1 and (STREAM, base) in there and not made:
                row["layout"] = 1
            elif partitions == 1 and stream == STREAM and made:
                row["layout"] = made
            missing.append(row)
    return missing


def _n(value: Any) -> str:
    return "—" if value is None else str(value)


def render_status(status: dict[str, Any]) -> Any:
    from rich import box
    from rich.cells import cell_len
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    colour = {"ready": "green", "degraded": "magenta", "not ready": "yellow", "down": "red"}
    overview = Table(title="Jusou 状態 / status", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    overview.add_column("service", no_wrap=True)
    overview.add_column("状態 health", no_wrap=True)
    for column in ("記録\nstore", "送出\nrelay", "未送出\nlag", "未索引\nindex", "公開\npublished", "反映\napplied",
                   "退避\nDLQ"):
        overview.add_column(column, justify="right", min_width=max(cell_len(line) for line in column.split("\n")))
    tables: list[Any] = [overview]
    for name, row in status["services"].items():
        health = row["health"]
        overview.add_row(name, Text(HEALTH_LABELS[health], style=colour[health]), _n(row.get("store_position")),
                         _n(row.get("relay_position")), _n(row.get("relay_lag")), _n(row.get("readmodel_lag")),
                         _n(row.get("published")),
                         _n(row.get("applied")), _n(row.get("dead_letters")))
        if row["consumers"]:
            partitions = row.get("partitions") or 1
            title = f"{name}: 購読 consumers" + (f"（{partitions} パーティション / partitions）" if partitions > 1 else "")
            tables.append(_consumers_table(title, row["consumers"], partitions, row.get("source_dead_letters")))
    if status["other_consumers"]:
        tables.append(_consumers_table("その他の購読 other consumers", status["other_consumers"]))
    nats = status["nats"]
    if nats["up"]:
        lines = [(f"NATS {nats['url']}: 稼働中 up, server {nats.get('version') or '?'}, "
                  f"接続 connections {_n(nats.get('connections'))}")]
        for stream, row in nats["streams"].items():
            if "error" in row:
                lines.append(f"  {stream}: {row['error']}")
            else:
                limit = row.get("max_bytes")
                lines.append(f"  {stream}: {row['messages']} messages, {row['bytes']} bytes"
                             + (f" of {limit} ({100 * row['bytes'] // limit}%)" if limit else "")
                             + f", seq {row['first_seq']}…{row['last_seq']}, {row['consumers']} consumers")
        tables.append(Text("\n".join(lines)))
        for stream, row in nats["streams"].items():
            if row.get("full"):
                variable = "JUSOU_DLQ_MAX_BYTES" if stream == DEAD_LETTER_STREAM else "JUSOU_REPLAY_MAX_BYTES"
                tables.append(Text(
                    f"  {stream} は上限 {row['max_bytes']} バイトの {NEARLY_FULL:.0%} 以上です。満杯になると新しい退避は拒否され、"
                    f"その購読はメッセージを確認応答せずに再試行し続けます（失われはしません）。退避を再送して減らすか、{variable} を"
                    f"大きくして `jusou nats init --limits` を実行してください / {stream} holds over {NEARLY_FULL:.0%} of its "
                    f"limit: full, a new letter is refused and its consumer keeps the message unacknowledged, retrying "
                    f"(nothing is lost); replay letters, or raise {variable} and run `jusou nats init --limits`",
                    style="red"))
        for server in nats.get("servers", []):
            name = f"  server {server.get('name') or '?'} ({server['url']})"
            if "error" in server:
                tables.append(Text(f"{name}: ここから接続できません / not reachable from here ({server['error']})",
                                   style="yellow"))
            elif server["outside"]:
                tables.append(Text(f"{name}: nats-server {server['version']} — {server['outside']}",
                                   style="red" if server["too_old"] else "yellow"))
            else:
                tables.append(Text(f"{name}: nats-server {server['version']} (対応範囲内 supported)"))
    elif nats.get("login_refused"):
        tables.append(Text(f"NATS {nats['url']}: {nats.get('error', '')}\n{nats.get('advice', '')}", style="red"))
    else:
        tables.append(Text(f"NATS {nats['url']}: 停止 down ({nats.get('error', '')})\n{nats.get('advice', '')}".rstrip(),
                           style="red"))
    for consumer in status.get("missing_consumers", []):
        layout = consumer.get("layout")
        if layout is not None:  # the other layout's consumers are there: this command's JUSOU_PARTITIONS may be wrong
            there = "1 つの購読 / one consumer per source" if layout == 1 else f"{layout} パーティション / partitions"
            tables.append(Text(f"{consumer['service']}: 購読 {consumer['name']} ({consumer['stream']}) がありません。"
                               f"この発生元には {there} の購読があります。サービスと同じ JUSOU_PARTITIONS で jusou status を"
                               f"実行するか、切り替え中ならサービスの再起動を待ってください / durable consumer missing; the "
                               f"source has {'one consumer' if layout == 1 else f'{layout} partition consumers'}: run jusou "
                               f"status with the services' JUSOU_PARTITIONS, or, mid-switch, restart every replica",
                               style="red"))
            continue
        tables.append(Text(f"{consumer['service']}: 購読 {consumer['name']} ({consumer['stream']}) がありません。"
                           f"{consumer['service']} を再起動すると作り直されます / durable consumer missing: "
                           f"restart {consumer['service']} to create it again", style="red"))
    for name, row in status["services"].items():
        if row["health"] != "ready":
            # its problems name what whoever holds a service's NATS password published (a subject): as text
            shown = _as_text(f"{name} ({row['url']}): {HEALTH_LABELS[row['health']]} — {row.get('error', '')}")
            shown.stylize(colour[row["health"]])
            tables.append(shown)
    return Group(*tables)


def _consumers_table(title: str, consumers: list[dict[str, Any]], partitions: int = 1,
                     source_dead_letters: dict[str, int] | None = None) -> Any:
    from rich import box
    from rich.cells import cell_len
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("durable consumer", no_wrap=True)  # `<service>--replay` reads JUSOU_REPLAY, the others JUSOU
    for column in ("配信済\ndelivered", "未配信\npending", "再配信\nredeliv.", "応答待ち\nack pend.", "退避\nDLQ"):
        table.add_column(column, justify="right", min_width=max(cell_len(line) for line in column.split("\n")))
    for c in _partitions_together(consumers, partitions, source_dead_letters or {}):
        # a consumer's name is whoever made it's (the integrator's user, shared by programs): as text, no markup
        table.add_row(_as_text(c["name"] + (" (未使用 unused)" if c.get("unused") else "")), _n(c["delivered"]), _n(c["pending"]),
                      _n(c["redelivered"]), _n(c["ack_pending"]), _n(c.get("dead_letters")),
                      style="dim" if c.get("unused") else None)
    return table


def _partitions_together(consumers: list[dict[str, Any]], partitions: int,
                         source_dead_letters: dict[str, int]) -> list[dict[str, Any]]:
    """With P > 1, one row per source for its P partition consumers (`<service>--<source>--p0…p<P-1>`): the slowest
    delivered sequence, the largest pending (each partition consumer sees every event of the source), redeliveries and
    ack pending summed, the source's dead letters. Other consumers as they are."""
    if partitions <= 1:
        return consumers
    rows: list[dict[str, Any]] = []
    grouped: dict[str, list[dict[str, Any]]] = {}
    for c in consumers:
        if c["stream"] == STREAM and not c.get("unused") and PARTITION_CONSUMER.search(c["name"]):
            base = PARTITION_CONSUMER.sub("", c["name"])
            if base not in grouped:
                grouped[base] = []
                rows.append({"name": base})  # filled below, in the place of its first partition
            grouped[base].append(c)
        else:
            rows.append(c)
    for row in rows:
        group = grouped.get(row["name"]) if "stream" not in row else None
        if group is None:
            continue
        delivered = [c["delivered"] for c in group if c["delivered"] is not None]
        row.update(name=f"{row['name']}--p0…p{partitions - 1} ({len(group)}/{partitions})",
                   delivered=min(delivered) if delivered else None,
                   pending=max((c["pending"] or 0) for c in group),
                   redelivered=sum(c["redelivered"] or 0 for c in group),
                   ack_pending=sum(c["ack_pending"] or 0 for c in group),
                   dead_letters=source_dead_letters.get(row["name"].split("--", 1)[1]))
    return rows


def _watch_ends_on_signals() -> None:
    """`--watch` ends on Ctrl-C (SIGINT) however it was started: in the background from a script (`jusou status --watch
    --json >> status.jsonl &`) the shell hands it SIGINT ignored, Python keeps an ignored SIGINT ignored, and `kill
    -INT` did nothing (as for `jusou up`, jusou/cli.py); SIGTERM (kill, systemd, a container's stop) ends it the same
    way, with the status of the last look, instead of killing it between two lines."""
    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, stop)


def status(args: argparse.Namespace) -> int:
    from rich.console import Console

    urls, url = service_urls(), nats_url()
    if args.watch is not None:
        _watch_ends_on_signals()
    if args.json and args.watch is not None:  # JSON Lines: one object a line, again every args.watch s, to Ctrl-C
        found = asyncio.run(gather_status(urls, url))
        try:
            while True:
                print(json.dumps(found, ensure_ascii=False), flush=True)
                time.sleep(args.watch)
                found = asyncio.run(gather_status(urls, url))
        except KeyboardInterrupt:
            pass
        return 0 if found["ok"] else 1
    if args.json:
        found = asyncio.run(gather_status(urls, url))
        print(json.dumps(found, ensure_ascii=False, indent=2))
        return 0 if found["ok"] else 1
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:  # piped: rich's 80 columns cut 退避 DLQ and applied
        console = Console(width=160)
    if args.watch is None:
        found = asyncio.run(gather_status(urls, url))
        console.print(render_status(found))
        return 0 if found["ok"] else 1
    from rich.live import Live

    found = asyncio.run(gather_status(urls, url))
    try:
        with Live(render_status(found), console=console, auto_refresh=False) as live:
            while True:
                time.sleep(args.watch)
                found = asyncio.run(gather_status(urls, url))
                live.update(render_status(found), refresh=True)
    except KeyboardInterrupt:
        pass
    return 0 if found["ok"] else 1


# --- jusou deadletters ---------------------------------------------------------------------------


async def _with_js(work: Any) -> Any:
    """`work(js)` on a connection of its own; NatsUnavailable (status 3, jusou/cli.py) when NATS does not take it."""
    nc = await connect_once(nats_url())
    try:
        return await work(nc.jetstream(timeout=5))
    finally:
        await nc.close()


def _as_text(value: Any) -> Any:
    """Words from a dead letter (its reason, headers, body: written by whoever parked it, a service's NATS user) as
    Rich text: no markup read in them, and every control character but the line break shown escaped (`\\x1b`), so an
    escape sequence reaches the operator's terminal as characters, never as a command (a link, a cleared screen); so are
    format characters (category Cf: a bidi override would turn the rest of a row around, a zero-width space make a
    name look like a service's own: `\\u202e`, `\\u200b`)."""
    from rich.text import Text

    return Text("".join(ch if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cf")
                        else ch.encode("unicode_escape").decode() for ch in str(value)))


async def _dead_letter_stream_there(js: Any) -> bool:
    """Whether this NATS holds `JUSOU_DLQ` (`jusou up` and `jusou nats init` make it before any service starts)."""
    from nats.js.errors import NotFoundError

    try:
        await js.stream_info(DEAD_LETTER_STREAM)
    except NotFoundError:
        return False
    return True


def _no_dead_letter_stream() -> int:
    """A NATS without `JUSOU_DLQ` is not the suite's (NATS_URL names another server: this machine's own on 4222) or
    was never set up: said, exit 1. It read as 「退避されたメッセージはありません / no dead letters」, exit 0."""
    url = nats_url()
    print(f"{url} に {DEAD_LETTER_STREAM} がありません。NATS_URL（未設定なら JUSOU_NATS_PORT）が Jusou の NATS を指しているか、"
          f"`jusou up` または `jusou nats init` が済んでいるか確かめてください / {url} holds no {DEAD_LETTER_STREAM}: check "
          f"that NATS_URL (unset: JUSOU_NATS_PORT) names the suite's NATS, and that `jusou up` or `jusou nats init` has "
          f"made its streams", file=sys.stderr)
    return 1


def deadletters_list(args: argparse.Namespace) -> int:
    from shared.messaging.deadletters import STATUS_LABELS, dead_letters

    async def listed(js: Any) -> Any:  # none: are they none, or is this not the suite's NATS?
        letters = await dead_letters(js, args.limit)
        return letters if letters or await _dead_letter_stream_there(js) else None

    letters = asyncio.run(_with_js(listed))
    if letters is None:
        return _no_dead_letter_stream()
    if args.consumer:
        letters = [d for d in letters if d.consumer == args.consumer]
    if args.json:
        print(json.dumps([d.summary() for d in letters], ensure_ascii=False, indent=2))
        return 0
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"退避されたメッセージ / dead letters ({DEAD_LETTER_STREAM})", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("seq", justify="right", no_wrap=True)
    table.add_column("日時 (UTC)\ntime", no_wrap=True)
    table.add_column("購読者 consumer\n元の件名 subject", no_wrap=True)
    table.add_column("状態\nstatus", no_wrap=True)
    table.add_column("理由\nreason", ratio=1, min_width=20, overflow="fold")
    for d in letters:
        japanese, english = STATUS_LABELS[d.status].split(" / ")
        state = f"{japanese}\n{english}"
        if d.status == "failed_again":
            state += f" → #{d.parked_again_as}"
        if d.replay_of:
            state += f"\n(replay of #{d.replay_of})"
        table.add_row(str(d.seq), d.time.strftime("%Y-%m-%d\n%H:%M:%S") if d.time else "",
                      _as_text(f"{d.consumer}\n{d.subject.removeprefix('jusou.')}"), state,
                      _as_text(f"{d.reason_ja}\n{d.reason}" if d.reason_ja else d.reason), end_section=True)
    Console().print(table)
    if not letters:
        print("退避されたメッセージはありません / no dead letters")
    return 0


def deadletters_show(args: argparse.Namespace) -> int:
    from shared.messaging.deadletters import STATUS_LABELS, dead_letter

    async def found(js: Any) -> Any:
        try:
            return await dead_letter(js, args.seq)
        except LookupError:
            if await _dead_letter_stream_there(js):
                raise
            return None

    try:
        letter = asyncio.run(_with_js(found))
        if letter is None:
            return _no_dead_letter_stream()
    except LookupError:
        print(f"退避メッセージ #{args.seq} はありません / no dead letter {args.seq} on {DEAD_LETTER_STREAM}",
              file=sys.stderr)
        return 1
    shown = {**letter.summary(), "status_label": STATUS_LABELS[letter.status], "headers": letter.headers,
             "message": letter.body()}
    if args.json:
        print(json.dumps(shown, ensure_ascii=False, indent=2))
        return 0
    from rich.console import Console
    from rich.json import JSON
    from rich.table import Table

    console = Console()
    table = Table(title=f"退避メッセージ / dead letter #{letter.seq}", title_justify="left", show_header=False)
    table.add_column("", style="bold")
    table.add_column("", overflow="fold")
    for key, value in (("time / 日時", shown["time"]), ("consumer / 購読者", letter.consumer),
                       ("original subject / 元の件名", letter.subject), ("理由", letter.reason_ja),
                       ("reason", letter.reason),
                       ("status / 状態", shown["status_label"])):
        table.add_row(key, _as_text(_n(value)))
    for key, value in sorted(letter.headers.items()):
        table.add_row(_as_text(f"header {key}"), _as_text(value))
    console.print(table)
    body = shown["message"]
    console.print("original message / 元のメッセージ:")
    if isinstance(body, dict | list):
        console.print(JSON.from_data(body, ensure_ascii=False))
    else:
        console.print(_as_text(body))
    return 0


def deadletters_replay(args: argparse.Namespace) -> int:
    """Send a dead letter back to its consumer after a fix; wait (`--wait`) to say how it went."""
    from nats.js.errors import APIError

    from shared.messaging.deadletters import STATUS_LABELS, NotParkedFromJusou, dead_letter, replay

    try:
        letter, replay_seq, new = asyncio.run(_with_js(lambda js: replay(js, args.seq)))
    except LookupError:
        print(f"退避メッセージ #{args.seq} はありません / no dead letter {args.seq} on {DEAD_LETTER_STREAM}",
              file=sys.stderr)
        return 1
    except NotParkedFromJusou as refused:
        print(refused, file=sys.stderr)
        return 1
    except APIError as refused:  # JUSOU_REPLAY full (JUSOU_REPLAY_MAX_BYTES; it discards new): it was a traceback
        print(f"#{args.seq} を再送できません（{REPLAY_STREAM} が拒否: {refused.description}）。退避メッセージはそのまま残って"
              f"います。{REPLAY_STREAM} が満杯なら JUSOU_REPLAY_MAX_BYTES を大きくして `jusou nats init --limits` を実行して"
              f"ください / #{args.seq} not replayed: {REPLAY_STREAM} refused it ({refused.description}); the dead letter is "
              f"kept. If {REPLAY_STREAM} is full, raise JUSOU_REPLAY_MAX_BYTES and run `jusou nats init --limits`",
              file=sys.stderr)
        return 1
    if new:
        print(f"#{args.seq} を {letter.consumer} に再送しました（{REPLAY_STREAM} #{replay_seq}）/ "
              f"replayed #{args.seq} to {letter.consumer} as {REPLAY_STREAM} #{replay_seq}")
    else:
        print(f"#{args.seq} は再送済みです（{REPLAY_STREAM} #{replay_seq}）/ "
              f"#{args.seq} was already replayed as {REPLAY_STREAM} #{replay_seq}")
    deadline = time.monotonic() + args.wait
    while True:
        letter = asyncio.run(_with_js(lambda js: dead_letter(js, args.seq)))
        if letter.status != "replay_pending" or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    label = STATUS_LABELS[letter.status]
    if letter.status == "replayed":
        print(f"{label}: {letter.consumer} が処理しました / {letter.consumer} has processed it")
        return 0
    if letter.status == "failed_again":
        print(f"{label}: 再び退避されました #{letter.parked_again_as} / parked again as #{letter.parked_again_as} "
              f"(`jusou deadletters show {letter.parked_again_as}`)")
        return 1
    print(f"{label}: {letter.consumer} がまだ処理していません。起動していれば処理します / "
          f"{letter.consumer} has not processed it yet; it will once it runs")
    return 2


def deadletters_discard(args: argparse.Namespace) -> int:
    """Take a dead letter off `JUSOU_DLQ` for good (shared/messaging/deadletters.py `discard`): one that must never be
    applied (a forged one `replay` refuses, one parked without its body) kept `jusou_dead_letters_unreplayed` above 0
    and JusouDeadLettersPresent firing for ever, and a full `JUSOU_DLQ` was told to "replay or remove" letters with no
    way to remove one (a replay removes none)."""
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.errors import APIError

    from shared.messaging.deadletters import STATUS_LABELS, NotDiscarded, discard

    async def found(js: Any) -> Any:
        try:
            return await discard(js, args.seq, args.dry_run)
        except LookupError:
            if await _dead_letter_stream_there(js):
                raise
            return None

    try:
        done = asyncio.run(_with_js(found))
        if done is None:
            return _no_dead_letter_stream()
    except LookupError:
        print(f"退避メッセージ #{args.seq} はありません / no dead letter {args.seq} on {DEAD_LETTER_STREAM}",
              file=sys.stderr)
        return 1
    except NotDiscarded as refused:
        print(refused, file=sys.stderr)
        return 1
    except (APIError, NatsTimeout) as refused:  # a service's NATS user may delete no message
        print(f"#{args.seq} を削除できません（NATS が拒否: {getattr(refused, 'description', None) or refused}）。"
              f"運用者（jusou-operator）として実行してください: NATS_USER を外し JUSOU_DATA_DIR を指定するか、"
              f"NATS_USER=jusou-operator / #{args.seq} not discarded: NATS refused ({getattr(refused, 'description', None) or refused}); "
              f"run it as the operator (jusou-operator: unset NATS_USER with JUSOU_DATA_DIR, or NATS_USER=jusou-operator)",
              file=sys.stderr)
        return 1
    letter = done.letter
    if args.json:
        print(json.dumps({**letter.summary(), "status_label": STATUS_LABELS[letter.status], "dry_run": args.dry_run,
                          "dead_letters_removed": done.letters, "replays_removed": done.replays,
                          "headers": letter.headers, "message": letter.body()}, ensure_ascii=False, indent=2))
        return 0
    where = f"{DEAD_LETTER_STREAM} " + ", ".join(f"#{n}" for n in done.letters)
    if done.replays:
        where += f"; {REPLAY_STREAM} " + ", ".join(f"#{n}" for n in done.replays)
    verb_ja, verb_en = ("破棄します（--dry-run: 何も削除していません）", "would discard") if args.dry_run else (
        "破棄しました", "discarded")
    print(f"#{args.seq}（{STATUS_LABELS[letter.status]}）を{verb_ja}: {where} / {verb_en} #{args.seq}: {where}")
    if letter.status == "parked":
        print(f"この出来事は {letter.consumer} に反映されないままです（{letter.subject}）/ its event stays unapplied at "
              f"{letter.consumer} ({letter.subject})")
    return 0


# --- jusou tracking rewind ------------------------------------------------------------------------


def tracking_rewind(args: argparse.Namespace) -> int:
    """A consumer whose tracking a forged far position moved (`jusou status`: tracking beyond its source's
    store head): take the forged messages off JUSOU, set the tracking back, let the service apply what it
    skipped (jusou/verify.py `rewind_tracking`; README, Operating)."""
    import httpx

    from jusou.verify import rewind_tracking

    url = service_urls().get(args.service)
    if url is None:
        raise SystemExit(f"サービス {args.service!r} はありません / unknown service")
    if not args.dry_run:
        try:
            answered = httpx.get(f"{url}/readyz", timeout=HTTP_TIMEOUT_SECONDS, trust_env=False).status_code < 500
        except httpx.HTTPError:
            answered = False
        if answered:
            print(f"{args.service} が動いています。止めてから実行してください / {args.service} is running at {url}: "
                  f"stop it first", file=sys.stderr)
            return 1
    done = asyncio.run(rewind_tracking(args.service, args.source, nats_url(), args.dry_run))
    if args.json:
        print(json.dumps(vars(done), ensure_ascii=False, indent=2))
        return 0
    name = f"{done.consumer}--{done.source}"
    if done.rewound_to is None:
        print(f"{name}: 追跡位置 {done.tracking} は {done.source} の記録 {done.source_head} 以内です。戻すものはありません / "
              f"tracking {done.tracking} is within {done.source}'s store head {done.source_head}: nothing to rewind")
        return 0
    for removed in done.removed:
        print(f"{'削除予定' if args.dry_run else '削除'} / {'would remove' if args.dry_run else 'removed'} "
              f"JUSOU seq {removed['seq']} {removed['subject']} (source_position {removed['source_position']})")
    if args.dry_run:
        print(f"{name}: 追跡位置を {done.tracking} から {done.rewound_to} に戻します / would rewind tracking "
              f"{done.tracking} to {done.rewound_to}")
        return 0
    print(f"{name}: 追跡位置を {done.tracking} から {done.rewound_to} に戻し、購読を作り直します。{done.consumer} を起動すると"
          f"飛ばした出来事を反映します / tracking rewound from {done.tracking} to {done.rewound_to}, durable consumer "
          f"deleted: start {done.consumer} and it applies the events it skipped")
    return 0


# --- the commands --------------------------------------------------------------------------------


LAST_SEQUENCE = 2**64 - 1  # a stream sequence is a uint64 in NATS
LONGEST_WAIT = 86_400.0  # a day: time.sleep overflows past about 9.2e9 s (`--watch 1e10`: OverflowError)


def sequence_number(text: str) -> int:
    """A dead letter's number as `jusou deadletters list` shows it (seq, 1 and up): 0 or a negative number went to
    NATS and ended in a traceback; argparse now says what it takes (exit 2)."""
    number = int(text) if re.fullmatch(r"\s*[+-]?\d+\s*", text) else 0
    if number < 1 or number > LAST_SEQUENCE:  # above NATS's uint64: a traceback from NATS (show), its raw error (replay)
        raise argparse.ArgumentTypeError(
            f"{text!r}: 1 以上の番号（jusou deadletters list の seq）で指定してください / "
            "give a number from 1 up (the seq jusou deadletters list shows)")
    return number


def count(text: str) -> int:
    """--limit: 1 and up (0 or less listed nothing and said there were no dead letters)."""
    number = int(text) if re.fullmatch(r"\s*[+-]?\d+\s*", text) else 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: 1 以上の数で指定してください / give a number from 1 up")
    return number


def seconds(text: str, *, zero: bool = False) -> float:
    """A time in seconds: more than 0 (`--watch`: 0 refreshed without a pause, a negative one ended in a traceback),
    or 0 and up where `zero` (`--wait 0`: do not wait)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero) or value > LONGEST_WAIT:
        least = "0 以上" if zero else "0 より大きい"
        raise argparse.ArgumentTypeError(
            f"{text!r}: {least}、{LONGEST_WAIT:.0f} 以下（1日まで）の秒数で指定してください / give seconds, "
            f"{'0 or more' if zero else 'more than 0'} and at most {LONGEST_WAIT:.0f} (a day) (e.g. 2)")
    return value


def wait_seconds(text: str) -> float:
    return seconds(text, zero=True)


def service_name(text: str) -> str:
    """A service of the suite (`jusou tracking rewind SERVICE SOURCE`): another name ended with exit 1, as if a
    rewind had been looked at and failed, naming none of the services (argparse now says which, exit 2)."""
    from shared.settings import PORTS

    if text not in PORTS:
        names = ", ".join(PORTS)
        raise argparse.ArgumentTypeError(f"サービス {text!r} はありません。{names} のいずれかで指定してください / "
                                         f"unknown service {text!r}: give one of {names}")
    return text


def register(commands: Any) -> None:
    """Add `status` and `deadletters` to the `jusou` command's subparsers."""
    shown = commands.add_parser("status", help="each service's health, positions, consumers' lag, dead letters, NATS")
    shown.add_argument("--json", action="store_true", help="the same data as JSON, for scripts")
    shown.add_argument("--watch", nargs="?", type=seconds, const=2.0, metavar="SECONDS",
                       help="refresh every SECONDS (2 by default) until Ctrl-C; with --json, one object a line (JSON Lines)")
    tenant_option(shown, status)
    letters = commands.add_parser("deadletters", help=f"messages consumers could not process ({DEAD_LETTER_STREAM})")
    actions = letters.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="seq, time, consumer, original subject, reason, replay status")
    listing.add_argument("--consumer", help="only this consumer's (a service name)")
    listing.add_argument("--limit", type=count, default=500, help="the last LIMIT dead letters (500)")
    listing.add_argument("--json", action="store_true")
    tenant_option(listing, deadletters_list)
    show = actions.add_parser("show", help="one dead letter: the reason headers and the original message")
    show.add_argument("seq", type=sequence_number)
    show.add_argument("--json", action="store_true")
    tenant_option(show, deadletters_show)
    again = actions.add_parser("replay", help="after a fix, send a dead letter back to the consumer that parked it")
    again.add_argument("seq", type=sequence_number)
    again.add_argument("--wait", type=wait_seconds, default=10.0, metavar="SECONDS",
                       help="wait this long for the consumer to process it (10); exit 0 done, 1 failed again, 2 not yet")
    tenant_option(again, deadletters_replay)
    dropped = actions.add_parser(
        "discard", help="take a dead letter off JUSOU_DLQ for good (one never to be applied, or one already replayed)")
    dropped.add_argument("seq", type=sequence_number)
    dropped.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    dropped.add_argument("--json", action="store_true", help="what was removed, with the letter's headers and message")
    tenant_option(dropped, deadletters_discard)
    tracking = commands.add_parser("tracking", help="a consumer's tracking of a source (after a forged position)")
    tracking_actions = tracking.add_subparsers(dest="action", required=True)
    rewind = tracking_actions.add_parser(
        "rewind", help="the service stopped: remove the messages its source never recorded, set its tracking back")
    rewind.add_argument("service", type=service_name, help="the consumer (a service name)")
    rewind.add_argument("source", type=service_name,
                        help="the source whose tracking `jusou status` reports beyond its store head")
    rewind.add_argument("--dry-run", action="store_true", help="say what would be done, change nothing")
    rewind.add_argument("--json", action="store_true")
    tenant_option(rewind, tracking_rewind)
