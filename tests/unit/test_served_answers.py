"""An answer leaves a service in one write (shared/web/serve.py `HeadWithBody`, issue 19): uvicorn's protocol wrote the
head (status line, headers) and the body of every answer in two `transport.write` calls, two system calls and two TCP
segments. The head of an answer of known length is now held until its body and both written at once; a head that
nothing follows at once (a stream's, without a length; a HEAD's) is written at once, and a close (an app that fails
after starting) writes a held head first. uvicorn's access log (never printed at "warning") is off.

Driven here through the service's own protocol class (`bounded_protocol()`, uvicorn's httptools protocol) with a
transport that records its writes; then through a real uvicorn server on a socket."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from uvicorn.config import Config
from uvicorn.server import ServerState

from shared.web import serve
from shared.web.serve import HeadWithBody, bounded_protocol


class Recording(asyncio.Transport):
    """A connection's transport that keeps what is written, in order (b"<close>" for a close)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.writes.append(b"<close>")
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.writes.append(b"<eof>")


async def json_answer(scope: Any, receive: Any, send: Any) -> None:
    body = b'{"status":"ok"}'
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def served(app: Any, request: bytes, settle: Any = None) -> list[bytes]:
    """What the service's protocol writes for `request`, once the app has ended (`settle`: awaited meanwhile)."""
    protocol_class: Any = bounded_protocol()
    assert protocol_class is not None
    config = Config(app=app, log_level="warning", lifespan="off")
    state = ServerState()
    protocol = protocol_class(config=config, server_state=state, app_state={}, _loop=asyncio.get_running_loop())
    transport = Recording()
    protocol.connection_made(transport)
    protocol.data_received(request)
    if settle is not None:
        await settle(transport)
    for _ in range(100):
        if not state.tasks:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0)  # the loop's next round: a held head's callback
    writes = list(transport.writes)
    protocol.connection_lost(None)
    return writes


GET = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n"


async def test_an_answer_is_one_write_of_its_head_and_body() -> None:
    writes = await served(json_answer, GET)
    assert len(writes) == 1, writes  # was two: the head, then the body
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n") and writes[0].endswith(b'\r\n\r\n{"status":"ok"}')


async def test_two_answers_on_one_connection_each_one_write_in_order() -> None:
    writes = await served(json_answer, GET + GET)
    assert len(writes) == 2 and all(w.startswith(b"HTTP/1.1 200 OK") and w.endswith(b'{"status":"ok"}') for w in writes)


async def test_an_empty_answer_of_length_0_is_written_whole() -> None:
    """uvicorn writes a body of length 0 too (an empty write): the held head goes with it, never left held."""
    async def empty(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    writes = await served(empty, GET)
    assert len(writes) == 1 and writes[0].startswith(b"HTTP/1.1 200 OK") and writes[0].endswith(b"\r\n\r\n")


async def test_a_head_request_has_its_head_written_without_a_body() -> None:
    writes = await served(json_answer, b"HEAD /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
    assert len(writes) == 1 and writes[0].startswith(b"HTTP/1.1 200 OK") and writes[0].endswith(b"\r\n\r\n")


async def test_a_stream_has_its_head_written_before_its_first_part_is_ready() -> None:
    first = asyncio.Event()

    async def stream(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await first.wait()  # a page's live updates: nothing until an event
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def settle(transport: Recording) -> None:
        for _ in range(3):
            await asyncio.sleep(0)
        assert len(transport.writes) == 1 and transport.writes[0].startswith(b"HTTP/1.1 200 OK"), transport.writes
        first.set()

    writes = await served(stream, GET, settle)
    assert writes[0].endswith(b"transfer-encoding: chunked\r\n\r\n")
    assert b"".join(writes[1:]) == b"9\r\ndata: 1\n\n\r\n0\r\n\r\n"


async def test_an_app_that_fails_after_its_head_has_the_head_written_then_the_close() -> None:
    async def fails(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
        raise RuntimeError("boom")

    writes = await served(fails, GET)
    assert writes[0].startswith(b"HTTP/1.1 200 OK") and writes[1] == b"<close>"


async def test_a_refusal_before_the_app_is_as_before() -> None:
    writes = await served(json_answer, b"GET /x HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n")
    assert writes == [serve.INVALID, b"<close>"]


async def test_a_100_continue_goes_out_before_the_answer() -> None:
    async def reads(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        await json_answer(scope, receive, send) if message["body"] == b"hi" else None

    request = b"POST /x HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 2\r\n\r\n"

    async def settle(transport: Recording) -> None:
        await asyncio.sleep(0.01)
        assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
        protocol.data_received(b"hi")

    protocol_class: Any = bounded_protocol()
    assert protocol_class is not None
    state = ServerState()
    protocol = protocol_class(config=Config(app=reads, log_level="warning", lifespan="off"), server_state=state,
                              app_state={}, _loop=asyncio.get_running_loop())
    transport = Recording()
    protocol.connection_made(transport)
    protocol.data_received(request)
    await settle(transport)
    for _ in range(100):
        if not state.tasks:
            break
        await asyncio.sleep(0.01)
    assert len(transport.writes) == 2 and transport.writes[1].endswith(b'{"status":"ok"}')
    protocol.connection_lost(None)


def test_a_held_head_is_written_before_a_close_and_only_once() -> None:
    class Cycle:
        response_started = True
        scope = {"method": "GET"}

    transport = Recording()
    held = HeadWithBody(transport, Cycle())
    held.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert transport.writes == []
    held.close()
    held.flush()
    assert transport.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n", b"<close>"]


def test_only_the_head_of_an_answer_of_known_length_is_held() -> None:
    """A stream's head (no length) and a HEAD's (no body follows) go at once; nothing waits on a callback."""
    class Cycle:
        response_started = True
        scope = {"method": "GET"}

    transport = Recording()
    HeadWithBody(transport, Cycle()).write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    Cycle.scope = {"method": "HEAD"}
    HeadWithBody(transport, Cycle()).write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert len(transport.writes) == 2


async def test_through_a_real_server_answers_arrive_whole() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await json_answer(scope, receive, send)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(Config(app=app, host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                                   http=bounded_protocol() or "h11", access_log=False))
    running = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(GET + GET)
        await writer.drain()
        got = b""
        while got.count(b'{"status":"ok"}') < 2:
            part = await asyncio.wait_for(reader.read(65536), 5)
            assert part, got
            got += part
        assert got.count(b"HTTP/1.1 200 OK") == 2
        writer.close()
    finally:
        server.should_exit = True
        await running


def test_the_service_runs_uvicorn_without_its_access_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn's access log, never printed at "warning", is off: on, each answer's client and path were worked out."""
    ran: dict[str, Any] = {}
    for name in ("exit_if_invalid", "municipality_or_exit", "tenants_or_exit", "configure_logging",
                 "exit_if_unsupported_nats"):
        monkeypatch.setattr(serve, name, lambda *args, **kwargs: None)
    monkeypatch.setattr(serve.uvicorn, "run", lambda app, **kwargs: ran.update(kwargs))
    serve.serve("collaboration", FastAPI())
    assert ran["access_log"] is False and ran["log_level"] == "warning"
    assert ran["http"] is bounded_protocol() or ran["http"].__name__ == "BoundedHttpToolsProtocol"
