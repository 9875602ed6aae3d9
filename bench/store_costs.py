"""`python bench/store_costs.py`: CPU per aggregate load and per tracking check of a service's event store (issue 19).

In a child process per tree and round, collaboration's application on a fresh store (a SQLite file, or with
`--store postgres` a PostgreSQL schema of its own): `-n` cases of each age (events recorded: 5, 15, 40 by default;
a `CollaborationCase` opened and given strands), then each case loaded `--loads` times through the application's
repository (`repository.get`: select, decrypt, decompress, decode, replay; no aggregate kept, the default), and as
many tracking checks (`recorder.has_tracking_id`, `max_tracking_id`: the inbox's); for the youngest cases, the
mapper's decoding and encoding of one stored event (`to_domain_event`: decrypt, decompress, JSON; `to_stored_event`
the other way) and a save of one new event (`app.save`: encode, insert, commit). Thread CPU time per operation.
`--tree DIR` (repeatable) runs the same rounds from other source trees, alternately (A B A B …); the table gives
medians over rounds and each tree's ratio to the first (this tree).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent


def one(args: argparse.Namespace) -> dict[str, Any]:
    """One round in this process, from the tree this script is run from (sys.path)."""
    folder = Path(tempfile.mkdtemp(prefix="jusou-store-costs-"))
    os.environ["JUSOU_DATA_DIR"] = str(folder)
    os.environ["JUSOU_AGGREGATE_CACHE"] = "0"
    prefix = f"bench_store_{uuid.uuid4().hex[:8]}_"
    if args.store == "postgres":
        os.environ.update({"JUSOU_STORE": "postgres", "JUSOU_PG_HOST": args.pg_host, "JUSOU_PG_PORT": str(args.pg_port),
                           "JUSOU_PG_USER": args.pg_user, "JUSOU_PG_DBNAME": args.pg_dbname,
                           "JUSOU_PG_SCHEMA_PREFIX": prefix})
    else:
        os.environ["JUSOU_STORE"] = "sqlite"
    from services.collaboration.application import CollaborationApplication
    from services.collaboration.domain import CollaborationCase
    from shared.kernel.journey import acting
    from shared.kernel.store import store_env
    from shared.settings import Settings

    app = CollaborationApplication(env={**store_env(Settings.from_env("collaboration")), "JUSOU_READMODELS_FOLLOW": "0"})
    actor = {"staff_id": "s-001", "division": "福祉総合相談課"}
    result: dict[str, Any] = {}
    try:
        for age in args.ages:
            cases = []
            for _ in range(args.n):
                case_id = uuid.uuid4()
                with acting(actor):
                    case = CollaborationCase(case_id=case_id, reason="複合課題", concerns=["生活困窮", "介護"],
                                             primary_agency="地域包括支援センター", primary_agency_code="A01")
                    for i in range(age - 1):
                        case.add_strand(uuid.uuid4(), "生活困窮", f"課題 {i} の説明", "地域包括支援センター", "todo")
                app.save(case)
                cases.append(case_id)
            got = app.repository.get(cases[0])
            assert got.version == age, (got.version, age)
            start = time.thread_time()
            for _ in range(args.loads):
                for case_id in cases:
                    app.repository.get(case_id)
            result[f"load {age}"] = 1e6 * (time.thread_time() - start) / (args.loads * len(cases))
            if age == args.ages[0]:
                events = [e for case_id in cases for e in app.repository.event_store.get(case_id)]
                records = [r for case_id in cases for r in app.recorder.select_events(case_id)]
                start = time.thread_time()
                for _ in range(args.loads):
                    for record in records:
                        app.mapper.to_domain_event(record)
                result["decode 1 event"] = 1e6 * (time.thread_time() - start) / (args.loads * len(records))
                start = time.thread_time()
                for _ in range(args.loads):
                    for e in events:
                        app.mapper.to_stored_event(e)
                result["encode 1 event"] = 1e6 * (time.thread_time() - start) / (args.loads * len(events))
                spent = 0.0
                for i in range(max(1, args.loads // 2)):
                    for case_id in cases:
                        case = app.repository.get(case_id)
                        with acting(actor):
                            case.add_strand(uuid.uuid4(), "生活困窮", f"追加 {i}", "地域包括支援センター", "todo")
                        start = time.thread_time()
                        app.save(case)
                        spent += time.thread_time() - start
                result["save 1 event"] = 1e6 * spent / (max(1, args.loads // 2) * len(cases))
        recorder: Any = app.recorder
        from eventsourcing.persistence import Tracking

        app.recorder.insert_tracking(Tracking(application_name="bench", notification_id=10))
        checks = args.loads * args.n
        start = time.thread_time()
        for i in range(checks):
            recorder.has_tracking_id("bench", 5 + i % 10)
        result["has_tracking_id"] = 1e6 * (time.thread_time() - start) / checks
        start = time.thread_time()
        for _ in range(checks):
            recorder.max_tracking_id("bench")
        result["max_tracking_id"] = 1e6 * (time.thread_time() - start) / checks
    finally:
        app.close()
        if args.store == "postgres":
            import psycopg

            with psycopg.connect(host=args.pg_host, port=args.pg_port, user=args.pg_user, dbname=args.pg_dbname,
                                 autocommit=True) as conn:
                for (schema,) in conn.execute("select nspname from pg_namespace where nspname like %s",
                                              (prefix + "%",)).fetchall():
                    conn.execute(f'drop schema "{schema}" cascade')
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python bench/store_costs.py", description=__doc__.split("\n")[0])
    parser.add_argument("--ages", default="5,15,40", help="events each case has")
    parser.add_argument("-n", type=int, default=40, help="cases of each age")
    parser.add_argument("--loads", type=int, default=10, help="loads of each case per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per tree (alternating)")
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--pg-user", default="postgres")
    parser.add_argument("--pg-dbname", default="test")
    parser.add_argument("--tree", action="append", default=[], metavar="DIR", help="another source tree (A/B)")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a child: one round, this tree
    args = parser.parse_args(argv)
    args.ages = [int(a) for a in str(args.ages).split(",")]
    if args.one:
        print(json.dumps(one(args)))
        return
    trees = [HERE, *(Path(t).resolve() for t in args.tree)]
    rounds: dict[Path, list[dict[str, float]]] = {tree: [] for tree in trees}
    passed = [a for a in (argv if argv is not None else sys.argv[1:])]
    child_args: list[str] = []
    skip = False
    for a in passed:  # everything but --tree
        if skip:
            skip = False
            continue
        if a == "--tree":
            skip = True
            continue
        if a.startswith("--tree="):
            continue
        child_args.append(a)
    for r in range(args.rounds):
        for tree in trees:
            out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--one", *child_args],
                                 cwd=tree, capture_output=True, text=True, check=False,
                                 env={**os.environ, "PYTHONPATH": str(tree)})
            if out.returncode != 0:
                sys.exit(f"{tree}: {out.stderr[-3000:]}")
            rounds[tree].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"round {r + 1} {tree}: load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
    keys = list(rounds[trees[0]][0])
    header = f"{'CPU per op (us), median':<28}" + "".join(f"{str(t)[-18:]:>20}" for t in trees)
    header += "".join(f"{'ratio ' + str(i + 1):>10}" for i in range(1, len(trees)))
    print(f"store {args.store}, {args.n} cases per age, {args.loads} loads each, {args.rounds} rounds; "
          f"load average now {os.getloadavg()}")
    print(header)
    for key in keys:
        meds = [statistics.median(r[key] for r in rounds[t]) for t in trees]
        line = f"{key:<28}" + "".join(f"{m:>20.1f}" for m in meds)
        line += "".join(f"{m / meds[0]:>10.2f}" for m in meds[1:])
        print(line)


if __name__ == "__main__":
    main()
