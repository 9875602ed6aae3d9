"""The configuration reference (docs/configuration.md and the README's table) is generated from SETTINGS."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jusou import configdoc
from jusou.cli import main
from shared import settings
from shared.settings import Setting


def table_rows(text: str) -> dict[str, tuple[str, str]]:
    """variable → (default, meaning) from a markdown settings table."""
    rows = {}
    for line in text.splitlines():
        found = re.match(r"^\| `([^`]+)` \| (.*?) \| (.*) \|$", line)
        if found:
            rows[found.group(1)] = (found.group(2), found.group(3))
    return rows


def test_checked_in_reference_and_readme_table_equal_what_settings_generate() -> None:
    assert configdoc.differences() == [], "run `jusou config export` and commit docs/configuration.md and README.md"


def test_every_setting_is_one_row_with_its_default_and_meaning() -> None:
    rows = table_rows(configdoc.CONFIG_DOC.read_text(encoding="utf-8"))
    assert list(rows) == [setting.name for setting in settings.SETTINGS]
    for setting in settings.SETTINGS:
        default, meaning = rows[setting.name]
        assert (setting.default or "(empty)") in default
        assert meaning == setting.meaning.replace("|", "\\|")


@pytest.fixture
def copies(tmp_path: Path) -> tuple[Path, Path]:
    doc, readme = tmp_path / "configuration.md", tmp_path / "README.md"
    doc.write_text(configdoc.CONFIG_DOC.read_text(encoding="utf-8"), encoding="utf-8")
    readme.write_text(configdoc.README.read_text(encoding="utf-8"), encoding="utf-8")
    return doc, readme


def test_check_fails_when_a_setting_is_added_and_export_brings_both_files_up_to_date(
    copies: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    doc, readme = copies
    paths = ["--doc", str(doc), "--readme", str(readme)]
    assert main(["config", "check", *paths]) == 0
    added = Setting("JUSOU_EXAMPLE_NEW", "42", "a setting another engineer just added")
    monkeypatch.setattr(settings, "SETTINGS", (*settings.SETTINGS, added))
    assert main(["config", "check", *paths]) == 1
    assert sorted(configdoc.differences(doc, readme)) == sorted([f"differs: {doc}", f"differs: {readme}"])
    assert "jusou config export" in capsys.readouterr().err
    assert main(["config", "export", *paths]) == 0
    assert main(["config", "check", *paths]) == 0
    assert "JUSOU_EXAMPLE_NEW" in table_rows(doc.read_text(encoding="utf-8"))
    assert "JUSOU_EXAMPLE_NEW" in table_rows(readme.read_text(encoding="utf-8"))


def test_export_changes_only_the_readme_table(copies: tuple[Path, Path]) -> None:
    doc, readme = copies
    before = readme.read_text(encoding="utf-8")
    stale = before.replace("| `JUSOU_STORE` |", "| `JUSOU_STORE_OLD` |")
    readme.write_text(stale, encoding="utf-8")
    assert main(["config", "export", "--doc", str(doc), "--readme", str(readme)]) == 0
    assert readme.read_text(encoding="utf-8") == before


def test_check_reports_a_missing_reference(copies: tuple[Path, Path]) -> None:
    doc, readme = copies
    doc.unlink()
    assert configdoc.differences(doc, readme) == [f"missing: {doc}"]
    assert main(["config", "check", "--doc", str(doc), "--readme", str(readme)]) == 1
