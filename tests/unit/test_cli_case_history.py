"""`jusou history` and `jusou audit journey` as staff type them (D15): the case number the pages show is its first 8
characters, so a short or mistyped id gets a sentence saying what is needed (exit 2, before any service is asked), a
case no program has says so, and the table never cuts the time of an event (found by the new-user review)."""

from __future__ import annotations

from typing import Any

import pytest

from jusou import cli

CASE = "70fe8f1d-d6fa-4837-9506-2d3f4403dbd5"


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The case ids `case_history` was asked for; it answers one row for CASE and none for any other."""
    calls: list[str] = []

    def history(case_id: str, urls: dict[str, str]) -> list[dict[str, Any]]:
        calls.append(case_id)
        if case_id != CASE:
            return []
        return [{"occurred_at": "2026-12-06T16:50:12.345678+00:00", "service": "intake", "event": "Case.PersonDisclosed",
                 "actor": {"staff_id": "counter-0001", "division": "fukushi-001"}, "caused_by": None, "case_id": CASE}]

    monkeypatch.setattr(cli, "case_history", history)
    monkeypatch.setenv("COLUMNS", "80")
    return calls


@pytest.mark.parametrize("command", [["history"], ["audit", "journey"]])
@pytest.mark.parametrize("given", ["70fe8f1d", "70fe8f1d-d6fa", "ケース1", ""])
def test_d15_a_case_id_that_is_not_whole_is_refused_with_what_is_needed(
    asked: list[str], capsys: pytest.CaptureFixture[str], command: list[str], given: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main([*command, given])
    err = capsys.readouterr().err
    assert stopped.value.code == 2
    assert "36文字" in err and "ケース番号" in err and "36-character UUID" in err, err
    assert asked == [], "no service is asked for a case id that cannot be one"


def test_d15_a_case_no_program_has_is_said_in_words_and_exits_1(asked: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    other = "00000000-0000-0000-0000-000000000000"
    assert cli.main(["history", other]) == 1
    captured = capsys.readouterr()
    assert "このケースの記録はありません" in captured.err and other in captured.err
    assert "ケースの記録 / case history" not in captured.out, "no empty table"
    assert cli.main(["history", other, "--json"]) == 0 and capsys.readouterr().out.strip() == "[]"


def test_d15_the_history_table_keeps_each_events_time_whole_on_80_columns(
    asked: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["history", CASE.upper()]) == 0  # any case of the hex digits: the same case
    out = capsys.readouterr().out
    assert asked == [CASE]
    assert "2026-12-06T16:50:12" in out, out
    event = "".join(line.split("│")[3].strip() for line in out.splitlines() if line.count("│") == 6)
    assert event == "Case.PersonDisclosed", out  # folded in its column, not cut
