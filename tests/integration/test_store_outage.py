"""A PostgreSQL outage (issue #6): commands are refused with 503 saying what to do, nothing recorded
before is lost, and the service records again once the server is back, without a restart of its own."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from support.auth import reader
from support.journey import COUNTER_STAFF, Journey
from support.municipality import ELDERLY
from support.poll import eventually
from support.servers import PrivatePostgres, free_port, nats_server

from jusou.runner import Suite

SERVICES = ("intake", "collaboration")


def consultation() -> dict[str, object]:
    return {"counter": ELDERLY.code, "channel": "電話", "concerns": ["高齢・介護"],
            "person": {"name": "停電 次郎", "kana": "ていでん じろう"}, "confirm_new_person": True}


@pytest.mark.postgres
async def test_a_database_outage_answers_503_and_loses_nothing(tmp_path: Path, own_postgres: PrivatePostgres) -> None:
    ports = {name: free_port() for name in SERVICES}
    env = own_postgres.env(f"o{uuid.uuid4().hex[:6]}_")
    with nats_server(tmp_path / "nats") as nats, \
            Suite(tmp_path / "data", nats_url=nats.url, ports=ports, services=SERVICES, extra_env=env) as suite:
        async with httpx.AsyncClient(timeout=10, headers=reader()) as client:
            journey = Journey({name: suite.url(name) for name in SERVICES}, client)
            before = await journey.receive_and_escalate()
            intake = suite.url("intake")

            own_postgres.stop("immediate")  # a crash: no shutdown checkpoint
            began = time.monotonic()
            refused = await client.post(intake + "/consultations", json=consultation(), headers=COUNTER_STAFF)
            print(f"refused after {time.monotonic() - began:.1f} s")
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] == "2"
            assert "データベース" in refused.json()["detail"] and "try again" in refused.json()["detail"]
            assert (await client.get(intake + "/readyz")).status_code == 503

            await asyncio.sleep(3)  # long enough that the relay and the consumers meet the outage
            own_postgres.start()  # WAL recovery

            async def recorded() -> str | None:
                answer = await client.post(intake + "/consultations", json=consultation(), headers=COUNTER_STAFF)
                assert answer.status_code in (201, 503), answer.text  # a pooled connection may still be the dead one
                return str(answer.json()["case_id"]) if answer.status_code == 201 else None

            after = await eventually(recorded, "intake to record again once PostgreSQL is back")
            # the first read after the outage may meet a pooled connection the crash left dead (503, as a command may,
            # above): the read is asked again until it answers, and then holds everything recorded before
            async def answered() -> list[dict[str, str]] | None:
                read = await client.get(f"{intake}/cases/{before}/history")
                assert read.status_code in (200, 503), read.text
                return read.json() if read.status_code == 200 else None

            history = await eventually(answered, "intake to read the case's history again once PostgreSQL is back")
            assert [row["event"] for row in history][:1] == ["Case.Received"] and len(history) >= 3
            await journey.get_when("collaboration", f"/cases/{before}", lambda c: c["status"] == "open",
                                   "collaboration to hold the case escalated before the outage")
            assert (await client.get(f"{intake}/cases/{after}")).status_code == 200
            # the relay outlived the outage: what is recorded after it still reaches the other programs
            await journey.post("intake", f"/cases/{after}/escalate",
                               {"reason": "停電後の相談", "primary_agency": ELDERLY.ja}, COUNTER_STAFF)
            await journey.get_when("collaboration", f"/cases/{after}", lambda c: c["status"] == "open",
                                   "collaboration to open a case escalated after the outage")


@pytest.mark.postgres
async def test_a_service_started_while_the_database_is_down_comes_up_once_it_is_back(
    tmp_path: Path, own_postgres: PrivatePostgres
) -> None:
    """A service restarted during a database outage (a crash, a node reboot) waits for it, as it waits
    for NATS, instead of exiting."""
    env = own_postgres.env(f"w{uuid.uuid4().hex[:6]}_")
    own_postgres.stop("immediate")
    log_file = tmp_path / "data" / "logs" / "intake.log"
    waited: list[float] = []

    def bring_back_once_it_waits() -> None:
        # The database comes back only once the service has said it is waiting for it (however long
        # its start takes on a loaded machine), and at least 3 s after that: it must keep waiting.
        began = time.monotonic()
        while time.monotonic() - began < 120:
            if log_file.exists() and "store.unreachable_at_start" in log_file.read_text(errors="replace"):
                waited.append(time.monotonic() - began)
                time.sleep(3.0)
                break
            time.sleep(0.1)
        own_postgres.start()

    back = threading.Thread(target=bring_back_once_it_waits)
    back.start()
    try:
        with nats_server(tmp_path / "nats") as nats, Suite(tmp_path / "data", nats_url=nats.url,
                                                           ports={"intake": free_port()}, services=("intake",),
                                                           extra_env=env) as suite:
            assert waited, "the service never said it was waiting for the database"
            assert suite.ready_seconds is not None and suite.ready_seconds >= 3.0
            assert "store.unreachable_at_start" in (suite.logs_dir / "intake.log").read_text()
            async with httpx.AsyncClient(timeout=30) as client:
                answer = await client.post(suite.url("intake") + "/consultations", json=consultation(),
                                           headers=COUNTER_STAFF)
            assert answer.status_code == 201, answer.text
    finally:
        back.join()
