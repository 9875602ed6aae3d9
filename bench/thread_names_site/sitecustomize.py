"""`python bench/thread_cpu.py`: each service process's threads by name, for the per-thread CPU of the measured phase.

On the PYTHONPATH of the suite's processes only when asked (bench/thread_cpu.py sets it through bench/commands.py's
`--env`). In a process running `services.<name>`, a daemon thread named `bench thread names` writes every half second
`{native thread id: thread name}` of the live Python threads to `<JUSOU_BENCH_THREADS_OUT>.<pid>.json`: /proc knows a
thread's CPU by its id, Python its name. It never touches the service's own threads."""

from __future__ import annotations

import os

_OUT = os.environ.get("JUSOU_BENCH_THREADS_OUT")


def _install(out: str) -> None:
    import json
    import threading
    import time

    path = f"{out}.{os.getpid()}.json"

    def dump() -> None:
        while True:
            names = {str(t.native_id): t.name for t in threading.enumerate() if t.native_id is not None}
            with open(path + ".tmp", "w") as file:
                json.dump(names, file)
            os.replace(path + ".tmp", path)
            time.sleep(0.5)

    threading.Thread(target=dump, name="bench thread names", daemon=True).start()


def _a_service() -> bool:
    try:
        with open("/proc/self/cmdline", "rb") as file:
            return b"services." in file.read()
    except OSError:
        return False


if _OUT and _a_service():
    _install(_OUT)
