"""The load generator's HTTP client (bench/client.py): it sends the suite what httpx sent, byte for byte but
the headers' order and case, and reads answers by length, chunked, or to the connection's end."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the bench package lives beside the tests, at the repository's root

from bench import client

CLIENT_HEADERS = {"X-Jusou-Staff": "auditor-001", "X-Jusou-Role": "auditor"}
STAFF = {"x-jusou-role": "counselor", "X-Jusou-Division": "elderly"}
BODY = {"reason": "母の介護と本人のひきこもり", "goals": ["月1回"], "n": 1.5, "none": None}


def sent(raw: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    first, *lines = head.decode("utf-8").split("\r\n")
    headers = sorted((name.lower(), value.strip()) for name, _, value in (line.partition(":") for line in lines))
    return first, headers, body


def httpx_sent(method: str, url: str, **kwargs: Any) -> tuple[str, list[tuple[str, str]], bytes]:
    request = httpx.Client(headers=CLIENT_HEADERS).build_request(method, url, **kwargs)
    headers = sorted((name.decode().lower(), value.decode()) for name, value in request.headers.raw)
    return f"{method} {request.url.raw_path.decode()} HTTP/1.1", headers, request.read()


def captured(method: str, url: str, **kwargs: Any) -> bytes:
    """What the bench's client writes to a server for one request."""
    got: list[bytes] = []

    async def scenario() -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            got.append(head + await reader.readexactly(length))
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with client.Client(headers=CLIENT_HEADERS) as http:
            answer = await getattr(http, method.lower())(url.replace(":9/", f":{port}/"), **kwargs)
            assert answer.status_code == 204
        server.close()
        nonlocal_port.append(port)

    nonlocal_port: list[int] = []
    asyncio.run(scenario())
    return got[0].replace(f"127.0.0.1:{nonlocal_port[0]}".encode(), b"127.0.0.1:9")


def test_the_suite_is_sent_what_httpx_sends() -> None:
    url = "http://127.0.0.1:9/cases/6f1c0d4e/escalate?x=1"
    assert sent(captured("GET", url)) == httpx_sent("GET", url)
    assert sent(captured("GET", url, headers=STAFF)) == httpx_sent("GET", url, headers=STAFF)
    assert sent(captured("POST", url, json=BODY, headers=STAFF)) == httpx_sent("POST", url, json=BODY, headers=STAFF)
    assert sent(captured("POST", url, headers=STAFF)) == httpx_sent("POST", url, headers=STAFF)  # no body
    assert sent(captured("PUT", url, json=BODY, headers=STAFF)) == httpx_sent("PUT", url, json=BODY, headers=STAFF)


def test_answers_by_length_chunked_and_to_the_end_and_kept_alive_connections_reused() -> None:
    answers = [
        b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\ncontent-type: application/json\r\n\r\n{\"a\": \"\xe3\x81\x82\"}",
        b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{\"b\"\r\n3;x=y\r\n: 2\r\n1\r\n}\r\n0\r\n\r\n",
        b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno",
        b"HTTP/1.1 200 OK\r\n\r\nto the end",
    ]
    connections: list[int] = []

    async def scenario() -> list[client.Response]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append(len(connections))
            while answers:
                try:
                    await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    break
                answer = answers.pop(0)
                writer.write(answer)
                await writer.drain()
                if b"connection: close" in answer or b"to the end" in answer:
                    break
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/x"
        async with client.Client() as http:
            got = [await http.get(url) for _ in range(4)]
        server.close()
        return got

    first, second, third, fourth = asyncio.run(scenario())
    assert (first.status_code, first.json(), first.headers["content-type"]) == (200, {"a": "あ"}, "application/json")
    assert (second.status_code, second.json()) == (201, {"b": 2})
    assert (third.status_code, third.text) == (404, "no")
    assert (fourth.status_code, fourth.content) == (200, b"to the end")
    assert len(connections) == 2  # the first three on one kept-alive connection; closed by the third's answer


def test_an_idle_connection_the_server_closed_is_not_used_again() -> None:
    async def scenario() -> tuple[int, int]:
        accepted: list[asyncio.StreamWriter] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(writer)
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()
            writer.close()  # as uvicorn does at its keep-alive timeout, without saying so in the answer

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/x"
        async with client.Client() as http:
            first = await http.get(url)
            reader, _ = http.idle[url[7:].split("/")[0]][0]
            while not reader.at_eof():  # the close has reached the client
                await asyncio.sleep(0.001)
            second = await http.get(url)
        server.close()
        return first.status_code + second.status_code, len(accepted)

    assert asyncio.run(scenario()) == (400, 2)
