"""examples/indicators.py (docs/integrating.md §5, the program a new integrator starts from) with a `--state FILE` it
cannot keep (HC's outside review, 2026-12-07): in a folder that is not there it subscribed, caught up, and ended in
a traceback at its first save (FileNotFoundError: …/x.tmp); a state file that is no JSON (cut short by a full disk)
ended in a JSONDecodeError traceback. Either is now said before it connects, with what to do, status 2 (what the
example cannot use, as a refused sign-in)."""

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
    spec = importlib.util.spec_from_file_location("indicators_example_hc", ROOT / "examples" / "indicators.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
