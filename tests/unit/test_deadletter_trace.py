"""A dead letter and its replay keep the case's W3C trace context, so a replay's effects stay in the
case's trace (shared/observe/tracing.py) instead of starting a new one."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import structlog.testing

from shared.messaging import deadletters
from shared.messaging.inbox import Inbox

TRACE = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": "jusou=1"}


class Recorded:
    """Captures publishes (the broker's and JetStream's signatures)."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        self.connection = SimpleNamespace(max_payload=1_048_576)  # the broker's nats-py client: a dead letter's room

    async def publish(self, *args: Any, headers: dict[str, str], **kwargs: Any) -> Any:
        self.headers.append(headers)
        return SimpleNamespace(seq=7, duplicate=False)


class Message:
    def __init__(self, headers: dict[str, str]) -> None:
        self.raw_message = SimpleNamespace(subject="jusou.intake.CaseEscalated", data=b"{}", headers=headers,
                                           metadata=SimpleNamespace(sequence=SimpleNamespace(stream=41)))
        self.rejected = False

    async def reject(self) -> None:
        self.rejected = True


async def test_a_dead_letter_keeps_the_trace_context_of_the_message_it_parks() -> None:
    inbox = Inbox.__new__(Inbox)  # no broker subscriptions: only dead_letter is exercised
    inbox.app, inbox.broker, inbox.dead_lettered = SimpleNamespace(service="collaboration"), Recorded(), 0
    message = Message({**TRACE, "Nats-Msg-Id": "intake:x:1", "unrelated": "no"})
    with structlog.testing.capture_logs():  # not to whatever stream an earlier test configured
        await inbox.dead_letter(message, "boom")  # type: ignore[arg-type]
    [headers] = inbox.broker.headers  # type: ignore[attr-defined]
    assert {k: headers[k] for k in TRACE} == TRACE
    assert "unrelated" not in headers and message.rejected


async def test_a_replay_carries_the_dead_letters_trace_context(monkeypatch: Any) -> None:
    parked = SimpleNamespace(seq=3, time=None, subject="jusou-dlq.collaboration.intake.CaseEscalated", data=b"{}",
                             headers={**TRACE, "Jusou-Consumer": "collaboration", "Jusou-Dead-Letter-Reason": "boom",
                                      "Jusou-Original-Subject": "jusou.intake.CaseEscalated"})
    letter = deadletters.dead_letter_of(parked)
    assert {k: letter.headers[k] for k in TRACE} == TRACE

    async def found(js: Any, seq: int) -> deadletters.DeadLetter:
        return letter

    async def parked_from_jusou(js: Any, letter: deadletters.DeadLetter) -> None:
        """What collaboration parked from JUSOU (tests/security/test_hc_d5_forged_dead_letter.py tries one it did not)."""

    monkeypatch.setattr(deadletters, "dead_letter", found)
    monkeypatch.setattr(deadletters, "parked_from_jusou", parked_from_jusou)
    js = Recorded()
    await deadletters.replay(js, 3)
    [headers] = js.headers
    assert {k: headers[k] for k in TRACE} == TRACE and headers["Jusou-Replay-Of"] == "3"
