"""Paging of the JSON API's lists (issue 17): `limit` and `cursor` on a list route. The body stays the list, so a
client that sends neither gets what it always got; the next page's cursor comes in `X-Next-Cursor` and as an
RFC 8288 `Link: <…>; rel="next"`. A cursor is opaque to clients. Two kinds:

- the position of the next item (digits), for a list that only grows at its end and never loses a row (a case's
  history);
- a keyset (`page(..., key=...)`): the last row's sort key, base64url JSON. The next page is the rows whose key
  comes after it, so a list that loses rows (an agenda whose plans are decided, a list filtered by status) or
  gains rows at its top (newest first) neither skips nor repeats a row. `key(row)` is the row's place in the
  list's order, unique per row (`catalogue_order` builds one from the store's catalogue: creation order).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request, Response

from shared.kernel.journey import Invalid

T = TypeVar("T")
MAX_LIMIT = 500
NEXT_CURSOR = "X-Next-Cursor"
Limit = Annotated[int | None, Query(ge=1, le=MAX_LIMIT, title="件数 / how many (1–500; none: all)")]
Cursor = Annotated[str | None, Query(max_length=400, pattern=r"^[0-9A-Za-z_-]+$",
                                     title="続きの位置 / where to go on: the X-Next-Cursor of the page before")]
#: the 200 answer's headers of a paged list, for its OpenAPI `responses`
PAGING_HEADERS: dict[str, Any] = {
    NEXT_CURSOR: {"description": "次のページの cursor（最後のページにはない）/ the next page's cursor (none on the last)",
                  "schema": {"type": "string"}},
    "Link": {"description": 'RFC 8288: <…?cursor=…&limit=…>; rel="next"', "schema": {"type": "string"}},
}
Key = Callable[[Any], Sequence[Any]]


class CursorUnreadable(Invalid):
    """422, code `cursor_unreadable`: a cursor this list did not give (another list's, altered, or too old)."""


_UNREADABLE = ("続きの位置（cursor）が読めません。cursor を付けずに最初のページから取り直してください / the cursor "
               "cannot be read here: start again from the first page, without a cursor")


def page(items: Sequence[T], limit: int | None, cursor: str | None, request: Request, response: Response,
         key: Key | None = None) -> list[T]:
    """One page of `items` from `cursor`, at most `limit` long; the next cursor in the answer's headers.

    Without `key`, the cursor is a position. With `key`, a keyset: the rows (sorted by `key` when paging; give a
    key that follows the list's own order, so a page is the same rows in the same order as the unpaged list) after
    the cursor's key. Neither limit nor cursor: `items` as they are."""
    if key is None:
        rows, after = list(items), _position(cursor, len(items))
    else:
        if limit is None and not cursor:
            return list(items)
        rows = sorted(items, key=lambda row: list(key(row)))
        after = _after(rows, key, cursor) if cursor else 0
    if limit is None:
        return rows[after:]
    end = after + limit
    if end < len(rows):
        following = str(end) if key is None else _encode(key(rows[end - 1]))
        response.headers[NEXT_CURSOR] = following
        url = request.url.include_query_params(cursor=following, limit=limit)
        response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
    return rows[after:end]


def _position(cursor: str | None, length: int) -> int:
    if not cursor:
        return 0
    if not cursor.isdigit():
        raise CursorUnreadable(_UNREADABLE)
    return min(int(cursor), length)


def _encode(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode().rstrip("=")


def _after(rows: list[T], key: Key, cursor: str) -> int:
    """Where the rows after the cursor's key begin (rows sorted by key)."""
    last = _decoded(cursor)
    try:
        return next((n for n, row in enumerate(rows) if list(key(row)) > last), len(rows))
    except TypeError as unreadable:  # a key of other kinds of values than this list's
        raise CursorUnreadable(_UNREADABLE) from unreadable


def _decoded(cursor: str) -> list[Any]:
    try:
        last = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as unreadable:
        raise CursorUnreadable(_UNREADABLE) from unreadable
    if not isinstance(last, list):
        raise CursorUnreadable(_UNREADABLE)
    return last


def catalogue_page(ids: Sequence[Any], limit: int | None, cursor: str | None, request: Request, response: Response,
                   row_of: Callable[[Any], Mapping[str, Any] | None], field: str) -> list[Any]:
    """`page(rows, limit, cursor, request, response, catalogue_order(lambda: ids, field))` where `rows` would be
    `row_of(i)` of every id of `ids` (the store's catalogue, oldest first) that is not None (None: a row the reader
    may not see), making only the rows of the page asked (and the next one, which says there is a next page):
    a page of 50 of a year's 5,000 cases decodes about 50 cases, not 5,000 (bench/volume.py). The same rows, order
    and cursors as `page` on the whole list; neither limit nor cursor: every row."""
    start = 0
    if cursor:
        last = _decoded(cursor)
        try:
            start = next((n for n in range(len(ids)) if [n] > last), len(ids))  # the keyset's key: (rank,)
        except TypeError as unreadable:
            raise CursorUnreadable(_UNREADABLE) from unreadable
    rows: list[Any] = []
    for found in ids[start:]:
        if limit is not None and len(rows) > limit:
            break
        row = row_of(found)
        if row is not None:
            rows.append(row)
    return page(rows, limit, cursor, request, response, catalogue_order(lambda: ids, field))


def later_first(moment: str) -> float:
    """A key part that puts later ISO days or moments first (a newest-first list's key)."""
    at = datetime.fromisoformat(moment)
    return -(at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def catalogue_order(ids: Callable[[], Iterable[object]], field: str,
                    newest_first_by: str | None = None) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A keyset key for rows listed in the order of `ids()` (e.g. `lambda: app.ids_of(Kind)`: the store's catalogue,
    oldest first, which only grows), each row named by its `field`; with `newest_first_by`, for rows sorted by that
    ISO day or moment, later first, the catalogue's order among equals (Python's stable sort). `ids()` is read once,
    on the first row asked (only when paging), after the rows: a row created since comes after every other."""
    ranks: dict[str, int] = {}

    def key(row: Mapping[str, Any]) -> tuple[Any, ...]:
        if not ranks:
            ranks.update({str(i): n for n, i in enumerate(ids())})
        rank = ranks.get(str(row[field]), len(ranks))
        return (later_first(str(row[newest_first_by])), rank) if newest_first_by else (rank,)

    return key
