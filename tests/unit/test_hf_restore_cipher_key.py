"""`jusou restore` refuses a key that cannot read the backup's stores (HF, session 20).

Before, a backup restored with `JUSOU_CIPHER_KEY` set to another key than the one its stores were written with (or a
backup made with `JUSOU_CIPHER_KEY` restored without it: `jusou up` then generates a new key) was restored and
started "ready"; every relay then failed for ever on "Invalid cipher tag", nothing was published, `jusou status`
exited 0 and `jusou audit verify` reported tracking beyond the stores. The restore now refuses at once, saying which
key to give, and writes nothing."""

from __future__ import annotations

import base64
import secrets
import sqlite3
from pathlib import Path

import pytest

from jusou.backup import Refused, backup, restore
from shared import settings


def a_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("JUSOU_AUTH_DIR", "JUSOU_CIPHER_KEY", "JUSOU_STORE", "JUSOU_TENANTS_FILE"):
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "data"
    folder.mkdir()
    store = sqlite3.connect(folder / "intake.sqlite")
    with store:
        store.execute("CREATE TABLE stored_events (state BLOB)")
    store.close()
    monkeypatch.setenv("JUSOU_DATA_DIR", str(folder))
    return folder


def test_a_restore_with_another_jusou_cipher_key_than_the_backups_key_file_is_refused(
        data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.cipher_key_in(data)
    backup(tmp_path / "backup", settings.Environment())
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path / "restored"))
    monkeypatch.setenv("JUSOU_CIPHER_KEY", a_key())
    with pytest.raises(Refused) as refused:
        restore(tmp_path / "backup", settings.Environment())
    assert "JUSOU_CIPHER_KEY" in str(refused.value) and "暗号鍵" in str(refused.value)
    assert not (tmp_path / "restored").exists() or not any((tmp_path / "restored").iterdir())


def test_a_restore_with_the_backups_own_key_in_jusou_cipher_key_goes_ahead(
        data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = settings.cipher_key_in(data)
    backup(tmp_path / "backup", settings.Environment())
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path / "restored"))
    monkeypatch.setenv("JUSOU_CIPHER_KEY", key)
    restore(tmp_path / "backup", settings.Environment())
    assert (tmp_path / "restored" / "intake.sqlite").exists()


def test_a_backup_made_with_jusou_cipher_key_is_restored_only_with_that_key(
        data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = a_key()
    monkeypatch.setenv("JUSOU_CIPHER_KEY", key)
    backup(tmp_path / "backup", settings.Environment())
    assert not (tmp_path / "backup" / "cipher.key").exists()
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path / "restored"))
    monkeypatch.delenv("JUSOU_CIPHER_KEY")
    with pytest.raises(Refused, match="JUSOU_CIPHER_KEY"):  # unset: `jusou up` would make a new key
        restore(tmp_path / "backup", settings.Environment())
    monkeypatch.setenv("JUSOU_CIPHER_KEY", a_key())
    with pytest.raises(Refused, match="JUSOU_CIPHER_KEY"):  # another key
        restore(tmp_path / "backup", settings.Environment())
    assert not (tmp_path / "restored").exists() or not any((tmp_path / "restored").iterdir())
    monkeypatch.setenv("JUSOU_CIPHER_KEY", key)
    restore(tmp_path / "backup", settings.Environment())
    assert (tmp_path / "restored" / "intake.sqlite").exists()
