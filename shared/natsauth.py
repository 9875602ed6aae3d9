"""NATS authorization: one NATS user per service, each publishing only its own subjects (issue 6).

When the suite starts its own nats-server (`jusou up`, `Suite` without `nats_url`), the server
runs with a generated config: a user per service that may publish only `jusou.<service>.>`, its
dead letters `jusou-dlq.<service>.>`, the JetStream API and acks (its pull consumers, also the
dead-letter replays `jusou-replay.<service>.>`), and its `_INBOX.>` replies; and an operator user
for the runner and the `jusou` commands. Passwords are generated once per data folder and kept
there (`nats-auth.json`, mode 600). A NATS the suite did not start (`NATS_URL`) is used with the
credentials given in `NATS_USER` / `NATS_PASSWORD`, or none.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from shared.contracts import DEAD_LETTER_PREFIX, REPLAY_PREFIX, SUBJECT_PREFIX
from shared.settings import PORTS, write_private

OPERATOR = "jusou-operator"
CREDENTIALS_FILE = "nats-auth.json"
SERVER_CONFIG_FILE = "nats-auth.conf"

Credentials = tuple[str, str]


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


def server_config(data_dir: Path, services: tuple[str, ...] = tuple(PORTS)) -> Path:
    """Write the nats-server config (users and their permissions) into the data folder; return its path."""
    passwords = credentials(data_dir, services)
    users = [{"user": OPERATOR, "password": passwords[OPERATOR]}]
    users += [{"user": s, "password": passwords[s], "permissions": permissions(s)} for s in services]
    # nats-server reads JSON; quoted strings keep `$JS…` from being taken as a variable.
    text = json.dumps({"authorization": {"users": users}}, indent=2, ensure_ascii=False)
    path = Path(data_dir) / SERVER_CONFIG_FILE
    write_private(path, (text + "\n").encode())
    return path


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
