"""`jusou partitions back SERVICE`: the way back from partitioned consumption (`JUSOU_PARTITIONS` > 1) to one
durable consumer per source (docs/capacity.md §6.3; shared/messaging/partitions.py).

With every replica of the service stopped, per source: each partition consumer `<service>--<source>--p<k>` is brought
to the same stream sequence S (the furthest any of them was delivered), applying its own events up to S as the
service would, and the unpartitioned tracking `<source>` is set to the highest position any partition applied
(`PartitionedInbox.back_to_unpartitioned`). Then the partition consumers are deleted (`--keep-consumers` keeps them).
Start the replicas without `JUSOU_PARTITIONS` afterwards: the unpartitioned consumer finds everything up to S a
duplicate and applies what follows. The number of partitions is read from the partition consumers (their metadata).

Exit status: 0 done (or nothing partitioned), 1 refused (a replica still runs: stop every replica first), 3 NATS
not reachable (jusou/connection.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from jusou.tenant import option as tenant_option
from shared import settings


@dataclass
class Back:
    service: str
    partitions: int = 0  # 0: the service has no partition consumers (nothing to do)
    tracking: dict[str, int] = field(default_factory=dict)  # source → the unpartitioned tracking set
    deleted: list[str] = field(default_factory=list)  # the partition consumers deleted
    refused: str = ""  # why nothing was done (a replica still runs)


async def layout(js: Any, service: str, sources: list[str]) -> int:
    """The P the service's partition consumers were made for (their metadata), 0 when it has none."""
    from nats.js.errors import NotFoundError

    from shared.contract.events import STREAM
    from shared.messaging.partitions import LAYOUT, MAX_PARTITIONS, consumer_name

    for source in sources:
        with contextlib.suppress(NotFoundError):
            info = await js.consumer_info(STREAM, consumer_name(service, source, 0))
            made_for = (info.config.metadata or {}).get(LAYOUT, "")
            if made_for.isdigit() and 1 < int(made_for) <= MAX_PARTITIONS:
                return int(made_for)
    return 0


async def back(app: Any, js: Any, broker: Any, *, max_deliver: int = 5, wait_s: float = 10.0,
               keep_consumers: bool = False) -> Back:
    """The way back for the service whose store `app` is (every replica stopped); `broker` started (dead letters)."""
    from nats.js.errors import NotFoundError

    from shared.contract.events import STREAM
    from shared.messaging.partitions import PartitionedInbox, consumer_name, lease_setting, replica_id

    service = app.service
    done = Back(service)
    sources = sorted(app.subscriptions)
    done.partitions = await layout(js, service, sources)
    if not done.partitions:
        return done
    inbox = PartitionedInbox(app, broker, max_deliver, done.partitions, lease_setting(), me=f"operator-{replica_id()}")
    try:
        done.tracking = await inbox.back_to_unpartitioned(js, wait_s)
    except RuntimeError as exc:
        done.refused = str(exc)
        return done
    if not keep_consumers:
        for source in sources:
            for k in range(done.partitions):
                name = consumer_name(service, source, k)
                with contextlib.suppress(NotFoundError):
                    await js.delete_consumer(STREAM, name)
                    done.deleted.append(name)
    return done


async def _back_command(service: str, wait_s: float, keep_consumers: bool) -> Back:
    from faststream.nats import NatsBroker

    from jusou.connection import connect_once
    from jusou.verify import open_store
    from shared.messaging.bus import servers
    from shared.messaging.natsauth import broker_credentials

    url = settings.current().nats_address
    nc = await connect_once(url, name="jusou-partitions-back", check_version=True)
    broker = NatsBroker(servers(url), logger=None, **broker_credentials())
    try:
        await broker.start()
        with open_store(service, must_exist=True) as app:
            return await back(app, nc.jetstream(timeout=10), broker, max_deliver=settings.current().max_deliver,
                              wait_s=wait_s, keep_consumers=keep_consumers)
    finally:
        await broker.stop()
        await nc.close()


def back_command(args: argparse.Namespace) -> int:
    if args.service not in settings.PORTS:
        raise SystemExit(f"サービス {args.service!r} はありません。{', '.join(settings.PORTS)} のいずれかです / unknown service")
    done = asyncio.run(_back_command(args.service, args.wait, args.keep_consumers))
    if args.json:
        print(json.dumps(asdict(done), ensure_ascii=False, indent=2))
        return 1 if done.refused else 0
    if done.refused:
        print(f"{args.service}: まだ動いているレプリカがあります。すべてのレプリカを止めてから実行してください / {done.refused}")
        return 1
    if not done.partitions:
        print(f"{args.service}: パーティションの購読はありません。戻すものはありません / no partition consumers: nothing to do")
        return 0
    for source, position in done.tracking.items():
        print(f"{args.service}--{source}: 分割なしの追跡位置を {position} にしました / unpartitioned tracking set to {position}")
    for name in done.deleted:
        print(f"削除 / deleted {name}")
    print(f"{args.service} を JUSOU_PARTITIONS なしで起動してください / start {args.service} without JUSOU_PARTITIONS "
          f"(it was {done.partitions})")
    return 0


def register(commands: Any) -> None:
    """Add `jusou partitions back` to the `jusou` command's subparsers."""
    group = commands.add_parser("partitions", help="partitioned consumption (JUSOU_PARTITIONS, docs/capacity.md §6)")
    actions = group.add_subparsers(dest="action", required=True)
    way_back = actions.add_parser(
        "back", help="every replica of SERVICE stopped: bring its partitions to one point, set its unpartitioned tracking "
                     "there and delete the partition consumers; then start it without JUSOU_PARTITIONS")
    way_back.add_argument("service", help="the service (a name)")
    way_back.add_argument("--wait", type=float, default=10.0, metavar="SECONDS",
                          help="wait this long for replicas still stopping (10); exit 1 if one still runs")
    way_back.add_argument("--keep-consumers", action="store_true", help="leave the partition consumers in place")
    way_back.add_argument("--json", action="store_true")
    tenant_option(way_back, back_command)
