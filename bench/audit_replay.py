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


def measure(app: IntakeApplication, cases: list[str], samples: int) -> dict[str, Any]:
    from uuid import UUID

    head = app.recorder.max_notification_id() or 0
    started = time.perf_counter()
    scanned = sum(1 for _ in app.notifications(limit=1000))
    raw_scan = rate(scanned, time.perf_counter() - started)
    started = time.perf_counter()
    decoded = sum(1 for n in app.notifications(limit=1000) if app.mapper.to_domain_event(n))
    scan_decode = rate(decoded, time.perf_counter() - started)

    started = time.perf_counter()
    rebuilt = app.readmodels.rebuild()
    replay_seconds = time.perf_counter() - started

    picks = random.Random(7).sample(cases, min(samples, len(cases)))
    history_ms = []
    for case_id in picks:
        started = time.perf_counter()
        rows = app.history(UUID(case_id))
        history_ms.append((time.perf_counter() - started) * 1000)
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
        "raw_scan_events_per_s": round(raw_scan),
        "raw_scan_decode_events_per_s": round(scan_decode),
        "replay_events": rebuilt,
        "replay_seconds": round(replay_seconds, 2),
        "replay_events_per_s": round(rate(rebuilt, replay_seconds)),
        "replay_vs_raw_scan": round(rate(rebuilt, replay_seconds) / raw_scan, 3),
        "replay_vs_scan_decode": round(rate(rebuilt, replay_seconds) / scan_decode, 3),
        "audit_history_ms_p50": round(statistics.median(history_ms), 2),
        "audit_history_ms_p99": round(history_ms[min(len(history_ms) - 1, int(len(history_ms) * 0.99))], 2),
        "audit_state_ms_p50": round(statistics.median(state_ms), 2),
        "full_scan_history_ms": round(scan_history_ms, 1),
        "index_speedup": round(scan_history_ms / statistics.median(history_ms), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200, help="cases whose audit is timed")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL at JUSOU_PG_* (default 127.0.0.1:5432/test)")
    parser.add_argument("--json", action="store_true", help="print only the JSON figures")
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
            figures = {"backend": settings.store, **measure(app, cases, args.samples),
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
    table = Table(title=f"audit and replay on {figures['events']:,} events ({figures['backend']})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("baseline (same run)", justify="right")
    table.add_column("ratio", justify="right")
    table.add_row("replay (read models rebuilt)", f"{figures['replay_events_per_s']:,} ev/s",
                  f"raw scan {figures['raw_scan_events_per_s']:,} ev/s", f"{figures['replay_vs_raw_scan']:.2f}")
    table.add_row("", "", f"scan + decode {figures['raw_scan_decode_events_per_s']:,} ev/s",
                  f"{figures['replay_vs_scan_decode']:.2f}")
    table.add_row("audit journey: one case's history p50", f"{figures['audit_history_ms_p50']} ms",
                  f"full-log scan {figures['full_scan_history_ms']} ms", f"1/{figures['index_speedup']:.0f}")
    table.add_row("audit journey: history p99", f"{figures['audit_history_ms_p99']} ms", "", "")
    table.add_row("state as of (rebuild each aggregate) p50", f"{figures['audit_state_ms_p50']} ms", "", "")
    table.add_row("fill (50 cases per transaction)", f"{figures['fill_events_per_s']:,} ev/s", "", "")
    Console().print(table)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
