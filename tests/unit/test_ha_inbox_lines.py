"""The inbox's line per message (`inbox.applied`, shared/messaging/inbox.py `_lines`) is written through a logger bound
once per structlog configuration (issue 19), and still follows every configuration made after it: a test's
`capture_logs`, a new `structlog.configure` (its processors or its output)."""

from __future__ import annotations

from typing import Any

import structlog
from structlog.testing import capture_logs

from shared.messaging import inbox


def _keeping(into: list[str]) -> Any:
    def keep(_: Any, __: str, event_dict: Any) -> str:
        into.append(event_dict["event"])
        return ""

    return keep


def _restore(saved: dict[str, Any]) -> None:
    """The configuration before the test, as it was (its processors' very list), for the tests after it."""
    structlog.configure(**saved)


def test_the_inbox_line_logger_is_bound_once_per_configuration() -> None:
    saved = structlog.get_config()
    structlog.reset_defaults()  # an earlier test's configuration (a wrapper filtering below WARNING) is not this one's
    seen: list[str] = []
    structlog.configure(processors=[_keeping(seen)], logger_factory=structlog.ReturnLoggerFactory())
    try:
        first = inbox._lines()
        assert inbox._lines() is first
        first.info("inbox.applied")
        assert seen == ["inbox.applied"]
    finally:
        _restore(saved)


def test_the_inbox_line_logger_follows_a_new_configuration_and_capture_logs() -> None:
    saved = structlog.get_config()
    structlog.reset_defaults()  # an earlier test's configuration (a wrapper filtering below WARNING) is not this one's
    one: list[str] = []
    two: list[str] = []
    structlog.configure(processors=[_keeping(one)], logger_factory=structlog.ReturnLoggerFactory())
    try:
        inbox._lines().info("inbox.applied", n=1)
        structlog.configure(processors=[_keeping(two)])  # other processors
        inbox._lines().info("inbox.applied", n=2)
        assert one == ["inbox.applied"] and two == ["inbox.applied"]
        with capture_logs() as captured:
            inbox._lines().info("inbox.duplicate", seq=7)
        assert captured == [{"event": "inbox.duplicate", "seq": 7, "log_level": "info"}]
        inbox._lines().info("inbox.applied", n=3)  # capture_logs put the processors back: seen again here
        assert two == ["inbox.applied", "inbox.applied"]
        written: list[str] = []

        class Output:
            def msg(self, text: str) -> None:
                written.append(text)

            info = msg

        structlog.configure(logger_factory=lambda *args: Output())  # another output
        inbox._lines().info("inbox.applied", n=4)
        assert two[-1] == "inbox.applied" and written == [""]
    finally:
        _restore(saved)
