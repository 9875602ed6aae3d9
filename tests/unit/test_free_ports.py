"""The tests' ports: two test runs at once never choose the same port (CI's 架空市 run beside the main run).

With the kernel's own choice (bind to port 0, then release) both runs were handed the same free port now and
then; one suite's /readyz was then answered by the other run's service of the same name (CI of stop 30).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support import servers

CHOOSE = "import sys; sys.path.insert(0, {tests!r}); from support.servers import free_port; print(*(free_port() for _ in range({n})))"


def test_ports_chosen_by_two_processes_at_once_never_repeat_and_stay_below_the_ephemeral_range(tmp_path: Path) -> None:
    tests = str(Path(__file__).resolve().parents[1])
    env = {"TMPDIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    runs = [subprocess.Popen([sys.executable, "-c", CHOOSE.format(tests=tests, n=300)], env=env,
                             stdout=subprocess.PIPE, text=True) for _ in range(2)]
    chosen = [[int(p) for p in run.communicate(timeout=60)[0].split()] for run in runs]
    assert all(len(ports) == 300 for ports in chosen), chosen
    first, second = set(chosen[0]), set(chosen[1])
    assert len(first) == 300 and len(second) == 300, "a process chose one port twice"
    assert not first & second, f"both processes chose {sorted(first & second)[:10]}"
    assert all(p in servers.PORTS for p in first | second), "a port the kernel chose (bind to 0)"
    ranges = Path("/proc/sys/net/ipv4/ip_local_port_range")
    low, high = map(int, ranges.read_text().split()) if ranges.exists() else (32768, 60999)
    if servers.PORTS.stop <= low or servers.PORTS.start > high:  # a machine whose ephemeral range is set otherwise: leased only
        assert all(p < low or p > high for p in first | second), "a port inside the kernel's ephemeral range"
    assert {int(f.name) for f in (tmp_path / "jusou-test-ports").iterdir()} >= first | second


def test_a_port_something_listens_on_is_never_chosen(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import socket

    monkeypatch.setattr(servers, "LEASES", tmp_path / "leases")
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    port = listening.getsockname()[1]
    try:
        monkeypatch.setattr(servers, "PORTS", range(port, port + 1))
        chosen = servers.free_port()  # the only port of the range is taken: the kernel's choice instead
        assert chosen != port
    finally:
        listening.close()
