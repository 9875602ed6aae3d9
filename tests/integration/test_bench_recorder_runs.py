"""`python -m bench`'s raw recorder figures include the inbox-run ceiling: RUN events per transaction (issue 19;
the report row beside the one-event insert is checked by test_bench_smoke: every row with a baseline has its ratio)."""

from __future__ import annotations

import base64
import secrets
import sqlite3
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import raw  # the bench package lives beside the tests, at the repository's root


def test_recorder_figures_insert_runs_of_events_in_one_transaction(tmp_path: Path) -> None:
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    figures = raw.recorder_figures(raw.store_env_for("sqlite", tmp_path, key, ""), n=40, seconds=5.0)

    assert figures["run_events"] == raw.RUN == 8
    assert figures["insert_runs_events_per_s"] > 0
    with sqlite3.connect(tmp_path / "raw.sqlite") as db:  # every event the figures say were written is in the store
        stored = db.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0]
    assert stored == figures["scanned"] >= figures["inserted"] + raw.RUN + figures["saved"]  # one by one, a run at least, saves
