"""A dead letter that would not fit in NATS's max_payload with its headers is parked without its body (the review from
outside, tests/security/test_hd2_dead_letter_over_max_payload.py): as a consumer parks it, and as a replay that failed
again parks it again. One that fits is parked whole, as before."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import structlog.testing

from shared.messaging import deadletters
from shared.messaging.inbox import Inbox
from shared.messaging.natsheaders import BODY_OMITTED, header_block_size

MAX_PAYLOAD = 1_048_576


class Broker:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, dict[str, str]]] = []
        self.connection = SimpleNamespace(max_payload=MAX_PAYLOAD)

    async def publish(self, data: bytes, subject: str, *, headers: dict[str, str], **kwargs: Any) -> None:
        self.sent.append((data, headers))


class Message:
    def __init__(self, data: bytes) -> None:
        self.raw_message = SimpleNamespace(subject="jusou.intake.CaseEscalated", data=data, headers={},
                                           metadata=SimpleNamespace(sequence=SimpleNamespace(stream=41)))

    async def reject(self) -> None:
        pass


def inbox() -> Inbox:
    made = Inbox.__new__(Inbox)  # no subscriptions: only the parking is exercised
    made.app, made.broker, made.dead_lettered = SimpleNamespace(service="collaboration"), Broker(), 0
    return made


@pytest.mark.parametrize("size", [MAX_PAYLOAD - 210, MAX_PAYLOAD - 600])
async def test_a_body_that_would_take_the_dead_letter_over_max_payload_is_left_out(size: int) -> None:
    parking = inbox()
    with structlog.testing.capture_logs():
        await parking.dead_letter(Message(b"A" * size), "invalid envelope")  # type: ignore[arg-type]
        await deadletters.park_again(parking, Message(b"A" * size), "jusou.intake.CaseEscalated", "3",  # type: ignore[arg-type]
                                     "failed again")
    for data, headers in parking.broker.sent:  # type: ignore[attr-defined]
        assert data == b"" and headers[BODY_OMITTED].startswith(f"{size} bytes"), headers
        assert len(data) + header_block_size(headers) < MAX_PAYLOAD


async def test_a_dead_letter_that_fits_is_parked_whole() -> None:
    parking = inbox()
    body = b"A" * (MAX_PAYLOAD - 5000)
    with structlog.testing.capture_logs():
        await parking.dead_letter(Message(body), "invalid envelope")  # type: ignore[arg-type]
    [(data, headers)] = parking.broker.sent  # type: ignore[attr-defined]
    assert data == body and BODY_OMITTED not in headers
