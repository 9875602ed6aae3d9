"""Settings: one typed model of the environment (shared/settings.py), checked at start.

A bad value names the variable, the value and what is allowed, in Japanese and English; a service,
`jusou up` and the `jusou` commands given one exit with status 2 and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jusou.cli import main
from shared import settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in settings.variable_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))


BAD_VALUES = [
    ("JUSOU_PG_PORT", "abc", "1〜65535", "a whole number from 1 to 65535"),
    ("JUSOU_PG_PORT", "70000", "1〜65535", "a whole number from 1 to 65535"),
    ("JUSOU_INTAKE_PORT", "0", "1〜65535", "a whole number from 1 to 65535"),
    ("JUSOU_NATS_PORT", "-1", "1〜65535", "a whole number from 1 to 65535"),
    ("JUSOU_LOG_FORMAT", "jsno", "`console`, `json`", "one of `console`, `json`"),
    ("JUSOU_STORE", "mysql", "`sqlite`, `postgres`", "one of `sqlite`, `postgres`"),
    ("JUSOU_MAX_DELIVER", "0", "1 以上", "a whole number of at least 1"),
    ("JUSOU_RELAY_POLL_SECONDS", "soon", "0 より大きい", "a number above 0"),
    ("JUSOU_STREAM_REPLICAS", "9", "1〜5", "a whole number from 1 to 5"),
]


@pytest.mark.parametrize(("name", "value", "allowed_ja", "allowed_en"), BAD_VALUES)
def test_settings_bad_value_names_variable_value_and_what_is_allowed(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, allowed_ja: str, allowed_en: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(settings.SettingsError) as raised:
        settings.current()
    message = str(raised.value)
    assert f"{name}={value!r}" in message
    assert allowed_ja in message and allowed_en in message
    assert "設定" in message and "setting" in message
    with pytest.raises(settings.SettingsError):
        settings.Settings.from_env("intake")  # what a service reads at start fails the same way


def test_settings_every_bad_value_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUSOU_PG_PORT", "abc")
    monkeypatch.setenv("JUSOU_LOG_FORMAT", "jsno")
    with pytest.raises(settings.SettingsError) as raised:
        settings.current()
    assert "JUSOU_PG_PORT='abc'" in str(raised.value) and "JUSOU_LOG_FORMAT='jsno'" in str(raised.value)


def test_settings_defaults_and_spelling_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    env = settings.current()
    assert (env.store, env.pg_port, env.log_format, env.nats_address) == ("sqlite", 5432, "console",
                                                                           "nats://127.0.0.1:4223")
    assert env.port_of("community") == 8106 and env.max_deliver == 5 and env.relay_poll_seconds == 1.0
    monkeypatch.setenv("JUSOU_STORE", " PostgreS ")
    monkeypatch.setenv("JUSOU_LOG_FORMAT", "JSON")
    monkeypatch.setenv("JUSOU_NATS_PORT", "4300")
    monkeypatch.setenv("JUSOU_MEETING_PORT", "9103")
    env = settings.current()  # read again: a changed environment is seen at once
    assert (env.store, env.log_format, env.nats_address, env.port_of("meeting")) == (
        "postgres", "json", "nats://127.0.0.1:4300", 9103)
    assert settings.Settings.from_env("meeting").port == 9103


def test_settings_table_is_generated_from_the_model() -> None:
    names = {row.name for row in settings.SETTINGS}
    assert {"JUSOU_PG_PORT", "JUSOU_LOG_FORMAT", "JUSOU_<SERVICE>_PORT", "NATS_URL"} <= names
    for name in settings.variable_names():
        generic = name
        for service in settings.PORTS:
            generic = generic.replace(f"_{service.upper()}_", "_<SERVICE>_")
        assert generic in names, name


def test_settings_jusou_command_given_a_bad_value_exits_2_with_the_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JUSOU_STORE", "mysql")
    with pytest.raises(SystemExit) as raised:
        main(["staff", "list"])
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert "JUSOU_STORE='mysql'" in err and "`sqlite`, `postgres`" in err


@pytest.mark.parametrize("command", [["-m", "services.intake"], ["-m", "jusou.cli", "up"]])
def test_settings_process_given_a_bad_port_exits_2_without_traceback(tmp_path: Path, command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in settings.variable_names()}
    env |= {"JUSOU_PG_PORT": "abc", "JUSOU_DATA_DIR": str(tmp_path),
            "NATS_URL": "nats://127.0.0.1:9"}  # were the check missing, no NATS would be started or reached
    done = subprocess.run([sys.executable, *command], check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "JUSOU_PG_PORT='abc'" in done.stderr and "1〜65535" in done.stderr and "1 to 65535" in done.stderr
    assert "Traceback" not in done.stderr
