"""`jusou up` at its edges, as the README promises them (found by the new user's walk through the README, HD):
a second `jusou up` on a data folder in use is refused and changes nothing in it (a second `--demo-staff` replaced
the running suite's passwords, and with other ports a second suite started on the same stores and NATS store);
a port taken is said before any demo account is touched; the ready table never cuts an address short."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.servers import free_port

from jusou.runner import DATA_FOLDER_LOCK, DataFolderInUse, Suite, hold_data_folder
from shared import settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", free_port()))
        listener.listen()
        yield listener.getsockname()[1]


def jusou_up(data_dir: Path, nats_port: int, *options: str) -> subprocess.CompletedProcess[str]:
    """`jusou up` as a user runs it, on its own ports; were nothing refused it would start a suite: the NATS port is
    taken in every case here, so it stops at the port check at the latest."""
    env = {k: v for k, v in os.environ.items() if k not in settings.variable_names()}
    env |= {"JUSOU_DATA_DIR": str(data_dir), "JUSOU_NATS_PORT": str(nats_port)}
    env |= {f"JUSOU_{name.upper()}_PORT": str(free_port()) for name in settings.PORTS}
    return subprocess.run([sys.executable, "-m", "jusou.cli", "up", *options], check=False, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_second_jusou_up_on_a_folder_in_use_is_refused_and_changes_nothing(tmp_path: Path, taken_port: int) -> None:
    data = tmp_path / "data"
    held = hold_data_folder(data)  # the running `jusou up`
    try:
        (data / "auth").mkdir(mode=0o700)
        accounts = data / "auth" / "staff.json"
        accounts.write_text("{}", encoding="utf-8")  # the running suite's accounts

        done = jusou_up(data, taken_port, "--demo-staff")

        assert done.returncode == 1, done.stderr
        assert f"pid {os.getpid()}" in done.stderr
        assert "は別の jusou up" in done.stderr and "is in use by another `jusou up`" in done.stderr
        assert "--data-dir" in done.stderr and "JUSOU_DATA_DIR" in done.stderr
        assert "Traceback" not in done.stderr
        assert accounts.read_text(encoding="utf-8") == "{}"  # no demo password replaced
        assert "demo-counselor" not in done.stdout
    finally:
        held.close()


def test_the_folder_is_free_again_once_its_jusou_up_has_ended(tmp_path: Path) -> None:
    first = hold_data_folder(tmp_path)
    with pytest.raises(DataFolderInUse) as raised:
        hold_data_folder(tmp_path)
    assert raised.value.data_dir == tmp_path and "データフォルダ" in raised.value.ja()
    first.close()  # the process ended (the system releases a lock however it ends)
    hold_data_folder(tmp_path).close()
    assert oct((tmp_path / DATA_FOLDER_LOCK).stat().st_mode & 0o777) == "0o600"


def test_a_port_taken_is_said_before_any_demo_account_is_made(tmp_path: Path, taken_port: int) -> None:
    done = jusou_up(tmp_path / "data", taken_port, "--demo-staff")

    assert done.returncode == 1 and f"port {taken_port} (nats) is already in use" in done.stderr, done.stderr
    assert "demo-counselor" not in done.stdout
    assert not (tmp_path / "data" / "auth" / "staff.json").exists()


def test_the_ready_table_gives_every_address_whole_to_a_file_or_pipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jusou import cli

    ports = {name: 16101 + i for i, name in enumerate(settings.PORTS)}
    suite = Suite(tmp_path, nats_port=16223, ports=ports)
    printed = io.StringIO()
    monkeypatch.setattr(sys, "stdout", printed)  # not a terminal: rich assumes 80 columns

    cli.print_ready(suite)

    text = printed.getvalue()
    for name in settings.PORTS:
        assert f"{suite.url(name)}/ui/" in text and f"{suite.url(name)}/docs" in text, text
    assert "…" not in text


@pytest.mark.parametrize("where", ["afile", "afile/sub"])
def test_a_data_folder_that_cannot_be_one_is_said_not_a_traceback(tmp_path: Path, taken_port: int, where: str) -> None:
    (tmp_path / "afile").write_text("x", encoding="utf-8")

    done = jusou_up(tmp_path / where, taken_port)

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert f"cannot use the data folder {tmp_path / where}" in done.stderr and "を使えません" in done.stderr, done.stderr


def jusou_cluster_up(data_dir: Path) -> subprocess.CompletedProcess[str]:
    """`jusou cluster up` as a user runs it; were nothing refused it would go on to start three nats-servers: the
    refusal must come before (the caller's lock is held, so it is the first thing after the argument checks)."""
    env = {k: v for k, v in os.environ.items() if k not in settings.variable_names()}
    env |= {"JUSOU_DATA_DIR": str(data_dir), "JUSOU_NATS_PORT": str(free_port())}
    return subprocess.run([sys.executable, "-m", "jusou.cli", "cluster", "up", "--replicas", "1"], check=False,
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("holder", ["jusou up", "jusou cluster up"])
def test_jusou_cluster_up_on_a_folder_in_use_is_refused_and_writes_nothing(tmp_path: Path, holder: str) -> None:
    """A `jusou cluster up` on the data folder of a running `jusou up` (or cluster) started three nats-servers and
    replicas on that folder's cipher key and NATS passwords; it is refused as a second `jusou up` is."""
    data = tmp_path / "data"
    held = hold_data_folder(data, holder)
    try:
        done = jusou_cluster_up(data)

        assert done.returncode == 1, (done.stdout, done.stderr)
        assert f"pid {os.getpid()}, {holder}" in done.stderr, done.stderr
        assert "は別の jusou up または jusou cluster up" in done.stderr and "is in use by another" in done.stderr
        assert "Traceback" not in done.stderr
        assert sorted(p.name for p in data.iterdir()) == [DATA_FOLDER_LOCK]  # no cluster folder, key, passwords, logs
    finally:
        held.close()


def test_a_jusou_up_on_the_folder_of_a_running_cluster_is_refused(tmp_path: Path, taken_port: int) -> None:
    data = tmp_path / "data"
    held = hold_data_folder(data, "jusou cluster up")
    try:
        done = jusou_up(data, taken_port)
        assert done.returncode == 1 and f"pid {os.getpid()}, jusou cluster up" in done.stderr, done.stderr
    finally:
        held.close()
