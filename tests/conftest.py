"""Fixtures: a real nats-server (session-wide) and PostgreSQL when there is one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import support.auth  # noqa: F401  (first: every suite of this run shares its JUSOU_AUTH_DIR)
from support.servers import (
    Nats,
    Postgres,
    PrivatePostgres,
    nats_server,
    postgres_server,
    private_postgres,
)


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[Nats]:
    """A fresh nats-server with JetStream per test (it starts in ~15 ms), so streams never leak."""
    with nats_server(tmp_path / "nats") as server:
        yield server


def there_or_skip(server: Postgres | str) -> Postgres:
    """A PostgreSQL, or a skip saying why there is none — a failure where one is required (CI)."""
    if isinstance(server, str):
        if os.environ.get("JUSOU_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here (JUSOU_REQUIRE_POSTGRES=1): {server}")
        pytest.skip(server)
    return server


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    with postgres_server() as server:
        yield there_or_skip(server)


@pytest.fixture
def own_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of the test's own, which it may crash and restart (the shared one never is)."""
    with private_postgres() as server:
        yield there_or_skip(server)  # type: ignore[misc]


@pytest.fixture
def artifacts() -> Path:
    path = Path(__file__).resolve().parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
