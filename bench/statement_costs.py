"""`python bench/statement_costs.py [--tree DIR] [-n N] [--dropped]`: what a one-statement read of the SQLite store
costs inside each service of the suite (issue 19).

Runs `bench/commands.py journey -n N --concurrency 4 --rounds 1` from `--tree` (default this tree) with
bench/statement_site on the services' PYTHONPATH: every `read_alone` of each service (the store's `select_events`,
`max_tracking_id`, `newer_of`; the views' reads) timed by the thread's CPU clock, step by step. Prints, per service,
the store's reads (warm-up and measured journeys alike): how many, the mean µs of the pool's `get_connection`, of
`execute` + `fetchall`, of `put_connection`, and the whole; the share of reads whose statement is the one their
connection ran last and what execute + fetchall cost for those and for the others; with `--dropped`, the share whose
connection's page cache was dropped since its last use (another connection committed: `PRAGMA data_version`), and
their cost against the others' (this adds a statement per read, so every read then counts as "not the last").
Measured so (docs/capacity.md §5, issue 19's eighth pass): a single-row select cost 100-180 µs of thread CPU in
the suite against 5 µs in one warm thread, mostly a statement prepared again (the library's pool kept one) and a page
cache dropped by another connection's commit (shared/kernel/library.py `warm_connections`)."""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent


def table(prefix: str) -> None:
    for path in sorted(glob.glob(f"{prefix}.*.json")):
        found = json.loads(Path(path).read_text())
        reads = [r for r in found["records"] if not r[0]]  # the store's (r[0]: the views')
        if not reads:
            continue

        def mean(rows: list[Any], of: Any) -> float:
            return statistics.mean(of(r) for r in rows) / 1000 if rows else float("nan")

        ran = lambda r: r[5] + r[6]
        same = [r for r in reads if r[2]]
        other = [r for r in reads if not r[2]]
        line = (f"{found['service']:14s} reads {len(reads):5d}  get {mean(reads, lambda r: r[4]):5.1f}"
                f"  execute+fetch {mean(reads, ran):5.1f}  put {mean(reads, lambda r: r[7]):5.1f}"
                f"  whole {mean(reads, lambda r: r[4] + r[5] + r[6] + r[7]):6.1f} µs"
                f" | last statement again {len(same) / len(reads):4.2f}: {mean(same, ran):5.1f}, others {mean(other, ran):5.1f}")
        if reads[0][3] is not None:
            dropped = [r for r in reads if r[3]]
            kept = [r for r in reads if not r[3]]
            line += f" | page cache dropped {len(dropped) / len(reads):4.2f}: {mean(dropped, ran):5.1f}, kept {mean(kept, ran):5.1f}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, default=HERE, help="the source tree whose suite runs (default this one)")
    parser.add_argument("-n", type=int, default=40, help="journeys")
    parser.add_argument("--dropped", action="store_true", help="also note whether each read's page cache was dropped")
    args = parser.parse_args()
    prefix = str(Path(tempfile.mkdtemp(prefix="jusou-statement-costs-")) / "reads")
    env = [f"PYTHONPATH={HERE / 'bench' / 'statement_site'}", f"JUSOU_BENCH_STATEMENTS={prefix}"]
    if args.dropped:
        env.append("JUSOU_BENCH_STATEMENTS_DROPPED=1")
    tree = args.tree.resolve()
    command = [sys.executable, str(tree / "bench" / "commands.py"), "journey", "-n", str(args.n), "--concurrency", "4",
               "--rounds", "1", *(part for item in env for part in ("--env", item))]
    print(f"load average {os.getloadavg()[0]:.1f}; {tree}", flush=True)
    subprocess.run(command, cwd=tree, check=True)
    table(prefix)


if __name__ == "__main__":
    main()
