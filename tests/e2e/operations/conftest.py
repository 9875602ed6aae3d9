"""One running suite for the operations tests (/metrics, `jusou status`, `jusou deadletters`).

Started once for the package, on its own nats-server, with two things changed for the tests:
`JUSOU_MAX_DELIVER=2` (a failing handler is parked after one retry, not four), and a handler
that fails while `fail_file` names it (tests/support/failing/sitecustomize.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.servers import free_port, nats_server

from jusou.runner import Suite

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
FAILING_HOOK = Path(__file__).resolve().parents[2] / "support" / "failing"


@pytest.fixture(scope="package")
def fail_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Lines `<service> <EventType>` in this file make that service's handler fail; empty it to fix."""
    path = tmp_path_factory.mktemp("failing") / "failing.txt"
    path.write_text("")
    return path


@pytest.fixture(scope="package")
def running_suite(tmp_path_factory: pytest.TempPathFactory, fail_file: Path) -> Iterator[Suite]:
    root = tmp_path_factory.mktemp("operations")
    ports = {name: free_port() for name in SERVICES}
    path = os.pathsep.join(p for p in (str(FAILING_HOOK), os.environ.get("PYTHONPATH", "")) if p)
    env = {"JUSOU_MAX_DELIVER": "2", "PYTHONPATH": path, "JUSOU_TEST_FAIL_FILE": str(fail_file)}
    with nats_server(root / "nats") as nats, Suite(root / "data", nats_url=nats.url, ports=ports,
                                                   extra_env=env) as running:
        yield running


@pytest.fixture(autouse=True)
def all_services_running(running_suite: Suite) -> None:
    """A test that stopped a service (test_status) leaves it stopped; the next test starts it again."""
    for name in running_suite.services:
        if name not in running_suite.processes:
            running_suite.start_service(name)
