"""Audit and replay on a big store: `audit journey`'s store read and the read-model rebuild rate.

Fills one intake store (SQLite file, AES-GCM + zlib as in production, or PostgreSQL with --pg)
with N events — cases that each carry a consultation, consent, disclosures and a hand-over, saved
many per transaction — then measures, beside the raw baselines of the same run:

- raw: the notification-log scan rate (`select_notifications`, no decoding) and scan + decode
  (decrypt, decompress, rebuild the domain event);
- replay: `jusou replay`'s rebuild of the read models (case index, person index, aggregate
  catalogue, seal re-check), events/s and its ratio to the raw scan;
- audit journey: one case's history read from the case index (p50 / p99 over random cases) and
  its state rebuilt as of a moment, beside the full-log scan that the history did before the index.

    .venv/bin/python bench/audit_replay.py [--events 100000] [--pg] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from services.intake.application import IntakeApplication
from services.intake.domain import Case, Person
from shared.kernel.journey import acting
from shared.kernel.store import store_env
from shared.settings import Settings

STAFF = {"staff_id": "kouki-012", "division": "elderly-support"}
EVENTS_PER_CASE = 10  # Person.Registered, Case.Received, consent, 6 disclosures, escalation
CASES_PER_SAVE = 50


def fill(app: IntakeApplication, events: int, progress: Any) -> list[str]:
    """Write about `events` events; return the case ids."""
    cases: list[str] = []
    written = 0
    while written < events:
        batch = []
        for _ in range(CASES_PER_SAVE):
            person = Person(name="調布 太郎", kana="ちょうふ たろう", birth_date="1960-01-01", address=None, phone=None)
            with acting(STAFF):
                case = Case(case_id=uuid4(), counter="houkatsu", division="elderly-support", channel="窓口",
                            concerns=["高齢・介護"], person_ref=str(person.id), primary_agency="地域包括支援センター")
                case.record_consent("重層的支援会議での情報共有", True, "書面")
                for _ in range(EVENTS_PER_CASE - 4):
                    case.disclose_person("own_counter", "elderly-support", None)
                case.escalate("課題が重なる", "地域包括支援センター")
            batch += [person, case]
            cases.append(str(case.id))
        app.save(*batch)
        written += CASES_PER_SAVE * EVENTS_PER_CASE
        progress(CASES_PER_SAVE * EVENTS_PER_CASE)
    return cases


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds else float("inf")


def timed(work: Any) -> tuple[int, float, float]:
    """(events, wall seconds, this process's CPU seconds) of one pass."""
    wall, cpu = time.perf_counter(), time.process_time()
    events = work()
    return events, time.perf_counter() - wall, time.process_time() - cpu


def measure(app: IntakeApplication, cases: list[str], samples: int, rounds: int) -> dict[str, Any]:
    """The replay beside its baselines, fairly: the same page size, the library's decoding, the view as
    the service leaves it (seals made), and several rounds taken in turn, so that the machine's other
    work falls on each side alike; each figure is the median over the rounds, each ratio the median of
    the rounds' ratios. CPU figures are this process's (on PostgreSQL the server's work is not in them)."""
    from uuid import UUID

    from eventsourcing.persistence import Mapper

    from shared.kernel.readmodel import REBUILD_BATCH

    head = app.recorder.max_notification_id() or 0
    # the follower's work: every event indexed and sealed for the first time (replay re-checks the seals)
    events, index_seconds, index_cpu = timed(app.readmodels.catch_up)
    assert events == head, (events, head)
    library_decode = Mapper.to_domain_event  # AES + zlib + JSON into the domain event; the intake mapper adds the
    passes: dict[str, Any] = {  # person keys' lookups and their second AES (measured apart, below)
        "raw_scan": lambda: sum(1 for _ in app.notifications(limit=REBUILD_BATCH)),
        "scan_decode": lambda: sum(1 for n in app.notifications(limit=REBUILD_BATCH) if library_decode(app.mapper, n)),
        "replay": app.readmodels.rebuild,
    }
    runs: dict[str, list[tuple[int, float, float]]] = {name: [] for name in passes}
    for _ in range(rounds):
        for name, work in passes.items():
            runs[name].append(timed(work))
            assert runs[name][-1][0] == head, (name, runs[name][-1][0], head)
    assert app.readmodels.seal_mismatches == []
    _, personal_seconds, _ = timed(lambda: sum(1 for n in app.notifications(limit=REBUILD_BATCH)
                                               if app.mapper.to_domain_event(n)))

    def median_rate(name: str, cpu: bool = False) -> float:
        return statistics.median(rate(n, c if cpu else w) for n, w, c in runs[name])

    def median_ratio(name: str, baseline: str, cpu: bool = False) -> float:
        return statistics.median((b[2] if cpu else b[1]) / (a[2] if cpu else a[1])
                                 for a, b in zip(runs[name], runs[baseline], strict=True))

    raw_scan, replay = median_rate("raw_scan"), median_rate("replay")
    replay_seconds = statistics.median(w for _, w, _ in runs["replay"])
    picks = random.Random(7).sample(cases, min(samples, len(cases)))
    history_ms, history_cpu_ms = [], []
    for case_id in picks:
        started, cpu = time.perf_counter(), time.thread_time()
        rows = app.history(UUID(case_id))
        history_ms.append((time.perf_counter() - started) * 1000)
        history_cpu_ms.append((time.thread_time() - cpu) * 1000)  # the same under the machine's other work
        assert len(rows) == EVENTS_PER_CASE - 1, len(rows)  # Person.Registered is not a case event
    state_ms = []
    for case_id in picks[:20]:
        started = time.perf_counter()
        app.state_as_of(UUID(case_id), None)
        state_ms.append((time.perf_counter() - started) * 1000)
    # the history before the index: every stored event decoded and filtered (one case)
    started = time.perf_counter()
    wanted = picks[0]
    found = [n for n in app.notifications(limit=1000)
             if (getattr(app.mapper.to_domain_event(n), "meta", None) or {}).get("case_id") == wanted]
    scan_history_ms = (time.perf_counter() - started) * 1000
    assert len(found) == EVENTS_PER_CASE - 1
    history_ms.sort()
    return {
        "events": head,
        "rounds": rounds,
        "raw_scan_events_per_s": round(raw_scan),
        "raw_scan_decode_events_per_s": round(median_rate("scan_decode")),
        "scan_decode_person_keys_events_per_s": round(rate(head, personal_seconds)),
        "index_events_per_s": round(rate(events, index_seconds)),
        "index_cpu_events_per_s": round(rate(events, index_cpu)),
        "replay_events": head,
        "replay_seconds": round(replay_seconds, 2),
        "replay_events_per_s": round(replay),
        "replay_cpu_events_per_s": round(median_rate("replay", cpu=True)),
        "scan_decode_cpu_events_per_s": round(median_rate("scan_decode", cpu=True)),
        "replay_vs_raw_scan": round(median_ratio("replay", "raw_scan"), 3),
        "replay_vs_scan_decode": round(median_ratio("replay", "scan_decode"), 3),
        "replay_vs_scan_decode_cpu": round(median_ratio("replay", "scan_decode", cpu=True), 3),
        "replay_vs_scan_decode_rounds": [round(b[1] / a[1], 3) for a, b in zip(runs["replay"], runs["scan_decode"],
                                                                               strict=True)],
        "audit_history_ms_p50": round(statistics.median(history_ms), 2),
        "audit_history_cpu_ms_p50": round(statistics.median(history_cpu_ms), 2),
        "audit_history_ms_p99": round(history_ms[min(len(history_ms) - 1, int(len(history_ms) * 0.99))], 2),
        "audit_state_ms_p50": round(statistics.median(state_ms), 2),
        "full_scan_history_ms": round(scan_history_ms, 1),
        "index_speedup": round(scan_history_ms / statistics.median(history_ms), 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200, help="cases whose audit is timed")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL at JUSOU_PG_* (default 127.0.0.1:5432/test)")
    parser.add_argument("--json", action="store_true", help="print only the JSON figures")
    parser.add_argument("--rounds", type=int, default=0,
                        help="rounds of scan / scan + decode / replay taken in turn (default: 3, or 7 under 20,000 events)")
    args = parser.parse_args()
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    console = Console(stderr=True)
    with tempfile.TemporaryDirectory() as folder:
        os.environ["JUSOU_DATA_DIR"] = folder
        if args.pg:
            os.environ.update(JUSOU_STORE="postgres", JUSOU_PG_DBNAME=os.environ.get("JUSOU_PG_DBNAME", "test"),
                              JUSOU_PG_SCHEMA_PREFIX=f"bench_{uuid4().hex[:8]}_")
        settings = Settings.from_env("intake")
        app = IntakeApplication(env=store_env(settings) | {"JUSOU_READMODELS_FOLLOW": "0"})
        try:
            with Progress(console=console, disable=args.json) as progress:
                task = progress.add_task(f"filling a store with {args.events:,} events", total=args.events)
                started = time.perf_counter()
                cases = fill(app, args.events, lambda n: progress.advance(task, n))
                fill_seconds = time.perf_counter() - started
            rounds = args.rounds or (3 if args.events >= 20_000 else 7)
            figures = {"backend": settings.store, **measure(app, cases, args.samples, rounds),
                       "fill_events_per_s": round(rate(len(cases) * EVENTS_PER_CASE, fill_seconds))}
        finally:
            app.close()
            if args.pg:
                import psycopg

                from shared.kernel.store import pg_conninfo

                with psycopg.connect(**pg_conninfo(settings), autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA "{settings.pg_schema}" CASCADE')
    if args.json:
        print(json.dumps(figures))
        return
    table = Table(title=f"audit and replay on {figures['events']:,} events ({figures['backend']}), "
                        f"median of {figures['rounds']} rounds, load {figures['load_average'][0]}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("baseline (same run)", justify="right")
    table.add_column("ratio", justify="right")
    table.add_row("replay (read models rebuilt)", f"{figures['replay_events_per_s']:,} ev/s",
                  f"raw scan {figures['raw_scan_events_per_s']:,} ev/s", f"{figures['replay_vs_raw_scan']:.2f}")
    table.add_row("", "", f"scan + decode {figures['raw_scan_decode_events_per_s']:,} ev/s",
                  f"{figures['replay_vs_scan_decode']:.2f}")
    table.add_row("", "", f"scan + decode, CPU {figures['scan_decode_cpu_events_per_s']:,} ev/s",
                  f"{figures['replay_vs_scan_decode_cpu']:.2f}")
    table.add_row("index from scratch (seals made)", f"{figures['index_events_per_s']:,} ev/s", "", "")
    table.add_row("audit journey: one case's history p50", f"{figures['audit_history_ms_p50']} ms",
                  f"full-log scan {figures['full_scan_history_ms']} ms", f"1/{figures['index_speedup']:.0f}")
    table.add_row("audit journey: history p50, CPU", f"{figures['audit_history_cpu_ms_p50']} ms", "", "")
    table.add_row("audit journey: history p99", f"{figures['audit_history_ms_p99']} ms", "", "")
    table.add_row("state as of (rebuild each aggregate) p50", f"{figures['audit_state_ms_p50']} ms", "", "")
    table.add_row("fill (50 cases per transaction)", f"{figures['fill_events_per_s']:,} ev/s", "", "")
    Console().print(table)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
