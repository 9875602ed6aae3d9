"""`python -m bench.pg_journey --port P [-n 20] [--rounds 3] [--tree DIR]`: bench/commands.py's fixed-work journey on
PostgreSQL, with the statements the suite sent and PostgreSQL's own CPU (issue 19, docs/capacity.md §5.18).

bench/commands.py runs its rounds on SQLite. Here each round is one of its rounds (`--one`, the tree's own code) on a
PostgreSQL cluster of one's own (`--port`: a scratch cluster made with `shared_preload_libraries = 'pg_stat_statements'`,
`pg_stat_statements.track = top`, and the extension created in its database `test`; nothing else should use it), each
round in fresh schemas (`JUSOU_PG_SCHEMA_PREFIX`), dropped after. During the measured phase of every round this module
is attached to the suite (`--attach`, `--collect`): it resets `pg_stat_statements` as the phase begins and, when the
phase ends, reads it (the statements the suite's processes sent, their schemas folded) and the CPU the cluster's
processes used meanwhile (every child of its postmaster, user + system, /proc). Trees alternate as in
bench/commands.py (A B, B A, ...).

Prints per tree the medians: the suite's CPU per bus event (the services and nats-server, as bench/commands.py),
PostgreSQL's CPU per bus event, the statements a journey (all, and the `SELECT MAX(notification_id)` tracking reads,
the aggregate reads, the inserts), and the statements of each kind a journey.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")


def conninfo(port: int) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "user": "postgres", "dbname": "test"}


def cluster_pids(data_dir: str) -> list[int]:
    """The postmaster and its children (backends, WAL writer, checkpointer ...)."""
    postmaster = int(Path(data_dir, "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                pids.append(int(entry.name))
    return pids


def cpu_of(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def fold(query: str) -> str:
    query = " ".join(query.split())
    query = re.sub(r'"ha4_[a-z0-9_]+?_(intake|collaboration|meeting|outreach|participation|community)"', r'"\1"', query)
    return query[:150]


def kind(query: str) -> str:
    q = query.upper()
    if "MAX(NOTIFICATION_ID)" in q and "TRACKING" in q and "LEFT JOIN" not in q:
        return "tracking read (MAX)"
    if "JUSOU_INSERT" in q:
        return "save (one statement)"
    if q.startswith("SELECT") and "_EVENTS" in q and "ORIGINATOR_ID = " in q.replace("=$", "= $"):
        return "aggregate read"
    if q.startswith("INSERT") and "TRACKING" in q:
        return "tracking insert"
    if q.startswith(("INSERT", "DELETE", "UPDATE")):
        return "other write"
    if q in ("BEGIN", "COMMIT", "ROLLBACK") or q.startswith("SET "):
        return "transaction control"
    return "other read"


def collect(port: int, data_dir: str, out: str) -> None:
    """Attached for the measured phase: reset, wait for SIGINT, write what was sent and the cluster's CPU."""
    import psycopg

    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    with psycopg.connect(**conninfo(port), autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
    before = cpu_of(cluster_pids(data_dir))
    while not stop:
        time.sleep(0.1)
    after = cpu_of(cluster_pids(data_dir))
    with psycopg.connect(**conninfo(port), autocommit=True) as conn:
        rows = conn.execute("SELECT query, calls FROM pg_stat_statements WHERE toplevel AND dbid = "
                            "(SELECT oid FROM pg_database WHERE datname = current_database())").fetchall()
    statements: dict[str, int] = {}
    for query, calls in rows:
        if "pg_stat_statements" in query:
            continue
        key = fold(query)
        statements[key] = statements.get(key, 0) + int(calls)
    used = sum(after[p] - before.get(p, 0.0) for p in after)
    Path(out).write_text(json.dumps({"pg_cpu_s": round(used, 3), "statements": statements}))


def drop(port: int, prefix: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(**conninfo(port), autocommit=True) as conn:
        for service in SERVICES:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(prefix + service)))


def one(tree: str, args: argparse.Namespace, index: int) -> dict[str, Any]:
    prefix = f"ha4_{os.getpid()}_{index}_"
    out = Path(tempfile.mkdtemp(prefix="ha4-pg-")) / "statements.json"
    env = ["JUSOU_STORE=postgres", "JUSOU_PG_HOST=127.0.0.1", f"JUSOU_PG_PORT={args.port}", "JUSOU_PG_USER=postgres",
           "JUSOU_PG_DBNAME=test", f"JUSOU_PG_SCHEMA_PREFIX={prefix}", *args.env]
    attach = (f"{sys.executable} {Path(__file__).resolve()} --collect --port {args.port} --data-dir {args.data_dir} "
              f"--out {out}")
    command = [sys.executable, str(HERE / "bench" / "commands.py"), "journey", "-n", str(args.n), "--concurrency",
               str(args.concurrency), "--warm", str(args.warm), "--one", tree, *[f"--env={e}" for e in env],
               f"--attach={attach}"]
    try:
        done = subprocess.run(command, cwd=tree, capture_output=True, text=True, timeout=1800, check=False)
    finally:
        drop(args.port, prefix)
    try:
        found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise SystemExit(f"round on {tree} failed (exit {done.returncode}):\n{done.stderr[-3000:]}") from None
    found |= json.loads(out.read_text())
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="the scratch cluster's port (database test)")
    parser.add_argument("--data-dir", required=True, help="the scratch cluster's data directory (its postmaster.pid)")
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--warm", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--tree", action="append", default=[])
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--collect", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.collect:
        collect(args.port, args.data_dir, args.out)
        return
    trees = [str(HERE), *[str(Path(t).resolve()) for t in args.tree]]
    results: dict[str, list[dict[str, Any]]] = {t: [] for t in trees}
    index = 0
    for i in range(args.rounds):
        order = trees if i % 2 == 0 else list(reversed(trees))
        for tree in order:
            load = os.getloadavg()[0]
            found = one(tree, args, index)
            index += 1
            found["load"] = load
            results[tree].append(found)
            cpu = sum(found["cpu_s"].values())
            calls = sum(found["statements"].values()) / found["units"]
            print(f"round {i + 1} {Path(tree).name}: suite {1000 * cpu / max(1, found['bus_events']):.2f} ms/bus event, "
                  f"PostgreSQL {1000 * found['pg_cpu_s'] / max(1, found['bus_events']):.2f} ms/bus event, "
                  f"{calls:.1f} statements a journey (load {load:.1f})", file=sys.stderr, flush=True)

    def med(values: list[float]) -> float:
        return round(statistics.median(values), 3) if values else float("nan")

    rows: dict[str, list[float]] = {}
    for tree in trees:
        rs = results[tree]
        rows.setdefault("suite CPU ms per bus event", []).append(
            med([1000 * sum(r["cpu_s"].values()) / max(1, r["bus_events"]) for r in rs]))
        rows.setdefault("PostgreSQL CPU ms per bus event", []).append(
            med([1000 * r["pg_cpu_s"] / max(1, r["bus_events"]) for r in rs]))
        for name in SERVICES:
            rows.setdefault(f"  {name} CPU ms per journey", []).append(med([1000 * r["cpu_s"][name] / r["units"] for r in rs]))
        rows.setdefault("statements a journey", []).append(med([sum(r["statements"].values()) / r["units"] for r in rs]))
        kinds = sorted({kind(q) for r in results[trees[0]] for q in r["statements"]})
        for k in kinds:
            rows.setdefault(f"  {k}", []).append(
                med([sum(c for q, c in r["statements"].items() if kind(q) == k) / r["units"] for r in rs]))
        rows.setdefault("bus events a journey", []).append(med([r["bus_events"] / r["units"] for r in rs]))
    print(f"{'':44s}" + "".join(f"{Path(t).name[:12]:>14s}" for t in trees) + "   ratio")
    for label, values in rows.items():
        ratio = "" if not values[0] else "  " + " ".join(f"{v / values[0]:.2f}" for v in values[1:])
        print(f"{label:44s}" + "".join(f"{v:14.2f}" for v in values) + ratio)
    for tree in trees:
        totals: dict[str, float] = {}
        for r in results[tree]:
            for q, c in r["statements"].items():
                totals[q] = totals.get(q, 0) + c / r["units"] / len(results[tree])
        print(f"\nstatements a journey, {tree}:")
        for q, c in sorted(totals.items(), key=lambda kv: -kv[1])[:40]:
            print(f"  {c:7.2f}  {kind(q):22s} {q}")
    if args.json:
        args.json.write_text(json.dumps({"trees": trees, "rounds": results}, indent=1))


if __name__ == "__main__":
    main()
