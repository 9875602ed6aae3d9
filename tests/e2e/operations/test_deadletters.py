"""`jusou deadletters list|show|replay` against the running suite, with a handler that really fails.

collaboration's handler fails on CaseEscalated (tests/support/failing), so the escalation is
retried, then parked on JUSOU_DLQ. After the fix, collaboration goes on with a later
escalation from intake (its tracking record of intake moves past the parked one); the replay
still opens the parked case, once, and never puts a second copy of the event on JUSOU.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import nats
import pytest
from support.auth import reader
from support.journey import Journey
from support.ops import envelopes, jusou, jusou_in_process, stream_messages
from support.poll import eventually

from jusou.runner import Suite
from shared.contract.events import DEAD_LETTER_STREAM, REPLAY_STREAM, STREAM


async def test_a_parked_event_is_listed_shown_and_replayed_once_after_the_fix(
    running_suite: Suite, journey: Journey, fail_file: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def here(*args: str) -> tuple[int, str, str]:
        return await jusou_in_process(running_suite, monkeypatch, capsys, *args)

    nats_url = running_suite.nats_url
    fail_file.write_text("collaboration CaseEscalated\n")
    parked_case = await journey.receive_and_escalate()

    async def parked() -> object:
        return [m for m in await stream_messages(nats_url, DEAD_LETTER_STREAM)
                if m.headers.get("Jusou-Consumer") == "collaboration" and parked_case in m.data.decode()]

    await eventually(parked, "collaboration to park the escalation on JUSOU_DLQ")
    fail_file.write_text("")  # the fix
    later_case = await journey.receive_and_escalate()
    await journey.get_when("collaboration", f"/cases/{later_case}", lambda c: c["status"] == "open",
                           "collaboration to open the later case after the fix")
    async with httpx.AsyncClient(timeout=10, headers=reader()) as client:
        assert (await client.get(f"{running_suite.url('collaboration')}/cases/{parked_case}")).status_code == 404

    code, out, _ = await here("deadletters", "list", "--consumer", "collaboration", "--json")
    assert code == 0
    listed = json.loads(out)
    [letter] = [d for d in listed if d["status"] == "parked" and d["subject"] == "jusou.intake.CaseEscalated"]
    seq = letter["seq"]
    assert "failed 2 times" in letter["reason"] and "injected failure" in letter["reason"]

    code, out, _ = await here("deadletters", "show", str(seq), "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["message"]["case_id"] == parked_case
    assert shown["message"]["event_type"] == "CaseEscalated"
    assert shown["headers"]["Jusou-Dead-Letter-Reason"] == letter["reason"]
    assert shown["headers"]["Jusou-Original-Subject"] == "jusou.intake.CaseEscalated"

    replayed = jusou(running_suite, "deadletters", "replay", str(seq))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "再処理済み" in replayed.stdout
    collaboration = running_suite.url("collaboration")
    async with httpx.AsyncClient(timeout=10, headers=reader()) as client:
        case = await client.get(f"{collaboration}/cases/{parked_case}")
        assert case.status_code == 200 and case.json()["status"] == "open", case.text  # applied, though past

        # The same replay again, under another message id (as a careless script would): no second effect.
        [replay_message] = [m for m in await stream_messages(nats_url, REPLAY_STREAM)
                            if m.headers.get("Jusou-Replay-Of") == str(seq)]
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            again = await js.publish(replay_message.subject, replay_message.data, stream=REPLAY_STREAM,
                                     headers={**replay_message.headers, "Nats-Msg-Id": "once-more"})

            async def handled() -> bool:
                info = await js.consumer_info(REPLAY_STREAM, "collaboration--replay")
                return bool(info.ack_floor.stream_seq >= again.seq)

            await eventually(handled, "collaboration to handle the second replay")
        finally:
            await nc.close()
        history = (await client.get(f"{collaboration}/cases/{parked_case}/history")).json()
    assert [row["event"] for row in history].count("CollaborationCase.Opened") == 1

    async def published() -> list[str] | None:
        found = [e["event_type"] for e in envelopes(await stream_messages(nats_url, STREAM)) if e["case_id"] == parked_case]
        return found if "CollaborationStarted" in found else None

    on_jusou = await eventually(published, "collaboration to publish the case it opened")
    assert on_jusou.count("CaseEscalated") == 1  # the replay went to JUSOU_REPLAY only
    assert on_jusou.count("CollaborationStarted") == 1

    code, table, _ = await here("deadletters", "list")
    [row] = [line for line in table.splitlines() if line.strip().startswith(f"{seq} ")]
    assert code == 0 and "再処理済み" in row and "collaboration" in row
    code, _, error = await here("deadletters", "show", "999999")
    assert code == 1 and "999999" in error

