"""examples/indicators.py --count 0 (or below) connected, read nothing, printed nothing and ended with status 0 (HC's
review, 2026-12-07, left to HE): it is now refused before it connects, with what to give, status 2, as a --state
it cannot keep is (test_hc_indicators_state_file.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from support.indicators_example import load_indicators_example
from support.servers import free_port


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Any:
    return load_indicators_example(monkeypatch, "indicators_example_he")


@pytest.mark.parametrize("count", [0, -3])
async def test_a_count_below_one_is_refused_before_it_connects(
        example: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        count: int) -> None:
    async def connect(*args: Any) -> None:
        raise AssertionError("it connected to NATS to read no message")

    monkeypatch.setattr(example, "connect", connect)
    state = tmp_path / "mhlw-indicators.json"
    code = await asyncio.wait_for(
        example.run(f"nats://127.0.0.1:{free_port()}", "mhlw-indicators", state, count), timeout=10)
    err = capsys.readouterr().err
    assert code == example.REFUSED == 2, err
    assert f"--count {count}" in err and "1 or more" in err, err
    assert not state.exists()
