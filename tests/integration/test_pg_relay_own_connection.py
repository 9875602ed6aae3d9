"""On PostgreSQL the relay never waits for a connection of its application's pool to publish (issue 19), on a real
PostgreSQL and a real nats-server.

Under load every connection of a service's pool can be held by commands, most of them waiting for the events
table's lock (which serialises the service's commits, each through its WAL flush). The relay's reads of the store
and the save of its position took their connection from the same pool and waited behind them, and while it waited
nothing was published: the PostgreSQL hop's tail (docs/capacity.md). Now the relay reads the store on a connection of
its own (shared/messaging/relay.py `own_recorder`), and saves its position beside the publishing, not before the next
publish (`_save_in_background`).

Here the application's pool is one connection (two, less the relay's own), held by the test, as by a command waiting for the lock; another
process's commits (a replica on the same schema) are what the relay must read from the store and publish."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from uuid import uuid4

import pytest
from support.municipality import ELDERLY
from support.poll import eventually
from support.servers import Nats, Postgres

from services.intake.application import IntakeApplication
from services.intake.translate import translate as intake_translate
from shared.kernel.store import store_env
from shared.messaging.bus import connect, ensure_streams
from shared.messaging.relay import SAVE_EVERY_SECONDS, Relay
from shared.settings import Settings

pytestmark = pytest.mark.postgres
STAFF = {"staff_id": "s-001", "division": ELDERLY.division}
#: the application's pool: two connections, one of which the relay takes out of it for its own (the process holds no
#: more than before), and a wait for one longer than any wait of the test (so a relay that took its connection from
#: this pool would wait, not fail and try again)
ONE_CONNECTION = {"POSTGRES_POOL_SIZE": "2", "POSTGRES_MAX_OVERFLOW": "0", "POSTGRES_CONNECT_TIMEOUT": "120"}


def escalated_case(app: IntakeApplication) -> None:
    case_id = app.receive_consultation(STAFF, ELDERLY.code, ELDERLY.division, "窓口", ["高齢・介護"], {"name": "調布 花子"},
                                       None)
    app.escalate_case(STAFF, case_id, "複合的な課題", ELDERLY.ja)


@pytest.fixture
def replicas(postgres: Postgres, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[IntakeApplication, IntakeApplication]]:
    """Intake with a pool of one connection (its relay's application), and a replica on the same schema."""
    prefix = f"ro_{uuid4().hex[:8]}_"
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    for name, value in postgres.env(prefix).items():
        monkeypatch.setenv(name, value)
    env = store_env(Settings.from_env("intake")) | {"JUSOU_READMODELS_FOLLOW": "0"}
    intake = IntakeApplication(env=env | ONE_CONNECTION)
    replica = IntakeApplication(env=env)
    try:
        yield intake, replica
    finally:
        intake.close()
        replica.close()
        postgres.drop_schemas(prefix)


@contextmanager
def pool_held(app: IntakeApplication) -> Iterator[None]:
    """Every connection of the application's pool held (those it has open, as many as it may open), as by commands
    waiting for the events table's lock."""
    from psycopg_pool import PoolTimeout

    pool = app.recorder.datastore.pool  # type: ignore[attr-defined]
    held = []
    while True:
        try:
            held.append(pool.getconn(timeout=1.0))
        except PoolTimeout:
            break
    assert held, "no connection of the application's pool was taken"
    try:
        yield
    finally:
        for conn in held:
            pool.putconn(conn)


@asynccontextmanager
async def running(app: IntakeApplication, nats: Nats) -> AsyncIterator[Relay]:
    nc = await connect(nats.url, "test-relay-own")
    await ensure_streams(nc)
    relay = Relay(app, intake_translate, nc, poll_seconds=0.1)  # another process's commits: found by the poll
    pool = app.recorder.datastore.pool  # type: ignore[attr-defined]
    assert (pool.min_size, pool.max_size) == (1, 1)  # the relay's connection is one of the process's two, not a third
    app.off_recorded(relay.recorded)  # (nothing is committed through `app` here anyway)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: asyncio.sleep(0, relay._loop is not None), "the relay to start")
        yield relay
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await nc.close()
    assert (pool.min_size, pool.max_size) == (2, 2)  # given back as the relay stops


async def test_the_relay_reads_and_publishes_another_replicas_commits_while_its_applications_pool_is_taken(
        replicas: tuple[IntakeApplication, IntakeApplication], nats: Nats) -> None:
    intake, replica = replicas
    async with running(intake, nats) as relay:
        with pool_held(intake):
            await asyncio.to_thread(escalated_case, replica)
            head = replica.recorder.max_notification_id()
            await eventually(lambda: asyncio.sleep(0, relay.position == head), "the relay to publish the replica's case")
        assert relay.published == 2  # received, escalated (the person stays in intake)


async def test_a_save_of_the_relays_position_that_waits_for_the_pool_holds_up_no_publish(
        replicas: tuple[IntakeApplication, IntakeApplication], nats: Nats) -> None:
    intake, replica = replicas
    async with running(intake, nats) as relay:
        await asyncio.to_thread(escalated_case, replica)
        first = replica.recorder.max_notification_id()
        await eventually(lambda: asyncio.to_thread(lambda: intake.relay_position() == first), "the first save")
        await asyncio.sleep(SAVE_EVERY_SECONDS)  # the next save is due at the relay's next publish
        with pool_held(intake):
            await asyncio.to_thread(escalated_case, replica)  # published; its save waits for the pool
            second = replica.recorder.max_notification_id()
            await eventually(lambda: asyncio.sleep(0, relay.position == second), "the second case on the stream")
            await asyncio.to_thread(escalated_case, replica)
            third = replica.recorder.max_notification_id()
            await eventually(lambda: asyncio.sleep(0, relay.position == third),
                             "the third case on the stream while a save waits for the pool")
            assert relay.saved_position == first  # (the save is still waiting)
        await eventually(lambda: asyncio.to_thread(lambda: intake.relay_position() == third), "the saves to catch up")
        assert relay.published == 6
