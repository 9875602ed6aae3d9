"""examples/indicators.py counts an event once, also when a copy of it comes later on the stream (docs/integrating.md §1:
keep each source's `source_position`, skip what you already have).

The review from outside (HE, session 21), on `jusou up`: whoever holds intake's NATS password published on
`jusou.intake.ConsultationReceived` the body of intake's first message again under a new `Nats-Msg-Id` (the stream's
duplicate window deduplicates by that header only; a relay's republish after the window is the same copy). Jusou's
own consumers skip it (their tracking of intake is past its position); the ministry's indicators counted it:
`consultations_by_counter` went from {"houkatsu": 2} to {"houkatsu": 3} with `skipped: 0`. The example kept only the
last stream sequence, which a copy at a later sequence passes. Now it keeps the `event_id` of each event it counted
with its view and passes over a copy, counted as skipped, also after a restart. Not the highest `source_position` per
source, which docs/integrating.md offers too: one forged message claiming a far position would then hide every real
event after it (the second test).

A real nats-server; the example signs in with the integrator's rights as `jusou nats config` renders them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from uuid import uuid4

import nats as nats_py
import pytest

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from integration.test_partitions import nats_with_auth
from support.indicators_example import load_indicators_example

from jusou.runner import subscriptions
from shared.messaging.bus import ensure_streams
from shared.messaging.natsauth import integrator_permissions


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Any:
    return load_indicators_example(monkeypatch, "indicators_example_he3")


def consultation(position: int) -> bytes:
    """intake's ConsultationReceived at `position` of its store, as its relay publishes it."""
    return json.dumps({
        "event_id": str(uuid4()), "event_type": "ConsultationReceived", "schema_version": 1, "source": "intake",
        "source_position": position, "case_id": str(uuid4()), "occurred_at": "2026-12-07T01:02:03+00:00",
        "correlation_id": str(uuid4()), "causation_id": None, "actor": {"staff_id": "kouki-012", "division": "elderly-support"},
        "payload": {"person_ref": str(uuid4()), "counter": "houkatsu", "division": "高齢者支援室", "channel": "来所",
                    "concerns": []},
    }).encode()


async def put(admin: Any, body: bytes, msg_id: str | None = None) -> None:
    """On intake's subject, `Nats-Msg-Id` the event's id (the relay) or any other (a copy)."""
    event_id = json.loads(body)["event_id"]
    await admin.jetstream().publish("jusou.intake.ConsultationReceived", body,
                                    headers={"Nats-Msg-Id": msg_id or event_id})


async def test_a_copy_of_a_counted_event_under_a_new_msg_id_is_skipped_not_counted_again(
        example: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with nats_with_auth(tmp_path, integrator_permissions(subscriptions())) as url:
        admin = await nats_py.connect(url, user="admin", password="admin-pw")
        await ensure_streams(admin)
        first, second = consultation(3), consultation(7)
        await put(admin, first)
        await put(admin, second)
        await put(admin, first, msg_id=str(uuid4()))  # the copy: the stream takes it, at sequence 3
        state = tmp_path / "indicators.json"
        sign_in = example.SignIn("probe", "probe-pw", inbox_prefix="_INBOX_integrator")

        assert await example.run(url, "mhlw-indicators", state, None, once=True, sign_in=sign_in) == 0
        last = json.loads(capsys.readouterr().out.splitlines()[-1])
        assert last["stream_seq"] == 3
        assert last["consultations_by_counter"] == {"houkatsu": 2} and last["skipped"] == 1

        await put(admin, second, msg_id=str(uuid4()))  # another copy, read after a restart from the saved view
        await put(admin, consultation(8))
        assert await example.run(url, "mhlw-indicators", state, None, once=True, sign_in=sign_in) == 0
        last = json.loads(capsys.readouterr().out.splitlines()[-1])
        assert last["stream_seq"] == 5
        assert last["consultations_by_counter"] == {"houkatsu": 3} and last["skipped"] == 2
        await admin.close()


async def test_a_message_claiming_a_far_position_hides_no_real_event_after_it(
        example: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Whoever holds intake's password may claim any position; the real consultations after it are still counted."""
    with nats_with_auth(tmp_path, integrator_permissions(subscriptions())) as url:
        admin = await nats_py.connect(url, user="admin", password="admin-pw")
        await ensure_streams(admin)
        await put(admin, consultation(3))
        await put(admin, consultation(1_000_000))  # forged: no store of intake's is there yet
        await put(admin, consultation(4))
        await put(admin, consultation(5))
        sign_in = example.SignIn("probe", "probe-pw", inbox_prefix="_INBOX_integrator")

        assert await example.run(url, "mhlw-indicators", tmp_path / "v.json", None, once=True, sign_in=sign_in) == 0
        last = json.loads(capsys.readouterr().out.splitlines()[-1])
        assert last["consultations_by_counter"] == {"houkatsu": 4} and last["skipped"] == 0  # the forged one too
        await admin.close()
