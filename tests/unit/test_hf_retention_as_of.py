"""`jusou retention --as-of` reads the 基準日 as the staff forms and `GET /retention?as_of=` do (HF, session 20):
令和8年12月6日, R8.12.6, 2026/12/6 and 2026-12-06 are one day; a text that is no date is refused (status 2) with a
sentence whole in Japanese and whole in English saying what to type. Before, only YYYY-MM-DD was read, and the
refusal was 「--as-of 'R8.12.6': YYYY-MM-DD の形で / e.g. 2031-04-01」."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jusou import retention
from jusou.cli import parser


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    args = parser().parse_args(["retention", *argv])
    code = args.handler(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def no_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUSOU_TENANTS_FILE", raising=False)
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(retention, "suite_records", lambda *a, **k: ([], {}, set(), []))


@pytest.mark.parametrize("typed", ["令和8年12月6日", "R8.12.6", "2026/12/6", "2026-12-06"])
def test_the_as_of_day_is_read_as_the_forms_read_it(typed: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--as-of", typed, "--json")
    assert code == 0, err
    assert json.loads(out)["as_of"] == "2026-12-06"


@pytest.mark.parametrize("typed", ["nonsense", "2026-13-45", "R8.2.30"])
def test_a_text_that_is_no_date_is_refused_saying_what_to_type(typed: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--as-of", typed)
    assert code == 2 and not out
    japanese, english = err.strip().split("\n")
    assert "基準日" in japanese and "令和" in japanese
    assert "is not a date" in english and "2031-04-01" in english and not any("\u3040" <= c <= "\u9fff" for c in english)
