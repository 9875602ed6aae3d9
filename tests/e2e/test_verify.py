"""`jusou audit verify` and `jusou replay` against a running suite: the stores are the source of truth.

The suite's streams are made here first with a 1 s duplicate window (the suite never rewrites an
existing stream), so that a message removed from the stream can be republished within the test.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import nats
import pytest
from support.auth import reader
from support.journey import Journey
from support.poll import eventually
from support.servers import Nats, free_port, nats_server

from jusou.runner import Suite
from shared.contract.events import STREAM
from shared.messaging.bus import STREAMS

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
WINDOW = 1.0


async def make_streams(url: str) -> None:
    nc = await nats.connect(url)
    for config in STREAMS:
        await nc.jetstream().add_stream(dataclasses.replace(config, duplicate_window=WINDOW))
    await nc.close()


@pytest.fixture(scope="module")
def verified_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Suite, Nats]]:
    root = tmp_path_factory.mktemp("verify")
    with nats_server(root / "nats") as server:
        asyncio.run(make_streams(server.url))
        ports = {name: free_port() for name in SERVICES}
        with Suite(root / "data", nats_url=server.url, ports=ports) as running:
            yield running, server


def jusou(suite: Suite, server: Nats, *args: str) -> tuple[int, Any, str]:
    env = dict(os.environ, JUSOU_DATA_DIR=str(suite.data_dir), NATS_URL=server.url, JUSOU_STORE="sqlite")
    env |= {f"JUSOU_{n.upper()}_PORT": str(urlsplit(suite.url(n)).port) for n in suite.services}
    done = subprocess.run([str(Path(sys.executable).parent / "jusou"), *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    out: Any = done.stdout
    if "--json" in args:
        out = json.loads(done.stdout)
    return done.returncode, out, done.stderr


async def settled(journey: Journey) -> None:
    """Every relay has published everything its store holds, and saved its position (what verify reads)."""
    async def probe() -> bool | None:
        for url in journey.urls.values():
            ready = (await journey.http.get(url + "/readyz")).json()
            if not ready["relay_saved_position"] == ready["relay_position"] == ready["store_position"]:
                return None
        return True

    await eventually(probe, "every relay to catch up")


@pytest.fixture
async def journey(verified_suite: tuple[Suite, Nats]) -> Any:
    suite, _ = verified_suite
    async with httpx.AsyncClient(timeout=10, headers=reader()) as client:
        yield Journey({name: suite.url(name) for name in suite.services}, client)


def totals(result: dict[str, Any], key: str) -> int:
    return sum(len(r[key]) if isinstance(r[key], list) else r[key] for r in result["reports"])


async def test_d15_verify_finds_stores_and_stream_in_agreement(journey: Journey, verified_suite: Any) -> None:
    suite, server = verified_suite
    await journey.whole()
    await settled(journey)
    code, result, err = jusou(suite, server, "audit", "verify", "--json")
    assert code == 0, (result, err)
    assert result["ok"] is True
    by_service = {r["service"]: r for r in result["reports"]}
    for report in by_service.values():
        assert report["integration_events"] == report["on_stream"], report
        assert report["problems"] == 0 and report["unsealed"] == 0
    assert by_service["intake"]["integration_events"] >= 3 and by_service["meeting"]["integration_events"] >= 3
    code, text, _ = jusou(suite, server, "audit", "verify")  # piped into a log, as cron or CI runs it
    assert code == 0 and all(header in text for header in ("service", "integration", "seal breaks", "republished")), text


async def test_d15_verify_finds_an_event_the_stream_lost_and_repair_republishes_it(
    journey: Journey, verified_suite: Any
) -> None:
    suite, server = verified_suite
    case_id = await journey.receive_and_escalate()
    await settled(journey)
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    lost = await js.get_last_msg(STREAM, "jusou.intake.CaseEscalated")
    await js.delete_msg(STREAM, lost.seq)
    await nc.close()
    code, result, _ = jusou(suite, server, "audit", "verify", "--json", "--service", "intake")
    assert code == 1 and result["ok"] is False
    assert result["reports"][0]["missing"] == [lost.headers["Nats-Msg-Id"]]
    await asyncio.sleep(WINDOW + 0.5)  # JetStream remembers a removed message's id for its duplicate window
    code, result, err = jusou(suite, server, "audit", "verify", "--repair", "--json", "--service", "intake")
    assert code == 0, (result, err)
    assert result["reports"][0]["republished"] == 1 and result["after_repair"][0]["problems"] == 0
    nc = await nats.connect(server.url)
    again = await nc.jetstream().get_last_msg(STREAM, "jusou.intake.CaseEscalated")
    await nc.close()
    assert again.headers["Nats-Msg-Id"] == lost.headers["Nats-Msg-Id"] and again.data == lost.data
    assert case_id in again.data.decode()


async def test_d15_verify_and_replay_find_a_tampered_store(journey: Journey, verified_suite: Any) -> None:
    """Swap the stored bytes of two events of one kind: each still decrypts, but the seals break."""
    suite, server = verified_suite
    first = await journey.receive_and_escalate()
    second = await journey.receive_and_escalate()
    await settled(journey)
    code, result, _ = jusou(suite, server, "audit", "verify", "--json", "--service", "intake")
    assert code == 0, result
    db = sqlite3.connect(suite.data_dir / "intake.sqlite")
    rows = db.execute("SELECT rowid, state FROM stored_events WHERE topic LIKE '%Case.Escalated' "
                      "ORDER BY rowid DESC LIMIT 2").fetchall()
    (pos_b, state_b), (pos_a, state_a) = rows
    with db:
        db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (state_b, pos_a))
        db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (state_a, pos_b))
    try:
        code, result, _ = jusou(suite, server, "audit", "verify", "--json", "--service", "intake")
        report = result["reports"][0]
        assert code == 1
        assert report["seal_breaks"] == [pos_a, pos_b]
        assert len(report["altered"]) == 2  # what the store says now is not what was published
        code, out, _ = jusou(suite, server, "replay", "intake", "--json")
        assert code == 1 and out[0]["seal_breaks"] == [pos_a, pos_b]
    finally:
        with db:
            db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (state_a, pos_a))
            db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (state_b, pos_b))
        db.close()
    code, result, _ = jusou(suite, server, "audit", "verify", "--json", "--service", "intake")
    assert code == 0 and result["ok"], result
    code, out, _ = jusou(suite, server, "replay", "intake", "--json")  # the read models built from the tampered store
    assert code == 0 and out[0]["equal_to_live"] is False and out[0]["changed_tables"] == ["case_events"]
    assert first != second


async def test_d15_replay_rebuilds_read_models_equal_to_the_live_ones(journey: Journey, verified_suite: Any) -> None:
    suite, server = verified_suite
    case_id, _ = await journey.whole()
    await settled(journey)
    before = (await journey.http.get(journey.urls["collaboration"] + f"/cases/{case_id}/history")).json()
    code, out, err = jusou(suite, server, "replay", "all", "--json")
    assert code == 0, err
    for figures in out:
        assert figures["equal_to_live"] is True, figures
        assert figures["seal_breaks"] == []
    heads = {n: (await journey.http.get(journey.urls[n] + "/readyz")).json()["store_position"] for n in SERVICES}
    assert {f["service"]: f["events"] for f in out} == heads
    after = (await journey.http.get(journey.urls["collaboration"] + f"/cases/{case_id}/history")).json()
    assert after == before
    code, text, _ = jusou(suite, server, "replay", "meeting")
    assert code == 0 and "equal to the live read models" in text and "events/s" in text
