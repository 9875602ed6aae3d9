"""A replay that failed again (README, Operating: `jusou deadletters replay N` → 再処理失敗) was parked with its
Japanese reason raw in a NATS header, `Jusou-Dead-Letter-Reason-Ja` (HC's outside review on a jusou up, 2026-12-07).
A header is ASCII: nats-py read it back as an email.header.Header of U+FFFD, and from then on `jusou deadletters list
--json` and `show N --json` ended in a traceback (TypeError: Object of type Header is not JSON serializable), for
every letter of the stream. The letter is parked again with the English reason only (the Japanese is read from it, as
for a first park), and the letters parked before are read with their Japanese reason from the English."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nats as nats_py
import pytest
import structlog.testing
from support.servers import Nats

from jusou.cli import main as jusou
from shared.contract.events import DEAD_LETTER_PREFIX, DEAD_LETTER_STREAM, STREAM
from shared.messaging import deadletters
from shared.messaging.bus import ensure_streams
from shared.messaging.deadletters import CONSUMER, ORIGINAL_SUBJECT, REASON, REASON_JA, REPLAY_OF
from shared.messaging.inbox import Inbox
from shared.messaging.reasons import japanese

REASON_TEXT = "invalid payload of CaseEscalated v1: reason: String should have at most 8000 characters"


class Broker:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, dict[str, str]]] = []
        self.connection = SimpleNamespace(max_payload=1_048_576)

    async def publish(self, data: bytes, subject: str, *, headers: dict[str, str], **kwargs: Any) -> None:
        self.sent.append((data, headers))


class Message:
    raw_message = SimpleNamespace(subject="jusou-replay.collaboration.intake.CaseEscalated", data=b"{}", headers={},
                                  metadata=SimpleNamespace(sequence=SimpleNamespace(stream=1)))

    async def reject(self) -> None:
        pass


async def test_a_replay_parked_again_carries_only_ascii_headers() -> None:
    assert japanese(REASON_TEXT)  # a reason Jusou writes, with its Japanese
    parking = Inbox.__new__(Inbox)  # no subscriptions: only the parking is exercised
    parking.app, parking.broker, parking.dead_lettered = SimpleNamespace(service="collaboration"), Broker(), 0
    with structlog.testing.capture_logs():
        await deadletters.park_again(parking, Message(), "jusou.intake.CaseEscalated", "5",  # type: ignore[arg-type]
                                     REASON_TEXT)
    [(_, headers)] = parking.broker.sent  # type: ignore[attr-defined]
    assert all(value.isascii() for value in headers.values()), headers


async def park_as_before(url: str) -> None:
    """A letter parked again as park_again parked it before: its Japanese reason raw in a header."""
    nc = await nats_py.connect(url)
    try:
        await ensure_streams(nc)
        js = nc.jetstream(timeout=5)
        original = await js.publish("jusou.intake.CaseEscalated", b"{}", stream=STREAM)
        await js.publish(f"{DEAD_LETTER_PREFIX}.collaboration.intake.CaseEscalated", b"{}", stream=DEAD_LETTER_STREAM,
                         headers={REASON: REASON_TEXT, REASON_JA: japanese(REASON_TEXT) or "", CONSUMER: "collaboration",
                                  ORIGINAL_SUBJECT: "jusou.intake.CaseEscalated", REPLAY_OF: "1",
                                  "Nats-Msg-Id": f"collaboration:replay:{original.seq}"})
    finally:
        await nc.close()


def test_letters_parked_again_before_are_listed_as_json_with_their_japanese_reason(
        nats: Nats, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    asyncio.run(park_as_before(nats.url))
    for name in ("NATS_USER", "NATS_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NATS_URL", nats.url)
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    capsys.readouterr()

    assert jusou(["deadletters", "list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["reason_ja"] == japanese(REASON_TEXT)
    assert jusou(["deadletters", "show", str(listed["seq"]), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["reason_ja"] == japanese(REASON_TEXT)
    assert all(isinstance(value, str) for value in shown["headers"].values())


async def test_a_reason_naming_what_a_forger_wrote_is_parked_in_ascii_both_ways() -> None:
    """A forged envelope on jusou.intake.CaseEscalated naming event_type 「案件」 was parked with "unknown event 案件 v1"
    raw in its reason header: `jusou deadletters list` showed "unknown event ������ v1" (found on a jusou up)."""
    reason = "unknown event 案件 v1"
    parking = Inbox.__new__(Inbox)
    parking.app, parking.broker, parking.dead_lettered = SimpleNamespace(service="collaboration"), Broker(), 0
    consumed = Message()
    consumed.raw_message = SimpleNamespace(subject="jusou.intake.CaseEscalated", data=b"{}", headers={},
                                           metadata=SimpleNamespace(sequence=SimpleNamespace(stream=9)))
    with structlog.testing.capture_logs():
        await parking.dead_letter(consumed, reason)  # type: ignore[arg-type]
        await deadletters.park_again(parking, Message(), "jusou.intake.CaseEscalated", "5", reason)  # type: ignore[arg-type]
    for _, headers in parking.broker.sent:  # type: ignore[attr-defined]
        assert all(value.isascii() for value in headers.values()), headers
        assert headers[REASON] == "unknown event \\u6848\\u4ef6 v1", headers
