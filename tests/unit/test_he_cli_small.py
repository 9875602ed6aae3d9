"""Small command-line defects HC and HD saw and left (HE, the review of Dec 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jusou.cli import parser
from jusou.runner import hold_data_folder


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("JUSOU_TENANTS_FILE", "JUSOU_STORE", "JUSOU_AUTH_DIR", "JUSOU_CIPHER_KEY"):
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("JUSOU_DATA_DIR", str(data))
    return data


def test_replay_on_a_folder_a_running_suite_holds_is_refused_naming_the_service(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: the replay went on (here: to "no store"; on a suite, clearing read models a service writes to)."""
    held = hold_data_folder(folder, "jusou up")
    try:
        args = parser().parse_args(["replay", "intake"])
        assert args.handler(args) == 2
    finally:
        held.close()
    err = capsys.readouterr().err
    assert "intake が稼働中です" in err and "jusou up" in err and "止めて" in err
    assert "intake is running" in err and str(folder) in err


def test_replay_after_the_suite_stopped_is_not_refused_for_its_lock_file(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hold_data_folder(folder, "jusou up").close()  # the lock file stays, released
    args = parser().parse_args(["replay", "intake"])
    assert args.handler(args) == 2
    err = capsys.readouterr().err
    assert "ストアがありません" in err and "稼働中" not in err


@pytest.mark.parametrize("ttl", ["-1h", "-30", "-0.5h"])
def test_a_negative_token_lifetime_is_refused_as_the_other_bad_lifetimes(
        ttl: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: argparse read `-1h` as an option: "expected one argument", status 2, nothing about the lifetime."""
    from jusou.cli import ttl_seconds

    args = parser().parse_args(["token", "kouki-012", "--ttl", ttl])
    assert args.ttl == ttl
    with pytest.raises(SystemExit) as refused:
        ttl_seconds(args.ttl)
    assert "--ttl" in str(refused.value) and ("より長く" in str(refused.value) or "で指定してください" in str(refused.value))


def test_a_backup_to_a_file_says_it_is_a_file_not_a_folder(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: "<file> は空ではありません / is not empty"."""
    (folder / "intake.sqlite").touch()
    target = folder.parent / "backup.tar"
    target.write_text("x")
    args = parser().parse_args(["backup", str(target)])
    assert args.handler(args) == 2
    err = capsys.readouterr().err
    assert "ファイルです（フォルダではありません）" in err and "is a file, not a folder" in err and "空ではありません" not in err


def test_a_restore_onto_a_data_folder_that_is_a_file_says_so(folder: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Before: "<file> は空ではありません。空のデータフォルダに戻してください"."""
    import sqlite3

    with sqlite3.connect(folder / "intake.sqlite") as db:
        db.execute("CREATE TABLE stored_events (id INTEGER)")
    saved = folder.parent / "saved"
    taken = parser().parse_args(["backup", str(saved)])
    assert taken.handler(taken) == 0, capsys.readouterr().err
    capsys.readouterr()
    plain = folder.parent / "plain-file"
    plain.write_text("x")
    monkeypatch.setenv("JUSOU_DATA_DIR", str(plain))
    args = parser().parse_args(["restore", str(saved)])
    assert args.handler(args) == 2
    err = capsys.readouterr().err
    assert "ファイルです（フォルダではありません）" in err and "is a file, not a folder" in err, err
    assert "JUSOU_DATA_DIR" in err


@pytest.mark.parametrize("value", [" ", "   ", "\t"], ids=repr)
def test_a_variable_of_spaces_only_counts_as_unset_as_a_blank_one(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/configuration.md: "A blank variable counts as unset". Before: JUSOU_NATS_PORT=' ' was refused as a bad
    value (SettingsError), JUSOU_STORE=' ' likewise, while JUSOU_NATS_PORT='' took the default."""
    from shared import settings

    for name in ("JUSOU_NATS_PORT", "JUSOU_STORE", "JUSOU_DATA_DIR", "JUSOU_INTAKE_PORT"):
        monkeypatch.setenv(name, "")
    blank = settings.current()
    for name in ("JUSOU_NATS_PORT", "JUSOU_STORE", "JUSOU_DATA_DIR", "JUSOU_INTAKE_PORT"):
        monkeypatch.setenv(name, value)
    spaces = settings.current()
    assert (spaces.nats_port, spaces.store, spaces.data_dir, spaces.port_of("intake")) == \
        (blank.nats_port, blank.store, blank.data_dir, blank.port_of("intake"))
