"""Counting what an application decodes: the tests of kept aggregates (issue 19) assert how many stored events a use
decodes, per aggregate."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID


@contextmanager
def decoded(app: Any) -> Iterator[Counter[UUID]]:
    """Each aggregate's stored events decoded while the block runs (aggregate id → how many events)."""
    counted: Counter[UUID] = Counter()
    mapper: Any = app.mapper
    original = mapper.to_domain_event

    def to_domain_event(stored: Any) -> Any:
        counted[stored.originator_id] += 1
        return original(stored)

    mapper.to_domain_event = to_domain_event
    try:
        yield counted
    finally:
        del mapper.to_domain_event
