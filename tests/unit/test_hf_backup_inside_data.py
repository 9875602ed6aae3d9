"""`jusou backup DEST` refuses a DEST inside the data folder (or the auth folder) it backs up (HF, session 20):
such a copy is lost with the folder it should survive, a restore wants that folder empty, and inside the auth
folder the backup copied its own files into itself. Before, `jusou backup data/inside` succeeded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from jusou.backup import Refused, backup
from shared import settings


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("JUSOU_AUTH_DIR", "JUSOU_CIPHER_KEY", "JUSOU_STORE", "JUSOU_TENANTS_FILE"):
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "data"
    (folder / "auth").mkdir(parents=True)
    (folder / "auth" / "staff.json").write_text("{}")
    store = sqlite3.connect(folder / "intake.sqlite")
    with store:
        store.execute("CREATE TABLE stored_events (state BLOB)")
    store.close()
    monkeypatch.setenv("JUSOU_DATA_DIR", str(folder))
    return folder


@pytest.mark.parametrize("inside", ["backups/2026-12-07", "auth/copy"])
def test_a_backup_inside_the_folder_it_backs_up_is_refused(inside: str, data: Path) -> None:
    dest = (data / inside).resolve()
    with pytest.raises(Refused) as refused:
        backup(dest, settings.Environment())
    assert "JUSOU_DATA_DIR" in str(refused.value) or "データフォルダ" in str(refused.value)
    assert not (dest / "manifest.json").exists()


def test_the_data_folder_itself_is_refused_as_not_empty(data: Path) -> None:
    with pytest.raises(Refused, match="not empty"):
        backup(data, settings.Environment())


def test_a_backup_beside_the_data_folder_is_taken(data: Path) -> None:
    assert "intake.sqlite" in backup(data.parent / "backup", settings.Environment())["files"]
