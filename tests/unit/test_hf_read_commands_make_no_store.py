"""`jusou replay` and `jusou retention` on a data folder without the suite's stores (a mistyped JUSOU_DATA_DIR or
--data-dir) say so and make nothing there (HF, session 20). Before, each opened the six stores as a service would:
a folder of empty stores and a new cipher.key appeared, `jusou replay intake` said "0 events … equal to the live read
models", `jusou retention` "no record is past its retention period", and a `jusou backup` of that folder then
succeeded."""

from __future__ import annotations

from pathlib import Path

import pytest

from jusou.cli import parser


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("JUSOU_TENANTS_FILE", "JUSOU_STORE", "JUSOU_AUTH_DIR", "JUSOU_CIPHER_KEY"):
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "mistyped"
    monkeypatch.setenv("JUSOU_DATA_DIR", str(folder))
    return folder


def made(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


@pytest.mark.parametrize("service", ["intake", "all"])
def test_replay_of_a_folder_without_the_store_is_refused_and_makes_nothing(
        service: str, nowhere: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["replay", service, "--json"])
    assert args.handler(args) == 2
    err = capsys.readouterr().err
    assert "JUSOU_DATA_DIR" in err and "ストアがありません" in err and str(nowhere) in err
    assert made(nowhere) == []


def test_retention_of_a_folder_without_the_stores_names_them_unread_and_makes_nothing(
        nowhere: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["retention"])
    args.handler(args)
    err = capsys.readouterr().err
    assert "store not read" in err and "JUSOU_DATA_DIR" in err
    assert made(nowhere) == []
