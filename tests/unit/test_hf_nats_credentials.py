"""`jusou nats credentials USER` for a user the data folder does not hold (HF, session 20): it names the users it
does hold, instead of telling an operator whose `jusou up` is running to run `jusou up` first (`operator` for
`jusou-operator`: the advice sent them the wrong way). A folder with no credentials file still says to run `jusou up`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jusou.cli import parser


def credentials(user: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    args = parser().parse_args(["nats", "credentials", user])
    code = args.handler(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_an_unknown_user_is_answered_with_the_users_the_folder_holds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("JUSOU_TENANTS_FILE", raising=False)
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    (tmp_path / "nats-auth.json").write_text(json.dumps({"jusou-operator": "aa", "integrator": "bb", "intake": "cc"}))
    code, out, err = credentials("operator", capsys)
    assert code == 1 and not out
    assert "jusou-operator" in err and "integrator" in err and "jusou up" not in err
    code, out, _ = credentials("jusou-operator", capsys)
    assert code == 0 and "NATS_USER=jusou-operator" in out


def test_a_folder_without_credentials_says_to_run_jusou_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("JUSOU_TENANTS_FILE", raising=False)
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    code, _, err = credentials("integrator", capsys)
    assert code == 1 and "jusou up" in err
