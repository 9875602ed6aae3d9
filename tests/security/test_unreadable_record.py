"""Issue 13 item 6: a record the read models cannot read is quarantined, reported, and the service goes on.

A 401-digit capacity accepted by `POST /resources` once broke community's and participation's read
models for good (orjson refuses it: 500s on the lists, `jusou audit verify` crashed) while /readyz
said ready. The API refuses such numbers now (test_hostile_input.py); a store may still hold one
from before, or from a hand that wrote into it. Here one is written straight into community's store
between two real resources: the read models quarantine it and go on, the lists answer without it,
/readyz says degraded with the position and the reason, /metrics counts it, `jusou status` and
`jusou audit verify` report it.

Its own suite: community stays degraded on purpose, which must not leak into the package's suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from integration.test_readmodels import write_unreadable
from support.auth import reader, worker
from support.ops import jusou_json

from jusou.runner import Suite
from jusou.verify import open_store
from security.conftest import distinct_free_ports
from security.seed import wait_for

SERVICES = ("community", "participation")
RESOURCE = {"kind": "ibasho", "name": "こども食堂", "provider": "NPO法人", "area": "深大寺", "capacity": 20}


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    root = tmp_path_factory.mktemp("unreadable")
    *service_ports, nats_port = distinct_free_ports(len(SERVICES) + 1)
    with Suite(root / "data", nats_port=nats_port, ports=dict(zip(SERVICES, service_ports, strict=True)),
               services=SERVICES, extra_env={"JUSOU_STORE": "sqlite"}) as running:
        yield running


def test_issue6_an_unreadable_record_is_quarantined_reported_and_the_lists_still_answer(
        suite: Suite, monkeypatch: pytest.MonkeyPatch) -> None:
    http = httpx.Client(timeout=15, trust_env=False, headers=reader())
    community = suite.url("community")
    before = http.post(community + "/resources", json=RESOURCE, headers=worker("community"))
    assert before.status_code == 201, before.text
    monkeypatch.setenv("JUSOU_DATA_DIR", str(suite.data_dir))
    monkeypatch.setenv("JUSOU_STORE", "sqlite")
    with open_store("community") as store:  # beside the running service, as an operator's tool would
        bad = write_unreadable(store, like="LocalResource.Developed")
    after = http.post(community + "/resources", json={**RESOURCE, "name": "居場所カフェ"}, headers=worker("community"))
    assert after.status_code == 201, after.text

    def degraded() -> Any:
        body = http.get(community + "/readyz").json()
        return body if body["status"] == "degraded" else None

    ready = wait_for(degraded, "community's readyz to say degraded")
    assert [q["position"] for q in ready["quarantined"]] == [bad]
    assert "JSONDecodeError" in ready["quarantined"][0]["reason"]
    assert any(str(bad) in p for p in ready["problems"]), ready["problems"]

    listed = http.get(community + "/resources")
    assert listed.status_code == 200, listed.text
    assert {r["resource_id"] for r in listed.json()} == {before.json()["resource_id"], after.json()["resource_id"]}
    assert http.get(community + "/ui/resources-table").status_code == 200
    assert http.get(suite.url("participation") + "/catalogue").status_code == 200

    metrics = http.get(community + "/metrics").text
    assert 'jusou_readmodel_quarantined_total{service="community"} 1.0' in metrics, metrics[-2000:]

    status = jusou_json(suite, "status", code=1)
    row = status["services"]["community"]
    assert row["health"] == "degraded" and str(bad) in row["error"], row

    verified = jusou_json(suite, "audit", "verify", "--service", "community", code=1)
    [report] = verified["reports"]
    assert [q.split(" ", 1)[0] for q in report["quarantined"]] == [str(bad)], report
    assert report["seal_breaks"] == [], report  # an unreadable record is sealed like any other
