"""The load generator's HTTP/1.1 client: the requests httpx would send, for a tenth of its CPU.

The bench's driver processes (bench/load.py) compete with the suite for the machine's cores, so their
CPU per request is part of what the saturation step measures. httpx spends ~0.3–0.4 ms of CPU on a
request to a local server (its request and header models, httpcore's pool and h11's state machine,
anyio); this client writes the request's bytes itself and reads the answer with asyncio's streams.
The suite is sent what httpx sends (`request_bytes`: the same headers, the same JSON bytes, pinned by
tests/unit/test_bench_client.py against httpx's own request), so its work per request is unchanged.

What it serves is what the journeys use: `get`, `post` and `put` with `json=` and `headers=` on
`http://host:port/path` URLs, keep-alive connections per host (an idle one the server closed is not
reused), bodies by `Content-Length` or chunked, a `Response` with `status_code`, `content`, `text`,
`headers` and `json()`.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from typing import Any, Self

#: httpx's defaults (httpx.Client's `_client.DEFAULT_...` and the transport's `Connection` header)
DEFAULT_HEADERS = {"accept": "*/*", "accept-encoding": "gzip, deflate", "connection": "keep-alive",
                   "user-agent": "python-httpx/0.29.0"}


class Response:
    __slots__ = ("_json", "content", "headers", "status_code")

    def __init__(self, status_code: int, headers: dict[str, str], content: bytes) -> None:
        self.status_code, self.headers, self.content = status_code, headers, content
        self._json: Any = None

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed once (a journey's command and its bus-wait registration both read it)."""
        if self._json is None:
            self._json = jsonlib.loads(self.content)
        return self._json


def encode_json(body: Any) -> bytes:
    """httpx's JSON body (httpx._content.encode_json): compact, not ASCII-escaped, UTF-8."""
    return jsonlib.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def request_bytes(method: str, netloc: str, path: str, headers: dict[str, str], body: bytes | None) -> bytes:
    """The request as httpx writes it: Host, its defaults, the client's then the request's headers
    (`headers`, merged, names lower-case), then Content-Length and Content-Type for a JSON body
    (`body`; b"": a POST or PUT without one, `content-length: 0` only; None: a GET)."""
    lines = [f"{method} {path} HTTP/1.1", f"host: {netloc}"]
    if body is not None:
        lines.append(f"content-length: {len(body)}")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body:
        lines.append("content-type: application/json")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    return head + body if body else head


class Client:
    """Keep-alive HTTP/1.1 connections per host:port; one request at a time on each."""

    def __init__(self, headers: dict[str, str] | None = None, timeout: float = 30.0) -> None:
        self.headers = DEFAULT_HEADERS | {k.lower(): v for k, v in (headers or {}).items()}
        self.timeout = timeout
        self.idle: dict[str, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}
        self.requests = 0

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for pool in self.idle.values():
            for _, writer in pool:
                writer.close()
        self.idle.clear()

    async def get(self, url: str, headers: dict[str, str] | None = None) -> Response:
        return await self.request("GET", url, headers=headers)

    async def post(self, url: str, json: Any = None, headers: dict[str, str] | None = None) -> Response:
        return await self.request("POST", url, json=json, headers=headers)

    async def put(self, url: str, json: Any = None, headers: dict[str, str] | None = None) -> Response:
        return await self.request("PUT", url, json=json, headers=headers)

    async def request(self, method: str, url: str, json: Any = None, headers: dict[str, str] | None = None) -> Response:
        if not url.startswith("http://"):
            raise ValueError(f"only http:// URLs: {url}")
        slash = url.find("/", 7)
        netloc, path = (url[7:], "/") if slash < 0 else (url[7:slash], url[slash:])
        merged = self.headers if not headers else self.headers | {k.lower(): v for k, v in headers.items()}
        body = encode_json(json) if json is not None else (b"" if method in ("POST", "PUT") else None)
        data = request_bytes(method, netloc, path, merged, body)
        self.requests += 1
        async with asyncio.timeout(self.timeout):
            reader, writer = await self.connection(netloc)
            try:
                writer.write(data)
                response, keep = await read_response(reader)
            except BaseException:
                writer.close()
                raise
        if keep:
            self.idle.setdefault(netloc, []).append((reader, writer))
        else:
            writer.close()
        return response

    async def connection(self, netloc: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        pool = self.idle.get(netloc)
        while pool:
            reader, writer = pool.pop()
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer
            writer.close()  # the server closed it while idle (its keep-alive timeout)
        host, _, port = netloc.rpartition(":")
        return await asyncio.open_connection(host, int(port))


async def read_response(reader: asyncio.StreamReader) -> tuple[Response, bool]:
    """One response: (the response, whether the connection may be used again)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    keep = headers.get("connection", "").lower() != "close" and lines[0].startswith("HTTP/1.1")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        content = b"".join(parts)
    elif "content-length" in headers:
        content = await reader.readexactly(int(headers["content-length"]))
    elif status in (204, 304) or 100 <= status < 200:
        content = b""
    else:
        content = await reader.read()  # to the connection's end
        keep = False
    return Response(status, headers, content), keep
