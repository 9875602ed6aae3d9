"""`python bench/usecases.py`: the meeting's and collaboration's use cases of a journey in process, each tree in a
process of its own, taking turns (issue 19): a journey runs to its end (the plan closed in both services) and the
figures are each service's thread CPU per journey."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_round_of_the_use_cases_runs_whole_journeys_and_gives_each_services_cpu() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "usecases.py"), "--one", str(ROOT), "-n", "2",
                           "--warm", "1"], capture_output=True, text=True, timeout=120, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(figures) == {"meeting", "collaboration"} and all(v > 0 for v in figures.values())


def test_trees_taking_turns_print_each_services_ratio_turn_by_turn() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "usecases.py"), "-n", "1", "--warm", "0",
                           "--turns", "2", "--tree", str(ROOT)], capture_output=True, text=True, timeout=180,
                          check=True)
    assert "2 turns of 1 journeys each" in done.stdout
    assert "meeting: " in done.stdout and "turn by turn: median" in done.stdout
