"""Small helpers: percentiles, rates and a process's resident memory."""

from __future__ import annotations

import math
from pathlib import Path


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def rate(n: float, seconds: float) -> float:
    return n / seconds if seconds > 0 else math.nan


def ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or baseline is None or not baseline or math.isnan(value) or math.isnan(baseline):
        return None
    return round(value / baseline, 3)


def rss_of(pid: int, children: bool = True) -> float:
    """Resident memory of a process and (by default) its children, in MB (psutil, else /proc)."""
    try:
        import psutil
    except ImportError:
        return _proc_rss(pid, children)
    try:
        process = psutil.Process(pid)
        members = [process, *(process.children(recursive=True) if children else [])]
        total = 0
        for member in members:
            try:
                total += member.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return round(total / 2**20, 1)
    except psutil.NoSuchProcess:
        return 0.0


def _proc_rss(pid: int, children: bool) -> float:
    def one(p: int) -> int:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    pids = [pid]
    if children:
        i = 0
        while i < len(pids):
            try:
                for task in Path(f"/proc/{pids[i]}/task").iterdir():
                    kids = (task / "children").read_text().split()
                    pids += [int(k) for k in kids]
            except OSError:
                pass
            i += 1
    return round(sum(one(p) for p in pids) / 2**20, 1)


def cpu_seconds_of(pid: int, children: bool = True) -> float:
    """User + system CPU seconds a process (and, by default, its live children) has used (psutil;
    without it, /proc: the process's own only)."""
    try:
        import psutil
    except ImportError:
        return _proc_cpu(pid)
    total = 0.0
    try:
        process = psutil.Process(pid)
        for member in [process, *(process.children(recursive=True) if children else [])]:
            try:
                times = member.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
    except psutil.NoSuchProcess:
        pass
    return total


def _proc_cpu(pid: int) -> float:
    import os

    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime: its own
