"""How a consumer reads a message's body and decides whether it may be applied at all (`read`, `refusal`).

Kept apart from shared/messaging/inbox.py so that shared/messaging/adoption.py (which asks where a consumer would apply
a message) reads messages as the inbox does without importing the inbox (which imports it).
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.contract.events import SUBJECT_PREFIX, Envelope, PoisonMessage, parse

#: No store reaches this position (a notification id; 10 000 events a second for 28 000 years), and
#: beyond it a JSON reader may round the number. PostgreSQL and SQLite would take up to 2**63 − 1.
MAX_SOURCE_POSITION = 2**53 - 1


class _Integers(BaseModel):
    """The envelope's numbers as CONTRACT.md has them, JSON integers: pydantic's lax reading of `Envelope` takes
    `"source_position": "5"` (or 5.0) for 5, which the relay, reading the same body, calls foreign."""

    model_config = ConfigDict(strict=True, extra="ignore")
    schema_version: int
    source_position: int


#: What no text on the bus may hold: a NUL (no store keeps it: PostgreSQL refuses it in text and JSON) and a lone
#: surrogate (half of a UTF-16 pair, not Unicode text: nothing encodes it as UTF-8). In a JSON body both can only be
#: written as escapes (`\u0000`, `\ud800`); raw, the body is no UTF-8 JSON and `parse` refuses it.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


#: What the HTTP edge refuses in every text staff send (shared/web/limits.py `_NOT_IN_TEXT`): C0 controls but tab and
#: line breaks, DEL and the C1 controls, Unicode's Bidi_Control (a U+202E reorders what staff read on a page; an ESC
#: drives an operator's terminal). No producer of Jusou's puts them in a payload; a message with one is forged.
_NOT_IN_A_PAYLOAD = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
#: the UTF-8 bytes one of them starts with when written raw (C1: C2 80–9F; U+061C: D8 9C; the rest E2 80 / E2 81);
#: and DEL (7F); a C0 control only as an escape in JSON, which `\\u` finds
_MAYBE_RAW = (b"\xc2", b"\xd8\x9c", b"\xe2\x80", b"\xe2\x81", b"\x7f")


def read(body: bytes) -> tuple[Envelope, BaseModel]:
    """A message body as the consumer takes it: `parse` (shared/contract/events.py), and what the contract refuses
    that `parse` lets through, raised as PoisonMessage with its reason, so that the message is parked on its first
    delivery rather than failing in a handler (or its commit) until `max_deliver` tries: a text with a NUL or a lone
    surrogate, a position or schema version that is not a JSON integer (CONTRACT.md, "The envelope")."""
    envelope, payload = parse(body)
    plain: Any = None
    escaped = b"\\u" in body
    if escaped:  # only an escape can carry a NUL or a lone surrogate (a few µs, and only then)
        plain = json.loads(body.decode("utf-8"))  # `parse` took the body: so does json.loads
        found = _unstorable_text(plain)
        if found is not None:
            raise PoisonMessage(found)
    if escaped or any(start in body for start in _MAYBE_RAW):
        plain = json.loads(body.decode("utf-8")) if plain is None else plain
        found = _undisplayable(plain.get("payload") if isinstance(plain, dict) else None)
        if found is not None:
            raise PoisonMessage(found)
    try:
        _Integers.model_validate_json(body)
    except ValidationError as exc:
        if all(e["type"] != "json_invalid" for e in exc.errors()):
            raise PoisonMessage(_not_integers(exc)) from exc
        # pydantic's JSON reader refuses what json.loads takes (NaN): the envelope read the plain way
        plain = json.loads(body.decode("utf-8")) if plain is None else plain
        wrong = [f"{k} {plain.get(k)!r}" for k in _Integers.model_fields if type(plain.get(k)) is not int]
        if wrong:
            raise PoisonMessage(f"invalid envelope: {', '.join(wrong)}: not a JSON integer (CONTRACT.md)") from exc
    return envelope, payload


def _not_integers(exc: ValidationError) -> str:
    wrong = [f"{'.'.join(str(p) for p in e['loc'])} {e['input']!r}" for e in exc.errors()]
    return f"invalid envelope: {', '.join(wrong)}: not a JSON integer (CONTRACT.md: the position is an integer)"


def _unstorable_text(plain: Any) -> str | None:
    """Why a body's text is none a store can keep (a NUL, a lone surrogate: `_UNSTORABLE`), or None."""
    stack, path = [(plain, "")], ""
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if _UNSTORABLE.search(key):
                    return _unstorable_reason(key, f"a key in {path or 'the body'}")
                stack.append((value, f"{path}.{key}" if path else key))
        elif isinstance(item, list):
            stack.extend((value, f"{path}[{i}]") for i, value in enumerate(item))
        elif isinstance(item, str) and _UNSTORABLE.search(item):
            return _unstorable_reason(item, path or "the body")
    return None


def _undisplayable(payload: Any) -> str | None:
    """Why a payload's text holds what the HTTP edge refuses (`_NOT_IN_A_PAYLOAD`), or None."""
    stack: list[tuple[Any, str]] = [(payload, "payload")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                stack.append((key, f"a key in {path}"))
                stack.append((value, f"{path}.{key}"))
        elif isinstance(item, list):
            stack.extend((value, f"{path}[{i}]") for i, value in enumerate(item))
        elif isinstance(item, str):
            found = _NOT_IN_A_PAYLOAD.search(item)
            if found is not None:
                char = found.group()
                what = "a bidirectional control character" if char == "\u061c" or ord(char) >= 0x200E else \
                    "a control character"
                return (f"{path} holds {what} (U+{ord(char):04X}), which no Jusou producer sends (the HTTP edge "
                        f"refuses it in every text): not applied")
    return None


def _unstorable_reason(text: str, where: str) -> str:
    found = _UNSTORABLE.search(text)
    char = found.group() if found is not None else ""
    what = "a NUL character (U+0000), which no store keeps" if char == "\x00" else \
        f"a lone surrogate (U+{ord(char):04X}), half of a UTF-16 pair: not Unicode text"
    return f"{where} holds {what}: not applied (CONTRACT.md: text is UTF-8)"


def refusal(subject: str, envelope: Envelope) -> str | None:
    """Why a parsed message must not be applied, whatever its body says; None when it may be.

    `subject` is where it was published, `jusou.<source>.<EventType>` (for a replay, the original
    subject): the NATS server let only `<source>` publish there, so the envelope must agree with it.
    """
    prefix, _, rest = subject.partition(".")
    source, _, event_type = rest.partition(".")
    if prefix != SUBJECT_PREFIX or not source or not event_type or "." in event_type:
        return f"subject {subject} is not jusou.<source>.<EventType>: the subject names who sent a message"
    if envelope.source != source or envelope.event_type != event_type:
        return (f"envelope says source {envelope.source}, event_type {envelope.event_type}, but it was published "
                f"on subject {subject} (source {source}, event type {event_type}); the subject is the authority "
                f"(only {source} may publish there): not applied")
    if envelope.source_position > MAX_SOURCE_POSITION:
        return (f"source_position {envelope.source_position} is beyond any store (at most {MAX_SOURCE_POSITION}): "
                f"not a position {source} can have recorded")
    if event_type in OWNERS_EVENTS:
        program = envelope.payload.get("program")
        if program is not None and program != source:
            return (f"{event_type} on subject {subject} names program {program!r}: a program sends only its own plans "
                    f"(CONTRACT.md: program = the publisher; the subject is the authority): not applied")
    return None


#: Events only a plan's owning program publishes, whose payload's `program` (when given) is that publisher (CONTRACT.md,
#: D4 D6 D7): another program's name there is a forgery with the publisher's own credentials (`refusal`).
OWNERS_EVENTS = frozenset({"PlanProposed", "PlanClosureRequested"})
