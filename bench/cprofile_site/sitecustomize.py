"""`python bench/commands.py --cprofile SERVICE`: a deterministic CPU profile of one service process, every thread.

On the PYTHONPATH of the suite's processes only when asked (bench/commands.py sets it). In the process
running `services.<JUSOU_BENCH_CPROFILE>`, each thread gets its own cProfile profiler timed by its own
CPU clock (`time.thread_time`: a thread waiting for the GIL or the disk is not charged). SIGUSR1 and
SIGUSR2 write snapshots of every thread's figures together (`<JUSOU_BENCH_CPROFILE_OUT>.a`, `.b`, pstats
format); the bench reads b − a: the measured phase only. The profiler's own cost inflates small calls,
so read it as where the time goes, not as how much."""

from __future__ import annotations

import os

_WHO = os.environ.get("JUSOU_BENCH_CPROFILE")


def _install(out: str) -> None:
    import cProfile
    import marshal
    import signal
    import threading
    import time
    from typing import Any

    profilers: list[cProfile.Profile] = []
    lock = threading.Lock()

    def first_call(*_: Any) -> None:  # a new thread's first profile event: its own profiler from here on
        profiler = cProfile.Profile(time.thread_time)
        with lock:
            profilers.append(profiler)
        profiler.enable()

    def label(code: Any) -> tuple[str, int, str]:
        if isinstance(code, str):
            return ("~", 0, code)
        return (code.co_filename, code.co_firstlineno, code.co_name)

    def stats_of(profiler: cProfile.Profile) -> dict[Any, Any]:
        entries = profiler.getstats()
        stats: dict[Any, Any] = {}
        callers_of: dict[int, dict[Any, Any]] = {}
        for entry in entries:
            callers: dict[Any, Any] = {}
            callers_of[id(entry.code)] = callers
            stats[label(entry.code)] = [entry.callcount - entry.reccallcount, entry.callcount, entry.inlinetime,
                                        entry.totaltime, callers]
        for entry in entries:
            for sub in entry.calls or ():
                callers = callers_of.get(id(sub.code))
                if callers is None:
                    continue
                key = label(entry.code)
                previous = callers.get(key, (0, 0, 0.0, 0.0))
                callers[key] = (previous[0] + sub.callcount, previous[1] + sub.callcount - sub.reccallcount,
                                previous[2] + sub.inlinetime, previous[3] + sub.totaltime)
        return stats

    def snapshot(signum: int, _: Any) -> None:
        merged: dict[Any, Any] = {}
        with lock:
            every = list(profilers)
        for profiler in every:
            for func, (cc, nc, tt, ct, callers) in stats_of(profiler).items():
                mine = merged.setdefault(func, [0, 0, 0.0, 0.0, {}])
                mine[0] += cc
                mine[1] += nc
                mine[2] += tt
                mine[3] += ct
                for caller, figures in callers.items():
                    previous = mine[4].get(caller, (0, 0, 0.0, 0.0))
                    mine[4][caller] = tuple(a + b for a, b in zip(previous, figures, strict=True))
        suffix = ".a" if signum == signal.SIGUSR1 else ".b"
        with open(out + suffix, "wb") as file:
            marshal.dump({k: (v[0], v[1], v[2], v[3], v[4]) for k, v in merged.items()}, file)

    threading.setprofile(first_call)
    main = cProfile.Profile(time.thread_time)
    profilers.append(main)
    signal.signal(signal.SIGUSR1, snapshot)
    signal.signal(signal.SIGUSR2, snapshot)
    main.enable()


if _WHO:
    with open("/proc/self/cmdline", "rb") as _file:
        _args = _file.read().split(b"\0")
    if f"services.{_WHO}".encode() in _args and os.environ.get("JUSOU_BENCH_CPROFILE_OUT"):
        _install(os.environ["JUSOU_BENCH_CPROFILE_OUT"])
