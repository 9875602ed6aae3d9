"""`python -m bench --profile`: py-spy's samples summarised by what the threads did and whose commits they were (issue 19)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def bench_profile() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_profile_under_test", ROOT / "bench" / "profile.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SAMPLES = [  # (stack, outermost frame first; how many samples)
    (["<module> (services/collaboration/__main__.py:5)", "Runner.run (asyncio/runners.py:118)"], 50),
    (["Thread._bootstrap (threading.py:1002)", "WorkerThread.run (anyio/_backends/_asyncio.py:1133)",
      "ServiceApplication.receive (shared/kernel/app.py:419)", "EventStore.put (eventsourcing/persistence.py:1)",
      "SQLiteConnection.commit (eventsourcing/sqlite.py:86)"], 30),
    (["Thread._bootstrap (threading.py:1002)", "ServiceApplication.save (shared/kernel/app.py:300)",
      "Application.save (eventsourcing/application.py:1)", "SQLiteConnection.commit (eventsourcing/sqlite.py:86)"], 10),
    (["Thread._bootstrap (threading.py:1002)", "Condition.wait (threading.py:327)"], 10),
    (["Thread._bootstrap (threading.py:1002)", "PersonKeys.create (services/intake/keys.py:60)",
      "SQLiteKeys._put (services/intake/keys.py:112)"], 20),
]
#: py-spy --format raw: the semicolon-joined stack, a space, the sample count; other lines are skipped
RAW = "\n".join([*(f"{';'.join(stack)} {count}" for stack, count in SAMPLES), "not a sample line"])


def test_profile_splits_commits_by_whose_transaction_and_names_the_c_loop(tmp_path: Path) -> None:
    profile = bench_profile()
    path = tmp_path / "profile-collaboration.txt"
    path.write_text(RAW)

    found = profile.summarise(path)

    assert found["samples"] == 120
    assert found["categories_pct"] == {"event loop in C (uvloop)": 41.7, "SQLite commit (fsync)": 33.3,
                                       "other": 16.7, "waiting (idle loop, queue, lock)": 8.3}
    assert found["commits_pct"] == {"inbox (ServiceApplication.receive)": 25.0,
                                    "a service's own key store (services/intake/keys.py)": 16.7,
                                    "commands (Application.save)": 8.3}
    frames = dict(found["busiest_frames_pct"])
    assert frames == {"Runner.run (asyncio/runners.py:118)": 41.7, "SQLiteConnection.commit (eventsourcing/sqlite.py:86)": 33.3,
                      "SQLiteKeys._put (services/intake/keys.py:112)": 16.7}
