"""The operator's commands refuse what they cannot use before they reach NATS or a service (found by the new user's
walk through `jusou --help`, HD): `jusou deadletters show 0` or `replay -1` ended in a traceback from NATS, `jusou
status --watch -1` in one after its first table and `--watch 0` refreshed without a pause, `deadletters list --limit
0` said there were no dead letters, `jusou audit journey --as-of garbage` ended in a traceback, and `jusou audit
disclosures nobody` printed intake's raw 422 JSON (`../x` a 404 for no such address). Each is now argparse's exit 2
naming what it takes, in Japanese and English."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from jusou import cli
from jusou.cli import parser, ttl_seconds

CASE = "70fe8f1d-d6fa-4837-9506-2d3f4403dbd5"

@pytest.mark.parametrize("argv", [
    ["deadletters", "show", "0"], ["deadletters", "show", "-1"], ["deadletters", "replay", "0"],
    ["deadletters", "replay", "-3"], ["deadletters", "show", "abc"],
    ["deadletters", "list", "--limit", "0"], ["deadletters", "list", "--limit", "-3"],
    ["status", "--watch", "0"], ["status", "--watch", "-1"], ["status", "--watch", "nan"],
    ["deadletters", "replay", "1", "--wait", "-5"], ["deadletters", "replay", "1", "--wait", "inf"],
    ["audit", "journey", CASE, "--as-of", "garbage"], ["audit", "journey", CASE, "--as-of", "2026-12-06T20:00:00"],
    ["audit", "journey", CASE, "--as-of", "2026-12-06"],
    ["audit", "disclosures", "nobody"], ["audit", "disclosures", "../../etc"],
    ["erase", "p-1", "--basis", "person_request", "--reason", "本人の請求"],
])
def test_what_a_command_cannot_use_is_refused_before_it_reaches_nats_or_a_service(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        parser().parse_args(argv)

    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert "で指定してください" in err and "give " in err, err


def test_the_numbers_a_command_can_use_are_taken() -> None:
    assert parser().parse_args(["deadletters", "show", "3"]).seq == 3
    assert parser().parse_args(["deadletters", "replay", "3", "--wait", "0"]).wait == 0
    assert parser().parse_args(["deadletters", "list", "--limit", "1"]).limit == 1
    assert parser().parse_args(["status", "--watch"]).watch == 2.0
    assert parser().parse_args(["status", "--watch", "0.5"]).watch == 0.5
    assert parser().parse_args(["status"]).watch is None
    assert parser().parse_args(["audit", "journey", CASE, "--as-of", "2026-11-29T12:00:00+09:00"]).as_of == datetime(
        2026, 11, 29, 12, tzinfo=timezone(timedelta(hours=9)))
    assert parser().parse_args(["audit", "journey", CASE]).as_of is None
    assert parser().parse_args(["audit", "disclosures", CASE.upper()]).person_ref == CASE
    assert parser().parse_args(["erase", CASE, "--basis", "person_request", "--reason", "r"]).person_ref == CASE


@pytest.mark.parametrize("ttl", ["0m", "-5m", "0"])
def test_a_token_lifetime_of_nothing_is_refused_as_such_not_as_too_long(ttl: str) -> None:
    with pytest.raises(SystemExit) as refused:
        ttl_seconds(ttl)
    assert "more than 0" in str(refused.value) and "at most 7d" not in str(refused.value)
    assert ttl_seconds("7d") == 7 * 86400


def test_the_history_table_piped_keeps_each_event_whole_on_its_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`jusou history CASE | less` (no terminal, no COLUMNS): rich's 80 columns folded every event name."""
    rows = [{"occurred_at": "2026-12-06T19:51:39.726218+00:00", "service": "collaboration",
             "event": "CollaborationCase.Opened", "actor": {"staff_id": "kouki-012", "division": "elderly-support"},
             "caused_by": "f5ccf684-0000-0000-0000-000000000000", "case_id": CASE}]
    monkeypatch.setattr(cli, "case_history", lambda case_id, urls: rows)
    monkeypatch.delenv("COLUMNS", raising=False)

    assert cli.main(["history", CASE]) == 0

    [line] = [line for line in capsys.readouterr().out.splitlines() if "2026-12-06T19:51:39" in line]
    assert "CollaborationCase.Opened" in line and "kouki-012 (elderly-support)" in line, line


def test_a_report_that_cannot_be_written_where_asked_is_said_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jusou import report

    monkeypatch.setattr(report, "fetch", lambda path, service: (b"\xef\xbb\xbf\xe4\xba\x8b\xe6\xa5\xad\n", []))
    args = parser().parse_args(["report", "--fy", "2026", "--format", "csv", "--out", str(tmp_path / "nowhere" / "r.csv")])

    with pytest.raises(SystemExit) as stopped:
        report.run(args)

    assert f"cannot write {tmp_path / 'nowhere' / 'r.csv'}" in str(stopped.value) and "に書けません" in str(stopped.value)
    written = parser().parse_args(["report", "--fy", "2026", "--format", "csv", "--out", str(tmp_path / "r.csv")])
    assert report.run(written) == 0 and (tmp_path / "r.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_a_backup_or_restore_folder_that_cannot_be_made_is_said_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from jusou.backup import FORMAT, MANIFEST

    monkeypatch.delenv("JUSOU_TENANTS_FILE", raising=False)
    monkeypatch.delenv("JUSOU_AUTH_DIR", raising=False)
    monkeypatch.delenv("JUSOU_CIPHER_KEY", raising=False)
    monkeypatch.setenv("JUSOU_STORE", "sqlite")
    data = tmp_path / "data"
    monkeypatch.setenv("JUSOU_DATA_DIR", str(data))  # --data-dir is put in the environment: given back after the test
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    data.mkdir()
    (data / "intake.sqlite").write_bytes(b"")
    empty_backup = tmp_path / "backup"
    empty_backup.mkdir()
    (empty_backup / MANIFEST).write_text(json.dumps({"format": FORMAT, "store": "sqlite", "files": {}}), encoding="utf-8")
    under_a_file = tmp_path / "afile" / "sub"

    assert cli.main(["backup", str(under_a_file), "--data-dir", str(data)]) == 2
    assert f"cannot make {under_a_file}" in capsys.readouterr().err
    assert cli.main(["restore", str(empty_backup), "--data-dir", str(under_a_file)]) == 2
    assert f"cannot make {under_a_file}" in capsys.readouterr().err


def test_jusou_staff_add_without_a_terminal_or_password_stdin_says_how_to_give_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`jusou staff add x … < /dev/null` (a script): getpass echoed, warned, then ended in a traceback (EOFError)."""
    import io

    monkeypatch.setenv("JUSOU_AUTH_DIR", str(tmp_path / "auth"))
    monkeypatch.delenv("JUSOU_TENANTS_FILE", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    division = next(iter(cli.divisions()))

    with pytest.raises(SystemExit) as stopped:
        cli.main(["staff", "add", "kouki-012", "--division", division, "--role", "counselor"])

    assert "--password-stdin" in str(stopped.value) and "端末" in str(stopped.value)
    assert not (tmp_path / "auth" / "staff.json").exists()
