"""The scale-out shape for the tests: a 3-node NATS cluster and two replicas of every service on PostgreSQL.

One per module: free ports on loopback, the `test` database with a schema prefix of its own,
dropped afterwards with everything the run stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from support.servers import Postgres, free_port

from jusou.cluster import NodePorts, ScaleOut

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")


def drop_schemas(pg: Postgres, prefix: str) -> None:
    with psycopg.connect(host=pg.host, port=pg.port, user=pg.user, password=pg.password, dbname=pg.dbname,
                         autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (prefix + "%",)).fetchall()
        for (schema,) in rows:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="module")
def scale(tmp_path_factory: pytest.TempPathFactory, postgres: Postgres) -> Iterator[ScaleOut]:
    root: Path = tmp_path_factory.mktemp("scaleout")
    prefix = f"so{uuid.uuid4().hex[:8]}_"
    nodes = tuple(NodePorts(free_port(), free_port(), free_port()) for _ in range(3))
    running = ScaleOut(root / "data", nodes=nodes, replicas=2,
                       ports={s: [free_port(), free_port()] for s in SERVICES},
                       extra_env={**postgres.env(prefix), "JUSOU_PG_POOL_SIZE": "2", "JUSOU_LOG_FORMAT": "json"})
    try:
        with running:
            yield running
    finally:
        drop_schemas(postgres, prefix)
