"""Poll with a deadline, never sleep and hope (STYLE 11)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, deadline_s: float = 20.0) -> T:
    """Await `probe()` until it returns something truthy; fail naming `what` after the deadline."""
    deadline = time.monotonic() + deadline_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {deadline_s} s waiting for {what}; last seen: {last!r}")
