"""Test-only: a service's handler fails while a file names it (tests/e2e/operations).

A service started with this folder on PYTHONPATH and `JUSOU_TEST_FAIL_FILE=<path>` raises
inside `ServiceApplication.receive`, before anything is recorded, for every line
`<service> <EventType>` the file holds; removing the line is the "fix". The service, its store,
its inbox and NATS are all real: only the handler's outcome is chosen by the test.
"""

import os

if os.environ.get("JUSOU_TEST_FAIL_FILE"):
    from pathlib import Path
    from typing import Any

    import shared.kernel.app

    _fail_file = Path(os.environ["JUSOU_TEST_FAIL_FILE"])
    _receive = shared.kernel.app.ServiceApplication.receive

    def _failing_receive(self: Any, envelope: Any, payload: Any, tracking: str | None = None) -> bool:
        failing = _fail_file.read_text().splitlines() if _fail_file.exists() else []
        if f"{self.service} {envelope.event_type}" in failing:
            raise RuntimeError(f"injected failure (test): {self.service} cannot handle {envelope.event_type} now")
        return _receive(self, envelope, payload, tracking)

    shared.kernel.app.ServiceApplication.receive = _failing_receive  # type: ignore[method-assign]
