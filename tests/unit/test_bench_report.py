"""The bench's scorecard (bench/report.py: issue 19's targets, each against the run's own baselines or a
previous run's JSON) and its load generator's bus waits (bench/load.py), without a suite."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the bench package lives beside the tests, at the repository's root

from bench import load, report
from bench.run import baseline_of


def results(store: str = "sqlite", *, held: float = 195.0, p99: float = 20.0, cpu: float = 2.5, best: float = 600.0,
            insert: float = 5000.0, replay_vs: float = 0.95, baseline: dict[str, Any] | None = None) -> dict[str, Any]:
    step = {"workers": 8, "bus_events_per_s": best, "journeys_per_s": best / 11, "hop_ms_p50": 5.0,
            "cpu_ms_per_bus_event": {"suite": cpu}, "cpu_cores_busy": 1.5, "driver_cores_busy": 0.2,
            "driver_busiest_process_cores": 0.1, "driver_processes": 3, "driver_cpu_ms_per_bus_event": 0.3,
            "reads_per_journey": 12.4, "commands_per_journey": 12.0, "bus_waits": 100, "bus_wait_timeouts": 0}
    recorder = {"insert_one_event_per_s": insert, "save_one_aggregate_per_s": 900, "scan_events_per_s": 9e5}
    return {
        "meta": {"mode": "quick", "cpus": 2, "load_before": "0.1, 0.2, 0.3"},
        "baseline": baseline,
        "raw": {
            "nats": {"publish_ack_msgs_per_s": 8000, "publish_async_msgs_per_s": 20000, "consume_ack_one_msgs_per_s": 6000,
                     "consume_ack_batch_msgs_per_s": 20000, "latency_rate_msgs_per_s": 200, "latency_ms_p50": 0.5,
                     "latency_ms_p99": 2.0},
            "recorder": {store: recorder},
            "import_floor": {"processes": 6, "seconds_all_imported": 1.0, "rss_mb_each": 60.0},
            "nats_server_rss_mb": 20.0,
        },
        "suite": {
            "store": store,
            "steady": {"target_events_per_s": 200, "bus_events_per_s": held, "hop_ms_p50": 4.0, "hop_ms_p99": p99,
                       "cpu_ms_per_bus_event": {"suite": cpu + 1}, "cpu_cores_busy": 1.2, "driver_cores_busy": 0.1,
                       "driver_cpu_ms_per_bus_event": 0.4},
            "saturation": [step],
            "memory": {"idle_mb": {"intake": 100.0, "nats": 20.0, "suite": 120.0}, "load_peak_mb": {"suite": 130.0}},
            "ready_seconds": 4.0,
        },
        "audit_replay": {"events": 3000, "replay_events_per_s": 950, "raw_scan_events_per_s": 9000,
                         "raw_scan_decode_events_per_s": 1000, "replay_vs_scan_decode": replay_vs,
                         "replay_vs_raw_scan": 0.1, "audit_history_ms_p50": 2.0, "full_scan_history_ms": 50.0},
    }


def by_target(rows: list[report.Row]) -> dict[str, report.Row]:
    return {r["figure"]: r for r in rows if r["target"]}


def test_the_sqlite_scorecard_is_issue_19s_targets_and_none_of_the_old_ones() -> None:
    rows = report.rows(results())
    targets = {r["target"] for r in rows if r["target"]}
    assert not targets & {"≤ 5 ms", "≥ 50% of raw", "≤ 600 MB", "≤ 10 s", "≤ 100 ms"}
    scored = by_target(rows)
    assert scored["CPU per bus event, whole suite (best step)"]["target"] == "≤ 3 ms"
    assert scored["bus events/s, best step (8 journeys at once)"]["target"] == "≥ 0.10 × raw insert"
    assert scored["hop p99 at 195 bus ev/s held"]["target"] == "≤ 25 ms, held ≥ 190 ev/s"
    replay = "replay (read models) on 3,000 events; its ratio to scan + decode, as bench/audit_replay.py gives it: 0.95"
    assert scored[replay]["target"] == "≥ 0.9 × scan + decode"
    assert all(r["met"] for r in scored.values() if "previous run" not in r["figure"]), scored
    no_baseline = [r for r in scored.values() if "previous run" in r["figure"]]
    assert len(no_baseline) == 3 and all(r["met"] is None and "no baseline" in r["target"] for r in no_baseline)


def test_each_target_fails_on_its_own_figure() -> None:
    def met(**given: Any) -> dict[str, bool | None]:
        return {r["figure"].split(" (")[0].split(" at ")[0].split(";")[0]: r["met"] for r in report.rows(results(**given)) if r["target"]}

    assert met(cpu=3.5)["CPU per bus event, whole suite"] is False
    assert met(best=450.0)["bus events/s, best step"] is False  # 0.09 of 5,000
    assert met(p99=30.0)["hop p99"] is False
    held_short = met(held=180.0)
    assert held_short["bus events/s held"] is False and held_short["hop p99"] is False  # p99 counts only when held
    assert met(replay_vs=0.85)["replay"] is False
    assert met()["its busiest process"] is True
    driven = results()
    driven["suite"]["saturation"][0]["driver_busiest_process_cores"] = 0.9
    assert by_target(report.rows(driven))["its busiest process (a process is one core at most)"]["met"] is False


def test_postgres_has_its_own_targets_and_no_cpu_target() -> None:
    rows = report.rows(results("postgres", p99=40.0, best=700.0))
    scored = by_target(rows)
    assert scored["hop p99 at 195 bus ev/s held"]["target"] == "≤ 50 ms, held ≥ 190 ev/s"
    assert scored["hop p99 at 195 bus ev/s held"]["met"] is True
    saturation = scored["bus events/s, best step (8 journeys at once)"]
    assert saturation["target"] == "≥ 0.15 × raw insert" and saturation["met"] is False  # 0.14 of 5,000
    assert not any(r["figure"].startswith("CPU per bus event") for r in scored.values())


def test_no_worse_than_the_previous_run_given_by_baseline(tmp_path: Path) -> None:
    previous = results()
    previous["meta"] |= {"started_at": "2026-12-05T20:00:00+00:00"}
    previous["suite"]["memory"]["idle_mb"]["suite"] = 110.0  # this run's 120 is 9% more: worse
    previous["suite"]["ready_seconds"] = 3.8  # 4.0 is within 10%
    previous["audit_replay"]["audit_history_ms_p50"] = 1.0  # 2.0 is worse
    path = tmp_path / "previous.json"
    path.write_text(json.dumps(previous))
    rows = by_target(report.rows(results(baseline=baseline_of(path))))
    assert rows["suite RSS, idle, against the previous run"]["met"] is False
    assert rows["suite RSS, idle, against the previous run"]["baseline"] == 110.0
    assert rows["start-up, against the previous run"]["met"] is True
    assert rows["audit journey p50, against the previous run"]["met"] is False
    assert "previous run 2026-12-05 20:00" in rows["start-up, against the previous run"]["baseline_name"]


def test_a_wait_needs_the_events_that_precede_its_state() -> None:
    plan = "6f1c0d4e-0000-0000-0000-000000000001"
    assert load.needs_for("meeting", f"/agenda/{plan}", 0) == (plan, Counter({"collaboration.PlanProposed": 1}))
    assert load.needs_for("meeting", f"/agenda/{plan}", 1) == (plan, Counter({"collaboration.PlanProposed": 2}))
    assert load.needs_for("meeting", f"/agenda/{plan}", 2) == (
        plan, Counter({"collaboration.PlanProposed": 2, "collaboration.PlanClosureRequested": 1}))
    assert load.needs_for("meeting", f"/consents/{plan}", 5) == (plan, Counter({"intake.ConsentRecorded": 1}))
    assert load.needs_for("meeting", f"/meetings/{plan}", 0) is None  # not a known wait: polls


class Message:
    """A message as the relay publishes it: the envelope's JSON (shared/contract/events.envelope_json) on its subject."""

    def __init__(self, source: str, event_type: str, case_id: str, **payload: Any) -> None:
        from shared.contract.events import Envelope, envelope_json

        envelope = Envelope(event_id=uuid4(), event_type=event_type, schema_version=1, source=source,  # type: ignore[arg-type]
                            source_position=1, case_id=UUID(case_id), occurred_at=datetime.now(UTC),
                            correlation_id=uuid4(), causation_id=None, actor={"service": source},  # type: ignore[arg-type]
                            payload={"note": '"case_id":"not-the-case"', **payload})
        self.subject = envelope.subject
        self.data = envelope_json(envelope)


CASE, OTHER = "6f1c0d4e-0000-0000-0000-00000000000c", "6f1c0d4e-0000-0000-0000-0000000000c2"
PLAN = "6f1c0d4e-0000-0000-0000-0000000000a1"


def test_bus_waits_wake_on_the_events_about_a_registered_id_only() -> None:
    async def scenario() -> None:
        waits = load.BusWaits()
        waits.register(CASE)
        waits.register(PLAN)
        need = Counter({"collaboration.PlanProposed": 2})
        waiting = asyncio.create_task(waits.until(PLAN, need, timeout=5))
        await waits.on_message(Message("collaboration", "PlanProposed", OTHER, plan_id=str(uuid4())))  # not ours
        await waits.on_message(Message("collaboration", "PlanProposed", CASE, plan_id=PLAN))
        await asyncio.sleep(0)
        assert not waiting.done()
        await waits.on_message(Message("collaboration", "PlanProposed", CASE, plan_id=PLAN))
        assert await waiting is True
        assert waits.seen[CASE]["collaboration.PlanProposed"] == 2  # counted under the case too
        assert set(waits.seen) == {CASE, PLAN}  # the other case's ids were not taken up
        assert await waits.until(CASE, Counter({"meeting.MeetingDecided": 1}), timeout=0.01) is False
        waits.forget({CASE, PLAN})
        assert waits.seen == {}

    asyncio.run(scenario())


def test_a_message_is_read_for_its_envelope_case_id_and_payload_plan_id() -> None:
    message = Message("meeting", "MeetingDecided", CASE, plan_id=PLAN, meeting_id=str(uuid4()))
    assert load.ids_of(message.data) == [CASE, PLAN]  # the payload's own "case_id" text is not the envelope's
    assert load.ids_of(Message("intake", "ConsentRecorded", CASE).data) == [CASE]


def test_bus_waits_subscribe_to_the_subjects_of_the_events_waited_for_only() -> None:
    from shared.contract.events import subject_for

    wanted = {kind for kinds in load.PRECEDING.values() for kind in kinds}
    assert load.WANTED_SUBJECTS == sorted(subject_for(*kind.split(".")) for kind in wanted)
    assert "jusou.intake.CaseEscalated" not in load.WANTED_SUBJECTS and "jusou.>" not in load.WANTED_SUBJECTS


def test_outcomes_of_the_driver_processes_add_up() -> None:
    one, two = load.Outcome(started=2, reads=30, commands=24), load.Outcome(started=1, reads=13, commands=12)
    one.completed_reads, one.completed_commands = [12, 14], [12, 12]
    two.completed_reads, two.completed_commands = [13], [12]
    two.failed(RuntimeError("boom"))
    merged = load.Outcome()
    merged.merge(one)
    merged.merge(two)
    figures = merged.http_figures()
    assert (merged.started, merged.errors, merged.first_error) == (3, 1, "RuntimeError: boom")
    assert figures["reads_per_journey"] == 13.0 and figures["commands_per_journey"] == 12.0 and figures["reads"] == 43


def test_the_table_prints_the_scorecard_line_and_warns_of_a_busy_machine(capsys: Any) -> None:
    busy = results()
    busy["meta"]["load_before"] = "5.0, 4.0, 3.0"
    report.print_table(busy, report.rows(busy))
    printed = capsys.readouterr().out
    assert "issue 19 targets: " in printed and "the machine was busy before the run (load 5.0 on 2 cores)" in printed
    quiet = results()
    report.print_table(quiet, report.rows(quiet))
    assert "the machine was busy" not in capsys.readouterr().out


def test_the_first_read_waits_for_the_lag_the_state_was_found_after() -> None:
    lags, key = load.Lags(jump=1.5, decay=0.02, most=0.25), "meeting<collaboration.PlanProposed"
    assert lags.first_read(key) == 0.0  # nothing seen yet: read at once

    def journeys(lag: float, count: int) -> int:
        """`count` waits whose state follows the event `lag` later; how many first reads came early."""
        early = 0
        for _ in range(count):
            first = lags.first_read(key)
            if first >= lag:
                lags.seen(key, first, at_first_try=True)
            else:
                early += 1
                retries = [first + 0.002 * (2**k - 1) for k in range(1, 12)]  # again at 2, 4, 8 … ms
                lags.seen(key, next(t for t in retries if t >= lag), at_first_try=False)
        return early

    assert journeys(0.006, 20) == 1  # the first; then it waits 1.5 × the 14 ms it found the state after
    assert journeys(0.006, 400) < 400 / 25  # settled: about one first read in 35 early (a median: one in two)
    assert 0.006 * 0.98 <= lags.first_read(key) < 0.006 * 1.5 * 1.5
    assert journeys(0.040, 50) <= 3  # the suite slower under load: a few early reads and it follows
    lags.seen(key, 1.0, at_first_try=False)
    assert lags.first_read(key) == 0.25  # at most 250 ms


def test_the_load_generators_cpu_is_shown_beside_the_suites_in_both_phases() -> None:
    rows = {r["figure"]: r for r in report.rows(results(cpu=2.5))}
    steady = rows["steady phase: its CPU per bus event (apart from the suite's)"]
    assert (steady["value"], steady["baseline"], steady["ratio"]) == (0.4, 3.5, round(0.4 / 3.5, 3))
    assert rows["steady phase: cores busy, the load generator / the suite"]["value"] == 0.1
    assert rows["its CPU per bus event (apart from the suite's)"]["baseline"] == 2.5  # the best step's


def test_a_first_read_too_early_is_read_again_at_steps_of_its_wait_not_of_milliseconds() -> None:
    """The suite's lag jumped past the wait the driver learnt (40 ms, the state there after 60): read again at 50
    and 70 ms, not at 42, 46, 54 and 70 (each read is the suite's work: reads per journey in the figures)."""
    case = "6f1c0d4e-0000-0000-0000-00000000000c"

    class Waits:
        async def until(self, key: str, need: Counter[str], timeout: float) -> bool:
            return True

    class Answer:
        status_code = 200

        def __init__(self, status: str) -> None:
            self.status = status

        def json(self) -> dict[str, str]:
            return {"status": self.status}

    async def scenario() -> int:
        tally, lags = load.Tally(), load.Lags()
        lags.at["meeting<collaboration.PlanProposed"] = 0.040
        began = asyncio.get_running_loop().time()

        class Http:
            async def get(self, url: str, **kwargs: Any) -> Answer:
                tally.reads += 1
                applied = asyncio.get_running_loop().time() - began >= 0.060
                return Answer("proposed" if applied else "none")

        journey = load.DriverJourney({"meeting": "http://meeting"}, Http(), Waits(), tally, lags)  # type: ignore[arg-type]
        await journey.get_when("meeting", f"/agenda/{case}", lambda r: r["status"] == "proposed", "the agenda")
        return tally.reads

    assert asyncio.run(scenario()) <= 3


def test_the_suites_cpu_per_bus_event_is_shown_against_the_bare_stacks_for_the_same_journey() -> None:
    """bench/floor.py's costs per operation (measured in the run) times the best step's requests and bus events per
    journey: the suite's CPU per bus event as a ratio to that floor, which a faster or slower machine does not move."""
    given = results(cpu=5.0)
    costs = {"http_def_us": 200.0, "http_async_us": 100.0, "save_us": 200.0, "load5_us": 100.0,
             "publish_ack_us": 100.0, "deliver_ack_us": 100.0}
    given["raw"]["stack_floor_us"] = costs
    shown = {r["figure"]: r for r in report.rows(given)}
    bare = shown["CPU per bus event, the bare stack alone for the same journey"]
    # 24.4 requests × 200 + 20 saves × 200 + 60 loads × 100 + 11 publishes × 100 + 20 deliveries × 100 µs, ÷ 11
    assert round(bare["value"], 3) == round((24.4 * 200 + 20 * 200 + 60 * 100 + 11 * 100 + 20 * 100) / 1000 / 11, 3)
    against = shown["CPU per bus event, whole suite ÷ the bare stack's"]
    assert against["value"] == 5.0 and against["baseline"] == bare["value"]
    assert round(against["ratio"], 2) == round(5.0 / bare["value"], 2)
    # issue 19's 3 ms over its 1.5 ms floor, read on this machine: at most twice the bare stack (here 5.0 ÷ 1.63 ms: missed)
    assert against["target"].startswith("≤ 2 × bare") and against["met"] is False
    for cpu, met in ((3.2, True), (3.4, False)):  # the bare stack here: 1.63 ms
        given = results(cpu=cpu)
        given["raw"]["stack_floor_us"] = costs
        assert {r["figure"]: r for r in report.rows(given)}[against["figure"]]["met"] is met, cpu
    assert "CPU per bus event, the bare stack alone for the same journey" not in {
        r["figure"] for r in report.rows(results(cpu=5.0))}  # a run without the floor shows no such row
