"""`python bench/commands.py`: medians of rounds per tree, CPU per command and per bus event, and a cProfile's
CPU by category (issue 19)."""

from __future__ import annotations

import cProfile
import importlib.util
import json
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def bench_commands() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_commands_under_test", ROOT / "bench" / "commands.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def a_round(intake_s: float, others_s: float, bus_events: int) -> dict[str, object]:
    services = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
    cpu = {name: 0.0 for name in (*services, "nats")} | {"intake": intake_s, "collaboration": others_s}
    return {"units": 100, "bus_events": bus_events, "drained": True, "wall_s": 10.0, "cpu_s": cpu,
            "commands": {name: 300 if name == "intake" else 0 for name in services},
            "reads": dict.fromkeys(services, 0)}


def test_the_medians_of_rounds_give_cpu_per_command_and_per_bus_event() -> None:
    commands = bench_commands()
    rounds = [a_round(1.2, 0.8, 400), a_round(1.5, 0.5, 400), a_round(3.0, 1.0, 400)]  # the last one on a busy machine
    found = commands.summarise(rounds, "escalate")
    assert found["intake_cpu_ms_per_command"] == 5.0  # median of 4, 5 and 10 ms
    assert found["cpu_ms_per_bus_event"] == 5.0  # median of 5, 5 and 10 ms
    assert found["cpu_ms_per_unit"]["suite"] == 20.0 and found["bus_events_per_unit"] == 4.0
    json.dumps(found)  # written with --json


def test_a_profile_is_summarised_by_where_the_cpu_went(tmp_path: Path) -> None:
    commands = bench_commands()
    profiler = cProfile.Profile()
    profiler.enable()
    sorted(json.loads(json.dumps(list(range(20_000)))))  # the stdlib's JSON
    profiler.disable()
    path = tmp_path / "one.pstats"
    profiler.dump_stats(path)
    shares = dict(commands.categorise(str(path)))
    assert abs(sum(shares.values()) - 100) < 0.5
    assert max(shares, key=lambda c: shares[c]).startswith("JSON"), shares
