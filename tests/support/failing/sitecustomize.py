"""Test-only: a service's handler fails while a file names it (tests/e2e/operations).

A service started with this folder on PYTHONPATH and `JUSOU_TEST_FAIL_FILE=<path>` raises
inside `ServiceApplication.policy`, before anything is recorded, for every line
`<service> <EventType>` the file holds; removing the line is the "fix". `policy` is the per-event
path of both `receive` (one message at a time, and a dead letter's replay) and `receive_many` (runs,
`JUSOU_INBOX_BATCH` > 1), so a failing handler inside a run is exercised too. The service, its store,
its inbox and NATS are all real: only the handler's outcome is chosen by the test.
"""

import os

if os.environ.get("JUSOU_TEST_FAIL_FILE"):
    from pathlib import Path
    from typing import Any

    import shared.kernel.app

    _fail_file = Path(os.environ["JUSOU_TEST_FAIL_FILE"])
    _policy = shared.kernel.app.ServiceApplication.policy

    def _failing_policy(self: Any, domain_event: Any, processing_event: Any) -> None:
        if isinstance(domain_event, shared.kernel.app.Received):  # not a run's recording (`Collected`)
            failing = _fail_file.read_text().splitlines() if _fail_file.exists() else []
            if f"{self.service} {domain_event.envelope.event_type}" in failing:
                raise RuntimeError(f"injected failure (test): {self.service} cannot handle "
                                   f"{domain_event.envelope.event_type} now")
        _policy(self, domain_event, processing_event)

    shared.kernel.app.ServiceApplication.policy = _failing_policy  # type: ignore[method-assign]
