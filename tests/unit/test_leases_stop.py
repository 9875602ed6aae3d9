"""A partitioned service's lease loop stops when its service stops, even when an await inside it swallowed the
cancellation.

On Python 3.11 `asyncio.wait_for` returns its answer instead of raising when its task is cancelled in the same turn
as the answer arrives (CPython gh-86296). nats-py's requests (a lease's put, update, get) wait that way, and the
lease loop (`Leases.run`: heartbeat, renew, rebalance every R) went on after such a cancellation: a replica whose
stop waited on it for ever, still renewing leases it no longer served. The relay had the same hole
(tests/integration/test_relay_stops.py). The loop now stops at its next turn, and its own requests wait under
`asyncio.timeout`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shared.messaging.partitions import Leases, stop_if_asked


class _NoKv:
    """A lease bucket that answers every request at once (what it answers is not this test's subject)."""

    async def put(self, *_args: Any, **_kwargs: Any) -> int:
        return 1

    async def delete(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def _leases() -> Leases:
    async def nothing(_partition: int) -> None:
        return None

    return Leases(js=None, kv=_NoKv(), bucket="b", partitions=4, me="replica-1",  # type: ignore[arg-type]
                  lease_seconds=0.4, take=nothing, drop=nothing)


async def test_the_lease_loop_stops_though_a_request_swallowed_its_cancellation() -> None:
    leases = _leases()
    swallowed = asyncio.Event()

    async def swallowing_step() -> None:
        if not swallowed.is_set():
            asyncio.current_task().cancel()  # type: ignore[union-attr]  # the service's stop, as an answer arrives …
            try:
                await asyncio.sleep(0)
            except asyncio.CancelledError:
                swallowed.set()  # … taken by an await that returns instead (3.11's wait_for inside nats-py)

    leases.step = swallowing_step  # type: ignore[method-assign]
    task = asyncio.create_task(leases.run())
    done, _ = await asyncio.wait({task}, timeout=5)
    assert swallowed.is_set(), "the step never ran"
    assert task in done, "the lease loop ran on after its cancellation was swallowed"
    assert task.cancelled()


async def test_a_lease_request_cancelled_as_its_answer_arrives_is_cancelled() -> None:
    """`Leases.call` itself: cancelled in the same turn as the request's answer, it raises (wait_for returned)."""
    leases = _leases()
    answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def caller() -> Any:
        return await leases.call(answer)

    task = asyncio.create_task(caller())
    await asyncio.sleep(0)  # the caller waits on the answer
    answer.set_result(7)
    task.cancel()  # in the same turn
    with pytest.raises(asyncio.CancelledError):
        await task


def test_stop_if_asked_passes_a_task_not_asked_to_stop() -> None:
    stop_if_asked(None)
