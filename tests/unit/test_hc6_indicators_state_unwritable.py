"""examples/indicators.py (docs/integrating.md §5) with a `--state FILE` it cannot write (HC's integrator review, session
24): in a folder it may not write (`/proc`, a read-only mount) it subscribed, caught up and ended in a traceback at its
first save (OSError … x.tmp), as f5b0aa6 had fixed for a folder that is not there; a name too long for the file system
(`--durable` of 300 characters names `./<durable>.json`) ended in a traceback before it connected (OSError: File name too
long). Both are now said before it connects, naming the file and what to do, status 2; a state that can be kept is taken
as before and leaves no `.tmp` behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.indicators_example import load_indicators_example
from support.servers import free_port


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Any:
    return load_indicators_example(monkeypatch, "indicators_example_hc6")


@pytest.mark.parametrize("where", ["folder it may not write", "name too long"])
async def test_a_state_it_cannot_write_is_said_before_it_connects(
        example: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        where: str) -> None:
    state = Path("/proc/mhlw-indicators.json") if where == "folder it may not write" else tmp_path / f"{'x' * 300}.json"

    async def connect(*args: Any) -> None:
        raise AssertionError("it connected to NATS with a state file it cannot keep")

    monkeypatch.setattr(example, "connect", connect)

    code = await example.run(f"nats://127.0.0.1:{free_port()}", "mhlw-indicators", state, None, once=True)

    err = capsys.readouterr().err
    assert code == example.REFUSED == 2, err
    assert "--state" in err and "cannot be saved there" in err and "Traceback" not in err, err


def test_a_state_it_can_keep_is_taken_and_leaves_nothing_behind(example: Any, tmp_path: Path) -> None:
    state = tmp_path / "mhlw-indicators.json"

    assert example.kept_view(state) == example.EMPTY
    assert list(tmp_path.iterdir()) == []
    state.write_text('{"last_seq": 7}')
    assert example.kept_view(state) == {"last_seq": 7}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mhlw-indicators.json"]
