"""`jusou deadletters list` and `show` print a dead letter's words as text, never as the operator's terminal commands.

A dead letter's reason and headers are written by whoever published it on `jusou-dlq.<service>.>`: a service's own
NATS user (shared/messaging/natsauth.py). The tables printed them as Rich markup, with control characters as they
came (review HC, session 19, on `jusou up`): a reason `[bold red]OK to replay[/]` lost its brackets and became a style,
and the escape sequences in it reached the operator's terminal as they were: an OSC 8 hyperlink to another site under
the text "click", a clear-screen. What is asked: markup shows as written and each control character as a visible
escape (`\\x1b`), so what the operator reads is what was parked.
"""

from __future__ import annotations

from argparse import Namespace
from types import SimpleNamespace
from typing import Any

import pytest

from jusou import ops
from shared.messaging import deadletters

HOSTILE = "[bold red]OK to replay[/] \x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\ \x1b[2J\x07\x9b31m"


@pytest.fixture
def parked(monkeypatch: pytest.MonkeyPatch) -> deadletters.DeadLetter:
    letter = deadletters.DeadLetter(seq=4, time=None, consumer="intake", subject="jusou.meeting.MeetingDecided",
                                    reason=HOSTILE, headers={deadletters.REASON: HOSTILE, "Jusou-Consumer": HOSTILE},
                                    data=b'{"a": 1}')

    async def fake_with_js(work: Any) -> Any:
        return await work(SimpleNamespace())

    async def listed(js: Any, limit: int | None = None) -> list[deadletters.DeadLetter]:
        return [letter]

    async def one(js: Any, seq: int) -> deadletters.DeadLetter:
        return letter

    monkeypatch.setattr(ops, "_with_js", fake_with_js)
    monkeypatch.setattr(deadletters, "dead_letters", listed)
    monkeypatch.setattr(deadletters, "dead_letter", one)
    monkeypatch.setenv("COLUMNS", "400")
    return letter


@pytest.mark.parametrize("command", ["list", "show"])
def test_a_dead_letters_reason_and_headers_reach_the_terminal_as_text(command: str, parked: deadletters.DeadLetter,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    shown = (ops.deadletters_list(Namespace(limit=10, consumer=None, json=False)) if command == "list"
             else ops.deadletters_show(Namespace(seq=4, json=False)))

    assert shown == 0
    out = capsys.readouterr().out
    assert not any(ch in out for ch in "\x1b\x07\x9b"), repr(out)
    assert "[bold red]OK to replay[/]" in out  # the markup as it was written
    assert "\\x1b]8;;http://evil.example" in out  # the escape shown, not obeyed
