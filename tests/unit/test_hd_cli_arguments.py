"""The operator's commands refuse numbers they cannot use before they reach NATS (found by the new user's walk through
`jusou --help`, HD): `jusou deadletters show 0` or `replay -1` ended in a traceback from NATS, `jusou status --watch
-1` in one after its first table and `--watch 0` refreshed without a pause, `deadletters list --limit 0` said there
were no dead letters. Each is now argparse's exit 2 naming what it takes, in Japanese and English."""

from __future__ import annotations

import pytest

from jusou.cli import parser


@pytest.mark.parametrize("argv", [
    ["deadletters", "show", "0"], ["deadletters", "show", "-1"], ["deadletters", "replay", "0"],
    ["deadletters", "replay", "-3"], ["deadletters", "show", "abc"],
    ["deadletters", "list", "--limit", "0"], ["deadletters", "list", "--limit", "-3"],
    ["status", "--watch", "0"], ["status", "--watch", "-1"], ["status", "--watch", "nan"],
    ["deadletters", "replay", "1", "--wait", "-5"], ["deadletters", "replay", "1", "--wait", "inf"],
])
def test_a_number_a_command_cannot_use_is_refused_before_it_reaches_nats(
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
