"""`jusou nats config [--check]`, `jusou nats credentials [USER]` and `jusou nats init [--wait S]`: the NATS users of a
deployment, and the streams and lease buckets its operator makes before any service starts.

The users and their permissions are shared/messaging/natsauth.py's; what each service consumes comes from
its Application (jusou/runner.py `subscriptions`), which only the operator tooling loads by name.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from jusou.ops import wait_seconds
from jusou.runner import subscriptions
from jusou.tenant import option as tenant_option
from shared import tenancy
from shared.messaging.natsauth import CREDENTIALS_FILE, INTEGRATOR, tenant_deploy_config
from shared.messaging.natsauth import deploy_files as render_deploy_files
from shared.settings import current
from shared.tenancy import TenantsFileError
from shared.tenancy import load as load_tenants


def deploy_files() -> dict[Path, str]:
    """The checked-in files `jusou nats config` writes (deploy/nats/auth.conf, deploy/k8s/nats-auth.yaml): path → text."""
    return render_deploy_files(subscriptions())


def register(commands: Any) -> None:
    """Add `jusou nats config [--check]` and `jusou nats credentials [USER]` to the `jusou` command
    (jusou/cli.py parser())."""
    nats = commands.add_parser("nats", help="the NATS users: the deployment files, a user's credentials")
    actions = nats.add_subparsers(dest="action", required=True)
    config = actions.add_parser("config", help="write deploy/nats/auth.conf and deploy/k8s/nats-auth.yaml; "
                                               "--check: exit 1 if they differ")
    config.add_argument("--check", action="store_true")
    config.add_argument("--tenants", metavar="FILE",
                        help="many municipalities (issue 18): write instead a server config with one NATS account per tenant "
                             "of the tenants file (each with the JUSOU streams' users inside it), to --out")
    config.add_argument("--out", metavar="PATH", default="nats-tenants.conf",
                        help="with --tenants: where to write it (default ./nats-tenants.conf)")
    config.set_defaults(handler=nats_config)
    init = actions.add_parser(
        "init", help="make the streams JUSOU, JUSOU_DLQ and JUSOU_REPLAY (and, with JUSOU_PARTITIONS > 1, each service's "
                     "lease bucket) as the operator (NATS_USER=jusou-operator), before any service starts: the step "
                     "Compose's nats-init and Kubernetes' Job nats-init run; of what exists, only JUSOU's consumer "
                     "limit is changed, raised to the suite's")
    init.add_argument("--wait", type=wait_seconds, metavar="SECONDS",  # nan, -1: no wait at all, 1e400 for ever
                      help="make nothing: wait up to SECONDS until they are there (a service's init container, as the "
                           "service's own user), exit 1 if they are not")
    init.add_argument("--limits", action="store_true",
                      help="also set the existing JUSOU_DLQ and JUSOU_REPLAY to JUSOU_DLQ_MAX_BYTES and "
                           "JUSOU_REPLAY_MAX_BYTES (full: a new letter refused, none dropped); refused for a stream "
                           "already holding more than its new limit")
    tenant_option(init, nats_init)  # a tenant's (issue 18): its account's streams, as its operator `jusou-operator@<id>`
    creds = actions.add_parser("credentials", help="print `export NATS_USER=… NATS_PASSWORD=…` of a user of "
                                                   "`jusou up`'s NATS (default: the read-only integrator)")
    creds.add_argument("user", nargs="?", default=INTEGRATOR)
    tenant_option(creds, nats_credentials)  # a tenant's: a user of its own account (`integrator@<id>`)


def nats_credentials(args: argparse.Namespace) -> int:
    """`eval "$(jusou nats credentials integrator)"`: the user and password `jusou up` made in the data folder; with
    `--tenant ID`, of that tenant's account (its credentials file, the user `<user>@<id>`)."""
    tenant = tenancy.current_tenant()
    path = tenant.credentials_path if tenant is not None else current().data_path / CREDENTIALS_FILE
    known = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if args.user not in known and known:  # a name the folder does not hold: say which it holds
        users = ", ".join(known)
        print(f"{path} に {args.user} の資格情報はありません。ある利用者は {users} です。そのいずれかを指定してください。\n"
              f"no credentials of {args.user!r} there: it holds {users}; name one of them", file=sys.stderr)
        return 1
    if args.user not in known:
        print(f"{path} に {args.user} の資格情報がありません。先に `jusou up` を実行してください / "
              f"no credentials of {args.user!r} there: run `jusou up` first (it makes them)", file=sys.stderr)
        return 1
    user = tenant.nats_user(args.user) if tenant is not None else args.user
    print(f"export NATS_USER={shlex.quote(user)}\nexport NATS_PASSWORD={shlex.quote(known[args.user])}")
    return 0


def tenants_config(args: argparse.Namespace) -> int:
    """`jusou nats config --tenants FILE [--out PATH] [--check]`: one account per tenant, each password a
    `$JUSOU_NATS_<TENANT>_<USER>_PASSWORD` reference (shared/messaging/natsauth.py `tenant_deploy_config`)."""
    try:
        tenants = list(load_tenants(args.tenants).values())
    except (TenantsFileError, ValueError) as error:
        print(error, file=sys.stderr)
        return 2
    text, path = tenant_deploy_config(tenants, subscriptions()), Path(args.out)
    if args.check:
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            print(f"{path} は生成結果と異なります / differs from `jusou nats config --tenants`", file=sys.stderr)
            return 1
        return 0
    path.write_text(text, encoding="utf-8")
    print(f"{path}: {len(tenants)} アカウント / accounts: " + ", ".join(t.account for t in tenants))
    return 0


def nats_config(args: argparse.Namespace) -> int:
    """Write the deployment's NATS users, or (--check) exit 1 when the checked-in files differ."""
    if getattr(args, "tenants", None):
        return tenants_config(args)
    differs = []
    for path, text in deploy_files().items():
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                differs.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for path in differs:
        print(f"{path} は生成結果と異なります / differs from `jusou nats config`", file=sys.stderr)
    return 1 if differs else 0


WAIT_POLL_SECONDS = 1.0


def nats_init(args: argparse.Namespace) -> int:
    """`jusou nats init`: the operator makes what the services would otherwise make with their own users (the first
    to start decided the streams' settings); `--wait S`: a service's step before it starts, until they are there."""
    import asyncio

    from nats.js.errors import APIError

    from jusou.connection import StreamsRefused

    try:
        made, there, missing = asyncio.run(_init(current().nats_address, args.wait))
    except APIError as error:  # e.g. JUSOU_STREAM_REPLICAS=3 on one nats-server: it was nats-py's traceback
        raise StreamsRefused(str(error.description), current().stream_replicas) from None
    if getattr(args, "limits", False) and args.wait is None:
        limited, refused = asyncio.run(_limits(current().nats_address))
        for line in limited:
            print(line)
        if refused:
            print("\n".join(refused), file=sys.stderr)
            return 1
    for name in made:
        print(f"{name}: 作成しました / made")
    for name in there:
        print(f"{name}: あります / already there (unchanged)")
    if missing:
        print(f"{', '.join(missing)} が {args.wait:g} 秒待ってもありません。運用者の `jusou nats init`（Compose の "
              f"nats-init、Kubernetes の Job nats-init）が終わっているか確かめてください / not there after {args.wait:g} s: "
              "check that the operator's `jusou nats init` (Compose: nats-init, Kubernetes: the Job nats-init) has run",
              file=sys.stderr)
        return 1
    return 0


def wanted_names() -> list[str]:
    """The streams, and with JUSOU_PARTITIONS > 1 each service's lease bucket's stream (`KV_<bucket>`): only its own
    where a service's user waits (it may read no other's)."""
    from shared.messaging.bus import STREAMS
    from shared.messaging.natsauth import bucket_name
    from shared.settings import PORTS

    user = current().nats_user.split(tenancy.SEPARATOR)[0]  # a tenant's service user: `<service>@<tenant>`
    services = [user] if user in PORTS else list(PORTS)
    buckets = [f"KV_{bucket_name(service)}" for service in services] if current().partitions > 1 else []
    return [str(config.name) for config in STREAMS] + buckets


async def _init(url: str, wait: float | None) -> tuple[list[str], list[str], list[str]]:
    """(made, already there, still missing after `wait` seconds)."""
    import asyncio
    import time

    from nats.js.errors import NotFoundError

    from jusou.connection import connect_once
    from shared.messaging.bus import MAX_CONSUMERS, ensure_streams, raise_consumer_limit
    from shared.messaging.partitions import lease_setting, make_lease_buckets

    nc = await connect_once(url, name="jusou-nats-init", check_version=True)
    js = nc.jetstream(timeout=10)

    async def present() -> list[str]:
        found = []
        for name in wanted_names():
            try:
                await js.stream_info(name)
                found.append(name)
            except NotFoundError:
                pass
        return found

    try:
        before = await present()
        if wait is not None:
            deadline = time.monotonic() + wait
            while len(before) < len(wanted_names()) and time.monotonic() < deadline:
                await asyncio.sleep(WAIT_POLL_SECONDS)
                before = await present()
            return [], before, [name for name in wanted_names() if name not in before]
        await ensure_streams(nc)  # ForeignStream (status 2) for a stream of Jusou's name that is not Jusou's
        raised = await raise_consumer_limit(nc)  # the one setting of an existing stream it changes, and only upwards
        if raised is not None:
            print(f"JUSOU: 購読の上限を {raised} から {MAX_CONSUMERS} にしました / consumer limit raised from {raised} "
                  f"(-1: the server's default, 1,000 on nats-server 2.15) to {MAX_CONSUMERS}")
        if current().partitions > 1:
            await make_lease_buckets(js, list(subscriptions()), lease_setting(), current().stream_replicas)
        after = await present()
        return [name for name in after if name not in before], before, [name for name in wanted_names()
                                                                        if name not in after]
    finally:
        await nc.close()


async def _limits(url: str) -> tuple[list[str], list[str]]:
    """Set JUSOU_DLQ's and JUSOU_REPLAY's byte limit and discard policy to the settings' (the operator's explicit
    `--limits`; nothing else of the stream is changed). A limit below what the stream holds is refused: nats-server
    would drop the oldest letters to fit. (lines said, refusals)"""
    import dataclasses

    from nats.js.api import DiscardPolicy

    from jusou.connection import connect_once
    from shared.messaging.bus import LIMITS, stream_configs

    said: list[str] = []
    refused: list[str] = []
    nc = await connect_once(url, name="jusou-nats-init", check_version=True)
    try:
        js = nc.jetstream(timeout=10)
        for wanted in (c for c in stream_configs() if c.name in LIMITS):
            info = await js.stream_info(str(wanted.name))
            limit = wanted.max_bytes if wanted.max_bytes is not None else -1
            shown = "制限なし / no limit" if limit < 0 else f"{limit} bytes"
            if info.config.max_bytes == limit and info.config.discard == DiscardPolicy.NEW:
                said.append(f"{wanted.name}: 上限 {shown} のままです / limit unchanged")
                continue
            if 0 <= limit < info.state.bytes:
                variable = "JUSOU_DLQ_MAX_BYTES" if LIMITS[str(wanted.name)] == "dlq_max_bytes" else "JUSOU_REPLAY_MAX_BYTES"
                refused.append(f"{wanted.name} は {info.state.bytes} バイトを保持しています。{variable}={limit} にすると古い"
                               f"メッセージが消されるため変更しません。再送（jusou deadletters replay）で減らすか、{variable} を"
                               f"大きくしてください / {wanted.name} holds {info.state.bytes} bytes: a limit of {limit} would "
                               f"drop its oldest letters, so it is left as it is; replay letters or raise {variable}")
                continue
            await js.update_stream(dataclasses.replace(info.config, max_bytes=limit, discard=DiscardPolicy.NEW))
            said.append(f"{wanted.name}: 上限を {shown} にしました（満杯なら新しいものを拒否） / limit set to {shown} "
                        "(full: new letters refused, none dropped)")
    finally:
        await nc.close()
    return said, refused
