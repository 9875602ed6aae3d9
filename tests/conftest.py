"""Fixtures: a real nats-server, PostgreSQL when there is one, and the running suite the e2e and UI tests share.

`shared_suite` is started once per run (once per pytest-xdist worker) and used by every module whose tests
need just a running suite (`running_suite` in tests/e2e, `ui_suite` in tests/ui): they seed their own
records with fresh ids and assert on those, never on the suite being empty. A module that needs a suite of
its own (empty, other settings, a service it kills) says `pytestmark = pytest.mark.own_suite` or
`pytest.mark.own_suite(extra_env={...}, services=(...))`, and gets one started for the module.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import support.auth  # noqa: F401  (first: every suite of this run shares its JUSOU_AUTH_DIR)
from support.servers import (
    Nats,
    Postgres,
    PrivatePostgres,
    nats_server,
    postgres_server,
    private_postgres,
    suite_on_nats,
)

if TYPE_CHECKING:
    from jusou.runner import Suite


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


@pytest.fixture(scope="session")
def shared_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    """The whole suite (six services on a nats-server of its own, SQLite) shared by the run: started on first use."""
    with suite_on_nats(tmp_path_factory.mktemp("shared")) as running:
        yield running


@pytest.fixture(scope="module")
def module_suite(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    """`shared_suite`, or, for a module marked `own_suite(**options)`, a suite of its own (`suite_on_nats` options)."""
    marker = request.node.get_closest_marker("own_suite")
    if marker is not None:
        with suite_on_nats(tmp_path_factory.mktemp("own"), **marker.kwargs) as running:
            yield running
        return
    shared: Suite = request.getfixturevalue("shared_suite")
    if shared.exited():  # a test that stops or kills a service needs `own_suite`: say so instead of failing later
        pytest.fail(f"the shared suite lost {shared.exited()} (logs in {shared.logs_dir}); "
                    "a module that stops or kills a service must be marked own_suite")
    yield shared
