"""A service's NATS user and its partitions' lease bucket (JUSOU_PARTITIONS > 1): it may not read the operator's replies.

The review from outside (an attacker with intake's NATS password), on `jusou up`'s nats-server with the rendered
users: `partition_permissions` grants `$JS.API.STREAM.CREATE.KV_jusou-partitions-<service>`, and a stream's subjects
travel in the request's body, which permissions cannot see. Intake's user makes "its lease bucket" capture
`_INBOX_jusou-operator.>`; the operator reads a dead letter of meeting's (as `jusou deadletters` does); intake finds
the reply's subject in its stream's info and gets the reply by `$JS.API.DIRECT.GET.KV_jusou-partitions-intake.<subject>`:
meeting's dead letter, which test_a_service_may_not_read_another_programs_dead_letters promises it never reads.

Fixed by HA (session 20): `jusou up` (and `jusou cluster up`) make every service's lease bucket as the operator before a
service starts (shared/messaging/partitions.py `make_lease_buckets`), so intake's create of another one is refused;
where the first service makes it (Compose, Kubernetes), a service refuses a bucket whose stream takes more than its
own keys (`check_bucket`, tests/e2e/test_ha2_d15_consumer_adoption.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import nats as nats_py
import pytest
from support.poll import eventually
from support.servers import free_port

from jusou.runner import Suite
from security.conftest import SERVICES
from shared.contract.events import DEAD_LETTER_STREAM
from shared.messaging import natsauth
from shared.messaging.bus import connect

PARKED = b'{"parked by meeting": "a dead letter intake may not read"}'


@pytest.fixture
def partitioned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Suite]:
    monkeypatch.setenv("JUSOU_PARTITIONS", "2")  # the users' rights are rendered for P = 2 (natsauth)
    suite = Suite(tmp_path / "data", nats_port=free_port(), services=SERVICES)
    try:
        suite.start_nats()
        yield suite
    finally:
        suite.stop()


async def as_user(suite: Suite, user: str) -> tuple[nats_py.NATS, list[str]]:
    refused: list[str] = []

    async def record(error: Exception) -> None:
        refused.append(str(error))

    password = natsauth.credentials(suite.data_dir, suite.services)[user]
    nc = await nats_py.connect(suite.nats_url, user=user, password=password, allow_reconnect=False, connect_timeout=5,
                               inbox_prefix=natsauth.inbox_prefix(user), error_cb=record)
    return nc, refused


async def test_a_service_may_not_read_the_operators_replies_through_its_lease_bucket(partitioned: Suite) -> None:
    operator = await connect(partitioned.nats_url, "hd2-operator", *partitioned.nats_operator())
    intake, refused = await as_user(partitioned, "intake")
    bucket = f"KV_{natsauth.bucket_name('intake')}"
    try:
        await operator.jetstream().publish("jusou-dlq.meeting.intake.CaseEscalated", PARKED, stream=DEAD_LETTER_STREAM)
        made = await intake.request(f"$JS.API.STREAM.CREATE.{bucket}", json.dumps({
            "name": bucket, "subjects": [f"{natsauth.inbox_prefix(natsauth.OPERATOR)}.>"], "allow_direct": True,
            "storage": "memory"}).encode(), timeout=5)
        captured = "error" not in json.loads(made.data)
        read = await operator.jetstream().get_msg(DEAD_LETTER_STREAM, 1)  # what `jusou deadletters` reads
        assert read.data == PARKED

        async def stored() -> dict[str, int] | None:  # the capture is the server's: wait for the one reply stored
            info = await intake.request(f"$JS.API.STREAM.INFO.{bucket}", b'{"subjects_filter": ">"}', timeout=5)
            return json.loads(info.data).get("state", {}).get("subjects") or None

        seen = await eventually(stored, "the operator's reply in intake's stream") if captured else {}
        leaked = [(await intake.request(f"$JS.API.DIRECT.GET.{bucket}.{subject}", b"", timeout=5)).data
                  for subject in seen]
    finally:
        await intake.close()
        await operator.close()

    assert not [reply for reply in leaked if b"jusou-dlq.meeting" in reply], "intake read meeting's dead letter"
    assert not captured or refused, "intake's user made a stream of the operator's replies"
