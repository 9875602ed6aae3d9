"""The version a request's client read of an aggregate, required of it as the command saves it (review: lost updates).

A PUT with `If-Match` (shared/web/if_match.py) compares the client's tag with the aggregate as the store holds it when
the request is served; the command then loads the aggregate again and saves. A second PUT with the same tag served in
between passed its check too, and both were recorded: the later one undid the earlier. With `expecting`, the command's
save also requires that the aggregate it changed was loaded at the version the client read (its first new event's
`originator_version` − 1): a load after another save has a newer version and is refused by `refuse`, nothing recorded;
two loads of the same version meet the store's own optimistic concurrency (one of the two saves fails, and its retry
loads the newer version: refused). Held in a context variable for the block: the request's own thread alone."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from uuid import UUID

_EXPECTED: ContextVar[dict[UUID, tuple[int, Callable[[int], None]]] | None] = ContextVar("jusou_expected", default=None)


@contextmanager
def expecting(aggregate_id: UUID, version: int, refuse: Callable[[int], None]) -> Iterator[None]:
    """Within the block, a save that changes this aggregate requires it loaded at `version`; else `refuse(loaded)`
    (which raises)."""
    token = _EXPECTED.set({**(_EXPECTED.get() or {}), aggregate_id: (version, refuse)})
    try:
        yield
    finally:
        _EXPECTED.reset(token)


def check(objs: Iterable[Any]) -> None:
    """Before a save: each aggregate with new events that a block expects was loaded at the version expected."""
    expected = _EXPECTED.get()
    if not expected:
        return
    for obj in objs:
        found = expected.get(getattr(obj, "id", None))  # type: ignore[arg-type]
        pending = getattr(obj, "pending_events", None)
        if found is None or not pending:
            continue
        loaded = int(pending[0].originator_version) - 1
        if loaded != found[0]:
            found[1](loaded)
