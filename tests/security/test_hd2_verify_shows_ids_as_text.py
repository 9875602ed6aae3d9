"""`jusou audit verify` prints an unknown message's `Nats-Msg-Id` as text, never as the operator's terminal commands.

The review from outside (an attacker with intake's NATS password): a message on intake's subjects that its store never
recorded is reported as `intake: unknown <its Nats-Msg-Id>`, a header whoever published it wrote. A Nats-Msg-Id of
`id<ESC>[2J<ESC>]8;;http://evil.example…` reached the operator's terminal as a cleared screen and a link to another site.
As `jusou deadletters` and `jusou status` do: each control character shows escaped (`\\x1b`).
"""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from jusou import cli, verify

FORGED_ID = "id\x1b[2J\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\"


def test_an_unknown_messages_id_reaches_the_terminal_as_text(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    report = verify.ServiceReport(service="intake", unknown=[FORGED_ID])

    def run_verify(*args: Any, **kwargs: Any) -> tuple[list[verify.ServiceReport], list[verify.ServiceReport]]:
        return [report], []

    monkeypatch.setattr(verify, "run_verify", run_verify)
    monkeypatch.setattr(verify, "default_nats_url", lambda: "nats://127.0.0.1:4223")

    code = cli.audit_verify(argparse.Namespace(data_dir=None, service=None, repair=False, json=False))

    out = capsys.readouterr().out
    assert code == 1 and "intake: unknown id" in out
    assert "\x1b" not in out.split("intake: unknown", 1)[1], repr(out)
    assert "\\x1b[2J" in out and "\\x1b]8;;http://evil.example" in out
