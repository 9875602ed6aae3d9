"""`jusou status` files a consumer under a service only by a name the service makes, and shows names as text.

The review from outside (HE, session 21, as the NATS user `integrator` on `jusou up`): the integrator may make a consumer
of `JUSOU` under any name but the services' own (`<service>--<source>`, its `--p0` … `--p63`, shared/messaging/natsauth.py
`reserved_consumers`). `jusou status` filed a consumer under a service by the part of its name before `--`, so
`intake--collaboration` followed by a zero-width space was listed in intake's table as a second, indistinguishable
`intake--collaboration` row (its pending read as intake's lag), and `intake--anything` likewise; a name carrying a
right-to-left override turned the rest of its row around in the operator's terminal. Now a consumer is a service's only
by its exact name (`owned_consumers`), every other is among the other consumers, and format characters (Unicode
category Cf) are shown escaped as control characters already were.
"""

from __future__ import annotations

from collections.abc import Iterator

import nats as nats_py
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from rich.console import Console
from support.servers import SERVICES, free_port

from jusou.ops import gather_status, nats_url, owned_consumers, render_status, service_urls
from jusou.runner import Suite, subscriptions_of
from shared.contract.events import STREAM
from shared.messaging import natsauth

LOOKALIKE = "intake--collaboration\u200b"
PREFIXED = "intake--mhlw-indicators"
REVERSED = "\u202eesrever-mhlw"


@pytest.fixture(scope="module")
def nats_with_logins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    """`jusou up`'s nats-server alone (streams made by the operator): a NATS user per service, the integrator, the operator."""
    suite = Suite(tmp_path_factory.mktemp("status-names") / "data", nats_port=free_port(), services=SERVICES)
    try:
        suite.start_nats()
        yield suite
    finally:
        suite.stop()


async def test_a_consumer_the_integrator_names_like_a_services_is_never_filed_under_that_service(
        nats_with_logins: Suite, monkeypatch: pytest.MonkeyPatch) -> None:
    suite = nats_with_logins
    password = natsauth.credentials(suite.data_dir, suite.services)[natsauth.INTEGRATOR]
    integrator = await nats_py.connect(suite.nats_url, user=natsauth.INTEGRATOR, password=password,
                                       inbox_prefix=natsauth.inbox_prefix(natsauth.INTEGRATOR))
    try:
        js = integrator.jetstream(timeout=5)
        for name in (LOOKALIKE, PREFIXED, REVERSED):  # all three are the integrator's to make
            await js.add_consumer(STREAM, ConsumerConfig(name=name, durable_name=name, filter_subject="jusou.intake.>",
                                                         ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL))
    finally:
        await integrator.close()
    monkeypatch.setenv("NATS_URL", suite.nats_url)
    monkeypatch.setenv("JUSOU_DATA_DIR", str(suite.data_dir))
    monkeypatch.delenv("JUSOU_PARTITIONS", raising=False)
    for service in SERVICES:  # no service answers: status reads the bus alone
        monkeypatch.setenv(f"JUSOU_{service.upper()}_PORT", str(free_port()))

    status = await gather_status(service_urls(), nats_url())

    assert status["nats"]["up"], status["nats"]
    intake = [c["name"] for c in status["services"]["intake"]["consumers"]]
    assert LOOKALIKE not in intake and PREFIXED not in intake, intake
    assert {LOOKALIKE, PREFIXED, REVERSED} <= {c["name"] for c in status["other_consumers"]}
    console = Console(record=True, width=400, force_terminal=True, color_system="truecolor")
    with console.capture() as captured:
        console.print(render_status(status))
    out = captured.get()
    assert "\u202e" not in out and "\u200b" not in out, repr(out)
    assert "\\u202eesrever-mhlw" in out and "intake--collaboration\\u200b" in out


def test_a_service_owns_its_pairs_their_partition_consumers_and_its_replay_consumer_only() -> None:
    owned = owned_consumers("meeting")
    assert (STREAM, "meeting--intake") in owned and (STREAM, "meeting--intake--p63") in owned
    assert (STREAM, "meeting--intake--p64") not in owned  # beyond MAX_PARTITIONS: the integrator's to make
    assert any(name == "meeting--replay" for _, name in owned)
    assert (STREAM, "meeting--anything") not in owned and (STREAM, "intake--meeting") not in owned


async def test_status_reads_every_consumer_when_the_integrator_made_hundreds_named_before_jusous(
        nats_with_logins: Suite, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server lists consumers 256 a page, by name: 260 of the integrator's named `aa-…` filled the first page, and
    status called all 19 of Jusou's consumers missing (exit 1, "restarting the service creates it again")."""
    suite = nats_with_logins
    operator = await nats_py.connect(suite.nats_url, user=natsauth.OPERATOR,
                                     password=natsauth.credentials(suite.data_dir, suite.services)[natsauth.OPERATOR])
    password = natsauth.credentials(suite.data_dir, suite.services)[natsauth.INTEGRATOR]
    integrator = await nats_py.connect(suite.nats_url, user=natsauth.INTEGRATOR, password=password,
                                       inbox_prefix=natsauth.inbox_prefix(natsauth.INTEGRATOR))
    try:
        admin = operator.jetstream(timeout=5)
        ours = [name for service in ("meeting", "collaboration")  # named as the services name them
                for name, (stream, _) in natsauth.durable_consumers(service, subscriptions_of(service)).items()
                if stream == STREAM]
        for name in ours:
            await admin.add_consumer(STREAM, ConsumerConfig(name=name, durable_name=name, ack_policy=AckPolicy.EXPLICIT,
                                                            deliver_policy=DeliverPolicy.ALL))
        js = integrator.jetstream(timeout=5)
        for k in range(260):
            name = f"aa-{k:03d}"
            await js.add_consumer(STREAM, ConsumerConfig(name=name, durable_name=name, filter_subject="jusou.intake.>",
                                                         ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.NEW))
    finally:
        await integrator.close()
        await operator.close()
    monkeypatch.setenv("NATS_URL", suite.nats_url)
    monkeypatch.setenv("JUSOU_DATA_DIR", str(suite.data_dir))
    monkeypatch.delenv("JUSOU_PARTITIONS", raising=False)
    for service in SERVICES:
        monkeypatch.setenv(f"JUSOU_{service.upper()}_PORT", str(free_port()))

    status = await gather_status(service_urls(), nats_url())

    listed = {c["name"] for c in status["services"]["meeting"]["consumers"] + status["services"]["collaboration"]["consumers"]}
    assert set(ours) <= listed, sorted(set(ours) - listed)
    assert not {m["name"] for m in status["missing_consumers"]} & set(ours)
    assert sum(1 for c in status["other_consumers"] if c["name"].startswith("aa-")) == 260

