"""nats-py's header parsing, the same result for less CPU (issue 19, docs/capacity.md §6.7).

Every message the services receive carries about fifteen headers (the CloudEvents `ce-*` ones of the relay,
`Nats-Msg-Id`, the expected-sequence pair; CONTRACT.md, docs/integrating.md §2), and nats-py 2.16 parses them
in Python, `Client._parse_header_lines`, testing each character of each header name with `str.isspace` in a
generator: about 34 µs per message on the project's machine, a quarter of the CPU a pull delivery costs. The
names are the same few on every message, so each distinct name is checked once and remembered
(`parse_header_lines`, exactly the library's result: tests/unit/test_bus_header_cost.py compares the two on
the relay's headers and on malformed blocks).

nats-py's own accelerator, the optional `fast_mail_parser` (0.10.0), was measured against it on the relay's 15
headers (2026-12-06, a throwaway venv, the machine loaded): library 99 µs, fast_mail_parser 142 µs, this 29 µs
per block; and fast_mail_parser gives other headers: each value a list (`{'ce-id': ['…']}`, where the inbox and
tests read strings), names decoded as Latin-1, RFC 2047 words decoded, folded lines joined, and every header
after a line without a colon dropped. So not that.

`install()` puts it in place of the library's (a private name, kept in this one adapter, STYLE; the test
fails by name if nats-py moves it); only when nats-py parses headers itself (without `fast_mail_parser`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from nats.aio import client as nats_client

_CRLF = b"\r\n"
#: what `str.isspace` finds (the library's test of a name): `re`'s `\s` on str is Py_UNICODE_ISSPACE too
_SPACE = re.compile(r"\s")
#: raw header name (as on the wire, before `strip`) → the name the library keeps, or None when it skips it
_NAMES: dict[bytes, str | None] = {}
NAMES_KEPT = 512  # distinct names remembered; others are checked each time (a sender making up names)


def _name(raw: bytes) -> str | None:
    """The library's key for a header name, None where it skips the line (non-ASCII, or space inside)."""
    try:
        key = raw.strip().decode("ascii")
    except UnicodeDecodeError:
        return None
    return None if _SPACE.search(key) else key


def parse_header_lines(raw: bytes) -> dict[str, str]:
    """`nats.aio.client.Client._parse_header_lines` (nats-py 2.16), each distinct name checked once."""
    out: dict[str, str] = {}
    names = _NAMES
    for line in raw.split(_CRLF):
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        try:
            key = names[name]
        except KeyError:
            key = _name(name)
            if len(names) < NAMES_KEPT:
                names[name] = key
        if key is None:
            continue
        out[key] = value.strip().decode("utf-8", "replace")
    return out


#: nats-py's own, kept for the comparison in the tests
LIBRARY_PARSE: Any = nats_client.Client.__dict__["_parse_header_lines"].__func__ \
    if isinstance(nats_client.Client.__dict__.get("_parse_header_lines"), staticmethod) else None


def install() -> bool:
    """Use `parse_header_lines` in nats-py's client (idempotent); False when nats-py does not parse this way."""
    if nats_client.parse_email is not None or LIBRARY_PARSE is None:
        return False
    nats_client.Client._parse_header_lines = staticmethod(parse_header_lines)  # type: ignore[method-assign]
    return True


# --- a dead letter that fits (the review from outside, 2026-12-07) ----------------------------------------------------

#: Set on a dead letter parked without its body: the body's size, and where the original is (`JUSOU` at the sequence the
#: letter's `Nats-Msg-Id` names).
BODY_OMITTED = "Jusou-Dead-Letter-Body-Omitted"
#: What the broker adds to a message's headers of its own (FastStream's correlation id, content type…), kept free.
BROKER_HEADROOM = 1024


def header_block_size(headers: Mapping[str, str]) -> int:
    """The bytes nats-py writes for `headers`: `NATS/1.0`, a `name: value` line each, a blank line (each with CRLF)."""
    return 10 + sum(len(k.strip().encode()) + 4 + len(str(v).strip().encode()) for k, v in headers.items()) + 2


def within_max_payload(data: bytes, headers: dict[str, str], max_payload: int, where: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers to publish so that they fit in the server's `max_payload`: as they are when they do; else no
    body and `BODY_OMITTED` saying why and `where` the original is. nats-py checks the body alone against max_payload:
    a message whose headers take it over is sent, nats-server answers `-ERR 'Maximum Payload Violation'` and closes the
    connection, and nats-py takes that -ERR as final (no reconnect): every consumer of the service stopped for good on
    one message a few hundred bytes under the limit, parked with its reason (tests/security/test_hd2_*)."""
    if len(data) + header_block_size(headers) + BROKER_HEADROOM <= max_payload:
        return data, headers
    return b"", {**headers, BODY_OMITTED: f"{len(data)} bytes, over what NATS takes beside the reason; the original: {where}"}
