"""The operator's commands at their edges (HC's outside review on a `jusou up`, 2026-12-07): `jusou deadletters show
99999999999999999999999` ended in nats-py's traceback (BadRequestError: cannot unmarshal … into uint64) and `replay`
of it printed NATS's raw error; `jusou status --watch 1e308` printed its first table and ended in a traceback
(OverflowError from time.sleep); `jusou report --fy 0` printed this year's figures as if no year had been given.
Each is now refused before it reaches NATS or a service, saying what to give."""

from __future__ import annotations

import argparse

import pytest

from jusou import report
from jusou.cli import parser


@pytest.mark.parametrize("argv", [
    ["deadletters", "show", "99999999999999999999999"], ["deadletters", "replay", str(2**64)],
    ["status", "--watch", "1e308"], ["status", "--watch", "1e10"],
    ["deadletters", "replay", "1", "--wait", "1e308"],
])
def test_a_number_past_what_nats_or_a_clock_can_hold_is_refused_with_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        parser().parse_args(argv)

    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert "で指定してください" in err and "give " in err, err


def test_the_largest_numbers_still_taken() -> None:
    assert parser().parse_args(["deadletters", "show", str(2**64 - 1)]).seq == 2**64 - 1
    assert parser().parse_args(["status", "--watch", "86400"]).watch == 86400.0
    assert parser().parse_args(["deadletters", "replay", "1", "--wait", "86400"]).wait == 86400.0


@pytest.mark.parametrize("fy", [0, 1999, 2101])
def test_a_fiscal_year_out_of_range_is_refused_never_taken_for_this_year(
    fy: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(report, "fetch", lambda path, service: asked.append(path) or (b"{}", []))

    with pytest.raises(SystemExit) as refused:
        report.run(argparse.Namespace(fy=fy, format="json", out=None, service=None))

    assert "--fy" in str(refused.value) and asked == []


def test_the_status_table_piped_keeps_every_column(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """`jusou status > status.txt` (cron mail, `| less`, a ticket): rich's 80 columns dropped the 退避 DLQ column
    always, and 反映 applied with it when a service was 要確認 degraded: its numbers were not printed at all."""
    from jusou import ops

    def service(health: str, dead_letters: int) -> dict[str, object]:
        return {"url": "http://127.0.0.1:8101", "health": health, "store_position": 82, "relay_position": 82,
                "relay_lag": 0, "readmodel_lag": 0, "published": 53, "applied": 4321, "dead_letters": dead_letters,
                "consumers": [], "error": "4 message(s) on jusou.intake.> that intake's store never recorded"}

    found = {"ok": False, "down": [], "degraded": ["intake"], "full_streams": [], "other_consumers": [],
             "missing_consumers": [], "nats_too_old": [],
             "services": {"intake": service("degraded", 7654), "collaboration": service("ready", 0)},
             "nats": {"url": "nats://127.0.0.1:4223", "up": True, "streams": {}, "servers": [], "version": "2.15.1",
                      "connections": 13}}

    async def gathered(urls: object, url: object) -> dict[str, object]:
        return found

    monkeypatch.setattr(ops, "gather_status", gathered)
    monkeypatch.delenv("COLUMNS", raising=False)

    assert ops.status(argparse.Namespace(json=False, watch=None)) == 1

    out = capsys.readouterr().out
    [intake] = [line for line in out.splitlines() if line.split()[:2] == ["intake", "要確認"]]
    assert "applied" in out and "DLQ" in out, out
    assert "4321" in intake and "7654" in intake, intake


@pytest.mark.parametrize("ttl", ["abc", "0.5h", "1e400h"])
def test_a_token_lifetime_that_is_no_number_and_unit_is_refused_in_both_languages(ttl: str) -> None:
    """`jusou token kouki-012 --ttl 0.5h` said only "--ttl '0.5h': e.g. 30m, 8h, 1d", in English, not what was wrong."""
    from jusou.cli import ttl_seconds

    with pytest.raises(SystemExit) as refused:
        ttl_seconds(ttl)
    assert "で指定してください" in str(refused.value) and "give a whole number and a unit" in str(refused.value)


@pytest.mark.parametrize("extra", [[], ["--format", "json"], ["--as-of", "2026-11-29T12:00:00+09:00"]], ids=str)
def test_the_journey_of_a_case_no_program_has_says_so(extra: list[str], monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """`jusou audit journey <a whole UUID no program has>` printed an empty line and exited 1, saying nothing."""
    from jusou import cli

    monkeypatch.setattr(cli, "case_history", lambda case_id, urls: [])
    monkeypatch.setattr(cli, "get_json", lambda url, name: [])
    case = "00000000-0000-0000-0000-000000000000"

    assert cli.main(["audit", "journey", case, *extra]) == 1

    err = capsys.readouterr().err
    assert "このケースの記録はありません" in err and f"no program has records of case {case}" in err, err
