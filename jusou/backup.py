"""`jusou backup DEST` and `jusou restore SRC`: the suite's record, taken while it runs, put back on an empty folder.

What a backup holds (docs/operations.md §2–§4):

- the stores: on SQLite each `<data>/*.sqlite` through SQLite's online backup API (a consistent copy of
  each file while the services write to it); on PostgreSQL one `pg_dump` (custom format) of every
  schema named `JUSOU_PG_SCHEMA_PREFIX*`;
- the keys: `cipher.key` (the suite's master key, unless it comes from `JUSOU_CIPHER_KEY`: then the
  manifest says so and the key is the operator's to keep), intake's person keys (`intake.keys.sqlite`,
  or the `jusou_person_keys` table inside the dump);
- the auth folder (the development issuer's signing key, `staff.json`, `revoked.json`) and the NATS
  users' passwords (`nats-auth.json`);
- the city's retention periods (`retention.toml`, when the data folder has one): restored without it, a suite
  would judge by the 5-year defaults and could erase people sooner than the city decided;
- `manifest.json`: what was taken, when, by which release, and the SHA-256 of every file.

Not held: NATS's own data (the `JUSOU` stream is rebuilt from the stores: every relay finds its
subjects empty and publishes its store again in store order, shared/messaging/relay.py
`follow_stream`), the logs.

On SQLite the read models (`<service>.views.sqlite`) are copied first, then the event stores, then
intake's keys: a restored read model is never ahead of its store (it catches up at start), and
every person the restored store names has a key.

On a deployment of many municipalities (issue 18) both name the tenant (`--tenant ID`, jusou/tenant.py): a backup
holds that tenant's stores (its folder's files, or its own schemas `<its prefix><service>`), its cipher key, its
development issuer's folder, its NATS passwords and retention periods, nothing of another tenant, and the manifest
names the tenant. A restore puts it back onto the same tenant's empty folder (and empty schemas); onto another
tenant's it is refused unless `--from-tenant ID` names the backup's tenant (a tenant renamed, municipalities merged:
the other tenant then holds the backup's records, key and staff). A backup of a deployment of one municipality
restores onto a tenant (a city joining a shared deployment), and a tenant's onto a deployment of one (leaving it), on
SQLite; PostgreSQL restores the schemas the dump names, so there the prefixes must agree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from jusou.tenant import option as tenant_option
from shared import settings, tenancy
from shared.messaging.natsauth import CREDENTIALS_FILE

MANIFEST = "manifest.json"
FORMAT = 1
PG_DUMP = "postgres.dump"
CIPHER_FILE = "cipher.key"
RETENTION_FILE = "retention.toml"  # the periods per record kind (jusou/retention.py, shared/web/retention_api.py)
AUTH = "auth"


class Refused(Exception):
    """A backup or restore that cannot be done as asked: the command prints why and what to do, exits 2."""

    def __init__(self, ja: str, en: str) -> None:
        super().__init__(f"{ja}\n{en}")


def private_folder(folder: Path) -> None:
    """Make the backup's or the restore's folder, its owner's only; one it cannot make (under a file, a folder it may
    not write) is Refused, said in words, not a traceback."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)
    except OSError as error:
        raise Refused(f"{folder} を作れません（{error.strerror or error}）。別のフォルダを指定してください。",
                      f"cannot make {folder}: {error.strerror or error}; name another folder") from None


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _empty_folder(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def _not_a_file(path: Path, ja: str, en: str) -> None:
    """A file where a folder is wanted is said to be one (it was called "not empty")."""
    if path.exists() and not path.is_dir():
        raise Refused(f"{path} はファイルです（フォルダではありません）。{ja}。", f"{path} is a file, not a folder: {en}")


def _private_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    target.chmod(0o600)


# --- backup --------------------------------------------------------------------------------------


def sqlite_in_order(data_dir: Path) -> list[Path]:
    """Read models first, then the event stores, then the key tables (see the module's docstring)."""
    files = sorted(p for p in data_dir.glob("*.sqlite") if p.is_file())
    views = [p for p in files if p.name.endswith(".views.sqlite")]
    keys = [p for p in files if p.name.endswith(".keys.sqlite")]
    stores = [p for p in files if p not in views and p not in keys]
    return [*views, *stores, *keys]


def sqlite_backup(source: Path, target: Path) -> None:
    """SQLite's online backup API: one consistent snapshot of the file, while others write to it."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    finally:
        dst.close()
        src.close()


def store_positions(folder: Path) -> dict[str, int]:
    """service → the newest notification id of its SQLite event store in `folder` (0 when empty)."""
    positions = {}
    for service in settings.PORTS:
        path = folder / f"{service}.sqlite"
        if path.exists():
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                positions[service] = int(db.execute("SELECT coalesce(max(rowid), 0) FROM stored_events").fetchone()[0])
            finally:
                db.close()
    return positions


def pg_environment(env: settings.Environment) -> dict[str, str]:
    return {**os.environ, "PGHOST": env.pg_host, "PGPORT": str(env.pg_port), "PGUSER": env.pg_user,
            "PGPASSWORD": env.pg_password, "PGDATABASE": env.pg_dbname}


def service_schemas(env: settings.Environment) -> list[str]:
    """The schema names the suite's services use: exactly `<JUSOU_PG_SCHEMA_PREFIX><service>`, never every name that
    starts with the prefix (`jusou_` also starts the tenants' `jusou_kou_intake`, and `jusou_kou_` tenant `kou-2`'s
    `jusou_kou_2_intake`: a database shared with them holds others' records)."""
    return sorted(f"{env.pg_schema_prefix}{service}" for service in settings.PORTS)


def pg_schemas(env: settings.Environment) -> list[str]:
    """The suite's schemas present in the database (`service_schemas`, those that exist)."""
    import psycopg

    try:
        with psycopg.connect(host=env.pg_host, port=env.pg_port, user=env.pg_user, password=env.pg_password,
                             dbname=env.pg_dbname, connect_timeout=10) as db:
            rows = db.execute("SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s) ORDER BY 1",
                              (service_schemas(env),)).fetchall()
    except psycopg.Error as exc:
        raise Refused(f"PostgreSQL に接続できません: {exc}",
                      f"cannot reach PostgreSQL ({env.pg_host}:{env.pg_port}/{env.pg_dbname})") from None
    return [str(row[0]) for row in rows]


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise Refused(f"{name} が見つかりません。PostgreSQL のクライアント（Debian: postgresql-client）を入れてください。",
                      f"{name} not found: install PostgreSQL's client tools (Debian: postgresql-client)")
    return found


def backup(dest: Path, env: settings.Environment) -> dict[str, Any]:
    data_dir = env.data_path
    _not_a_file(dest, "新しいフォルダを指定してください", "name a new folder")
    if not _empty_folder(dest):
        raise Refused(f"{dest} は空ではありません。新しいフォルダを指定してください。",
                      f"{dest} is not empty: name a new folder")
    for folder, ja, en in ((data_dir, "データフォルダ", "the data folder"), (env.auth_folder, "認証フォルダ", "the auth folder")):
        if dest.resolve().is_relative_to(folder.resolve()):
            raise Refused(f"{dest} はバックアップする{ja} {folder} の中です。その外（別のディスクが望ましい）のフォルダを"
                          "指定してください（JUSOU_DATA_DIR の中のバックアップはフォルダと共に失われ、戻すにはそのフォルダを"
                          "空にする必要があります）。",
                          f"{dest} is inside {en} {folder} being backed up: name a folder outside it (on another disk, "
                          "ideally); a backup inside JUSOU_DATA_DIR is lost with it, and a restore wants that folder empty")
    if env.store == "sqlite" and not any(data_dir.glob("*.sqlite")):
        raise Refused(f"{data_dir} にストアがありません（JUSOU_DATA_DIR または --data-dir を確かめてください）。",
                      f"no store in {data_dir}: check JUSOU_DATA_DIR or --data-dir")
    private_folder(dest)
    manifest: dict[str, Any] = {
        "format": FORMAT, "jusou": package_version("jusou"), "created_at": datetime.now(UTC).isoformat(),
        "store": env.store, "data_dir": str(data_dir),
    }
    tenant = tenancy.current_tenant()
    if tenant is not None:  # whose records these are: a restore onto another tenant is refused (see the docstring)
        manifest["tenant"] = tenant.id
        manifest["tenant_name"] = tenant.name
        if tenant.nats_credentials:  # the operator's file, outside the tenant's folder: theirs to keep
            manifest["nats_credentials"] = f"{tenant.nats_credentials} (not in this backup: keep it with the backup's owner)"
    if env.store == "sqlite":
        for source in sqlite_in_order(data_dir):
            sqlite_backup(source, dest / source.name)
        manifest["positions"] = store_positions(dest)
    else:
        schemas = pg_schemas(env)
        if not schemas:
            raise Refused(f"{env.pg_dbname} に {env.pg_schema_prefix}* のスキーマがありません。",
                          f"no schema named {env.pg_schema_prefix}* in {env.pg_dbname}")
        target = dest / PG_DUMP
        done = subprocess.run([_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                               *[f"--schema={schema}" for schema in schemas], f"--file={target}"],
                              env=pg_environment(env), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise Refused(f"pg_dump が失敗しました: {done.stderr.strip()}", "pg_dump failed (see above)")
        target.chmod(0o600)
        manifest["schemas"] = schemas
    if env.cipher_key:
        manifest["cipher_key"] = "JUSOU_CIPHER_KEY (not in this backup: keep it with the backup's owner)"
        manifest["cipher_key_check"] = key_check(env.cipher_key)
    elif (data_dir / CIPHER_FILE).exists():
        _private_copy(data_dir / CIPHER_FILE, dest / CIPHER_FILE)
        manifest["cipher_key"] = CIPHER_FILE
        manifest["cipher_key_check"] = key_check((data_dir / CIPHER_FILE).read_text().strip())
    for name in (CREDENTIALS_FILE, RETENTION_FILE):
        if (data_dir / name).exists():
            _private_copy(data_dir / name, dest / name)
    auth = env.auth_folder
    if auth.is_dir():
        for path in sorted(auth.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                _private_copy(path, dest / AUTH / path.relative_to(auth))
    manifest["files"] = {str(p.relative_to(dest)): sha256(p) for p in sorted(dest.rglob("*")) if p.is_file()}
    (dest / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (dest / MANIFEST).chmod(0o600)
    return manifest


# --- restore -------------------------------------------------------------------------------------


def read_manifest(src: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((src / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise Refused(f"{src} は Jusou のバックアップではありません（{MANIFEST} が読めません）。",
                      f"{src} is not a Jusou backup: {type(exc).__name__}: {exc}") from None
    shape = manifest if isinstance(manifest, dict) else {}
    if shape.get("format") != FORMAT or shape.get("store") not in ("sqlite", "postgres") or not isinstance(
            shape.get("files"), dict):
        raise Refused(f"このバックアップの形式（{shape.get('format')}）はこの版では戻せません。",
                      f"backup format {shape.get('format')!r} is not {FORMAT} (or its manifest is incomplete)")
    outside = [name for name in manifest.get("files", {})
               if Path(name).is_absolute() or ".." in Path(name).parts or not Path(name).parts]
    if outside:
        raise Refused(f"バックアップの目録に、戻し先の外を指すファイル名があります: {', '.join(outside)}",
                      f"the manifest names files outside the folder: {', '.join(outside)}")
    damaged = [name for name, digest in manifest.get("files", {}).items()
               if not (src / name).is_file() or sha256(src / name) != digest]
    if damaged:
        raise Refused(f"バックアップが壊れているか書き換えられています: {', '.join(damaged)}。別のバックアップを使ってください。",
                      f"the backup is damaged or altered: {', '.join(damaged)} (SHA-256 differs from the manifest)")
    return manifest


def check_tenant(manifest: dict[str, Any], env: settings.Environment, from_tenant: str = "") -> None:
    """A tenant's backup goes back onto the same tenant; onto another only when `from_tenant` names the backup's
    (stated, not assumed); on PostgreSQL only into the schemas the dump names (pg_restore writes those)."""
    target = tenancy.current_tenant()
    source = manifest.get("tenant")
    if target is not None and source and source != target.id and from_tenant != source:
        raise Refused(f"このバックアップは自治体 {source} のものです。自治体 {target.id} には戻しません（暗号鍵・職員・"
                      f"記録が {source} のものです）。意図して移すときは --from-tenant {source} を付けてください。",
                      f"this backup is tenant {source!r}'s, not {target.id!r}'s: its records, cipher key and staff are "
                      f"{source}'s. To move them onto {target.id} on purpose, add --from-tenant {source}")
    if from_tenant and from_tenant != source:
        raise Refused(f"--from-tenant {from_tenant} ですが、このバックアップは{f'自治体 {source}' if source else '単一自治体の環境'}"
                      "のものです。", f"--from-tenant {from_tenant!r}, but the backup is "
                      f"{f'tenant {source!r}' if source else 'of a deployment of one municipality'}'s")
    foreign = [name for name in manifest.get("schemas", []) if name not in service_schemas(env)]
    if env.store == "postgres" and foreign:
        raise Refused(f"ダンプのスキーマ {', '.join(foreign)} は戻し先の {env.pg_schema_prefix}<サービス名> ではありません"
                      "（pg_restore はダンプにある名前で戻します）。",
                      f"the dump's schemas {', '.join(foreign)} are not {env.pg_schema_prefix}<service>: pg_restore "
                      "would write them under their own names")


def key_check(key: str) -> str:
    """A fingerprint of the cipher key (SHA-256 of a labelled copy: it tells which key, never the key)."""
    return hashlib.sha256(f"jusou cipher key check\n{key.strip()}".encode()).hexdigest()


def check_cipher_key(src: Path, manifest: dict[str, Any], env: settings.Environment) -> None:
    """The key the restored suite will use must be the one the backup's stores were written with: another (a
    JUSOU_CIPHER_KEY set to another key, or unset where the backup's key came from it, so that `jusou up` makes a new
    one) starts a suite whose relays fail for ever on every stored event ("Invalid cipher tag")."""
    if tenancy.current_tenant() is not None:  # a tenant's key is always its folder's cipher.key
        return
    kept = src / CIPHER_FILE
    recorded = str(manifest.get("cipher_key", ""))
    if CIPHER_FILE in manifest.get("files", {}) and kept.is_file():
        backup_key = kept.read_text().strip()
        if env.cipher_key and env.cipher_key.strip() != backup_key:
            raise Refused("JUSOU_CIPHER_KEY がバックアップの暗号鍵（cipher.key）と違います。この鍵では戻した記録を読めません。"
                          "JUSOU_CIPHER_KEY を外して（バックアップの cipher.key が戻ります）からもう一度実行してください。",
                          "JUSOU_CIPHER_KEY is not the backup's cipher key (its cipher.key): the restored records "
                          "could not be read with it. Unset JUSOU_CIPHER_KEY (the backup's cipher.key is restored) "
                          "and run the restore again")
    elif recorded.startswith("JUSOU_CIPHER_KEY"):
        if not env.cipher_key:
            raise Refused("このバックアップの暗号鍵は JUSOU_CIPHER_KEY で与えられていたため、バックアップには含まれていません。"
                          "バックアップを取ったときと同じ鍵を JUSOU_CIPHER_KEY に設定して、もう一度実行してください"
                          "（設定しないと jusou up が新しい鍵を作り、記録を読めません）。",
                          "this backup's cipher key came from JUSOU_CIPHER_KEY and is not in it: set JUSOU_CIPHER_KEY "
                          "to the key the backup was made with and run the restore again (unset, `jusou up` would "
                          "make a new key that cannot read the records)")
        check = manifest.get("cipher_key_check")
        if check and key_check(env.cipher_key) != check:
            raise Refused("JUSOU_CIPHER_KEY がバックアップを取ったときの暗号鍵と違います。この鍵では戻した記録を読めません。"
                          "バックアップを取ったときの鍵を設定してください。",
                          "JUSOU_CIPHER_KEY is not the key the backup was made with: the restored records could not be "
                          "read with it. Set the key the backup was made with")


def restore(src: Path, env: settings.Environment, from_tenant: str = "") -> dict[str, Any]:
    manifest = read_manifest(src)
    check_tenant(manifest, env, from_tenant)
    check_cipher_key(src, manifest, env)
    data_dir = env.data_path
    if manifest["store"] != env.store:
        raise Refused(f"バックアップは {manifest['store']} のもの、戻し先は JUSOU_STORE={env.store} です。",
                      f"the backup is of a {manifest['store']} store; JUSOU_STORE is {env.store}")
    _not_a_file(data_dir, "空のデータフォルダ（JUSOU_DATA_DIR または --data-dir）を指定してください",
                "name an empty data folder (JUSOU_DATA_DIR or --data-dir)")
    if not _empty_folder(data_dir):
        raise Refused(f"{data_dir} は空ではありません。空のデータフォルダに戻してください（上書きはしません）。",
                      f"{data_dir} is not empty: restore onto an empty data folder (nothing is overwritten)")
    auth = env.auth_folder
    if not auth.is_relative_to(data_dir) and not _empty_folder(auth):
        raise Refused(f"認証フォルダ {auth} が空ではありません。", f"the auth folder {auth} is not empty")
    if env.store == "postgres":
        present = pg_schemas(env)
        if present:
            raise Refused(f"{env.pg_dbname} にはすでに {', '.join(present)} があります。空のデータベースに戻してください。",
                          f"{env.pg_dbname} already holds {', '.join(present)}: restore into an empty database")
    private_folder(data_dir)
    for name in manifest["files"]:
        source = src / name
        if name.startswith(f"{AUTH}/"):
            _private_copy(source, auth / Path(name).relative_to(AUTH))
        elif name != PG_DUMP:
            _private_copy(source, data_dir / name)
    if env.store == "postgres":
        done = subprocess.run([_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
                               f"--dbname={env.pg_dbname}", str(src / PG_DUMP)],
                              env=pg_environment(env), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise Refused(f"pg_restore が失敗しました: {done.stderr.strip()}", "pg_restore failed (see above)")
    return manifest


# --- the commands --------------------------------------------------------------------------------


def _environment(args: argparse.Namespace) -> settings.Environment:
    if args.data_dir:
        os.environ["JUSOU_DATA_DIR"] = args.data_dir
    return settings.current()


def backup_command(args: argparse.Namespace) -> int:
    try:
        manifest = backup(Path(args.dest).resolve(), _environment(args))
    except Refused as refused:
        print(refused, file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(manifest, ensure_ascii=False, indent=2))
        return 0
    print(f"バックアップしました / backed up to {Path(args.dest).resolve()}: {len(manifest['files'])} files, "
          f"store {manifest['store']}")
    for service, position in manifest.get("positions", {}).items():
        print(f"  {service}: {position} events")
    if manifest.get("cipher_key", "").startswith("JUSOU_CIPHER_KEY"):
        print("暗号鍵は JUSOU_CIPHER_KEY にあり、バックアップには含みません。別に保管してください。\n"
              "the cipher key is in JUSOU_CIPHER_KEY, not in the backup: keep it apart, safely", file=sys.stderr)
    return 0


def restore_command(args: argparse.Namespace) -> int:
    env = _environment(args)
    try:
        manifest = restore(Path(args.src).resolve(), env, args.from_tenant)
    except Refused as refused:
        print(refused, file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"restored_to": str(env.data_path), **manifest}, ensure_ascii=False, indent=2))
        return 0
    tenant = tenancy.current_tenant()
    here, source = (tenant.id if tenant is not None else None), manifest.get("tenant")
    print(f"戻しました / restored {manifest['created_at'][:19]} ({manifest['store']}) to {env.data_path}"
          + (f" (tenant {here})" if here else ""))
    if source != here:
        one = ("単一自治体の環境", "a deployment of one municipality")
        print(f"注意: {source or one[0]} のバックアップを {here or one[0]} に戻しました / note: a backup of "
              f"{source or one[1]} restored onto {here or one[1]}", file=sys.stderr)
    # the tenant account's operator as the restored folder says now (its nats-auth.json came back with it)
    login = tenancy.nats_login(tenant, tenancy.OPERATOR) if tenant is not None else ("", "")
    left = stream_left(env.nats_address, *login)
    where = f"{env.nats_address}" + (f" (account {tenant.account})" if tenant is not None else "")
    if left:
        print(f"注意: {where} の JUSOU ストリームにはまだ {left} 件あります。バックアップより新しい記録が"
              "含まれるかもしれません。起動する前に削除してください（nats stream rm JUSOU。サービスが作り直し、"
              "リレーがストアから送り直します）。docs/operations.md §4\n"
              f"warning: the JUSOU stream on {where} still holds {left} message(s), perhaps newer than the "
              "backup: delete it before starting the suite (`nats stream rm JUSOU`); the relays rebuild it from the stores",
              file=sys.stderr)
    print("次に / next: `jusou up` (the relays publish every store again, in store order, to an empty JUSOU stream),\n"
          f"then `jusou audit verify{f' --tenant {here}' if here else ''}`. docs/operations.md §3–§4")
    return 0


def stream_left(url: str, user: str = "", password: str = "") -> int | None:
    """Messages the `JUSOU` stream still holds on the NATS the settings name, seen as `user` if given (None: no
    answer, or no stream)."""
    import asyncio

    from jusou.connection import NATS_TIMEOUT_SECONDS, connect_once
    from shared.contract.events import STREAM

    async def count() -> int | None:
        try:
            nc = await connect_once(url, user or None, password or None)
        except Exception:  # noqa: BLE001 — no NATS answering (NatsUnavailable): nothing to warn about
            return None
        try:
            info = await nc.jetstream(timeout=NATS_TIMEOUT_SECONDS).stream_info(STREAM)
            return int(info.state.messages)
        except Exception:  # noqa: BLE001 — no stream (or not allowed to look): nothing to warn about
            return None
        finally:
            await nc.close()

    return asyncio.run(count())


def register(commands: Any) -> None:
    """Add `backup` and `restore` to the `jusou` command's subparsers."""
    taken = commands.add_parser("backup", help="back up the stores, keys and auth folder of the suite, running or not")
    taken.add_argument("dest", help="a new (or empty) folder for the backup")
    taken.add_argument("--data-dir", help="the suite's data folder (default: JUSOU_DATA_DIR or ./data)")
    taken.add_argument("--json", action="store_true", help="print the manifest as JSON")
    tenant_option(taken, backup_command)
    put = commands.add_parser("restore", help="restore a backup onto an empty data folder (and empty database)")
    put.add_argument("src", help="the backup's folder (made by `jusou backup`)")
    put.add_argument("--data-dir", help="the empty data folder to restore to (default: JUSOU_DATA_DIR or ./data)")
    put.add_argument("--json", action="store_true", help="print what was restored as JSON")
    put.add_argument("--from-tenant", default="", metavar="ID",
                     help="with --tenant: the backup's own tenant, when it is another (a tenant renamed, municipalities "
                          "merged); without it such a restore is refused")
    tenant_option(put, restore_command)
