"""examples/indicators.py --count 0 (or below) connected, read nothing, printed nothing and ended with status 0 (HC's
review, 2026-12-07, left to HE): it is now refused before it connects, with what to give, status 2, as a --state
it cannot keep is (test_hc_indicators_state_file.py)."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from support.servers import free_port

from shared.contract import events

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Any:
    contract = types.ModuleType("jusou_contract")  # packages/jusou-contract re-exports shared/contract/events.py
    for name in ("PRODUCERS", "STREAM", "PoisonMessage", "parse", "upcast"):
        setattr(contract, name, getattr(events, name))
    monkeypatch.setitem(sys.modules, "jusou_contract", contract)
    spec = importlib.util.spec_from_file_location("indicators_example_he", ROOT / "examples" / "indicators.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
