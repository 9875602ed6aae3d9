"""Fixtures: a real nats-server (session-wide) and PostgreSQL when there is one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import support.auth  # noqa: F401  (first: every suite of this run shares its JUSOU_AUTH_DIR)
from support.servers import Nats, Postgres, nats_server, postgres_server


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[Nats]:
    """A fresh nats-server with JetStream per test (it starts in ~15 ms), so streams never leak."""
    with nats_server(tmp_path / "nats") as server:
        yield server


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    with postgres_server() as server:
        if isinstance(server, str):
            if os.environ.get("JUSOU_REQUIRE_POSTGRES") == "1":
                pytest.fail(f"PostgreSQL is required here (JUSOU_REQUIRE_POSTGRES=1): {server}")
            pytest.skip(server)
        yield server


@pytest.fixture
def artifacts() -> Path:
    path = Path(__file__).resolve().parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
