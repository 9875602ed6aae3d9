"""What a tenant costs (issue 18): processes, NATS connections, open files and memory (RSS) of the suite serving
1, 5 and 20 tenants from the same six service processes, beside the single-tenant suite measured in the same run.

    python -m bench.tenants_capacity            # 1, 5 and 20 tenants (a few minutes)
    python -m bench.tenants_capacity 1 5        # others

Each suite is `jusou up --tenants` as the runner starts it: its own nats-server with one account per tenant, the
six services with SQLite stores (a folder per tenant). Once every service answers /readyz, each tenant's staff
reads a list at every service (so each tenant's verifier and read models are in use), then the script reads
/proc: the RSS of each process, its open files, and the TCP connections to NATS. It prints one table, the
per-tenant increments against the single-tenant suite, and what 473 municipalities would need at that rate.
"""

from __future__ import annotations

import secrets
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt

from jusou import runner
from jusou.runner import Suite
from shared.organisation.reference import lead_division
from shared.settings import PORTS
from shared.web.auth import DevIssuer

SERVICES = tuple(PORTS)
MUNICIPALITIES = 473  # FY2025 (issue 18)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_files(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def threads(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def connections_to(port: int) -> int:
    """Established TCP connections whose remote end is `port` on this host (clients of NATS)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote, state = fields[2], fields[3]
            if state == "01" and int(remote.rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


def tenants_file(folder: Path, count: int) -> Path:
    path = folder / "tenants.toml"
    path.write_text("".join(f'[[tenants]]\nid = "t{n:03d}"\ndata_dir = "t{n:03d}"\n\n' for n in range(count)),
                    encoding="utf-8")
    return path


def token(data_dir: Path, tenant: str | None) -> str:
    now = int(time.time())
    claims = {"iss": "jusou-dev", "aud": "jusou", "sub": "kansa-bench", "division": lead_division(),
              "roles": ["auditor"], "iat": now, "nbf": now, "exp": now + 600, "jti": secrets.token_urlsafe(8)}
    if tenant:
        claims["tenant"] = tenant
    return jwt.encode(claims, DevIssuer(data_dir / "auth").private_key(), algorithm="ES256")


@dataclass
class Measured:
    tenants: int  # 0: the single-tenant suite
    ready_seconds: float
    processes: int
    service_rss_mib: float
    nats_rss_mib: float
    nats_connections: int
    open_files: int
    threads: int


def measure(count: int) -> Measured:
    with tempfile.TemporaryDirectory(prefix="jusou-tenants-bench-") as tmp:
        root = Path(tmp)
        nats_port = free_port()
        ports = {name: free_port() for name in SERVICES}
        suite = Suite(root / "data", nats_port=nats_port, ports=ports, extra_env={"JUSOU_STORE": "sqlite"},
                      tenants_file=tenants_file(root, count) if count else None)
        with suite:
            ids = [t.id for t in suite.tenants] or [None]
            with httpx.Client(timeout=60) as http:
                for tenant in ids:
                    data_dir = next(t.data_path for t in suite.tenants if t.id == tenant) if tenant else suite.data_dir
                    headers = {"Authorization": f"Bearer {token(data_dir, tenant)}"}
                    for name in SERVICES:
                        answer = http.get(f"{suite.url(name)}/reference/divisions", headers=headers)
                        assert answer.status_code == 200, (tenant, name, answer.text)
            pids = [p.pid for p in suite.processes.values()]
            assert suite.nats is not None
            return Measured(
                tenants=count,
                ready_seconds=suite.ready_seconds or 0.0,
                processes=len(pids) + 1,
                service_rss_mib=sum(rss_kib(pid) for pid in pids) / 1024,
                nats_rss_mib=rss_kib(suite.nats.pid) / 1024,
                nats_connections=connections_to(nats_port),
                open_files=sum(open_files(pid) for pid in pids),
                threads=sum(threads(pid) for pid in pids),
            )


def main(argv: list[str]) -> int:
    counts = [int(a) for a in argv] or [1, 5, 20]
    runner.READY_DEADLINE_SECONDS = 600.0  # twenty tenants' stores and consumers on a loaded two-core machine
    rows = [measure(0)] + [measure(n) for n in counts]
    base = rows[0]
    print("\n| tenants | ready s | processes | services' RSS MiB | nats RSS MiB | NATS connections | open files | threads |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.tenants or '(none)'} | {r.ready_seconds:.1f} | {r.processes} | {r.service_rss_mib:.0f} | "
              f"{r.nats_rss_mib:.0f} | {r.nats_connections} | {r.open_files} | {r.threads} |")
    print("\nper tenant, against the single-tenant suite of this run:")
    print("| tenants | RSS MiB / tenant | ratio to one suite's RSS | NATS conns / tenant | open files / tenant |")
    print("|---|---|---|---|---|")
    per: Measured | None = None
    for r in rows[1:]:
        rss = (r.service_rss_mib + r.nats_rss_mib - base.service_rss_mib - base.nats_rss_mib) / r.tenants
        print(f"| {r.tenants} | {rss:.1f} | {rss / (base.service_rss_mib + base.nats_rss_mib):.2f} | "
              f"{r.nats_connections / r.tenants:.1f} | {(r.open_files - base.open_files) / r.tenants:.1f} |")
        per = r
    if per is not None and per.tenants > 1:
        rss = (per.service_rss_mib + per.nats_rss_mib - base.service_rss_mib - base.nats_rss_mib) / per.tenants
        print(f"\n{MUNICIPALITIES} municipalities at the {per.tenants}-tenant rate: "
              f"~{(base.service_rss_mib + base.nats_rss_mib + rss * MUNICIPALITIES) / 1024:.1f} GiB RSS, "
              f"{per.nats_connections / per.tenants * MUNICIPALITIES:.0f} NATS connections, "
              f"{(per.open_files - base.open_files) / per.tenants * MUNICIPALITIES:.0f} open files, "
              f"{(per.threads - base.threads) / per.tenants * MUNICIPALITIES:.0f} threads over the six processes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
