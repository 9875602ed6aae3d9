"""`jusou deadletters list` on a NATS that holds no `JUSOU_DLQ` (HC's outside review, 2026-12-07): with `NATS_URL`
naming another nats-server than the suite's (this machine's own on 4222, JetStream on, no Jusou streams) it said
「退避されたメッセージはありません / no dead letters」 and exited 0, so an operator who named the wrong NATS read that
nothing was parked. It now says the stream is not on that NATS and what to check, exit 1; `show N` says the same."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.servers import Nats

from jusou.cli import main as jusou


@pytest.mark.parametrize("args", [("deadletters", "list"), ("deadletters", "list", "--json"),
                                  ("deadletters", "show", "1")], ids=" ".join)
def test_a_nats_without_the_dead_letter_stream_is_said_not_taken_for_no_dead_letters(
        nats: Nats, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        args: tuple[str, ...]) -> None:
    for name in ("NATS_USER", "NATS_PASSWORD", "JUSOU_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NATS_URL", nats.url)
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))

    code = jusou(list(args))

    out, err = capsys.readouterr()
    assert code == 1, (out, err)
    assert out.strip() == "", out  # neither "no dead letters" nor an empty JSON list
    assert f"{nats.url} に JUSOU_DLQ がありません" in err and f"{nats.url} holds no JUSOU_DLQ" in err, err
    assert "NATS_URL" in err, err
