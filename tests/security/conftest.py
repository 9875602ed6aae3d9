"""A whole suite with its own nats-server (NATS authorization on), for the security tests.

One suite for the package: schemathesis, hostile input, encryption at rest and NATS
authorization all run against it, so it starts once (~6 s).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.auth import staff_headers
from support.journey import Journey
from support.municipality import ELDERLY
from support.servers import free_port

from jusou.runner import Suite
from security.seed import seed

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
COUNTER_STAFF = staff_headers("kouki-012", ELDERLY.division, "counselor")


def distinct_free_ports(count: int) -> list[int]:
    """`count` different free ports (two calls of free_port may return the same one)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


@contextmanager
def suite_as_jusou_up_runs_it(root: Path) -> Iterator[Suite]:
    """The suite as `jusou up` runs it: its own nats-server with a NATS user per service, SQLite stores, under `root`."""
    *service_ports, nats_port = distinct_free_ports(len(SERVICES) + 1)
    with Suite(root / "data", nats_port=nats_port, ports=dict(zip(SERVICES, service_ports, strict=True)),
               extra_env={"JUSOU_STORE": "sqlite"}) as running:
        yield running


@pytest.fixture(scope="package")
def own_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    """The suite as `jusou up` runs it, shared by the package's modules."""
    with suite_as_jusou_up_runs_it(tmp_path_factory.mktemp("security")) as running:
        yield running


@asynccontextmanager
async def journey_on(suite: Suite) -> AsyncIterator[Journey]:
    """A journey's client on `suite` (for a module's `journey` fixture on a suite of its own)."""
    async with httpx.AsyncClient(timeout=15, trust_env=False) as client:
        yield Journey({name: suite.url(name) for name in SERVICES}, client)


@pytest.fixture(scope="package")
def seeded(own_suite: Suite) -> dict[str, Any]:
    """A case recorded in every program (ids by path-parameter name), so that requests reach real aggregates."""
    return seed({name: own_suite.url(name) for name in SERVICES})
