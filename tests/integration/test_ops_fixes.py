"""The operator commands against a real nats-server: what `jusou deadletters` reads while a replay fails again, and
what a command says when NATS is down or refuses its login."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import nats as nats_py
import psycopg
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from rich.console import Console
from support.poll import eventually
from support.servers import SERVICES, Nats, Postgres, free_port, suite_on_nats

from jusou.backup import Refused, backup, check_tenant, pg_schemas
from jusou.cli import main as jusou
from jusou.connection import EXIT_STATUS
from jusou.ops import _judge_tracking, gather_status, nats_url, render_status, service_urls, tracked_sources
from jusou.runner import Suite
from shared import settings, tenancy
from shared.contract.events import DEAD_LETTER_PREFIX, DEAD_LETTER_STREAM, REPLAY_STREAM, STREAM
from shared.messaging import deadletters, natsauth
from shared.messaging.bus import ensure_streams
from shared.messaging.deadletters import CONSUMER, ORIGINAL_SUBJECT, REASON, REPLAY_OF, replay_consumer
from shared.messaging.deadletters import replay as send_replay

SERVICE = "collaboration"


class Interleaved:
    """The operator's JetStream context, running `hook` once just before its `at`-th call (0, 1, …): another
    process's step placed between two of `dead_letters`' reads, at every place in turn."""

    def __init__(self, js: Any, at: int, hook: Callable[[], Awaitable[None]]) -> None:
        self.js, self.at, self.hook, self.calls = js, at, hook, 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.js, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.calls == self.at:
                await self.hook()
            self.calls += 1
            return await method(*args, **kwargs)

        return call


async def test_a_replay_parked_again_between_the_reads_is_never_shown_as_replayed(nats: Nats) -> None:
    """`jusou deadletters replay` exits 0 only for a replay that was processed: the consumer parks a failing replay
    (JUSOU_DLQ) and then terminates it (its ack floor moves); wherever that falls among `dead_letters`' reads, the
    letter is `replay_pending` (not yet) or `failed_again`, never `replayed`."""
    nc = await nats_py.connect(nats.url)
    try:
        await ensure_streams(nc)
        js = nc.jetstream(timeout=5)
        durable = replay_consumer(SERVICE)
        seen: dict[int, str] = {}
        at = 0
        while True:
            await js.purge_stream(DEAD_LETTER_STREAM)  # each place starts from one letter and its replay
            await js.purge_stream(REPLAY_STREAM)
            pull = await js.pull_subscribe(f"jusou-replay.{SERVICE}.>", durable=durable, stream=REPLAY_STREAM)
            # parked as the inbox parks a message of JUSOU: `Nats-Msg-Id` names its sequence there (a replay
            # re-reads it: shared/messaging/deadletters.py `parked_from_jusou`)
            original = await js.publish("jusou.intake.CaseEscalated", b'{"poison": true}', stream=STREAM)
            parked = await js.publish(f"{DEAD_LETTER_PREFIX}.{SERVICE}.intake.CaseEscalated", b'{"poison": true}',
                                      stream=DEAD_LETTER_STREAM,
                                      headers={REASON: "boom", CONSUMER: SERVICE,
                                               ORIGINAL_SUBJECT: "jusou.intake.CaseEscalated",
                                               "Nats-Msg-Id": f"{SERVICE}:{original.seq}"})
            _, replay_seq, _ = await send_replay(js, parked.seq)
            [delivered] = await pull.fetch(1, timeout=5)  # the service holds the replay, applying it fails

            async def park_and_term(seq: int = parked.seq, msg: Any = delivered, replay_seq: int = replay_seq) -> None:
                """As shared/messaging/deadletters.py `park_again`: the new letter first, then the termination."""
                await js.publish(f"{DEAD_LETTER_PREFIX}.{SERVICE}.intake.CaseEscalated", msg.data,
                                 stream=DEAD_LETTER_STREAM,
                                 headers={REASON: "failed again", CONSUMER: SERVICE, REPLAY_OF: str(seq),
                                          ORIGINAL_SUBJECT: "jusou.intake.CaseEscalated"})
                await msg.term()

                async def floor_moved() -> bool:
                    return await deadletters.replay_floor(js, SERVICE) >= replay_seq

                await eventually(floor_moved, what="the replay consumer's ack floor past the terminated replay")

            read = Interleaved(js, at, park_and_term)
            [letter] = [d for d in await deadletters.dead_letters(read) if d.seq == parked.seq]
            seen[at] = letter.status
            ran = read.calls > at
            if not ran:
                await park_and_term()  # after every read: the next read sees it
            [after] = [d for d in await deadletters.dead_letters(js) if d.seq == parked.seq]
            assert after.status == "failed_again", after
            await pull.unsubscribe()
            await js.delete_consumer(REPLAY_STREAM, durable)
            if not ran:
                break
            at += 1
    finally:
        await nc.close()
    assert "replayed" not in seen.values(), seen
    assert seen[0] == "failed_again" and seen[at] == "replay_pending", seen  # parked before every read, after every one


# --- every command's NATS connection fails within seconds, saying what to check (status 3) --------------------------

NATS_COMMANDS = (("audit", "verify"), ("deadletters", "list"), ("deadletters", "show", "1"), ("deadletters", "replay", "1"),
                 ("tracking", "rewind", "collaboration", "intake", "--dry-run"))


@pytest.fixture(scope="module")
def nats_with_logins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    """`jusou up`'s nats-server alone: a NATS user per service and the operator, passwords in the data folder."""
    suite = Suite(tmp_path_factory.mktemp("logins") / "data", nats_port=free_port(), services=SERVICES)
    try:
        suite.start_nats()
        yield suite
    finally:
        suite.stop()


def jusou_within(seconds: float, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str],
                 *args: str) -> tuple[int, str, str]:
    """`jusou ARGS…` (jusou.cli.main, in this process) with `env`: (status, stdout, stderr); a failure, not a hang,
    when it has not returned within `seconds`."""
    for name in ("NATS_USER", "NATS_PASSWORD", "JUSOU_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**env, **{f"JUSOU_{s.upper()}_PORT": str(free_port()) for s in SERVICES}}.items():
        monkeypatch.setenv(name, value)  # no service answers on those ports
    capsys.readouterr()
    result: list[int] = []

    def run() -> None:
        try:
            result.append(jusou(list(args)))
        except SystemExit as stop:
            result.append(stop.code if isinstance(stop.code, int) else 1)

    began = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)  # left behind if it hangs: the test fails instead
    thread.start()
    thread.join(seconds)
    out, err = capsys.readouterr()
    assert result, f"jusou {' '.join(args)} still waiting after {seconds} s (stderr so far: {err!r})"
    assert time.monotonic() - began < seconds
    return result[0], out, err


@pytest.mark.parametrize("args", NATS_COMMANDS, ids=" ".join)
def test_a_command_refused_its_nats_login_says_which_user_and_what_to_check_with_status_3(
        nats_with_logins: Suite, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        args: tuple[str, ...]) -> None:
    env = {"NATS_URL": nats_with_logins.nats_url, "JUSOU_DATA_DIR": str(nats_with_logins.data_dir),
           "NATS_USER": natsauth.OPERATOR, "NATS_PASSWORD": "not-the-password"}
    code, _, err = jusou_within(8, monkeypatch, capsys, env, *args)
    assert code == EXIT_STATUS == 3, err
    assert f"ユーザー {natsauth.OPERATOR} のログインを拒否しました" in err and "NATS_USER と NATS_PASSWORD を確かめて" in err
    assert f"refused the login of user {natsauth.OPERATOR!r}" in err and "check NATS_USER and NATS_PASSWORD" in err
    assert "Traceback" not in err


def test_a_command_without_a_login_on_a_nats_that_wants_one_says_how_to_give_it(
        nats_with_logins: Suite, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    env = {"NATS_URL": nats_with_logins.nats_url, "JUSOU_DATA_DIR": str(tmp_path)}  # not the data folder of its jusou up
    code, _, err = jusou_within(8, monkeypatch, capsys, env, "audit", "verify")
    assert code == 3, err
    assert "はログインを求めています" in err and "requires a login" in err and "JUSOU_DATA_DIR to the data folder" in err


@pytest.mark.parametrize("args", NATS_COMMANDS, ids=" ".join)
def test_a_command_whose_nats_is_down_says_so_within_seconds_with_status_3(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        args: tuple[str, ...]) -> None:
    down = f"nats://127.0.0.1:{free_port()}"  # nothing listens there
    code, _, err = jusou_within(8, monkeypatch, capsys, {"NATS_URL": down, "JUSOU_DATA_DIR": str(tmp_path)}, *args)
    assert code == 3, err
    assert f"NATS ({down}) に接続できません" in err and f"cannot reach NATS at {down}" in err
    assert "check that NATS is running and that NATS_URL" in err and "Traceback" not in err


def test_the_right_login_still_connects_and_status_names_a_refused_one(
        nats_with_logins: Suite, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The operator of the data folder (no NATS_USER) gets in; `jusou status` shows a refused login as such."""
    env = {"NATS_URL": nats_with_logins.nats_url, "JUSOU_DATA_DIR": str(nats_with_logins.data_dir)}
    code, out, err = jusou_within(8, monkeypatch, capsys, env, "deadletters", "list", "--json")
    assert (code, json.loads(out)) == (0, []), err
    code, out, err = jusou_within(8, monkeypatch, capsys, {**env, "NATS_USER": natsauth.OPERATOR, "NATS_PASSWORD": "x"},
                                  "status", "--json")
    nats = json.loads(out)["nats"]
    assert code == 1 and nats["up"] is False and nats["login_refused"] is True, nats
    assert nats["error"] == f"ログイン拒否 login refused ({natsauth.OPERATOR})" and "NATS_PASSWORD" in nats["advice"]


# --- jusou status on a partitioned service (JUSOU_PARTITIONS > 1, shared/messaging/partitions.py) --------------------


@pytest.fixture
def partitioned_outreach(tmp_path: Path) -> Iterator[Suite]:
    """outreach (one source, meeting) running with JUSOU_PARTITIONS=4 on a nats-server of its own."""
    with suite_on_nats(tmp_path, services=("outreach",), extra_env={"JUSOU_PARTITIONS": "4"}) as suite:
        yield suite


def status_env(suite: Suite, monkeypatch: pytest.MonkeyPatch, partitions: int) -> None:
    monkeypatch.setenv("NATS_URL", suite.nats_url)
    monkeypatch.setenv("JUSOU_DATA_DIR", str(suite.data_dir))
    monkeypatch.setenv("JUSOU_PARTITIONS", str(partitions))
    for name in SERVICES:  # the others answer nowhere
        monkeypatch.setenv(f"JUSOU_{name.upper()}_PORT", str(suite.ports.get(name) or free_port()))


async def test_status_of_a_partitioned_service_expects_its_partition_consumers_and_reads_lag_over_them(
        partitioned_outreach: Suite, monkeypatch: pytest.MonkeyPatch) -> None:
    """P = 4: the consumers outreach makes are the ones status expects (none called missing, no unpartitioned one);
    a source's lag is the largest pending + ack pending over its partition consumers, and a consumer of the other
    layout left from before (its backlog growing) is shown unused, never as lag."""
    suite = partitioned_outreach
    wanted = [f"outreach--meeting--p{k}" for k in range(4)]
    nc = await nats_py.connect(suite.nats_url)
    try:
        js = nc.jetstream(timeout=5)

        async def made() -> bool:
            return set(wanted) <= {c.name for c in await js.consumers_info(STREAM)}

        await eventually(made, "outreach's four partition consumers")
        status_env(suite, monkeypatch, 4)
        running = await gather_status(service_urls(), nats_url())
        row = running["services"]["outreach"]
        assert row["health"] == "ready" and row["partitions"] == 4, row
        assert [m for m in running["missing_consumers"] if m["service"] == "outreach"] == []
        assert row["lag"] == {"meeting": 0}

        status_env(suite, monkeypatch, 1)  # an operator without the services' setting is told which layout is there
        unset = await gather_status(service_urls(), nats_url())
        assert [m for m in unset["missing_consumers"] if m["service"] == "outreach"] == [
            {"name": "outreach--meeting", "stream": STREAM, "service": "outreach", "layout": 4}]

        suite.kill("outreach")  # now the partitions' progress is the test's to set
        for n in range(3):
            await js.publish("jusou.meeting.MeetingDecided", f'{{"n": {n}}}'.encode(), stream=STREAM)
        for k, acked, held in ((0, 1, 1), (1, 2, 0), (2, 3, 0), (3, 3, 0)):  # lag: p0 1 + 1 held, p1 1, p2 0, p3 0
            pull = await js.pull_subscribe_bind(wanted[k], STREAM)
            for _ in range(acked):
                [msg] = await pull.fetch(1, timeout=5)
                await msg.ack_sync()
            if held:
                await pull.fetch(1, timeout=5)
            await pull.unsubscribe()
        await js.add_consumer(STREAM, ConsumerConfig(durable_name="outreach--meeting", filter_subject="jusou.meeting.*",
                                                     ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL))
        status_env(suite, monkeypatch, 4)
        stopped = await gather_status(service_urls(), nats_url())
    finally:
        await nc.close()
    row = stopped["services"]["outreach"]
    assert row["lag"] == {"meeting": 2}, row["consumers"]  # not 1 (pending alone), 3 (summed, or the unused one)
    [left] = [c for c in row["consumers"] if c["name"] == "outreach--meeting"]
    assert left["pending"] == 3 and left["unused"] is True
    assert [m for m in stopped["missing_consumers"] if m["service"] == "outreach"] == []
    console = Console(record=True, width=160)
    console.print(render_status(stopped))
    table = console.export_text()
    assert "outreach--meeting--p0…p3 (4/4)" in table and "outreach--meeting (未使用 unused)" in table, table


async def test_status_judges_a_partitioned_tracking_beyond_its_source_by_the_highest_partition() -> None:
    """readyz `tracking` may name `<source>#p<k>` (partitioned): the highest of them is checked against the source's
    store head, as `<source>` alone is."""
    assert tracked_sources({"meeting": 4, "meeting#p0": 9, "meeting#p3": 7, "intake": 2}) == {"meeting": 9, "intake": 2}
    down = f"http://127.0.0.1:{free_port()}"  # the suspect's readyz asked again: no answer, its head stays
    services: dict[str, Any] = {
        "meeting": {"health": "ready", "store_position": 8, "tracking": {}, "problems": []},
        "outreach": {"health": "ready", "store_position": 1, "tracking": {"meeting": 3, "meeting#p2": 9}, "problems": []},
    }
    await _judge_tracking(services, {"meeting": down, "outreach": down})
    assert services["outreach"]["health"] == "degraded"
    assert services["outreach"]["problems"] == ["outreach--meeting: tracking 9 beyond meeting's store head 8"]


# --- jusou backup on a PostgreSQL database shared with tenants --------------------------------------------------------


@pytest.mark.postgres
def test_backup_of_one_municipality_dumps_its_service_schemas_not_the_tenants_beside_them(
        postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database shared with tenants' schemas (`<prefix>kou_intake` starts with `<prefix>` too): the backup of the
    deployment of one municipality takes exactly `<prefix><service>`, and a dump naming another schema is not restored."""
    prefix = f"bk{uuid4().hex[:6]}_"
    ours, theirs = f"{prefix}intake", f"{prefix}kou_intake"
    with psycopg.connect(host=postgres.host, port=postgres.port, user=postgres.user, password=postgres.password,
                         dbname=postgres.dbname, autocommit=True) as db:
        for schema in (ours, theirs, f"{prefix}intake_old"):
            db.execute(f'CREATE SCHEMA "{schema}"')
            db.execute(f'CREATE TABLE "{schema}".records (note text)')
            db.execute(f'INSERT INTO "{schema}".records VALUES (%s)', (f"record of {schema}",))
    try:
        for name, value in {**postgres.env(prefix), "JUSOU_DATA_DIR": str(tmp_path / "data"),
                            "JUSOU_AUTH_DIR": str(tmp_path / "data" / "auth")}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv(tenancy.VARIABLE, raising=False)
        env = settings.current()
        assert pg_schemas(env) == [ours]
        manifest = backup(tmp_path / "backup", env)
        assert manifest["schemas"] == [ours]
        listed = subprocess.run(["pg_restore", "--list", str(tmp_path / "backup" / "postgres.dump")], capture_output=True,
                                text=True, check=True).stdout
        assert "kou_intake" not in listed and "intake_old" not in listed
        assert f"TABLE DATA {ours} records" in listed
        with pytest.raises(Refused, match="kou_intake"):
            check_tenant({"schemas": [ours, theirs]}, env)
    finally:
        postgres.drop_schemas(prefix)
