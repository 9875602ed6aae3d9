"""`jusou tracking rewind SERVICE SOURCE` with a name that is no service (HF, session 20): argparse refuses it with
the services to choose from, exit 2 (a bad argument), before anything is asked of a service or NATS. Before, it
exited 1 (which means "looked and found a problem") saying only 「サービス 'nope' はありません / unknown service」."""

from __future__ import annotations

import pytest

from jusou.cli import parser


@pytest.mark.parametrize("names", [["nope", "intake"], ["collaboration", "nope"]])
def test_a_name_that_is_no_service_is_refused_with_the_services(names: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        parser().parse_args(["tracking", "rewind", *names, "--dry-run"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "'nope'" in err and "intake, collaboration, meeting" in err and "give one of" in err


def test_two_services_are_taken() -> None:
    args = parser().parse_args(["tracking", "rewind", "collaboration", "intake", "--dry-run"])
    assert (args.service, args.source) == ("collaboration", "intake")
