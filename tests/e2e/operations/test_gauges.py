"""The gauges an operator acts on (issue 17): dead letters no replay was sent for, and the read models'
own position and lag behind the store, read from a real `/metrics` of the running suite.

meeting's handler of ConsentRecorded fails (tests/support/failing) and parks the consent on
JUSOU_DLQ: meeting's `jusou_dead_letters_unreplayed` goes up by one; after the fix,
`jusou deadletters replay` sends it back and the gauge goes down by one again.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from support.journey import Journey
from support.ops import jusou_in_process, scrape, value
from support.poll import eventually

from jusou.runner import Suite


async def test_dead_letters_unreplayed_and_the_read_models_position_are_exported(
    running_suite: Suite, journey: Journey, fail_file: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    meeting, intake = running_suite.url("meeting"), running_suite.url("intake")
    async with httpx.AsyncClient(timeout=10) as client:
        async def unreplayed() -> float:
            samples = await scrape(client, meeting)
            assert ("jusou_dead_letters_unreplayed", frozenset({("service", "meeting")})) in samples
            return value(samples, "jusou_dead_letters_unreplayed", service="meeting")

        async def unreplayed_is(expected: float) -> bool:
            return await unreplayed() == expected

        before = await unreplayed()
        fail_file.write_text("meeting ConsentRecorded\n")
        await journey.receive_and_escalate()
        await eventually(lambda: unreplayed_is(before + 1), "meeting's parked consent in jusou_dead_letters_unreplayed")
        fail_file.write_text("")  # the fix

        code, out, err = await jusou_in_process(running_suite, monkeypatch, capsys,
                                                "deadletters", "list", "--consumer", "meeting", "--json")
        assert code == 0, err
        [letter] = [d for d in json.loads(out) if d["status"] == "parked" and d["subject"] == "jusou.intake.ConsentRecorded"]
        code, out, err = await jusou_in_process(running_suite, monkeypatch, capsys,
                                                "deadletters", "replay", str(letter["seq"]))
        assert code == 0, out + err
        await eventually(lambda: unreplayed_is(before), "the replayed dead letter to leave the gauge")

        async def caught_up() -> dict[str, float] | None:
            samples = await scrape(client, intake)
            found = {name: value(samples, name, service="intake")
                     for name in ("jusou_store_position", "jusou_readmodel_position", "jusou_readmodel_lag")}
            assert ("jusou_readmodel_position", frozenset({("service", "intake")})) in samples
            return found if found["jusou_readmodel_position"] == found["jusou_store_position"] else None

        found = await eventually(caught_up, "intake's read models to index its whole store")
        assert found["jusou_store_position"] >= 3 and found["jusou_readmodel_lag"] == 0
