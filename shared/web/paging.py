"""Paging of the JSON API's lists (issue 17): `limit` and `cursor` on a list route. The body stays the list, so a
client that sends neither gets what it always got; the next page's cursor comes in `X-Next-Cursor` and as an
RFC 8288 `Link: <…>; rel="next"`. A cursor is opaque to clients (today the position of the next item: the lists
paged so far only grow at their end)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request, Response

T = TypeVar("T")
MAX_LIMIT = 500
NEXT_CURSOR = "X-Next-Cursor"
Limit = Annotated[int | None, Query(ge=1, le=MAX_LIMIT, title="件数 / how many (1–500; none: all)")]
Cursor = Annotated[str | None, Query(max_length=20, pattern=r"^[0-9]+$",
                                     title="続きの位置 / where to go on: the X-Next-Cursor of the page before")]
#: the 200 answer's headers of a paged list, for its OpenAPI `responses`
PAGING_HEADERS: dict[str, Any] = {
    NEXT_CURSOR: {"description": "次のページの cursor（最後のページにはない）/ the next page's cursor (none on the last)",
                  "schema": {"type": "string"}},
    "Link": {"description": 'RFC 8288: <…?cursor=…&limit=…>; rel="next"', "schema": {"type": "string"}},
}


def page(items: Sequence[T], limit: int | None, cursor: str | None, request: Request, response: Response) -> list[T]:
    """One page of `items` from `cursor`, at most `limit` long; the next cursor in the answer's headers."""
    start = min(int(cursor), len(items)) if cursor else 0
    if limit is None:
        return list(items[start:])
    end = start + limit
    if end < len(items):
        response.headers[NEXT_CURSOR] = str(end)
        following = request.url.include_query_params(cursor=str(end), limit=limit)
        response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return list(items[start:end])
