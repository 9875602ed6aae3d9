"""`jusou`: run the whole suite (`jusou up`) and keep the published JSON Schemas (`jusou schemas`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import os
import re
import secrets
import signal
import sys
import threading
import urllib.error
import urllib.request
from datetime import datetime
from importlib.metadata import version as package_version
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import quote
from uuid import UUID

import structlog

import shared
from jusou.backup import register as register_backup
from jusou.cluster import register as register_cluster
from jusou.configdoc import add_config_commands
from jusou.connection import EXIT_STATUS as NATS_UNAVAILABLE
from jusou.connection import (
    ConsumerLimitReached,
    NatsUnavailable,
    StoreMissing,
    StreamMissing,
    StreamsRefused,
    connect_once,
)
from jusou.natsconfig import register as register_nats
from jusou.ops import register as register_ops
from jusou.partitions_cmd import register as register_partitions
from jusou.report import register as register_report
from jusou.retention import register as register_retention
from jusou.runner import (
    PortTaken,
    Stopped,
    Suite,
    SuiteFailed,
    hold_suite_folders_or_say,
    port_taken_ja,
    store_description,
    subscriptions,
)
from jusou.tenant import chosen as chosen_tenant
from jusou.tenant import operator_token
from jusou.tenant import option as tenant_option
from shared import settings, tenancy
from shared.contract.events import json_schemas
from shared.domain.audit import (
    as_of,
    causation_tree,
    render_csv,
    render_disclosures_csv,
    render_disclosures_text,
    render_states,
    render_text,
)
from shared.messaging.natsversion import UnsupportedNats
from shared.observe.logs import configure_logging
from shared.organisation.reference import DIVISIONS, counter_division, divisions, lead_division
from shared.organisation.reference import exit_if_invalid as municipality_or_exit
from shared.web.auth import Accounts, AuthSettings, DevIssuer
from shared.web.policy import ROLES

SCHEMAS_DIR = Path(shared.__file__).resolve().parent / "contract" / "schemas"
ASYNCAPI_DIR = Path(shared.__file__).resolve().parent.parent / "docs" / "asyncapi"


def suite_from_env(data_dir: str | None) -> Suite:
    env = settings.current()
    return Suite(
        Path(data_dir or env.data_dir),
        nats_url=env.nats_url or None,
        nats_port=env.nats_port,
        ports={name: env.port_of(name) for name in settings.PORTS},
    )


def print_ready(suite: Suite) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Jusou 重層的支援 — ready / 起動しました", title_justify="left")
    table.add_column("service / サービス")
    table.add_column("UI", overflow="fold")  # an address is never cut short with "…"
    table.add_column("API docs", overflow="fold")
    for name in suite.services:
        table.add_row(name, f"{suite.url(name)}/ui/", f"{suite.url(name)}/docs")
    # to a file or a pipe rich assumes 80 columns, and the five-digit ports' addresses did not fit in them
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    console.print(table)
    own = "own nats-server / 専用" if suite.own_nats else "existing / 既存"
    console.print(f"NATS:     {suite.nats_url} ({own})", markup=False)
    console.print(f"store:    {store_description(suite.data_dir)}", markup=False)
    console.print(f"data:     {suite.data_dir} (logs: {suite.logs_dir})", markup=False)
    console.print(f"start-up: {suite.ready_seconds or 0:.1f} s", markup=False)
    console.print("Ctrl-C to stop / Ctrl-C で停止します", markup=False)


def nats_answers(url: str) -> bool:
    """The NATS of NATS_URL takes a connection (as the services' user, NATS_USER / NATS_PASSWORD): else it says what
    to check, in Japanese and English, and the suite is not started (its services would wait for it for 60 s and
    then be reported "did not start" with their logs' tracebacks). A login refused is left to the services."""
    async def probe() -> None:
        nc = await connect_once(url, os.environ.get("NATS_USER") or None, os.environ.get("NATS_PASSWORD") or None,
                                name="jusou-up")
        await nc.close()

    try:
        asyncio.run(probe())
    except NatsUnavailable as error:
        if error.login_refused:
            return True
        print(error, file=sys.stderr)
        return False
    return True


def up(args: argparse.Namespace) -> int:
    def stop_on_signal(signum: int, frame: FrameType | None) -> None:
        raise Stopped(signal.Signals(signum).name)

    # SIGINT as Ctrl-C (KeyboardInterrupt) however it was started: in the background from a script (`jusou up &`) the
    # shell hands it SIGINT ignored, Python keeps an ignored SIGINT ignored, and `kill -INT` did nothing (README: Ctrl-C)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGHUP, stop_on_signal)
    if args.municipality:
        from shared.organisation.municipality import MunicipalityFileError, load

        path = Path(args.municipality).resolve()
        try:
            load(path)
        except MunicipalityFileError as error:
            print(error, file=sys.stderr)
            return 2
        os.environ["JUSOU_MUNICIPALITY_FILE"] = str(path)  # the services inherit it (runner.py copies os.environ)
    if args.tenants:  # many municipalities (issue 18): one NATS account, store, key and issuer each
        from shared.tenancy import TenantsFileError, describe
        from shared.tenancy import load as load_tenants

        path = Path(args.tenants).resolve()
        try:
            print(f"テナント / tenants:\n{describe(load_tenants(path))}")
        except (TenantsFileError, ValueError) as error:
            print(error, file=sys.stderr)
            return 2
        os.environ["JUSOU_TENANTS_FILE"] = str(path)  # the runner and the services read it
    suite = suite_from_env(args.data_dir)
    held = hold_suite_folders_or_say(suite)  # before anything is written: a second `jusou up` changes nothing
    if held is None:
        return 1
    try:
        suite.check_ports()
    except PortTaken as error:
        held.close()
        print(f"{port_taken_ja(error)}\n\n{error}", file=sys.stderr)
        return 1
    if not suite.own_nats and not nats_answers(suite.nats_url):  # an existing NATS (NATS_URL) that does not answer:
        held.close()  # said within seconds, as every `jusou` command that talks to NATS does (exit 3)
        return NATS_UNAVAILABLE
    if args.demo_staff:
        tenants = tenancy.configured()
        if tenants:  # each tenant its own demo accounts, in its own issuer's folder and municipality's divisions
            demo_staff_of_tenants(tenants)
        else:
            demo_staff(Path(settings.current().auth_dir or suite.data_dir / "auth"))
    warned: set[str] = set()
    try:
        suite.start()
        print_ready(suite)
        idle = threading.Event()
        while True:
            idle.wait(1.0)
            for name, code in suite.exited().items():
                if name not in warned:
                    warned.add(name)
                    print(
                        f"{name} が終了しました（終了コード {code}）。ログ: {suite.log_path(name)}\n"
                        f"{name} exited with code {code}; see {suite.log_path(name)}",
                        file=sys.stderr,
                    )
    except PortTaken as error:
        print(f"{port_taken_ja(error)}\n\n{error}", file=sys.stderr)
        return 1
    except SuiteFailed as error:
        where = f"ログ: {error.log_path}" if error.log_path else "nats-server が見つかりません"
        print(f"{error.name} を起動できませんでした（{where}）。\n\n{error}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Stopped):
        print("\n停止しています… / stopping…", file=sys.stderr)
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
        suite.stop()
        held.close()


def demo_staff_table() -> dict[str, tuple[str, str]]:
    """role → (staff id, division): one demo account per role (`jusou up --demo-staff`), in the divisions of the
    municipality's file: the counselor at the first counter's division, the others in the lead division."""
    lead, counter = lead_division(), counter_division()
    return {
        "counselor": ("demo-counselor", counter),
        "coordinator": ("demo-coordinator", lead),
        "secretariat": ("demo-secretariat", lead),
        "outreach_worker": ("demo-outreach", lead),
        "participation_worker": ("demo-participation", lead),
        "community_worker": ("demo-community", lead),
        "welfare_coordinator": ("demo-welfare-coordinator", lead),
        "supervisor": ("demo-supervisor", lead),
        "auditor": ("demo-auditor", lead),
        "operator": ("demo-operator", lead),
    }


def __getattr__(name: str) -> Any:
    """`DEMO_STAFF`, as before: the table of the municipality's file read now."""
    if name == "DEMO_STAFF":
        return demo_staff_table()
    raise AttributeError(name)


def demo_staff(folder: Path) -> None:
    """One account per role with a new random password, printed once."""
    accounts = Accounts(folder)
    table = demo_staff_table()
    width = max(len(staff_id) for staff_id, _ in table.values())  # every password in one column
    print("デモ用アカウント（パスワードはこの一度だけ表示します）/ demo accounts (passwords shown only now):")
    for role, (staff_id, division) in table.items():
        password = secrets.token_urlsafe(12)
        accounts.add(staff_id, division, [role], password)
        print(f"  {staff_id:<{width}}  {password}  {ROLES[role].ja} / {role} ({DIVISIONS[division].ja})")


def demo_staff_of_tenants(tenants: dict[str, tenancy.Tenant]) -> None:
    """`jusou up --tenants FILE --demo-staff`: each tenant with a development issuer gets one demo account per role in
    its own `<data_dir>/auth`, in the divisions of its own municipality file (the same ids in another tenant are
    other people, with other passwords); a tenant signing in at its IdP gets none."""
    for tenant in tenants.values():
        print(f"\n自治体 / tenant {tenant.id} ({tenant.name or tenant.id}):")
        if tenant.oidc is not None:
            print(f"  認証基盤でログインします。デモ用アカウントは作りません / signs in at {tenant.oidc.issuer}: no demo accounts")
            continue
        with tenancy.acting_for(tenant.id):
            demo_staff(tenancy.auth_settings(AuthSettings.from_env(), tenant).folder)


def _auth_folder(tenant: str = "") -> Path:
    """The development issuer's folder: the deployment's, or with many municipalities (issue 18) the tenant's
    `<data_dir>/auth` (`--tenant ID`, required there: status 2 without it)."""
    settings_ = AuthSettings.from_env()
    found = chosen_tenant(tenant)
    if found is not None:
        if found.oidc is not None:
            print(f"自治体 {tenant} は認証基盤でログインします。アカウントとトークンは認証基盤で管理します / "
                  f"tenant {tenant} signs in at its identity provider: accounts and tokens come from there", file=sys.stderr)
            raise SystemExit(2)
        return tenancy.auth_settings(settings_, found).folder
    if not settings_.development:
        raise SystemExit("JUSOU_OIDC_ISSUER is set: accounts and tokens come from the city's IdP / "
                         "市の認証基盤を使う設定です。アカウントとトークンは認証基盤で管理します")
    return settings_.folder


def staff_add(args: argparse.Namespace) -> int:
    folder = _auth_folder(args.tenant)
    with tenancy.acting_for(args.tenant) if args.tenant else contextlib.nullcontext():  # its municipality's divisions
        known = divisions()
    if args.division not in known:
        print(f"--division {args.division!r} はありません / no such division; one of: {', '.join(known)}", file=sys.stderr)
        return 2
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        if not sys.stdin.isatty():  # a script or a pipe: getpass echoed what it read, then ended in a traceback at EOF
            raise SystemExit("パスワードは端末で入力するか、--password-stdin で標準入力から渡してください / "
                             "type the password at a terminal, or give it on standard input with --password-stdin")
        try:
            password = getpass.getpass("パスワード / password: ")
            if getpass.getpass("もう一度 / again: ") != password:
                raise SystemExit("パスワードが一致しません / the passwords differ")
        except EOFError:  # Ctrl-D at the prompt
            raise SystemExit("\nパスワードが入力されませんでした / no password given") from None
    if len(password) < 8:
        raise SystemExit("パスワードは8文字以上にしてください / the password needs at least 8 characters")
    Accounts(folder).add(args.staff_id, args.division, args.role, password)
    DevIssuer(folder).private_key()  # the folder then holds all a pod needs (Secret jusou-dev-auth)
    print(f"{args.staff_id}: {known[args.division].ja}, {', '.join(ROLES[r].ja for r in args.role)}"
          + (f" ({args.tenant})" if args.tenant else ""))
    return 0


def staff_list(args: argparse.Namespace) -> int:
    for staff_id, account in sorted(Accounts(_auth_folder(args.tenant)).all().items()):
        print(f"{staff_id}\t{account['division']}\t{' '.join(account['roles'])}")
    return 0


def staff_remove(args: argparse.Namespace) -> int:
    if not Accounts(_auth_folder(args.tenant)).remove(args.staff_id):
        print(f"{args.staff_id} というアカウントはありません / no such account", file=sys.stderr)
        return 1
    return 0


def ttl_seconds(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        seconds = int(text[:-1]) * units[text[-1]] if text[-1:] in units else int(text)
    except (ValueError, KeyError):
        raise SystemExit(f"--ttl {text!r}: 数と単位（s 秒, m 分, h 時間, d 日）で指定してください（例: 30m, 8h, 1d）/ "
                         "give a whole number and a unit (s, m, h, d), e.g. 30m, 8h, 1d") from None
    if seconds <= 0:  # "at most 7d" was said to a 0m too
        raise SystemExit(f"--ttl {text!r}: 0 より長くしてください（例: 30m, 8h, 1d）/ --ttl must be more than 0, e.g. 30m, 8h, 1d")
    if seconds > 7 * 86400:
        raise SystemExit("--ttl は1週間以内です / --ttl is at most 7d")
    return seconds


def token(args: argparse.Namespace) -> int:
    folder = _auth_folder(args.tenant)
    account = Accounts(folder).all().get(args.staff_id)
    if account is None:
        raise SystemExit(f"{args.staff_id} というアカウントはありません（jusou staff add）/ no such account")
    print(DevIssuer(folder).mint(args.staff_id, account["division"], account["roles"],
                                 AuthSettings.from_env().audience, ttl_seconds(args.ttl), tenant=args.tenant))
    return 0


def render_schema(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def expected_schemas() -> dict[str, str]:
    return {name: render_schema(schema) for name, schema in json_schemas().items()}


def differences(folder: Path, expected: dict[str, str]) -> list[str]:
    """What an export of `expected` would change in the folder, one line each."""
    present = {path.name: path for path in folder.glob("*.json")}
    found = [f"missing: {name}" for name in sorted(expected) if name not in present]
    found += [f"stale: {name}" for name in sorted(present) if name not in expected]
    found += [f"differs: {name}" for name in sorted(expected)
              if name in present and present[name].read_text(encoding="utf-8") != expected[name]]
    return found


def export(folder: Path, expected: dict[str, str], what: str) -> int:
    """Write the generated files and remove stale ones."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in folder.glob("*.json"):
        if path.name not in expected:
            path.unlink()
    for name, text in expected.items():
        (folder / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(expected)} {what} to {folder}")
    return 0


def check(folder: Path, expected: dict[str, str], what: str, command: str) -> int:
    found = differences(folder, expected)
    if found:
        print("\n".join(found), file=sys.stderr)
        print(f"run `jusou {command} export {folder}` and review the change", file=sys.stderr)
        return 1
    print(f"{what} in {folder} are up to date")
    return 0


def schema_differences(folder: Path) -> list[str]:
    return differences(folder, expected_schemas())


def schemas_export(args: argparse.Namespace) -> int:
    return export(Path(args.dir), expected_schemas(), "schemas")


def schemas_check(args: argparse.Namespace) -> int:
    return check(Path(args.dir), expected_schemas(), "schemas", "schemas")


def expected_asyncapi() -> dict[str, str]:
    from shared.web.asyncapi import documents, render  # FastStream's specification: only for this command

    return {f"{service}.json": render(document) for service, document in documents(subscriptions()).items()}


def asyncapi_differences(folder: Path) -> list[str]:
    return differences(folder, expected_asyncapi())


def asyncapi_export(args: argparse.Namespace) -> int:
    return export(Path(args.dir), expected_asyncapi(), "AsyncAPI documents")


def asyncapi_check(args: argparse.Namespace) -> int:
    return check(Path(args.dir), expected_asyncapi(), "AsyncAPI documents", "asyncapi")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="jusou", description="Jusou: the multi-layered support services")
    top.add_argument("--version", action="version", version=f"jusou {package_version('jusou')}",
                     help="the installed release (package metadata) / 版")
    commands = top.add_subparsers(dest="command", required=True)
    run = commands.add_parser("up", help="start NATS and all six services; Ctrl-C stops them")
    run.add_argument("--data-dir", help="folder for stores, NATS data and logs (default: JUSOU_DATA_DIR or ./data)")
    run.add_argument("--demo-staff", action="store_true",
                     help="make one demo account per role (development issuer) and print their new passwords once")
    run.add_argument("--municipality", metavar="FILE",
                     help="the municipality's organisation file (TOML; default: JUSOU_MUNICIPALITY_FILE, else the shipped "
                          "shared/organisation/municipalities/chofu.toml)")
    run.add_argument("--tenants", metavar="FILE",
                     help="many municipalities on one deployment: the tenants file (TOML, shared/tenancy.py; "
                          "default: JUSOU_TENANTS_FILE, else one municipality)")
    run.set_defaults(handler=up)
    _add_staff_commands(commands)
    _add_document_commands(commands)
    _add_record_commands(commands)
    register_ops(commands)  # jusou status, jusou deadletters list|show|replay (jusou/ops.py)
    register_cluster(commands)  # jusou cluster up|config: 3 NATS nodes, every service twice (jusou/cluster.py)
    register_nats(commands)  # jusou nats config: deploy/nats/auth.conf, the NATS users of compose and k8s
    register_backup(commands)  # jusou backup DEST, jusou restore SRC (jusou/backup.py, docs/operations.md)
    register_report(commands)  # jusou report --fy 2026: the city's figures (jusou/report.py)
    register_retention(commands)  # jusou retention [--erase]: records past 保存年限 (jusou/retention.py)
    register_partitions(commands)  # jusou partitions back SERVICE: the way back to one consumer per source (jusou/partitions_cmd.py)
    return top


def _add_staff_commands(commands: Any) -> None:
    """`jusou staff add|list|remove` and `jusou token`: the development issuer's accounts."""
    people = commands.add_parser("staff", help="the development issuer's staff accounts (<data>/auth/staff.json)")
    actions = people.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add an account, or replace its division, roles and password")
    add.add_argument("staff_id", type=staff_id_argument)
    add.add_argument("--division", required=True, metavar="DIVISION",
                     help="one of today's divisions (of the tenant's municipality file with --tenant): "
                          + ", ".join(divisions()))
    add.add_argument("--role", action="append", required=True, choices=tuple(ROLES), help="repeat for several roles")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(handler=staff_add)
    listed = actions.add_parser("list", help="the accounts: id, division, roles")
    listed.set_defaults(handler=staff_list)
    removed = actions.add_parser("remove", help="remove an account and end its sessions at once (revoked.json)")
    removed.add_argument("staff_id")
    removed.set_defaults(handler=staff_remove)
    mint = commands.add_parser("token", help="a bearer token for an existing account (development issuer)")
    mint.add_argument("staff_id")
    mint.add_argument("--ttl", default="8h", help="how long it is valid: 30m, 8h, 1d (default 8h)")
    # `--ttl -1h` is a value, refused by ttl_seconds in words, not an unknown option ("expected one argument")
    mint._negative_number_matcher = re.compile(r"^-\d+[smhd]?$|^-\d*\.\d+[smhd]?$")
    mint.set_defaults(handler=token)
    for command in (add, listed, removed, mint):  # many municipalities (issue 18): whose issuer; required there
        command.add_argument("--tenant", default="", metavar="ID",
                             help="the tenant (JUSOU_TENANTS_FILE): its <data_dir>/auth and the token's tenant claim")


def _add_document_commands(commands: Any) -> None:
    """`jusou schemas|asyncapi|config export|check`: the checked-in documents generated from the code."""
    schemas = commands.add_parser("schemas", help="the integration events' JSON Schemas").add_subparsers(
        dest="action", required=True
    )
    export = schemas.add_parser("export", help="write the schemas and remove stale ones")
    export.add_argument("dir", nargs="?", default=str(SCHEMAS_DIR))
    export.set_defaults(handler=schemas_export)
    check = schemas.add_parser("check", help="exit 1 if the folder differs from the contracts")
    check.add_argument("dir", nargs="?", default=str(SCHEMAS_DIR))
    check.set_defaults(handler=schemas_check)
    asyncapi = commands.add_parser("asyncapi", help="each service's AsyncAPI document").add_subparsers(
        dest="action", required=True
    )
    export = asyncapi.add_parser("export", help="write docs/asyncapi/<service>.json and remove stale ones")
    export.add_argument("dir", nargs="?", default=str(ASYNCAPI_DIR))
    export.set_defaults(handler=asyncapi_export)
    check = asyncapi.add_parser("check", help="exit 1 if the folder differs from what the code generates")
    check.add_argument("dir", nargs="?", default=str(ASYNCAPI_DIR))
    check.set_defaults(handler=asyncapi_check)
    add_config_commands(commands)  # jusou config export|check: docs/configuration.md from SETTINGS


def _add_record_commands(commands: Any) -> None:
    """`jusou history|audit|erase|replay`: the record of the cases (D15) and its stores."""
    past = commands.add_parser("history", help="a case's events in every program, in order (D15)")
    past.add_argument("case_id", type=case_id_argument, help=CASE_ID_HELP)
    past.add_argument("--json", action="store_true", help="JSON instead of a table")
    tenant_option(past, history)
    audit = commands.add_parser("audit", help="audits of the record (D15)").add_subparsers(dest="action", required=True)
    journey = audit.add_parser("journey", help="a case's events in every program as a causation tree")
    journey.add_argument("case_id", type=case_id_argument, help=CASE_ID_HELP)
    journey.add_argument("--format", choices=("text", "json", "csv"), default="text")
    journey.add_argument("--as-of", type=moment_argument,
                         help="the case and each program's view as they stood at this time (RFC 3339 with a zone)")
    journey.add_argument("--state", action="store_true", help="also print each program's current view of the case")
    tenant_option(journey, audit_journey)
    shown = audit.add_parser("disclosures", help="who was shown a person's information, when, on what basis")
    shown.add_argument("person_ref", type=person_ref_argument)
    shown.add_argument("--format", choices=("text", "json", "csv"), default="text")
    tenant_option(shown, audit_disclosures)
    erasure = commands.add_parser("erase", help="erase a person's information (crypto-shredding; a supervisor's JUSOU_TOKEN)")
    erasure.add_argument("person_ref", type=person_ref_argument)
    erasure.add_argument("--basis", required=True, choices=("person_request", "retention_expired"),
                         help="person_request: 本人の請求, retention_expired: 保存期間満了")
    erasure.add_argument("--reason", required=True, help="why (no personal information)")
    tenant_option(erasure, erase)
    check = audit.add_parser("verify", help="prove each store and the JUSOU stream agree; seals unbroken")
    check.add_argument("--repair", action="store_true", help="republish what the stream lost (stores are the truth)")
    check.add_argument("--service", action="append", choices=tuple(settings.PORTS), help="only these services")
    check.add_argument("--data-dir", help="the suite's data folder (default: JUSOU_DATA_DIR or ./data)")
    check.add_argument("--json", action="store_true", help="JSON instead of a table")
    tenant_option(check, audit_verify)
    rebuild = commands.add_parser("replay", help="rebuild a service's read models from its store")
    rebuild.add_argument("service", choices=(*settings.PORTS, "all"))
    rebuild.add_argument("--data-dir", help="the suite's data folder (default: JUSOU_DATA_DIR or ./data)")
    rebuild.add_argument("--json", action="store_true", help="JSON figures instead of a progress bar")
    tenant_option(rebuild, replay)


def case_history(case_id: str, urls: dict[str, str]) -> list[dict[str, Any]]:
    """D15: a case's events from every service, merged in time order."""
    rows: list[dict[str, Any]] = []
    for service, url in urls.items():
        try:
            with urllib.request.urlopen(authorized(f"{url}/cases/{case_id}/history"), timeout=10) as response:
                rows.extend(json.load(response))
        except urllib.error.HTTPError as exc:
            raise SystemExit(f"{service}: {exc.code} {exc.read().decode('utf-8', 'replace')}") from None
        except urllib.error.URLError as exc:
            raise SystemExit(f"{service} ({url}) に接続できません / cannot reach {service}: {exc}") from None
    return sorted(rows, key=lambda r: (r["occurred_at"], r["service"], r["position"]))


CASE_ID_HELP = "the case's whole number (UUID, 36 characters), as the case page's ケース番号 shows it"


def case_id_argument(text: str) -> str:
    """A case id as the commands take it: the whole UUID. The pages name a case by its first 8 characters
    (「相談ケース 70fe8f1d」); given those, or anything else, the command says what it needs before asking any
    service (argparse: exit 2 with this message)."""
    try:
        return str(UUID(text.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"ケース番号 {text!r} は番号の全体（36文字の UUID、例: 70fe8f1d-d6fa-4837-9506-2d3f4403dbd5）で指定してください。"
            "ケースの画面の「ケース番号」欄からコピーできます / "
            f"{text!r} is not a whole case id: give the 36-character UUID (the case page's ケース番号 row has it)"
        ) from None


def staff_id_argument(text: str) -> str:
    """A staff id as the services take it in a token (shared/web/auth.py): 1-100 printable characters, no space at
    either end; `jusou staff add ' '` made an account whose token recorded events naming nobody."""
    if not 0 < len(text) <= 100 or not text.isprintable() or text != text.strip():
        raise argparse.ArgumentTypeError(
            f"職員番号 {text!r} は前後に空白のない1〜100文字で指定してください（例: kouki-012）/ "
            f"{text!r}: give a staff id of 1-100 printable characters without spaces at either end (e.g. kouki-012)")
    return text


def person_ref_argument(text: str) -> str:
    """A person's reference as intake gives it (a UUID: the disclosure report and the erasure name it so); anything
    else is said here (argparse: exit 2) instead of intake's raw 422 JSON, or a 404 for a path like `../x`."""
    try:
        return str(UUID(text.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"相談者の番号 {text!r} は person_ref（36文字の UUID、例: 70fe8f1d-d6fa-4837-9506-2d3f4403dbd5）で指定してください / "
            f"{text!r} is not a person_ref: give the 36-character UUID") from None


def moment_argument(text: str) -> datetime:
    """--as-of: a time with its zone (RFC 3339); anything else is said (argparse: exit 2), not a traceback."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r}: 時刻をタイムゾーン付きで指定してください（例: 2026-11-29T12:00:00+09:00）/ "
            "give a time with its zone, e.g. 2026-11-29T12:00:00+09:00") from None
    return moment


def history(args: argparse.Namespace) -> int:
    rows = case_history(args.case_id, service_urls())
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0  # [] for a case no program has: the JSON says so (the table's reader gets a sentence and 1)
    if not rows:
        print(f"このケースの記録はありません（どのプログラムにもありません）/ no program has records of case {args.case_id}",
              file=sys.stderr)
        return 1
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"ケースの記録 / case history {args.case_id}")
    table.add_column("日時 (UTC)", no_wrap=True, min_width=19)  # the one thing a history's reader needs: never cut
    for column in ("service", "event", "actor", "caused by"):
        table.add_column(column, overflow="fold")
    for row in rows:
        actor = row["actor"] or {}
        who = actor.get("staff_id") and f"{actor['staff_id']} ({actor.get('division')})" or actor.get("service", "")
        table.add_row(row["occurred_at"][:19], row["service"], row["event"], who, (row["caused_by"] or "")[:8])
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:  # piped: rich's 80 columns folded "Case.Received"
        console = Console(width=160)
    console.print(table)
    return 0 if rows else 1


def _bearer() -> str:
    """The operator's token (the acting tenant's with `--tenant`: jusou/tenant.py)."""
    return f"Bearer {operator_token()}"


def authorized(url: str) -> Any:
    """A GET of `url` with the operator's token (`JUSOU_TOKEN`, else minted by the development issuer)."""
    return urllib.request.Request(url, headers={"Authorization": _bearer()})


def service_urls() -> dict[str, str]:
    return {name: f"http://127.0.0.1:{settings.current().port_of(name)}" for name in settings.PORTS}


def get_json(url: str, what: str) -> Any:
    try:
        with urllib.request.urlopen(authorized(url), timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        raise SystemExit(f"{what}: {exc.code} {detail}") from None
    except urllib.error.URLError as exc:
        raise SystemExit(f"{what} に接続できません / cannot reach {what}: {exc}") from None


def audit_journey(args: argparse.Namespace) -> int:
    """D15: `jusou audit journey CASE_ID`: the causation tree of a case across every program, and
    (with --as-of or --state) every program's view of the case as it stood then."""
    urls = service_urls()
    moment: datetime | None = args.as_of  # moment_argument: a time with its zone
    rows = as_of(case_history(args.case_id, urls), moment)
    states: list[dict[str, Any]] = []
    if moment is not None or args.state:
        query = f"?as_of={quote(moment.isoformat())}" if moment else ""
        for name, url in urls.items():
            states.extend(get_json(f"{url}/cases/{args.case_id}/state{query}", name))
    if args.format == "json":
        document = {"case_id": args.case_id, "as_of": moment.isoformat() if moment else None,
                    "events": [{"depth": d, **r} for d, r in causation_tree(rows)]}
        if states or moment is not None or args.state:
            document["states"] = states
        print(json.dumps(document, ensure_ascii=False, indent=2))
    elif args.format == "csv":
        sys.stdout.write(render_csv(rows))
    else:
        print(render_text(rows))
        if moment is not None or args.state:
            print()
            print(render_states(states, moment))
    if not rows:  # an empty line and status 1 said nothing of why (jusou history says this)
        until = f"（{moment.isoformat()} まで）" if moment else ""
        print(f"このケースの記録はありません{until}（どのプログラムにもありません）/ no program has records of case "
              f"{args.case_id}" + (f" up to {moment.isoformat()}" if moment else ""), file=sys.stderr)
    return 0 if rows else 1


def audit_disclosures(args: argparse.Namespace) -> int:
    """`jusou audit disclosures PERSON_REF`: who was shown the person's information, when, on what basis."""
    rows = get_json(f"{service_urls()['intake']}/audit/people/{args.person_ref}/disclosures", "intake")
    if args.format == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    elif args.format == "csv":
        sys.stdout.write(render_disclosures_csv(rows))
    else:
        print(render_disclosures_text(args.person_ref, rows))
    return 0


def erase(args: argparse.Namespace) -> int:
    """`jusou erase PERSON_REF --basis … --reason …`: intake records Person.Erased and deletes the person's key."""
    body = json.dumps({"basis": args.basis, "reason": args.reason}).encode()
    request = urllib.request.Request(f"{service_urls()['intake']}/persons/{args.person_ref}/erasure", data=body,
                                     method="POST", headers={"Authorization": _bearer(),
                                                             "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            erased = json.load(response)["erased"]
    except urllib.error.HTTPError as exc:
        print(f"intake: {exc.code} {json.loads(exc.read() or b'{}').get('detail', '')}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        raise SystemExit(f"intake に接続できません / cannot reach intake: {exc}") from None
    print(f"消去しました / erased {args.person_ref} at {erased['at'][:19]} by {erased['staff_id']} ({erased['basis']})")
    return 0


def audit_verify(args: argparse.Namespace) -> int:
    """`jusou audit verify [--repair]`: exit 0 only when every store and the stream agree."""
    from rich.console import Console
    from rich.table import Table

    from jusou.ops import _as_text
    from jusou.verify import default_nats_url, report_dict, run_verify

    if args.data_dir:
        os.environ["JUSOU_DATA_DIR"] = args.data_dir
    services = tuple(args.service or settings.PORTS)
    console = Console(stderr=True, highlight=False)
    before, after = run_verify(services, default_nats_url(), args.repair,
                               progress=None if args.json else lambda m: console.print(f"… {m}", markup=False))
    final = after or before
    if args.json:
        print(json.dumps({"reports": [report_dict(r) for r in before],
                          "after_repair": [report_dict(r) for r in after] if after else None,
                          "ok": not any(r.problems for r in final)}, ensure_ascii=False, indent=2))
        return 1 if any(r.problems for r in final) else 0
    for title, reports in (("検証 / verify", before), ("修復後 / after repair", after)):
        if not reports:
            continue
        table = Table(title=title, title_justify="left")
        for column in ("service", "store", "integration", "on stream", "pending", "missing", "duplicates", "altered",
                       "unknown", "consumers", "seal breaks", "republished"):
            table.add_column(column, justify="left" if column == "service" else "right")
        for r in reports:
            table.add_row(r.service, str(r.store_events), str(r.integration_events), str(r.on_stream), str(r.pending),
                          str(len(r.missing)), str(len(r.duplicates)), str(len(r.altered)), str(len(r.unknown)),
                          str(len(r.consumer_problems)), str(len(r.seal_breaks)), str(r.republished))
        table_console = Console(highlight=False)
        if not table_console.is_terminal:  # piped into a log: rich's 80 columns would cut every header to "ser…"
            table_console = Console(highlight=False, width=160)
        table_console.print(table)
    out = Console(highlight=False)
    for r in final:
        for what, items in (("missing", r.missing), ("duplicate", r.duplicates), ("altered", r.altered),
                            ("unknown", r.unknown), ("consumer", r.consumer_problems),
                            ("seal broken at position", r.seal_breaks),
                            ("unreadable, quarantined by the read models at position", r.quarantined)):
            for item in items[:20]:  # an unknown message's Nats-Msg-Id is whoever published it's: as text
                out.print(_as_text(f"{r.service}: {what} {item}"))
    if any(r.problems for r in final):
        out.print("不整合があります / the record does not agree (see above)", markup=False)
        return 1
    out.print("すべての記録が一致しています / every store and the stream agree", markup=False)
    return 0


def replay(args: argparse.Namespace) -> int:
    """`jusou replay SERVICE`: rebuild its read models from the store, with a progress bar; a data folder without
    the service's store is refused (status 2), not given an empty one."""
    from jusou.verify import StoreMissing
    from jusou.verify import replay as rebuild

    if args.data_dir:
        os.environ["JUSOU_DATA_DIR"] = args.data_dir
    services = tuple(settings.PORTS) if args.service == "all" else (args.service,)
    with contextlib.ExitStack() as held:
        if not suite_stopped(settings.current().data_path, services, held):
            return 2
        try:
            return replayed(args, services, rebuild)
        except StoreMissing as missing:
            print(missing, file=sys.stderr)
            return 2


def suite_stopped(data_dir: Path, services: tuple[str, ...], held: contextlib.ExitStack) -> bool:
    """A replay clears the read models and writes them again page by page from another process: a service running
    on the folder may index a page it read before the clear after it, and the replay then goes on from that page's
    position (the rows before it lost until the next replay). The folder's lock (`jusou up`, `jusou cluster up`) held:
    False, what to do said. Otherwise its lock is held shared (nothing written) until the replay ends, so that no
    `jusou up` starts on the folder meanwhile."""
    import fcntl

    from jusou.runner import DATA_FOLDER_LOCK

    lock = data_dir / DATA_FOLDER_LOCK
    if not lock.is_file():
        return True  # no suite ever ran on this folder
    shared_lock = held.enter_context(open(lock, encoding="utf-8"))  # noqa: SIM115 - held until the replay ends
    try:
        fcntl.flock(shared_lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = shared_lock.read().strip() or "pid ?"
        names = ", ".join(services)
        print(f"再構築できません: {names} が稼働中です（データフォルダ {data_dir} を {holder} が使っています）。"
              "稼働中のサービスが書き込むと、再構築した読み取りモデルの行が欠けることがあります。\n"
              "  → そのスイート（jusou up）を止めて（Ctrl-C）から、もう一度 jusou replay を実行してください\n\n"
              f"cannot replay: {names} is running (the data folder {data_dir} is in use by {holder}); a running "
              "service writing meanwhile can leave rows out of the rebuilt read models. Stop that suite (Ctrl-C on "
              "jusou up), then run jusou replay again", file=sys.stderr)
        return False
    return True


def replayed(args: argparse.Namespace, services: tuple[str, ...], rebuild: Any) -> int:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeRemainingColumn,
    )

    results = []
    if args.json:
        results = [rebuild(service) for service in services]
        print(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns) as progress:
            for service in services:
                task = progress.add_task(f"{service} 再構築 / rebuilding", total=None)
                def progressed(done: int, total: int, t: TaskID = task) -> None:
                    progress.update(t, completed=done, total=total)

                results.append(rebuild(service, progressed))
        for r in results:
            seals = "seals intact / 封印は正常" if not r["seal_breaks"] else f"SEAL BROKEN at {r['seal_breaks'][:5]}"
            same = "equal to the live read models / 稼働中と一致" if r["equal_to_live"] else (
                f"differed from the live read models in {', '.join(r['changed_tables'])} (now rebuilt)")
            print(f"{r['service']}: {r['events']} events in {r['seconds']} s "
                  f"({r['events_per_second'] or '-'} events/s); {same}; {seals}")
    return 1 if any(r["seal_breaks"] for r in results) else 0


def quiet_logging() -> None:
    """The runner's own lines only when something is wrong; services log to their files."""
    configure_logging("jusou")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def main(argv: list[str] | None = None) -> int:
    settings.exit_if_invalid()  # a bad setting: status 2 and what is allowed, before any command runs
    municipality_or_exit()  # a bad municipality file: status 2, the file, line and entry (shared/organisation)
    args = parser().parse_args(argv)  # (the parser offers today's divisions of that file)
    quiet_logging()
    try:
        result: int = args.handler(args)
    except UnsupportedNats as refused:  # a NATS older than the relay needs: why, status 2, no traceback
        print(refused, file=sys.stderr)
        return 2
    except (StoreMissing, StreamsRefused) as refused:  # a folder without the stores; streams NATS would not make
        print(refused, file=sys.stderr)
        return 2
    except (NatsUnavailable, StreamMissing, ConsumerLimitReached) as failed:  # could not look: status 3
        print(failed, file=sys.stderr)
        return NATS_UNAVAILABLE
    return result


if __name__ == "__main__":
    sys.exit(main())
