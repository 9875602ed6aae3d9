"""`python bench/thread_cpu.py`: a service's CPU per journey per thread, from /proc by thread id and the threads' names
(issue 19)."""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def thread_cpu() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_thread_cpu_under_test", ROOT / "bench" / "thread_cpu.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_threads_of_one_job_fold_into_one_role() -> None:
    bench = thread_cpu()
    assert bench.role("jusou worker 17") == "jusou worker N"
    assert bench.role("meeting-inbox_0") == "meeting-inbox_N"
    assert bench.role("MainThread") == "MainThread"


def test_cpu_by_role_counts_what_each_thread_spent_between_the_readings() -> None:
    """A thread's ticks between the two readings, user and system, summed by role; a thread started meanwhile counts
    from zero; one /proc knows and no name file named is `(unnamed)`; a thread that spent nothing is left out."""
    bench = thread_cpu()
    before = {"100": (50, 10), "101": (7, 3), "102": (1, 1), "104": (5, 5)}
    after = {"100": (60, 12), "101": (9, 3), "102": (1, 1), "103": (4, 0), "104": (5, 5), "105": (2, 1)}
    names = {"100": "MainThread", "101": "jusou worker 1", "103": "jusou worker 2", "104": "meeting-inbox_0"}
    found = bench.by_role(before, after, names, tick=0.01)
    assert {k: round(v, 6) for k, v in found.items()} == {
        "MainThread": 0.12, "jusou worker N": 0.06, "(unnamed)": 0.03}


def test_the_readings_are_this_process_threads_as_the_kernel_counts_them() -> None:
    bench = thread_cpu()
    tasks = bench.read_tasks(os.getpid())
    assert str(threading.get_native_id()) in tasks
    assert all(user >= 0 and system >= 0 for user, system in tasks.values())
    assert bench.read_tasks(2**22 + 12345) == {}  # a process that is not there: nothing, no error
