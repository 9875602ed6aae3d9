"""examples/indicators.py (docs/integrating.md §5, the program a new integrator starts from) with a `--state FILE` it
cannot keep (HC's outside review, 2026-12-07): in a folder that is not there it subscribed, caught up, and ended in
a traceback at its first save (FileNotFoundError: …/x.tmp); a state file that is no JSON (cut short by a full disk)
ended in a JSONDecodeError traceback. Either is now said before it connects, with what to do, status 2 (what the
example cannot use, as a refused sign-in)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from support.indicators_example import load_indicators_example
from support.servers import free_port


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Any:
    return load_indicators_example(monkeypatch, "indicators_example_hc")


@pytest.mark.parametrize("where", ["missing folder", "not json"])
async def test_a_state_file_it_cannot_keep_is_said_before_it_connects(
        example: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        where: str) -> None:
    if where == "missing folder":
        state = tmp_path / "no-such-folder" / "mhlw-indicators.json"
    else:
        state = tmp_path / "mhlw-indicators.json"
        state.write_text('{"last_seq": 12, "consultations')  # cut short
    nowhere = f"nats://127.0.0.1:{free_port()}"

    async def connect(*args: Any) -> None:
        raise AssertionError("it connected to NATS with a state file it cannot keep")

    monkeypatch.setattr(example, "connect", connect)

    code = await asyncio.wait_for(example.run(nowhere, "mhlw-indicators", state, None, once=True), timeout=10)

    err = capsys.readouterr().err
    assert code == example.REFUSED == 2, err
    assert str(state) in err and "--state" in err and "Traceback" not in err, err
