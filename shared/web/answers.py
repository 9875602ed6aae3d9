"""A kept aggregate's JSON answer, made once for the object it was made from (issue 19).

The meeting's and collaboration's reads are given the aggregates kept as this process recorded them
(shared/domain/kept_reads.py): the same object while the store holds nothing newer, never changed in place, another
object once anything is recorded (or decoded afresh where nothing is kept). The reads the bench journey polls (a
plan, an agenda item, a consent) built the same answer again at every poll: the view's dict, the response model's
validation, then FastAPI's check of that instance and its JSON (~35 µs in process for a plan at a journey's end,
about three times that in the suite). `answer` keeps the JSON with the aggregate it was made from (a weak reference:
nothing is kept alive by it) and serves it again while the read hands back that very object; any other object makes
it again. The bytes are those FastAPI writes for the route's response model (`dump_json` by alias of the validated
model, `exclude_unset` as the route says), in the `Response` FastAPI makes for them; the route keeps declaring its
`response_model` (the OpenAPI document is unchanged). Only for routes whose answer is the aggregate's alone (no
reader, no clock, no setting in it) and whose dependencies set no header on FastAPI's sub-response (a returned
`Response` is sent as it is)."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from fastapi import Response
from pydantic import BaseModel, TypeAdapter

#: answers kept at most (each 0.3–2 KB; the oldest made goes first): the polls read what was just recorded
SIZE = 1000

_made: dict[tuple[str, Any], tuple[weakref.ref[Any], bytes]] = {}
_adapters: dict[type[BaseModel], TypeAdapter[Any]] = {}


def json_of(model: BaseModel, exclude_unset: bool = False) -> bytes:
    """The JSON FastAPI writes for `model` as a route's answer (its `ModelField.serialize_json`)."""
    kind = type(model)
    adapter = _adapters.get(kind)
    if adapter is None:
        adapter = _adapters[kind] = TypeAdapter(kind)
    return adapter.dump_json(model, by_alias=True, exclude_unset=exclude_unset)


def answer(aggregate: Any, kind: str, make: Callable[[], BaseModel], exclude_unset: bool = False) -> Response:
    """The route's answer for `aggregate` (a kept one: never changed in place): `make()`'s JSON, made again only for
    another object than the one it was last made from. `kind` names the route's view of it."""
    key = (kind, aggregate.id)
    found = _made.get(key)
    if found is not None and found[0]() is aggregate:
        body = found[1]
    else:
        body = json_of(make(), exclude_unset)
        if found is None and len(_made) >= SIZE:
            try:
                del _made[next(iter(_made))]
            except (StopIteration, KeyError, RuntimeError):  # emptied or changed by another thread meanwhile
                pass
        _made[key] = (weakref.ref(aggregate), body)
    return Response(content=body, media_type="application/json")
