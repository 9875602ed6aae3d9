"""`--tenant ID`: the municipality an operator command acts for, on a deployment of many (issue 18).

With a tenants file (`JUSOU_TENANTS_FILE`) every command that reads or changes a tenant's records names one tenant
and runs with that tenant's settings alone (shared/tenancy.py `command_environment`): its data folder (SQLite stores,
cipher key, retention periods, development issuer), its PostgreSQL schemas and database, its NATS account's operator,
its IdP and its municipality file; the services are asked with a token of that tenant (its `tenant` claim). No
tenant named, or one the file does not have: status 2, naming the tenants. Without a tenants file nothing changes,
and `--tenant` is refused (status 2).

Commands take the option through `option(parser, handler)`, which wraps the handler: whoever runs the handler (the
`jusou` command, a test calling `parser().parse_args(…).handler`) runs it as the tenant, and the environment is
as it was afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import sys
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

from shared import tenancy
from shared.settings import AuthSettings, current

Handler = Callable[[argparse.Namespace], int]
HELP = ("the tenant (municipality / 自治体) of a deployment of many (JUSOU_TENANTS_FILE): its stores, key, NATS account "
        "and staff; required there, refused without a tenants file")


def refuse(ja: str, en: str) -> NoReturn:
    """Status 2 and why, on standard error: what the operator named cannot be acted for."""
    print(f"{ja}\n{en}", file=sys.stderr)
    raise SystemExit(2)


def chosen(name: str) -> tenancy.Tenant | None:
    """The tenant `--tenant` names (None: no tenants file, and none named); status 2 when a tenants file is in force
    and it names none or one the file does not have, or when it names one without a tenants file."""
    tenants = tenancy.exit_if_invalid()
    if not tenants:
        if name:
            refuse(f"--tenant は複数の自治体を扱う環境（{tenancy.VARIABLE}）でだけ使えます。",
                   f"--tenant needs a tenants file ({tenancy.VARIABLE}, jusou up --tenants)")
        return None
    if name in tenants:
        return tenants[name]
    known = ", ".join(f"{t.id} ({t.name})" if t.name else t.id for t in tenants.values())
    if not name:
        refuse(f"この環境は複数の自治体を扱います。--tenant ID で自治体を指定してください。自治体: {known}",
               f"this deployment serves many municipalities ({tenancy.VARIABLE}): name one with --tenant ID; "
               f"tenants: {known}")
    refuse(f"--tenant {name!r} という自治体はありません。自治体: {known}",
           f"no tenant {name!r} in {tenancy.tenants_file()}; tenants: {known}")


@contextlib.contextmanager
def settings_of(tenant: tenancy.Tenant) -> Iterator[None]:
    """Within the block the environment and the organisation are the tenant's; afterwards as before (also the
    variables a command sets itself among them, such as JUSOU_DATA_DIR)."""
    changes = tenancy.command_environment(tenant)
    saved = {name: os.environ.get(name) for name in changes}
    try:
        _apply(changes)
        with tenancy.acting_for(tenant.id):
            yield
    finally:
        _apply(saved)


def _apply(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def check_token(tenant: tenancy.Tenant) -> None:
    """A `JUSOU_TOKEN` of another tenant, or of none, is refused here (status 2) rather than by each service."""
    import jwt

    given = current().token.strip()
    if not given:
        return
    try:
        claims: dict[str, Any] = jwt.decode(given, options={"verify_signature": False})
    except jwt.PyJWTError:
        return  # not a JWT: the services judge it
    named = tenancy.claims_tenant(claims)
    if named != tenant.id:
        refuse(f"JUSOU_TOKEN は{f'自治体 {named}' if named else '自治体を指定しない'}トークンです。自治体 {tenant.id} の"
               f"トークンを使ってください（jusou token … --tenant {tenant.id}）。",
               f"JUSOU_TOKEN is a token of {f'tenant {named!r}' if named else 'no tenant'} (claim {tenancy.CLAIM!r}), "
               f"not of {tenant.id!r}: give one of {tenant.id}'s staff")


def run_as_tenant(handler: Handler, args: argparse.Namespace) -> int:
    """Run a command's handler as the tenant `args.tenant` names (see the module's docstring)."""
    tenant = chosen(getattr(args, "tenant", "") or "")
    if tenant is None:
        return handler(args)
    if getattr(args, "data_dir", None):
        refuse(f"--data-dir と --tenant は併用できません。自治体 {tenant.id} のフォルダはテナントファイルの data_dir"
               f"（{tenant.data_dir}）です。",
               f"--data-dir and --tenant together: tenant {tenant.id}'s folder is its data_dir in the tenants file "
               f"({tenant.data_dir})")
    check_token(tenant)
    with settings_of(tenant):
        return handler(args)


def option(command: argparse.ArgumentParser, handler: Handler) -> None:
    """Give a command `--tenant ID` and run its handler as that tenant (`run_as_tenant`)."""
    command.add_argument("--tenant", default="", metavar="ID", help=HELP)
    command.set_defaults(handler=partial(run_as_tenant, handler))


def operator_token() -> str:
    """The token a command sends the services: `JUSOU_TOKEN`, else a few minutes' auditor token of the development
    issuer; with a tenant acting, its own issuer's (`<data_dir>/auth`), with its `tenant` claim."""
    from shared.web.auth import operator_token as deployments

    tenant = tenancy.current_tenant()
    if current().token.strip():
        return deployments()
    if tenant is None:
        settings = AuthSettings.from_env()
        if settings.development:
            require_data_folder(settings.folder, current().data_path)
        return deployments()
    if tenant.oidc is not None:
        raise SystemExit(f"自治体 {tenant.id} は認証基盤でログインします。その認証基盤のトークンを JUSOU_TOKEN に設定してください / "
                         f"tenant {tenant.id} signs in at its identity provider: give a token of it in JUSOU_TOKEN")
    from shared.organisation.reference import lead_division
    from shared.web.auth import CLI_TTL_SECONDS, DevIssuer

    require_data_folder(tenant.data_path / "auth", tenant.data_path)

    return DevIssuer(tenant.data_path / "auth").mint(f"cli:{getpass.getuser()}", lead_division(), ["auditor"],
                                                     AuthSettings.from_env().audience, CLI_TTL_SECONDS, tenant=tenant.id)


def require_data_folder(auth_folder: Path, data_folder: Path) -> None:
    """Before a command mints its token with the development issuer's key: status 2 where there is no key and no data
    folder, a mistyped JUSOU_DATA_DIR or --data-dir (the mint made a new key there, and the services refused its token
    with 401 「署名が正しくありません」). A data folder without a key yet (a new deployment) gets one, as before."""
    if (auth_folder / "signing-key.pem").is_file() or data_folder.is_dir():
        return
    refuse(f"データフォルダ {data_folder} がありません（開発用発行者の鍵 {auth_folder}/signing-key.pem もありません）。"
           "JUSOU_DATA_DIR（または --data-dir）が `jusou up` のデータフォルダを指しているか確かめるか、JUSOU_TOKEN に"
           "トークンを設定してください。",
           f"no data folder {data_folder} (and no signing key of the development issuer in {auth_folder}): check that "
           "JUSOU_DATA_DIR (or --data-dir) names the data folder of `jusou up`, or give a token in JUSOU_TOKEN")
