"""The benchmark runs end to end (`python -m bench`, tiny sizes) and writes every figure.

No timing is asserted: speed is the bench's to report, as ratios to the baselines it measures in
the same run. This proves only that the script works and its JSON has every key.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--quick", "--raw-messages", "100", "--raw-seconds", "0.2", "--latency-seconds", "0.3",
        "--hop-rate", "20", "--hop-seconds", "1", "--steps", "1", "--step-seconds", "2",
        "--audit-events", "200", "--floor-processes", "1", "--settle-seconds", "0", "--driver-processes", "2"]
SERVICES = {"intake", "collaboration", "meeting", "outreach", "participation", "community"}
HOP_KEYS = {"hops", "hop_ms_p50", "hop_ms_p99", "relay_ms_p50", "relay_ms_p99", "inbox_ms_p50", "inbox_ms_p99",
            "cpu_ms_per_bus_event", "cpu_cores_busy", "bus_events_per_s", "errors"}


def test_bench_quick_run_writes_every_figure_as_json(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "bench", *TINY, "--out", str(tmp_path)], cwd=ROOT,
                          check=False, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    [path] = tmp_path.glob("bench-*.json")
    results = json.loads(path.read_text())

    raw = results["raw"]
    assert set(raw["nats"]) >= {"publish_ack_msgs_per_s", "publish_async_msgs_per_s", "consume_ack_one_msgs_per_s",
                                "consume_ack_batch_msgs_per_s", "latency_ms_p50", "latency_ms_p99"}
    assert raw["nats"]["publish_ack_msgs_per_s"] > 0
    assert set(raw["recorder"]["sqlite"]) >= {"insert_one_event_per_s", "save_one_aggregate_per_s", "scan_events_per_s"}
    assert "postgres" in raw["recorder"]  # its figures, or why it was skipped
    assert set(raw["import_floor"]) >= {"seconds_all_imported", "rss_mb_each"}

    suite = results["suite"]
    assert suite["ready_seconds"] > 0
    steady = suite["steady"]
    assert set(steady) >= HOP_KEYS | {"target_events_per_s", "events_per_case", "cases"}
    assert steady["cases"] > 0 and steady["hops"] == steady["cases"], steady  # every case's hop was found
    assert steady["errors"] == 0, steady["first_error"]
    [step] = suite["saturation"]
    assert set(step) >= HOP_KEYS | {"workers", "journeys", "journeys_per_s"}
    # the load generator: its own processes, its CPU apart from the suite's, its reads counted (issue 19)
    assert step["driver_processes"] >= 3 and step["driver_cores_busy"] is not None  # two drivers and the main process
    assert step["journeys"] > 0 and step["reads_per_journey"] >= 10, step  # one read or more per wait, at least
    assert step["bus_waits"] > 0 and step["bus_wait_timeouts"] == 0, step  # the waits were made on the bus
    assert steady["reads_per_journey"] == 0 and steady["commands_per_journey"] == 3, steady
    assert steady["cases_offered"] == steady["cases"] and "starts_behind_schedule" in steady, steady
    assert set(suite["memory"]["idle_mb"]) == SERVICES | {"nats", "suite"}
    assert set(suite["memory"]["load_peak_mb"]) >= SERVICES | {"suite"}
    assert set(steady["cpu_ms_per_bus_event"]) == SERVICES | {"nats", "suite"}

    if (ROOT / "bench" / "audit_replay.py").exists():
        assert "replay_events_per_s" in results["audit_replay"], results["audit_replay"]
    targets = {t["target"] for t in results["targets"]}  # issue 19's scorecard
    assert {"≤ 3 ms", "≥ 0.10 × raw insert"} <= targets, targets
    assert any(t.startswith("≤ 25 ms, held ≥ ") for t in targets), targets
    assert any(t.startswith("no worse: no baseline") for t in targets), targets
    if results["audit_replay"]:
        assert "≥ 0.9 × scan + decode" in targets, targets
    assert all(r["ratio"] is not None for r in results["figures"] if r["baseline"] is not None and r["value"])
    if results["chart"]:
        assert Path(results["chart"]).stat().st_size > 0
    assert "hop p50" in done.stdout  # the table was printed
