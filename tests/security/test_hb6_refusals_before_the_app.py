"""The answers a service gives before the app sees the request carry the security headers too (HB's review from
outside, session 24).

README ("Browser sessions"): every answer carries a Content-Security-Policy (`frame-ancestors 'none'`),
`X-Content-Type-Options: nosniff`, `Referrer-Policy: same-origin` and `Cache-Control: no-store`. Found on a `jusou up`:
the 431 for request headers over 64 KiB and the 400 for a request the HTTP parser cannot read (a Content-Length sent
twice), which shared/web/serve.py writes itself before the app, had `content-type`, `content-length` and `connection`
only: a header scan of a malformed request found none of them. They now carry the same headers as every other answer.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from jusou.runner import Suite
from shared.web.ui import SECURITY_HEADERS


def raw_answer(base: str, request: bytes) -> tuple[str, dict[str, str]]:
    """The status line and headers of the answer to `request`, sent as bytes on a connection of its own."""
    where = urlsplit(base)
    with socket.create_connection((where.hostname, where.port), timeout=10) as connection:
        connection.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
    head = received.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    return head[0], {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in head[1:])}


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", "431"),
    (b"POST /consultations HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "400"),
], ids=["headers over 64 KiB", "content-length twice"])
def test_an_answer_written_before_the_app_carries_the_security_headers(request_bytes: bytes, status: str,
                                                                      shared_suite: Suite) -> None:
    line, headers = raw_answer(shared_suite.url("intake"), request_bytes)

    assert line.split(" ")[1] == status, line
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, (name, headers)
    assert headers["content-type"].startswith("application/json"), headers
