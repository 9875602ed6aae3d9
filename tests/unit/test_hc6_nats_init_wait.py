"""`jusou nats init --wait SECONDS` (the init container of every service on Kubernetes) took any float: `--wait nan` and
`--wait -1` waited not at all and `--wait 1e400` (inf) for ever, each after connecting, where every other waiting option
of the `jusou` commands (`status --watch`, `deadletters replay --wait`) refuses such a value before it connects (HC's
operator review, session 24). It is now refused the same way: status 2, saying what it takes, nothing asked of NATS."""

from __future__ import annotations

import pytest

from jusou.cli import main as jusou


@pytest.mark.parametrize("given", ["nan", "-1", "1e400", "inf", "abc", "86401"])
def test_a_wait_that_is_no_time_to_wait_is_refused_before_nats(
        given: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NATS_URL", "nats://127.0.0.1:9")  # nothing listens: a connection would end in status 3

    with pytest.raises(SystemExit) as ended:
        jusou(["nats", "init", "--wait", given])

    assert ended.value.code == 2
    err = capsys.readouterr().err
    assert "--wait" in err and "86400" in err and "秒数" in err, err


@pytest.mark.parametrize("given", ["0", "600", "1.5"])
def test_a_wait_in_range_is_taken(given: str) -> None:
    from jusou.cli import parser

    assert parser().parse_args(["nats", "init", "--wait", given]).wait == float(given)
