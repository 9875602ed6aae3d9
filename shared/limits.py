"""Limits on what a request may carry, in one place (issue 6: bad input is refused clearly).

`BodyLimit` refuses a request body over `MAX_BODY_BYTES` with 413, before the route reads it
when `Content-Length` says so, and while it is read otherwise (chunked); an API body that is
not declared JSON with 415 (the division UIs under `/ui/` post forms). A body that is not UTF-8
or not JSON is refused with 400 saying so, in Japanese and English; a validation error that
echoes a lone surrogate back is escaped rather than becoming a 500.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The largest legitimate command (a plan with many long goals) is a few tens of kB.
MAX_BODY_BYTES = 1_048_576

TOO_LARGE = (
    f"送信された内容が大きすぎます（上限 {MAX_BODY_BYTES // 1024} KiB）。内容を分けるか短くしてください / "
    f"the request body is larger than {MAX_BODY_BYTES // 1024} KiB: shorten it or send it in parts"
)
NOT_JSON_TYPE = (
    "API への送信は JSON です。Content-Type: application/json を付けてください / "
    "the API takes JSON: send the body with Content-Type: application/json"
)
BAD_LENGTH = "Content-Length が正しくありません / the Content-Length header is not a number"
NOT_JSON = (
    "送信された内容を JSON (UTF-8) として読めません。Content-Type: application/json で UTF-8 の JSON を送ってください / "
    "the body is not JSON in UTF-8: send UTF-8 JSON with Content-Type: application/json"
)


#: Starlette's bare answers, said so that a person knows what to do
FRAMEWORK_WORDS = {
    (404, "Not Found"): "このアドレスはありません。API の一覧は /docs にあります / no such address: see /docs for the API",
    (405, "Method Not Allowed"): "このアドレスはこのメソッドを受け付けません。/docs を確認してください / "
                                 "this address does not take this method: see /docs",
}


class SafeJSONResponse(JSONResponse):
    """A JSON answer that survives echoing the input: a lone surrogate (`"\\ud800"`) is escaped, not a 500."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


class BodyTooLarge(HTTPException):
    """Raised while reading a body past the limit; FastAPI answers it as 413 with `detail`."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail=TOO_LARGE)


class BodyLimit:
    """ASGI middleware: no request body over `max_bytes` reaches a route."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await _refuse(send, 400, BAD_LENGTH)
                return
            if int(declared) > self.max_bytes:
                await _refuse(send, 413, TOO_LARGE)
                return
        has_body = (declared is not None and int(declared) > 0) or b"transfer-encoding" in headers
        if has_body and scope["method"] in ("POST", "PUT", "PATCH") and not _is_json(headers.get(b"content-type")) \
                and not scope["path"].startswith("/ui/"):  # the division UIs post forms; the API takes JSON
            await _refuse(send, 415, NOT_JSON_TYPE)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge()
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge:
            if started:
                raise
            await _refuse(send, 413, TOO_LARGE)


def _is_json(content_type: bytes | None) -> bool:
    media = (content_type or b"").split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def install(api: FastAPI) -> None:
    """Put the limits on a service: the body limit, and a readable 400 for a body that is not JSON."""
    api.add_middleware(BodyLimit)

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return SafeJSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's words for a body it could not decode (not UTF-8, not JSON)
            return JSONResponse({"detail": NOT_JSON}, status_code=400)
        if (exc.status_code, exc.detail) in FRAMEWORK_WORDS:
            return JSONResponse({"detail": FRAMEWORK_WORDS[exc.status_code, exc.detail]}, status_code=exc.status_code,
                                headers=getattr(exc, "headers", None))
        return await http_exception_handler(request, exc)
