"""`jusou replay --tenant ID` while `jusou up --tenants FILE` runs (the lead's question to HC, session 24).

`jusou replay` refuses while a `jusou up` holds the data folder it rebuilds (c4fb888): a service indexing while the replay
clears and rebuilds its read models can leave rows out of them. It looks for the lock (`jusou-up.lock`) in the folder
whose stores it rebuilds; with `--tenant ID`, the tenant's own folder (its `data_dir` in the tenants file). `jusou up
--tenants` held the lock of the deployment's folder only, so the tenant's replay found no lock and went on beside the
tenant's running services. `jusou up` now holds each tenant's folder too, and the replay is refused as the plain one is.

The suite is not started: `Suite.start` is replaced by the replay, run while `jusou up` holds what it holds.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jusou import cli
from jusou.runner import Suite

TENANTS = """\
[[tenants]]
id = "kou"
name = "甲市"
data_dir = "kou"

[[tenants]]
id = "otsu"
name = "乙市"
data_dir = "otsu"
"""


@pytest.fixture
def signals_kept() -> Iterator[None]:
    """`jusou up` sets SIGINT, SIGTERM and SIGHUP; the test process gets its own back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_a_tenants_replay_is_refused_while_jusou_up_tenants_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], signals_kept: None) -> None:
    (tmp_path / "tenants.toml").write_text(TENANTS, encoding="utf-8")
    for name in ("JUSOU_TENANTS_FILE", "JUSOU_DATA_DIR", "JUSOU_TOKEN", "NATS_URL", "JUSOU_STORE"):
        monkeypatch.setenv(name, "")  # recorded, so that what `jusou up --tenants` sets in os.environ is undone after
        monkeypatch.delenv(name)
    replays: list[tuple[int, str]] = []

    def replay_while_up(suite: Suite) -> None:
        capsys.readouterr()
        code = cli.main(["replay", "intake", "--tenant", "kou"])
        replays.append((code, capsys.readouterr().err))
        raise KeyboardInterrupt  # Ctrl-C on jusou up

    monkeypatch.setattr(Suite, "check_ports", lambda suite: None)
    monkeypatch.setattr(Suite, "start", replay_while_up)
    monkeypatch.setattr(Suite, "stop", lambda suite: None)

    assert cli.main(["up", "--tenants", str(tmp_path / "tenants.toml"), "--data-dir", str(tmp_path / "data")]) == 0

    [(code, err)] = replays
    assert code == 2, err
    assert "稼働中" in err and "is running" in err, err  # not the replay's own refusal of a folder without stores
    assert str(tmp_path / "kou") in err, err


def test_a_tenant_folder_is_held_once_when_it_is_the_deployments_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signals_kept: None) -> None:
    """A tenant whose data_dir is the deployment's folder itself: held once, not refused as in use by itself."""
    (tmp_path / "tenants.toml").write_text(TENANTS.replace('data_dir = "kou"', 'data_dir = "data"'), encoding="utf-8")
    for name in ("JUSOU_TENANTS_FILE", "JUSOU_DATA_DIR", "JUSOU_TOKEN", "NATS_URL", "JUSOU_STORE"):
        monkeypatch.setenv(name, "")  # recorded, so that what `jusou up --tenants` sets in os.environ is undone after
        monkeypatch.delenv(name)
    started: list[Any] = []

    def started_once(suite: Suite) -> None:
        started.append(suite)
        raise KeyboardInterrupt

    monkeypatch.setattr(Suite, "check_ports", lambda suite: None)
    monkeypatch.setattr(Suite, "start", started_once)
    monkeypatch.setattr(Suite, "stop", lambda suite: None)

    assert cli.main(["up", "--tenants", str(tmp_path / "tenants.toml"), "--data-dir", str(tmp_path / "data")]) == 0
    assert len(started) == 1
