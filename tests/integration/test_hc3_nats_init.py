"""`jusou nats init`: the operator makes the streams (and, partitioned, the lease buckets) before any service starts
(the operator review, session 21). On Compose and Kubernetes the first service to start made them with its own NATS
user, so whoever held a service's password on an empty server decided their settings; now a one-shot step run as
`jusou-operator` makes them (docker-compose.yml `nats-init`, deploy/k8s/nats-init.yaml), and each service waits for
them as its own user (`--wait`), making nothing. Run against a real nats-server with the users `jusou up` renders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.servers import free_port, wait_for_port

from jusou.runner import ROOT, nats_server_binary, subscriptions
from shared import settings
from shared.messaging import natsauth

STREAMS = ("JUSOU", "JUSOU_DLQ", "JUSOU_REPLAY")


class Server:
    def __init__(self, url: str, passwords: dict[str, str], monitor: int) -> None:
        self.url, self.passwords, self.monitor = url, passwords, monitor

    def jusou(self, user: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        clean = {k: v for k, v in os.environ.items() if k not in settings.variable_names()}
        clean |= {"NATS_URL": self.url, "NATS_USER": user, "NATS_PASSWORD": self.passwords[user], **env}
        return subprocess.run([sys.executable, "-m", "jusou.cli", "nats", "init", *args], cwd=ROOT, env=clean,
                              capture_output=True, text=True, timeout=120, check=False)

    def streams(self) -> dict[str, dict[str, object]]:
        return {name: config for _, name, config in self.streams_by_account()}

    def streams_by_account(self) -> list[tuple[str, str, dict[str, object]]]:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor}/jsz?accounts=true&streams=true&config=true", timeout=5) as r:
            found = json.load(r)
        return [(account["name"], s["name"], s["config"]) for account in found.get("account_details", [])
                for s in account.get("stream_detail", [])]


def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, partitions: int = 1,
           tenants: tuple[Any, ...] = ()) -> Iterator[Server]:
    monkeypatch.setenv("JUSOU_PARTITIONS", str(partitions))  # the users' rights are rendered with it
    config = natsauth.server_config(tmp_path / "data", subscriptions(), tenants)
    passwords = {} if tenants else json.loads((tmp_path / "data" / natsauth.CREDENTIALS_FILE).read_text(encoding="utf-8"))
    port, monitor = free_port(), free_port()
    proc = subprocess.Popen([nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor), "-js",
                             "-sd", str(tmp_path / "nats"), "-c", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port)
        yield Server(f"nats://127.0.0.1:{port}", passwords, monitor)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def nats_with_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    yield from server(tmp_path, monkeypatch)


def test_the_operator_makes_the_streams_and_a_service_waits_for_them_making_nothing(nats_with_users: Server) -> None:
    waited = nats_with_users.jusou("intake", "--wait", "1")
    assert waited.returncode == 1, waited.stderr
    assert "JUSOU" in waited.stderr and "jusou nats init" in waited.stderr and "Traceback" not in waited.stderr
    assert nats_with_users.streams() == {}  # the service's wait made nothing

    made = nats_with_users.jusou(natsauth.OPERATOR)
    assert made.returncode == 0, made.stderr
    assert [line.split(":")[0] for line in made.stdout.splitlines() if "made" in line] == list(STREAMS)
    configs = nats_with_users.streams()
    assert configs["JUSOU"]["subjects"] == ["jusou.>"] and configs["JUSOU_DLQ"]["subjects"] == ["jusou-dlq.>"]

    again = nats_with_users.jusou(natsauth.OPERATOR)  # Compose and the Job run it at every start: nothing changes
    assert again.returncode == 0 and again.stdout.count("already there") == 3, again.stdout + again.stderr
    assert nats_with_users.streams() == configs

    ready = nats_with_users.jusou("intake", "--wait", "5")
    assert ready.returncode == 0 and ready.stdout.count("already there") == 3, ready.stdout + ready.stderr


def test_partitioned_the_operator_makes_each_services_lease_bucket_too(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for nats in server(tmp_path, monkeypatch, partitions=2):
        made = nats.jusou(natsauth.OPERATOR, JUSOU_PARTITIONS="2")
        assert made.returncode == 0, made.stderr
        buckets = {f"KV_{natsauth.bucket_name(s)}" for s in settings.PORTS}
        assert buckets | set(STREAMS) == set(nats.streams())
        waited = nats.jusou("meeting", "--wait", "5", JUSOU_PARTITIONS="2")  # its own bucket only: it reads no other's
        assert waited.returncode == 0 and f"KV_{natsauth.bucket_name('meeting')}" in waited.stdout, waited.stderr


def test_with_many_municipalities_the_init_names_its_tenant_and_makes_that_accounts_streams(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from jusou.cli import main
    from shared import tenancy

    tenants = tmp_path / "tenants.toml"
    tenants.write_text('[[tenants]]\nid = "chofu"\nname = "調布市"\ndata_dir = "chofu"\n'
                       '[[tenants]]\nid = "kakushi"\nname = "架空市"\ndata_dir = "kakushi"\n', encoding="utf-8")
    monkeypatch.setenv("JUSOU_TENANTS_FILE", str(tenants))
    for name in ("NATS_USER", "NATS_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for nats in server(tmp_path, monkeypatch, tenants=tuple(tenancy.load(tenants).values())):
        monkeypatch.setenv("NATS_URL", nats.url)
        with pytest.raises(SystemExit) as unnamed:
            main(["nats", "init"])
        assert unnamed.value.code == 2 and "chofu" in capsys.readouterr().err  # which tenant's streams? it says
        assert main(["nats", "init", "--tenant", "chofu"]) == 0, capsys.readouterr().err  # as jusou-operator@chofu
        accounts = {t.id: t.account for t in tenancy.load(tenants).values()}
        made = {(account, stream) for account, stream, _ in nats.streams_by_account()}
        assert {stream for account, stream in made if account == accounts["chofu"]} == set(STREAMS)
        assert not [stream for account, stream in made if account == accounts["kakushi"]]  # another's are its own


@pytest.mark.parametrize("command", [["nats", "init"], ["up"]])
def test_streams_nats_will_not_make_are_refused_saying_why_not_a_traceback(
        tmp_path: Path, command: list[str]) -> None:
    from support.servers import local_nats

    with local_nats(tmp_path / "nats") as nats:  # one node, no users: JUSOU_STREAM_REPLICAS=3 cannot be
        clean = {k: v for k, v in os.environ.items() if k not in settings.variable_names()}
        env = clean | {"JUSOU_STREAM_REPLICAS": "3", "JUSOU_DATA_DIR": str(tmp_path / "data"),
                       **({"NATS_URL": nats.url} if command[0] == "nats" else {"JUSOU_NATS_PORT": str(free_port())}),
                       **{f"JUSOU_{s.upper()}_PORT": str(free_port()) for s in settings.PORTS}}
        done = subprocess.run([sys.executable, "-m", "jusou.cli", *command], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "replicas > 1 not supported" in done.stderr and "JUSOU_STREAM_REPLICAS (3)" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
