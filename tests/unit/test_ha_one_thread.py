"""The inbox's hop to its applying thread (shared/messaging/runs.py `OneThread`, issue 19): what the standard
library's executor gave the inbox, kept by the leaner hand-over: one thread, the caller's context, the outcome or
the error back to the caller, and a cancelled caller that waits for the thread to finish its call (a commit is never
left running behind a stopping service)."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest

from shared.messaging.runs import OneThread

marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")


def test_one_thread_runs_every_call_on_one_named_thread_in_the_callers_context() -> None:
    async def main() -> list[tuple[str, str]]:
        one = OneThread("svc-inbox")
        seen = []
        for value in ("a", "b", "c"):
            marker.set(value)
            seen.append(await one.run(lambda: (threading.current_thread().name, marker.get())))
        one.shutdown()
        return seen

    seen = asyncio.run(main())
    assert [m for _, m in seen] == ["a", "b", "c"]
    assert {name for name, _ in seen} == {"svc-inbox_0"}  # bench/thread_cpu.py folds `svc-inbox_N`
    assert "svc-inbox_0" != threading.current_thread().name


def test_one_thread_hands_the_callers_arguments_and_raises_the_calls_error() -> None:
    class Refused(Exception):
        pass

    def fail(reason: str) -> None:
        raise Refused(reason)

    async def main() -> None:
        one = OneThread("svc-inbox")
        assert await one.run(lambda a, b: a + b, 2, 3) == 5
        with pytest.raises(Refused, match="no"):
            await one.run(fail, "no")
        assert await one.run(lambda: "after") == "after"  # the thread goes on after an error

    asyncio.run(main())


def test_one_thread_calls_run_one_at_a_time_in_the_order_given() -> None:
    order: list[int] = []

    def step(i: int) -> int:
        order.append(i)
        time.sleep(0.002)
        order.append(i)
        return i

    async def main() -> list[int]:
        one = OneThread("svc-inbox")
        return list(await asyncio.gather(*(one.run(step, i) for i in range(5))))

    assert asyncio.run(main()) == [0, 1, 2, 3, 4]
    assert order == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]


def test_a_cancelled_caller_waits_for_the_thread_to_finish_its_call_then_is_cancelled() -> None:
    began, release, finished = threading.Event(), threading.Event(), threading.Event()

    def commit() -> str:
        began.set()
        release.wait(5)
        finished.set()
        return "committed"

    async def main() -> tuple[bool, bool]:
        one = OneThread("svc-inbox")
        task = asyncio.create_task(one.run(commit))
        while not began.is_set():
            await asyncio.sleep(0.001)
        task.cancel()
        await asyncio.sleep(0.05)
        waiting = not task.done()  # still waiting for the thread: the commit runs on
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        return waiting, finished.is_set()

    waiting, done_first = asyncio.run(main())
    assert waiting and done_first
