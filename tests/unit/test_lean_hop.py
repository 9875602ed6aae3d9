"""The services' hop to a worker thread (shared/kernel/threads.py `run_sync`, issue 19) keeps what anyio's gave: at most
`LIMIT` calls at once on named threads, the caller's context copied, the call's exception (and its traceback) raised in
the caller, a cancelled caller waiting for its call to end, and a process that ends without waiting for idle workers."""

from __future__ import annotations

import asyncio
import contextvars
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import pytest

from shared.kernel import threads
from shared.kernel.threads import Workers, run_sync

MARK: contextvars.ContextVar[str] = contextvars.ContextVar("mark", default="")


def test_at_most_limit_calls_run_at_once_and_the_rest_wait_their_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "WORKERS", Workers(limit=3))
    lock = threading.Lock()
    running: list[int] = [0, 0]  # now, most at once
    names: set[str] = set()

    def blocking() -> None:
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
            names.add(threading.current_thread().name)
        time.sleep(0.05)
        with lock:
            running[0] -= 1

    async def many() -> None:
        await asyncio.gather(*(run_sync(blocking) for _ in range(12)))

    asyncio.run(many())
    assert running[1] == 3, "12 calls at once ran on 3 threads, never more"
    assert len(names) == 3 and all(name.startswith("jusou worker ") for name in names)
    assert sum(t.name.startswith("jusou worker ") and t.is_alive() for t in threading.enumerate()) >= 3


def test_workers_are_started_as_calls_need_them(monkeypatch: pytest.MonkeyPatch) -> None:
    workers = Workers(limit=40)
    monkeypatch.setattr(threads, "WORKERS", workers)

    async def one_after_another() -> None:
        for _ in range(20):
            await run_sync(time.sleep, 0)

    asyncio.run(one_after_another())
    assert workers._threads == 1, "calls one after another need one thread"


def test_the_call_runs_in_a_copy_of_the_callers_context() -> None:
    def seen_and_changed() -> tuple[str, str]:
        found = MARK.get()
        MARK.set("changed in the thread")
        return found, threading.current_thread().name

    async def caller() -> tuple[str, str, str]:
        MARK.set("this request")
        found, thread = await run_sync(seen_and_changed)
        return found, MARK.get(), thread

    found, after, thread = asyncio.run(caller())
    assert found == "this request" and after == "this request"
    assert thread.startswith("jusou worker ")


def test_the_calls_exception_and_its_traceback_reach_the_caller() -> None:
    class Refused(Exception):
        pass

    raised = Refused("no")

    def failing(reason: str) -> None:
        raise raised

    async def caller() -> BaseException:
        try:
            await run_sync(failing, "x")
        except Refused as exc:
            return exc
        raise AssertionError("not raised")

    caught = asyncio.run(caller())
    assert caught is raised
    assert "failing" in "".join(traceback.format_tb(caught.__traceback__)), "the call's own frame is in the traceback"


def test_a_cancelled_caller_waits_for_its_call_to_end() -> None:
    """anyio's hop without `abandon_on_cancel`: a use case never runs on behind a request whose task has ended."""
    release = threading.Event()
    ended: list[float] = []

    def use_case() -> str:
        release.wait(5)
        time.sleep(0.05)
        ended.append(time.monotonic())
        return "recorded"

    async def scenario() -> tuple[bool, float]:
        task = asyncio.create_task(run_sync(use_case))
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.sleep(0.1)
        still_waiting = not task.done()
        task.cancel()  # cancelled again while it waits: it goes on waiting
        await asyncio.sleep(0.05)
        still_waiting = still_waiting and not task.done()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        return still_waiting, time.monotonic()

    still_waiting, cancelled_at = asyncio.run(scenario())
    assert still_waiting, "the cancelled caller went on before its call had ended"
    assert ended and ended[0] <= cancelled_at


def test_a_process_ends_without_waiting_for_idle_workers(tmp_path: Path) -> None:
    script = ("import asyncio, time; from shared.kernel.threads import run_sync\n"
              "asyncio.run(run_sync(time.sleep, 0))\nprint('done')\n")
    root = Path(__file__).resolve().parents[2]
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr
    assert time.monotonic() - started < 20
