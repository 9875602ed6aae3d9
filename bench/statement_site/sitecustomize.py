"""`python bench/statement_costs.py`: every one-statement read of the SQLite store and views timed in each service.

On the PYTHONPATH of the suite's processes only when asked (bench/statement_costs.py sets it, with
`JUSOU_BENCH_STATEMENTS=<prefix>`). In each process, as `shared.kernel.lean` is imported, its `read_alone` (every
`select_events`, `max_tracking_id`, `newer_of` of the store, and the views' reads) is replaced by the same steps timed
with the thread's CPU clock: the pool's `get_connection`, the `execute`, the `fetchall`, the `put_connection`; and
noted: the store or the views, the first 30 characters of the statement, whether it is the statement the connection
ran last (a cache of one statement keeps only that one), the thread. With `JUSOU_BENCH_STATEMENTS_DROPPED=1` also
whether the connection's page cache was dropped since its last use (`PRAGMA data_version` changed: another connection
committed), read after the timed steps; that statement then is the one each connection ran last. Written as JSON to
`<prefix>.<pid>.json` every 3 s and at exit. For measuring only: it adds its own statement and Python per read."""

from __future__ import annotations

import importlib.abc
import importlib.util
import json
import os
import sys
import threading
import time
from typing import Any

_OUT = os.environ.get("JUSOU_BENCH_STATEMENTS")


def _install() -> None:
    import sqlite3

    from shared.kernel import lean
    from shared.kernel.library import sqlite_of

    dropped_too = os.environ.get("JUSOU_BENCH_STATEMENTS_DROPPED") == "1"
    service = next((a.split("/")[-2] for a in sys.argv if a.endswith("__main__.py") and "/services/" in a), "?")
    out = f"{_OUT}.{os.getpid()}.json"
    records: list[tuple[Any, ...]] = []
    last_statement: dict[int, str] = {}
    last_version: dict[int, int] = {}
    clock = time.thread_time_ns

    def read_alone(datastore: Any, statement: str, params: Any, *, tuples: bool = False) -> list[Any]:
        pool = datastore.pool
        t0 = clock()
        conn = pool.get_connection(is_writer=False)
        t1 = clock()
        raw = sqlite_of(conn)
        same = last_statement.get(id(raw)) == statement
        cursor = raw.cursor()
        try:
            if tuples:
                cursor.row_factory = None
            cursor.execute(statement, params)
            t2 = clock()
            rows: list[Any] = cursor.fetchall()
            t3 = clock()
        except sqlite3.Error as error:
            cursor.close()
            pool.put_connection(conn)
            raise lean._translated(error) from error
        cursor.close()
        dropped = None
        if dropped_too:
            version = raw.execute("PRAGMA data_version").fetchone()[0]
            dropped = last_version.get(id(raw)) not in (None, version)
            last_version[id(raw)] = version
            last_statement[id(raw)] = "PRAGMA data_version"
        else:
            last_statement[id(raw)] = statement
        t4 = clock()
        pool.put_connection(conn)
        t5 = clock()
        records.append((pool.db_name.endswith(".views.sqlite"), statement[:30], same, dropped,
                        t1 - t0, t2 - t1, t3 - t2, t5 - t4, threading.current_thread().name[:16]))
        return rows

    lean.read_alone = read_alone  # (reads_alone's methods and the views look it up at each call)

    def dump() -> None:
        with open(out + ".part", "w") as file:
            json.dump({"service": service, "records": records}, file)
        os.replace(out + ".part", out)

    def every() -> None:
        while True:
            time.sleep(3)
            dump()

    threading.Thread(target=every, daemon=True, name="bench-statements").start()
    import atexit

    atexit.register(dump)


class _AfterLean(importlib.abc.MetaPathFinder):
    """Installs the timing as soon as `shared.kernel.lean` is imported (before any store is opened)."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "shared.kernel.lean":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader: Any = spec.loader
        run = loader.exec_module

        def exec_module(module: Any) -> None:
            run(module)
            _install()

        loader.exec_module = exec_module
        return spec


if _OUT:
    sys.meta_path.insert(0, _AfterLean())
