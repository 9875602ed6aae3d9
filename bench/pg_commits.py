"""A service's PostgreSQL transactions per second during a bench run, counted by the server (issue 19).

Run beside `python -m bench --store postgres` (any tree): it waits for the run's schema of SERVICE (`bench_*_<service>`,
the newest), then every 0.25 s reads the events inserted since its last read with `xmin` (the id of the transaction
that inserted each row) and writes one JSON line per read: the time, the events and the transactions first seen.
`summary` reads those lines for a window (the bench's own `hop:` lines give the steady phase's start and end) and
gives events, transactions, events per transaction, the largest transaction and the lowest and highest transactions
per second over whole seconds. docs/capacity.md §5.13 (the commits of grouped and alone saves).

    python -m bench.pg_commits sample --service intake --out /tmp/x.jsonl &   # then the bench
    python -m bench.pg_commits summary /tmp/x.jsonl --start 23:40:12 --seconds 12
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any


def events_table(conn: Any, schema: str) -> str | None:
    row = conn.execute("SELECT table_name FROM information_schema.columns WHERE table_schema = %s "
                       "AND column_name = 'originator_version' ORDER BY table_name LIMIT 1", (schema,)).fetchone()
    return None if row is None else str(row[0])


def sample(service: str, out: Path, give_up_s: float) -> None:
    import psycopg

    from bench.raw import pg_conninfo

    began = time.time()
    with psycopg.connect(**pg_conninfo(), autocommit=True) as conn, out.open("a") as lines:
        pattern = "bench\\_%\\_" + service  # a suite's (bench.group_commit_slots's are bench_slots_*)
        before = {str(n) for (n,) in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                                                  (pattern,)).fetchall()}
        schema = table = None
        while table is None:  # a schema made after this started (a failed run's left behind is not this run's)
            row = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s AND NOT nspname = ANY(%s) "
                               "AND nspname NOT LIKE 'bench\\_slots\\_%%' "
                               "ORDER BY oid DESC LIMIT 1", (pattern, list(before))).fetchone()
            if row is not None:
                schema = str(row[0])
                table = events_table(conn, schema)
            if time.time() - began > give_up_s:
                raise SystemExit(f"no bench schema for {service} in {give_up_s:.0f} s")
            time.sleep(0.25)
        last = 0
        print(f"sampling {schema}.{table}", file=sys.stderr, flush=True)
        while True:
            try:
                rows = conn.execute(f'SELECT notification_id, xmin::text::bigint FROM "{schema}"."{table}" '
                                    f"WHERE notification_id > %s ORDER BY notification_id", (last,)).fetchall()
            except psycopg.Error:  # the run's end: its schemas dropped
                return
            now = time.time()
            if rows:
                last = int(rows[-1][0])
                counts = Counter(int(x) for _, x in rows)
                lines.write(json.dumps({"t": round(now, 3), "events": len(rows), "tx": dict(counts)}) + "\n")
                lines.flush()
            time.sleep(0.25)


def summary(path: Path, start: str, seconds: float) -> dict[str, Any]:
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not records:
        return {"error": "no samples"}
    day = datetime.fromtimestamp(records[0]["t"]).date()
    t0 = datetime.combine(day, datetime.strptime(start, "%H:%M:%S").time()).timestamp()
    window = [r for r in records if t0 <= r["t"] < t0 + seconds]
    txs: Counter[int] = Counter()
    per_second: Counter[int] = Counter()
    seen: set[int] = set()
    for record in window:
        for x, n in record["tx"].items():
            txs[int(x)] += n
            if int(x) not in seen:
                seen.add(int(x))
                per_second[int(record["t"] - t0)] += 1
    events = sum(txs.values())
    rates = [per_second.get(k, 0) for k in range(int(seconds))]
    return {"events": events, "transactions": len(txs),
            "events_per_tx": round(events / len(txs), 2) if txs else None,
            "largest_tx": max(txs.values()) if txs else 0,
            "tx_per_s_min_max": [min(rates), max(rates)] if rates else None,
            "tx_per_s": round(len(txs) / seconds, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pg_commits", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--service", default="intake")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--give-up", type=float, default=600.0, help="seconds to wait for the run's schema")
    m = sub.add_parser("summary")
    m.add_argument("file", type=Path)
    m.add_argument("--start", required=True, help="HH:MM:SS, local time as the bench prints it")
    m.add_argument("--seconds", type=float, default=12.0)
    args = parser.parse_args(argv)
    if args.command == "sample":
        sample(args.service, args.out, args.give_up)
    else:
        print(json.dumps(summary(args.file, args.start, args.seconds)))


if __name__ == "__main__":
    main()
