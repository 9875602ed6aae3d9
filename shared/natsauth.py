"""NATS authorization: one NATS user per service, each publishing only its own subjects (issue 6).

When the suite starts its own nats-server (`jusou up`, `Suite` without `nats_url`), the server
runs with a generated config: a user per service that may publish only `jusou.<service>.>`, its
dead letters `jusou-dlq.<service>.>`, the JetStream API and acks (its pull consumers, also the
dead-letter replays `jusou-replay.<service>.>`), and its `_INBOX.>` replies; and an operator user
for the runner and the `jusou` commands. Passwords are generated once per data folder and kept
there (`nats-auth.json`, mode 600). A NATS the suite did not start (`NATS_URL`) is used with the
credentials given in `NATS_USER` / `NATS_PASSWORD`, or none.

Docker Compose and Kubernetes run nats-server with deploy/nats/auth.conf (`deploy_config`, written by
`jusou nats config`): the same users and permissions, each password a reference to an environment
variable (`$JUSOU_NATS_INTAKE_PASSWORD`, …) that nats-server resolves when it starts.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.contracts import DEAD_LETTER_PREFIX, REPLAY_PREFIX, SUBJECT_PREFIX
from shared.settings import PORTS, write_private

OPERATOR = "jusou-operator"
CREDENTIALS_FILE = "nats-auth.json"
SERVER_CONFIG_FILE = "nats-auth.conf"

Credentials = tuple[str, str]

ROOT = Path(__file__).resolve().parent.parent
DEPLOY_CONFIG = ROOT / "deploy" / "nats" / "auth.conf"  # docker-compose.yml, deploy/cluster/compose.yaml
K8S_CONFIG_MAP = ROOT / "deploy" / "k8s" / "nats-auth.yaml"  # the same text for the nats pods (deploy/k8s/)
CONFIG_MAP_NAME, CONFIG_MAP_KEY = "nats-auth", "auth.conf"


def permissions(service: str) -> dict[str, Any]:
    """What `service`'s NATS user may publish and subscribe to."""
    return {
        "publish": {"allow": [
            f"{SUBJECT_PREFIX}.{service}.>",  # its own integration events (the relay)
            f"{DEAD_LETTER_PREFIX}.{service}.>",  # what its consumers could not process
            "$JS.API.>",  # streams and its durable pull consumers
            "$JS.ACK.>",  # ack / nak / term of the messages its consumers pulled
            "_INBOX.>",
        ]},
        "subscribe": {"allow": ["_INBOX.>", f"{REPLAY_PREFIX}.{service}.>"]},
    }


def credentials(data_dir: Path, services: tuple[str, ...] = tuple(PORTS)) -> dict[str, str]:
    """User → password for the operator and each service, made once and kept in the data folder."""
    path = Path(data_dir) / CREDENTIALS_FILE
    known: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    wanted = (OPERATOR, *services)
    if any(user not in known for user in wanted):
        known |= {user: secrets.token_urlsafe(24) for user in wanted if user not in known}
        write_private(path, (json.dumps(known, indent=2) + "\n").encode())
    return known


def users(passwords: Mapping[str, str], services: tuple[str, ...] = tuple(PORTS)) -> list[dict[str, Any]]:
    """The `authorization.users` of nats-server: the operator (may do anything) and each service's user."""
    found: list[dict[str, Any]] = [{"user": OPERATOR, "password": passwords[OPERATOR]}]
    found += [{"user": s, "password": passwords[s], "permissions": permissions(s)} for s in services]
    return found


def server_config(data_dir: Path, services: tuple[str, ...] = tuple(PORTS)) -> Path:
    """Write the nats-server config (users and their permissions) into the data folder; return its path."""
    passwords = credentials(data_dir, services)
    # nats-server reads JSON; quoted strings keep `$JS…` from being taken as a variable.
    text = json.dumps({"authorization": {"users": users(passwords, services)}}, indent=2, ensure_ascii=False)
    path = Path(data_dir) / SERVER_CONFIG_FILE
    write_private(path, (text + "\n").encode())
    return path


def password_variable(user: str) -> str:
    """The environment variable with `user`'s password where compose and Kubernetes run nats-server."""
    return f"JUSOU_NATS_{'OPERATOR' if user == OPERATOR else user.upper()}_PASSWORD"


DEPLOY_HEADER = """\
# Jusou: the NATS users of docker-compose.yml, deploy/cluster/compose.yaml and deploy/k8s/ (issue 6).
# Rendered by shared/natsauth.py (`jusou nats config`) from the users and permissions `jusou up`
# gives its own nats-server; do not edit. Each service may publish only its own subjects;
# jusou-operator (the `jusou` commands) may do anything. nats-server takes each password from the
# environment variable named after `$` (compose: `.env`; Kubernetes: the Secret jusou-secrets).
# It reads the variable's value as a config value: make the passwords hex (secrets.token_hex),
# since a value such as `-abc` or `123` is refused or read as a number.
"""


def deploy_config(services: tuple[str, ...] = tuple(PORTS)) -> str:
    """deploy/nats/auth.conf: `server_config`'s users, each password a `$JUSOU_NATS_<USER>_PASSWORD` reference."""
    references = {user: f"${password_variable(user)}" for user in (OPERATOR, *services)}
    text = json.dumps({"authorization": {"users": users(references, services)}}, indent=2, ensure_ascii=False)
    # Unquoted, `$NAME` is a variable (nats-server looks it up in the environment); quoted, a literal.
    for reference in references.values():
        text = text.replace(json.dumps(reference), reference)
    return DEPLOY_HEADER + text + "\n"


def config_map(services: tuple[str, ...] = tuple(PORTS)) -> str:
    """deploy/k8s/nats-auth.yaml: `deploy_config` as the ConfigMap the nats pods mount at /etc/nats."""
    body = "".join(f"    {line}\n" if line else "\n" for line in deploy_config(services).splitlines())
    return f"""\
# The NATS users (issue 6): deploy/nats/auth.conf as a ConfigMap, mounted by the nats pods at
# /etc/nats (nats.yaml). Rendered by shared/natsauth.py (`jusou nats config`); do not edit.
apiVersion: v1
kind: ConfigMap
metadata:
  name: {CONFIG_MAP_NAME}
  namespace: jusou
  labels:
    app.kubernetes.io/name: nats
    app.kubernetes.io/part-of: jusou
data:
  {CONFIG_MAP_KEY}: |
{body}"""


def deploy_files() -> dict[Path, str]:
    """The checked-in files `jusou nats config` writes: path → text."""
    return {DEPLOY_CONFIG: deploy_config(), K8S_CONFIG_MAP: config_map()}


def operator_credentials(data_dir: Path) -> Credentials | None:
    """The operator's user and password if the suite started its own NATS from this data folder."""
    path = Path(data_dir) / CREDENTIALS_FILE
    if not path.exists():
        return None
    known = json.loads(path.read_text(encoding="utf-8"))
    return (OPERATOR, known[OPERATOR]) if OPERATOR in known else None


def client_credentials(user: str | None = None, password: str | None = None) -> Credentials | None:
    """Who a client connects as: given credentials, else `NATS_USER`/`NATS_PASSWORD`, else the operator
    of the data folder (`JUSOU_DATA_DIR`) when `jusou up` made one, else nobody (a NATS without auth)."""
    if user:
        return (user, password or "")
    if os.environ.get("NATS_USER"):
        return (os.environ["NATS_USER"], os.environ.get("NATS_PASSWORD", ""))
    return operator_credentials(Path(os.environ.get("JUSOU_DATA_DIR", "./data")).resolve())


def broker_credentials(user: str | None = None, password: str | None = None) -> dict[str, Any]:
    """`NatsBroker(...)` keyword arguments for `client_credentials` (none for a NATS without auth)."""
    found = client_credentials(user, password)
    if found is None:
        return {}
    from faststream.security import SASLPlaintext

    return {"security": SASLPlaintext(username=found[0], password=found[1])}


# --- `jusou nats config` ------------------------------------------------------------------------


def register(commands: Any) -> None:
    """Add `jusou nats config [--check]` to the `jusou` command (shared/cli.py parser())."""
    nats = commands.add_parser("nats", help="the NATS users of the deployment files")
    actions = nats.add_subparsers(dest="action", required=True)
    config = actions.add_parser("config", help="write deploy/nats/auth.conf and deploy/k8s/nats-auth.yaml; "
                                               "--check: exit 1 if they differ")
    config.add_argument("--check", action="store_true")
    config.set_defaults(handler=nats_config)


def nats_config(args: argparse.Namespace) -> int:
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
