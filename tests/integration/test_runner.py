"""The process runner (`jusou/runner.py`) and what `jusou` documents about it."""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jusou.configdoc import settings_markdown
from jusou.runner import PortTaken, Suite, accepts_connections, run_async
from shared.contract.events import DEAD_LETTER_STREAM, REPLAY_STREAM, STREAM
from shared.messaging.bus import connect

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def occupied_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_taken_service_port_is_named_before_anything_starts(tmp_path: Path, occupied_port: int) -> None:
    suite = Suite(tmp_path, nats_port=free_port(), ports={"intake": occupied_port}, services=("intake",))

    with pytest.raises(PortTaken) as raised:
        suite.start()

    message = str(raised.value)
    assert str(occupied_port) in message
    assert "intake" in message and "JUSOU_INTAKE_PORT" in message
    assert raised.value.taken == {"intake": occupied_port}
    assert not (tmp_path / "logs").exists()  # nothing was started


def test_taken_nats_port_suggests_another_port_or_an_existing_nats(tmp_path: Path, occupied_port: int) -> None:
    suite = Suite(tmp_path, nats_port=occupied_port, ports={"intake": free_port()}, services=("intake",))

    with pytest.raises(PortTaken) as raised:
        suite.check_ports()

    message = str(raised.value)
    assert str(occupied_port) in message
    assert "JUSOU_NATS_PORT" in message and "NATS_URL" in message


def test_existing_nats_port_is_not_checked(tmp_path: Path, occupied_port: int) -> None:
    suite = Suite(
        tmp_path, nats_url=f"nats://127.0.0.1:{occupied_port}", ports={"intake": free_port()}, services=("intake",)
    )

    suite.check_ports()  # reusing a NATS means its port is meant to be busy


def test_own_nats_has_the_streams_and_is_gone_after_stop(tmp_path: Path) -> None:
    port = free_port()
    suite = Suite(tmp_path, nats_port=port, services=())
    streams: list[str] = []

    async def list_streams() -> None:
        nc = await connect(suite.nats_url, "test-runner", *suite.nats_operator())
        try:
            streams.extend(info.config.name or "" for info in await nc.jetstream().streams_info())
        finally:
            await nc.close()

    try:
        suite.start_nats()
        run_async(list_streams())
    finally:
        suite.stop()
        suite.stop()  # idempotent

    assert sorted(streams) == sorted([STREAM, DEAD_LETTER_STREAM, REPLAY_STREAM])
    assert not accepts_connections(port)
    assert (tmp_path / "nats" / "jetstream").is_dir()


def test_readme_settings_table_matches_settings() -> None:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- settings-table -->\n(.*?)<!-- /settings-table -->", text, re.DOTALL)

    assert found, "README.md lacks the <!-- settings-table --> … <!-- /settings-table --> markers"
    assert found.group(1).strip() == settings_markdown().strip(), (
        "README.md's configuration table differs from shared.settings.SETTINGS; replace it with:\n"
        + settings_markdown()
    )


def test_a_service_stops_cleanly_on_sigterm_while_a_page_keeps_its_live_stream_open(tmp_path: Path) -> None:
    """A page's live-update stream (/ui/events) never ends by itself: on SIGTERM the service closes it after its
    graceful period (shared/web/serve.py) and exits on its own, not by the runner's SIGKILL 10 s later."""
    from support.auth import READER_ID, token
    from support.municipality import LEAD

    port = free_port()
    suite = Suite(tmp_path, nats_port=free_port(), ports={"community": port}, services=("community",))
    opened = threading.Event()

    def listen() -> None:
        cookies = {"jusou_session": token(READER_ID, LEAD, "auditor")}
        with contextlib.suppress(httpx.HTTPError), httpx.stream(
                "GET", f"http://127.0.0.1:{port}/ui/events", cookies=cookies, timeout=30, trust_env=False) as events:
            opened.set()
            for _ in events.iter_bytes():
                pass

    try:
        suite.start()
        threading.Thread(target=listen, daemon=True).start()
        assert opened.wait(30), "the live-update stream did not open"
        process = suite.processes["community"]
        process.send_signal(signal.SIGTERM)
        try:
            code: int | None = process.wait(timeout=30)  # the runner would SIGKILL it after 10 s
        except subprocess.TimeoutExpired:
            code = None
    finally:
        suite.stop()
    # uvicorn re-raises the SIGTERM it handled once it has shut down: -15 is a clean exit, as 0 would be
    assert code in (0, -signal.SIGTERM), f"community ended with {code}: it kept the open stream and did not exit"
