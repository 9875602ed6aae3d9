"""Settings that started "ready" with bad values are refused at start (the operator review, session 21): the
identity provider's addresses (not a URL, http:// to another host, a client id without an issuer), the services'
addresses, NATS_URL, the collector, JUSOU_HOST this machine cannot listen on, a targets file that is not there.
Each names the variable, what is wrong and what to write instead (Japanese and English), status 2, no traceback.
`jusou up` listens where JUSOU_HOST says (it wrote 127.0.0.1 over it) and hands the services absolute paths. Read-only
commands given a mistyped data folder are refused naming it, and make nothing there (no store, no key)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from jusou.cli import main
from jusou.runner import Suite, create_streams, run_async
from shared import settings

ROOT = Path(__file__).resolve().parents[2]
NOT_HERE = "192.0.2.1"  # TEST-NET-1 (RFC 5737): never an address of this machine


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in settings.variable_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))


BAD = [  # variable, value, (other variables), what is wrong (English), what to write (English)
    ("JUSOU_OIDC_ISSUER", "not-a-url", {}, "no scheme", "https://"),
    ("JUSOU_OIDC_ISSUER", "http://idp.city.example/realms/city", {}, "not encrypted", "https://"),
    ("JUSOU_OIDC_ISSUER", "https://idp.city.example/realms/city?x=1", {}, "?query", "https://"),
    ("JUSOU_OIDC_JWKS_URL", "https://idp.city.example/certs", {}, "JUSOU_OIDC_ISSUER is unset", "with JUSOU_OIDC_ISSUER"),
    ("JUSOU_OIDC_JWKS_URL", "ftp://idp.city.example/certs", {"JUSOU_OIDC_ISSUER": "https://idp.city.example"},
     "ftp:// is not one of", "https://"),
    ("JUSOU_OIDC_CLIENT_ID", "jusou", {}, "JUSOU_OIDC_ISSUER is unset", "with JUSOU_OIDC_ISSUER"),
    ("JUSOU_OIDC_CLIENT_ID", "jusou ui", {"JUSOU_OIDC_ISSUER": "https://idp.city.example"}, "a space", "no spaces"),
    ("JUSOU_OIDC_SCOPES", "profile email", {}, "no `openid`", "including `openid`"),
    ("JUSOU_INTAKE_URL", "intake.city.example", {}, "no scheme", "https://intake.city.example"),
    ("JUSOU_MEETING_INTERNAL_URL", "http://meeting:99999", {}, "not a URL", "http://meeting:8103"),
    ("JUSOU_COMMUNITY_URL", "javascript://x/%0aalert(1)", {}, "not one of", "https://community.city.example"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", {}, "no scheme", "http://collector:4318"),
    ("NATS_URL", "nats://a:4222,,nats://b:4222", {}, "empty server", "nats://nats:4222"),
    ("NATS_URL", "http://nats:4222", {}, "not one of", "nats://host:port"),
    ("JUSOU_HOST", "http://0.0.0.0", {}, "not an address", "0.0.0.0"),
    ("JUSOU_FORWARDED_ALLOW_IPS", "10.0.0.0/8, ingress-nginx", {}, "'ingress-nginx' is no address or network",
     "10.0.0.0/8,127.0.0.1"),
    ("JUSOU_FORWARDED_ALLOW_IPS", "10.0.0.0/33", {}, "no address or network", "or * for any"),
    ("JUSOU_PG_SCHEMA_PREFIX", "Jusou-", {}, "", "lower-case letters, digits and _"),
]


@pytest.mark.parametrize(("name", "value", "others", "wrong", "instead"), BAD)
def test_a_bad_address_setting_is_refused_naming_it_what_is_wrong_and_what_to_write(
        monkeypatch: pytest.MonkeyPatch, name: str, value: str, others: dict[str, str], wrong: str, instead: str) -> None:
    for other, given in {name: value, **others}.items():
        monkeypatch.setenv(other, given)
    with pytest.raises(settings.SettingsError) as raised:
        settings.current()
    line = next(line for line in str(raised.value).splitlines() if line.strip().startswith(f"{name}="))
    assert f"{name}={value!r}" in line and wrong in line and instead in line, line
    assert "使える値は" in line and "allowed:" in line, line  # Japanese and English


GOOD = [
    {"JUSOU_OIDC_ISSUER": "https://idp.city.example/realms/city", "JUSOU_OIDC_CLIENT_ID": "jusou",
     "JUSOU_OIDC_CLIENT_SECRET": "s", "JUSOU_OIDC_JWKS_URL": "https://idp.city.example/realms/city/certs?kid=1"},
    {"JUSOU_OIDC_ISSUER": "http://127.0.0.1:9400", "JUSOU_OIDC_SCOPES": "openid profile offline_access"},  # a test IdP
    {"JUSOU_OIDC_ISSUER": "http://localhost:9400/"},
    {"NATS_URL": "nats://n1:4222, nats://n2:4222,tls://n3:4222"}, {"NATS_URL": "127.0.0.1:4222"},
    {"JUSOU_INTAKE_URL": "https://intake.city.example/", "JUSOU_INTAKE_INTERNAL_URL": "http://intake:8101",
     "JUSOU_MEETING_URL": "http://[::1]:8103", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
    {"JUSOU_HOST": "0.0.0.0"}, {"JUSOU_HOST": "localhost"},
    {"JUSOU_FORWARDED_ALLOW_IPS": "10.0.0.0/8, 127.0.0.1,::1"}, {"JUSOU_FORWARDED_ALLOW_IPS": "*"},
]


@pytest.mark.parametrize("values", GOOD)
def test_good_address_settings_are_taken(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    env = settings.current()
    assert env.oidc_issuer == values.get("JUSOU_OIDC_ISSUER", "")
    assert settings.environment_problems(env) == []


def start(command: list[str], tmp_path: Path, **values: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in settings.variable_names()}
    env |= {"JUSOU_DATA_DIR": str(tmp_path / "data"),
            "NATS_URL": "nats://127.0.0.1:9", **values}  # were the check missing, no NATS would be reached
    return subprocess.run([sys.executable, *command], check=False, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize(("values", "named", "wrong"), [
    ({"JUSOU_HOST": NOT_HERE}, f"JUSOU_HOST='{NOT_HERE}'", "not an address of this machine"),
    ({"JUSOU_HOST": "no-such-host.invalid"}, "JUSOU_HOST='no-such-host.invalid'", "cannot be resolved"),
    ({"JUSOU_TARGETS_FILE": "/nonexistent/targets.toml"}, "JUSOU_TARGETS_FILE='/nonexistent/targets.toml'", "no such file"),
    ({"JUSOU_OIDC_ISSUER": "https://idp.city.example", "JUSOU_OIDC_JWKS_URL": "http://idp.city.example/certs"},
     "JUSOU_OIDC_JWKS_URL='http://idp.city.example/certs'", "not encrypted"),
])
@pytest.mark.parametrize("command", [["-m", "services.intake"], ["-m", "jusou.cli", "up"]])
def test_a_service_and_jusou_up_refuse_what_they_could_not_use_with_status_2(
        tmp_path: Path, command: list[str], values: dict[str, str], named: str, wrong: str) -> None:
    done = start(command, tmp_path, **values)
    assert done.returncode == 2, done.stderr
    assert named in done.stderr and wrong in done.stderr and "使える値は" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_targets_file_that_is_no_toml_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "targets.toml"
    broken.write_text("[fy2026\nsoudan = 3\n", encoding="utf-8")
    done = start(["-m", "jusou.cli", "report", "--help"], tmp_path, JUSOU_TARGETS_FILE=str(broken))
    assert done.returncode == 2 and "JUSOU_TARGETS_FILE" in done.stderr and "not TOML" in done.stderr, done.stderr


def test_jusou_up_gives_the_services_the_operators_host_and_absolute_paths(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JUSOU_HOST", "0.0.0.0")
    monkeypatch.setenv("JUSOU_TARGETS_FILE", "targets.toml")  # relative to where the operator is, not ROOT
    monkeypatch.setenv("JUSOU_AUTH_DIR", "auth")
    suite = Suite(tmp_path / "data", nats_port=1, ports={"intake": 18999}, services=("intake",))
    env = suite.service_env()
    assert env["JUSOU_HOST"] == "0.0.0.0"  # it was 127.0.0.1 whatever the operator set
    assert env["JUSOU_TARGETS_FILE"] == str(tmp_path / "targets.toml")
    assert env["JUSOU_AUTH_DIR"] == str(tmp_path / "auth")
    assert suite.url("intake") == "http://127.0.0.1:18999"  # a wildcard is reached on the loopback
    monkeypatch.setenv("JUSOU_HOST", "::1")
    assert Suite(tmp_path / "data", ports={"intake": 18999}, services=("intake",)).url("intake") == "http://[::1]:18999"


@pytest.mark.parametrize("command", [
    ["audit", "verify"],
    ["retention"],
    ["history", "00000000-0000-0000-0000-000000000001"],
    ["report", "--fy", "2026"],
])
def test_a_read_only_command_on_a_mistyped_folder_is_refused_and_makes_nothing_there(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], nats: Any,
        command: list[str]) -> None:
    typo = tmp_path / "dta"
    monkeypatch.setenv("JUSOU_DATA_DIR", str(typo))
    monkeypatch.setenv("NATS_URL", nats.url)  # a NATS that answers (without auth): the verify reads JUSOU first
    run_async(create_streams(nats.url))
    try:
        code: object = main(command)
    except SystemExit as stopped:
        code = stopped.code
    assert code == 2
    err = capsys.readouterr().err
    assert str(typo) in err and "JUSOU_DATA_DIR" in err and "Traceback" not in err, err
    assert not typo.exists()  # no store, no cipher.key, no signing key made in the mistyped folder


def test_audit_verify_on_a_nats_without_the_streams_says_so_with_status_3(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], nats: Any) -> None:
    monkeypatch.setenv("NATS_URL", nats.url)  # a NATS Jusou never ran on (or NATS_URL naming another): a traceback
    assert main(["audit", "verify"]) == 3
    err = capsys.readouterr().err
    assert "NATS holds no stream JUSOU" in err and "NATS_URL" in err and "Traceback" not in err, err
