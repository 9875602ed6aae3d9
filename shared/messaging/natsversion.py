"""The nats-server versions Jusou supports, stated once (issue 17): from 2.11, below 3.

Why 2.11: the relay publishes each service's events as one chain (shared/messaging/relay.py), each
publish carrying `Nats-Expected-Last-Subject-Sequence` scoped by
`Nats-Expected-Last-Subject-Sequence-Subject: jusou.<service>.>`. nats-server reads the second header
from 2.11 on; 2.10 ignores it and compares the expected sequence with the last message of the one
subject published, so every event after a service's first was refused ("wrong last sequence").
A service that connects to an older server therefore refuses to start (shared/messaging/bus.py), and
every image and binary the suite runs is in this range (tests/contracts/test_nats_version.py;
tests/integration/test_older_nats_refused.py refuses a real 2.10).
Below 3: the next major is untried; a service on it starts and logs `bus.nats_untried_major`.
"""

from __future__ import annotations

import re

#: The supported range, as pip and the documentation write it.
SUPPORTED_NATS = ">=2.11,<3"
#: The oldest nats-server the relay works with, and the first major not yet tried.
MINIMUM_NATS = (2, 11, 0)
UNTRIED_NATS = (3, 0, 0)
#: The header that needs it.
NEEDED_HEADER = "Nats-Expected-Last-Subject-Sequence-Subject"

_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


class UnsupportedNats(Exception):
    """The NATS server is older than the relay needs: the service must not start on it."""

    def __init__(self, found: str) -> None:
        self.found = found
        minimum = ".".join(map(str, MINIMUM_NATS[:2]))
        super().__init__(
            f"NATS サーバー {found} には接続できません。Jusou には nats-server {minimum} 以上（{SUPPORTED_NATS}）が"
            f"必要です: リレーが使う {NEEDED_HEADER} ヘッダーは {minimum} からのもので、それより古いサーバーでは"
            f"各サービスの二件目以降のイベントがすべて拒否されます。NATS を {minimum} 以上に更新してください / "
            f"the NATS server is {found}, older than Jusou supports: nats-server {SUPPORTED_NATS} is needed, "
            f"because the relay's {NEEDED_HEADER} header exists only from {minimum} (an older server refuses "
            f"every event after a service's first); upgrade NATS to {minimum} or newer")


def parse(version: str) -> tuple[int, int, int]:
    """`2.10.26`, `v2.12.0-RC.1`, `2.11` → (major, minor, patch); ValueError for anything else."""
    found = _VERSION.match(version.strip())
    if found is None:
        raise ValueError(f"not a nats-server version: {version!r}")
    return int(found[1]), int(found[2]), int(found[3] or 0)


def in_range(version: str) -> bool:
    """True for a version in SUPPORTED_NATS."""
    return MINIMUM_NATS <= parse(version) < UNTRIED_NATS


def require(version: str) -> None:
    """Raise UnsupportedNats for a server older than MINIMUM_NATS (a newer major is only untried)."""
    if parse(version) < MINIMUM_NATS:
        raise UnsupportedNats(version)


def judge(version: str) -> str | None:
    """What an operator is told of a server's version (`jusou status`): None within SUPPORTED_NATS, else why
    it is outside (older: the services refuse it; a newer major: untried), Japanese and English."""
    try:
        found = parse(version)
    except ValueError:
        return f"版が読めません / version unreadable: {version!r}"
    minimum = ".".join(map(str, MINIMUM_NATS[:2]))
    if found < MINIMUM_NATS:
        return (f"対応範囲外（{SUPPORTED_NATS}）: {minimum} より古く、サービスは起動しません。NATS を更新してください / "
                f"outside {SUPPORTED_NATS}: older than {minimum}, the services refuse to start on it; upgrade NATS")
    if found >= UNTRIED_NATS:
        return (f"対応範囲外（{SUPPORTED_NATS}）: 未検証のメジャー版です / outside {SUPPORTED_NATS}: a major "
                "not yet tried (the services start and log bus.nats_untried_major)")
    return None
