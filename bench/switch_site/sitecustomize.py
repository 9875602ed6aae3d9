"""`JUSOU_BENCH_SWITCH_INTERVAL=<seconds>`: a service process's GIL switch interval (`sys.setswitchinterval`), for an
experiment of bench/queues.py or `python -m bench --env PYTHONPATH=bench/switch_site --env JUSOU_BENCH_SWITCH_INTERVAL=…`
(issue 19, docs/capacity.md §5.16).

A thread that let the GIL go around a blocking call (a SQLite statement, a socket's send) and wants it back while
another thread runs Python waits until that one lets it go: at its next blocking call, or when the interval (5 ms by
default) has passed and it is asked to. On the event loop of a busy service that wait is the inbox thread's and the
worker threads' after each statement. Also names the threads for bench/queues.py when `JUSOU_BENCH_THREADS_OUT` is set
(bench/thread_names_site, whose file is run here: one `sitecustomize` is imported per process)."""

from __future__ import annotations

import os
import sys

_INTERVAL = os.environ.get("JUSOU_BENCH_SWITCH_INTERVAL")
if _INTERVAL:
    sys.setswitchinterval(float(_INTERVAL))
if os.environ.get("JUSOU_BENCH_PGAPPNAME"):
    # PostgreSQL's backends named for the service that opened them (libpq reads PGAPPNAME): bench/queues.py --store
    # postgres counts each backend's CPU and samples its waits (pg_stat_activity) under its service's name
    try:
        with open("/proc/self/cmdline", "rb") as _cmdline:
            _args = _cmdline.read().split(b"\0")
        _module = next((a.decode() for a in _args if a.startswith(b"services.")), "")
        if _module:
            os.environ["PGAPPNAME"] = "jusou-" + _module.split(".")[1]
    except OSError:
        pass
if os.environ.get("JUSOU_BENCH_THREADS_OUT"):
    _names = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "thread_names_site",
                          "sitecustomize.py")
    import runpy

    runpy.run_path(_names, run_name="bench_thread_names")
