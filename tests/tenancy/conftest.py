"""The package's one suite of many municipalities (issue 18): `jusou up --tenants` as the runner starts it, with the
tenants of tenancy/two_tenants.py, on a real nats-server (one account each) and real SQLite stores; and the seeded
journey in 甲市 and 乙市.

Shared by the modules here (one start, not one per module), so each keeps to the records it makes or reads:
test_tenancy_isolation.py counts 甲市's consultations exactly (its seeded one and three more) and 乙市's as fewer than
three, and erases 甲市's seeded person; test_tenant_operations.py makes and erases its own records in `hei`.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from security import seed as seeding
from support.servers import free_port

from jusou.runner import Suite
from tenancy.two_tenants import KOU, NAMES, OTHER_FILE, OTSU, SERVICES, TENANTS_FILE, AsTenant, seed_client


@pytest.fixture(scope="package")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    root = tmp_path_factory.mktemp("tenancy")
    (root / "tenants.toml").write_text(TENANTS_FILE.format(other=OTHER_FILE), encoding="utf-8")
    ports: list[int] = []
    while len(ports) < len(SERVICES) + 1:
        port = free_port()
        if port not in ports:
            ports.append(port)
    *service_ports, nats_port = ports
    with Suite(root / "data", nats_port=nats_port, ports=dict(zip(SERVICES, service_ports, strict=True)),
               tenants_file=root / "tenants.toml", extra_env={"JUSOU_STORE": "sqlite"}) as running:
        yield running


@pytest.fixture(scope="package")
def seeded(suite: Suite) -> dict[str, dict[str, Any]]:
    """The seeded journey in each tenant (both at once): its ids by path-parameter name."""
    acting = AsTenant()
    urls = {name: suite.url(name) for name in SERVICES}

    def one(tenant: str) -> dict[str, Any]:
        acting.tenant = tenant
        return seeding.seed(urls, NAMES[tenant])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(seeding, "httpx", SimpleNamespace(Client=seed_client(suite, acting)))
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(2) as pool:
            kou, otsu = pool.map(one, (KOU, OTSU))
    return {KOU: kou, OTSU: otsu}
