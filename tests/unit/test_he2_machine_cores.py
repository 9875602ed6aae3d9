"""The bench's saturation steps count the whole machine's busy cores and the suite's run-queue wait (issue 19).

The scorecard said "1.37-1.54 of 2 cores busy" at its saturation steps, counting the suite's processes only: the load
generator, the bench's own process, the kernel and anything else running were left out, and with them the fact that the
machine's cores were all but full (docs/capacity.md §5.16). `bench.load.cores_busy` reads /proc/stat's every process;
`run_queue_seconds_of` a process's threads' time runnable but waiting for a core."""

from __future__ import annotations

import os
import threading
import time

import pytest

from bench import load

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="Linux /proc only")


def test_cores_busy_counts_all_but_idle_iowait_and_steal() -> None:
    cores = os.cpu_count() or 1
    before = [100, 0, 50, 1000, 10, 0, 5, 0]
    # 300 ticks in all: 150 user, 30 system, 15 softirq busy; 90 idle, 10 iowait, 5 steal not
    after = [250, 0, 80, 1090, 20, 0, 20, 5]
    assert load.cores_busy(before, after) == round(cores * 195 / 300, 2)
    assert load.cores_busy([], after) is None
    assert load.cores_busy(before, before) is None


def test_a_spinning_thread_shows_as_a_busy_core() -> None:
    stop = time.monotonic() + 0.6
    began = load.machine_ticks()

    def spin() -> None:
        while time.monotonic() < stop:
            pass

    worker = threading.Thread(target=spin)
    worker.start()
    worker.join()
    busy = load.cores_busy(began, load.machine_ticks())
    assert busy is not None and busy >= 0.5  # this thread's core at least, whatever else runs


def test_run_queue_wait_grows_when_runnable_processes_outnumber_the_cores() -> None:
    """More spinning processes than cores: together they wait for a core about (n - cores) × the time spun; each
    process's figure is read from its threads (it is 0 only for a process that is not there)."""
    import subprocess
    import sys

    cores = os.cpu_count() or 1
    n = cores + 2
    # each spins until it has had 0.5 s of CPU, says so, then waits to be told to end
    spin = ("import sys, time\nwhile time.process_time() < 0.5: pass\nprint('spun', flush=True)\nsys.stdin.read()")
    spinners = [subprocess.Popen([sys.executable, "-c", spin], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                for _ in range(n)]
    try:
        for p in spinners:
            assert p.stdout is not None and p.stdout.readline() == b"spun\n"
        waited = [load.run_queue_seconds_of(p.pid) for p in spinners]
    finally:
        for p in spinners:
            p.communicate(b"")
    # n processes each needing 0.5 s of CPU on `cores` cores: while they overlap, n - cores of them wait; their
    # start-ups spread them a little, so a quarter of (n - cores) × 0.5 s is asked
    assert sum(waited) >= 0.25 * (n - cores) * 0.5, waited
    assert load.run_queue_seconds_of(2**22 + 12345) == 0.0  # no such process
