"""The bus's per-message header work, cut without changing a byte (issue 19, docs/capacity.md §6.7).

- The relay's CloudEvents headers (CONTRACT.md's envelope, docs/integrating.md §2: fixed) are the same headers in the
  same order as when every attribute was encoded on every call; only the per-type part is computed once.
- nats-py's header parsing, replaced by one that checks each distinct header name once, gives the library's
  result on the relay's headers and on malformed blocks; it is what nats-py's client uses once a service connects.
"""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest
from nats.aio import client as nats_client

from shared.contract.events import Envelope
from shared.messaging import natsheaders
from shared.messaging.relay import ENVELOPE_SCHEMA_ID, _cloudevents_headers_plainly, _header_value, cloudevents_headers


def envelope(event_type: str = "CaseEscalated", version: int = 2, source: str = "intake", caused: bool = True,
             at: datetime | None = None) -> Envelope:
    return Envelope(event_id=uuid4(), event_type=event_type, schema_version=version, source=source,  # type: ignore[arg-type]
                    source_position=random.randint(1, 2**53 - 1), case_id=uuid4(),
                    occurred_at=at or datetime.now(UTC), correlation_id=uuid4(),
                    causation_id=uuid4() if caused else None, actor={"service": source}, payload={})


@pytest.mark.parametrize("kind", [
    {}, {"caused": False}, {"event_type": "PlanProposed", "version": 1, "source": "collaboration"},
    {"at": datetime(2026, 12, 6, 9, 0, tzinfo=timezone(timedelta(hours=9)))},  # an offset other than UTC
    {"at": datetime(2026, 12, 6, tzinfo=UTC)},  # no microseconds
    {"event_type": "Café \"x\" 100%"},  # encoded: a type no service has, to show the per-type part is encoded
])
def test_the_relays_cloudevents_headers_are_the_same_headers_in_the_same_order(kind: dict) -> None:
    for _ in range(20):
        one = envelope(**kind)
        assert list(cloudevents_headers(one).items()) == list(_cloudevents_headers_plainly(one).items())


def test_the_dataschema_needs_no_encoding() -> None:
    assert _header_value(ENVELOPE_SCHEMA_ID) == ENVELOPE_SCHEMA_ID


def relay_block(headers: dict[str, str]) -> bytes:
    return b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items()) + b"\r\n"


def test_header_parsing_gives_the_librarys_result_on_the_relays_headers() -> None:
    assert natsheaders.LIBRARY_PARSE is not None, "nats-py's Client._parse_header_lines moved: see natsheaders.py"
    for caused in (True, False):
        one = envelope(caused=caused)
        block = relay_block({"Nats-Msg-Id": str(one.event_id), **cloudevents_headers(one),
                             "Nats-Expected-Last-Subject-Sequence": "41",
                             "Nats-Expected-Last-Subject-Sequence-Subject": "jusou.intake.>"})
        parsed = natsheaders.parse_header_lines(block)
        assert parsed == natsheaders.LIBRARY_PARSE(block)
        assert parsed["ce-id"] == str(one.event_id) and len(parsed) == len(cloudevents_headers(one)) + 3


MALFORMED = [
    b"", b"\r\n", b"no colon here\r\n\r\n", b"Bad Name: x\r\nGood: y\r\n\r\n", b"Tab\tIn: x\r\n\r\n",
    b"  Padded  :   value with spaces   \r\n\r\n", b"Name:NoSpace\r\n", b"Name:\tTabbed\r\n", b"Empty:\r\n",
    b": no name\r\n", "Caf\u00e9: x\r\n".encode(), b"Val: caf\xc3\xa9\r\n", b"Val: bad \xff utf-8\r\n",
    b"Dup: 1\r\nDup: 2\r\n", b"Sep\x1cIn: x\r\n", b"\x1cLead: x\r\n", b"Vt\x0bIn: x\r\n", b"Colons: a:b:c\r\n",
    b"X: 1\nY: 2\r\n", b"Line\rIn: x\r\n",
]


@pytest.mark.parametrize("block", MALFORMED)
def test_header_parsing_gives_the_librarys_result_on_malformed_blocks(block: bytes) -> None:
    assert natsheaders.parse_header_lines(block) == natsheaders.LIBRARY_PARSE(block)


def test_header_parsing_gives_the_librarys_result_on_random_blocks() -> None:
    rng = random.Random(19)
    alphabet = string.printable + "\x1c\x1f\x85é語"
    for _ in range(2000):
        lines = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(rng.randint(0, 6))]
        block = "\r\n".join(lines).encode("utf-8", "surrogatepass")
        assert natsheaders.parse_header_lines(block) == natsheaders.LIBRARY_PARSE(block), block


def test_a_service_connection_parses_headers_the_cheaper_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nats_client.Client, "_parse_header_lines", staticmethod(natsheaders.LIBRARY_PARSE))
    assert natsheaders.install()
    assert nats_client.Client._parse_header_lines is natsheaders.parse_header_lines
