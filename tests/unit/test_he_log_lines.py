"""A service's log lines are the same bytes after issue 19's cheaper rendering (shared/observe/logs.py `UtcStamp`,
`ReadableLines`): README, docs/operations and the fault harness read these lines, and tests grep them.

The old chain is kept here as the reference, as it was before (structlog's `TimeStamper(fmt="iso", utc=True)` and
the `ReadableLines` of a30ac4f); every event dict is rendered by both, at the same instant, and the texts compared.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import json
import random
import sys
from collections.abc import Iterator
from pathlib import PurePosixPath
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import pytest
import structlog

from shared.observe import logs
from shared.observe.logs import ReadableLines, UtcStamp, configure_logging


class OldReadableLines:
    """shared/observe/logs.py's ReadableLines before issue 19's change, verbatim: the reference."""

    HANDED_ON = ("stack", "exception", "exc_info", "logger", "logger_name")
    QUOTED = frozenset(" \t=\r\n\"'")
    EVENT_WIDTH = 30

    def __init__(self) -> None:
        self.full = structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback,
                                                  pad_event_to=self.EVENT_WIDTH)
        self.levels = {level: self.full(None, level, {"level": level, "event": "-"})[:-2]
                       for level in ("debug", "info", "warning", "error", "critical", "exception")}

    def _value(self, value: Any) -> str:
        if isinstance(value, str):
            return repr(value) if self.QUOTED.intersection(value) else value
        return repr(value)

    def __call__(self, logger: Any, name: str, event_dict: Any) -> str:
        level = event_dict.get("level")
        if any(key in event_dict for key in self.HANDED_ON) or (level is not None and level not in self.levels):
            return self.full(logger, name, event_dict)
        parts = []
        if (timestamp := event_dict.pop("timestamp", None)) is not None:
            parts.append(str(timestamp))
        if event_dict.pop("level", None) is not None:
            parts.append(self.levels[str(level)])
        if (event := event_dict.pop("event", None)) is not None:
            parts.append(str(event).ljust(self.EVENT_WIDTH))
        parts.extend(f"{key}={self._value(event_dict[key])}" for key in sorted(event_dict))
        return " ".join(part for part in parts if part).rstrip(" ")


class Colour(enum.Enum):
    RED = "赤"


class Thing:
    def __repr__(self) -> str:
        return "Thing(ends with spaces)   "


def _exception() -> ValueError:
    try:
        raise ValueError("bad 'value'\n二行目")
    except ValueError as error:
        return error


STRINGS = ["", "plain", "with space", "quote's", 'double"quote', "new\nline", "tab\there", "cr\rhere", "a=b",
           "鷺沼 花子", "相談受付", "trailing ", " leading", "back\\slash", "\x00nul", "emoji🙂", "'both\" kinds'",
           "12345", "None", "CaseEscalated", "collaboration", str(UUID(int=19))]
VALUES: list[Any] = [
    *STRINGS, 0, 1, -7, 10**30, True, False, None, 0.0, -0.5, 1e-7, 1.5e300, float("nan"), float("inf"),
    UUID("12345678-1234-5678-1234-567812345678"), datetime.datetime(2026, 12, 7, 3, 30, 0, 0),
    datetime.datetime(2026, 12, 7, 3, 30, 1, 123456, tzinfo=datetime.UTC), datetime.date(2026, 12, 7),
    decimal.Decimal("1.10"), [1, "a b", None], (), ("x",), {"k": "v w", "n": [1, {"j": "花"}]}, {}, b"bytes\n",
    frozenset({"only"}), Colour.RED, PurePosixPath("/a b/c"), _exception(), Thing(), "x" * 200, str.__name__,
]
KEYS = ["case_id", "event_id", "correlation_id", "event_type", "source", "source_position", "seq", "tries", "method",
        "route", "status", "ms", "plan_id", "reason", "count", "a", "zz", "Upper", "_private", "ключ", "相談"]
EVENTS: list[Any] = ["inbox.applied", "http.command", "", "an event with spaces", "x" * 40, "相談.受付", 19, None,
                     "trailing   "]
LEVELS: list[Any] = ["debug", "info", "warning", "error", "critical", "exception", "notice", None]
TIMESTAMPS: list[Any] = ["2026-12-07T03:29:44.123456Z", "2026-12-07T03:29:44Z", "", None, 1765078184.5]


def _event_dicts() -> Iterator[dict[str, Any]]:
    rng = random.Random(19)
    for _ in range(3000):
        event_dict: dict[str, Any] = {}
        if (timestamp := rng.choice(TIMESTAMPS)) is not None or rng.random() < 0.5:
            event_dict["timestamp"] = timestamp
        if (level := rng.choice(LEVELS)) is not None or rng.random() < 0.5:
            event_dict["level"] = level
        if rng.random() < 0.95:
            event_dict["event"] = rng.choice(EVENTS)
        for key in rng.sample(KEYS, rng.randint(0, 10)):
            event_dict[key] = rng.choice(VALUES)
        if rng.random() < 0.05:
            event_dict[rng.choice(ReadableLines.HANDED_ON)] = rng.choice(["text", "a b"])
        yield event_dict
    # the lines the services write most: the inbox's and a request's
    ids = {"case_id": str(UUID(int=1)), "event_id": str(UUID(int=2)), "correlation_id": str(UUID(int=3)),
           "event_type": "CaseEscalated", "source": "intake"}
    yield {"timestamp": "2026-12-07T03:29:44.000001Z", "level": "info", "event": "inbox.applied",
           "service": "collaboration", "source_position": 42, "seq": 7, "tries": 1, **ids}
    yield {"timestamp": "2026-12-07T03:29:44Z", "level": "error", "event": "http.command", "service": "meeting",
           "method": "POST", "route": "/cases/{case_id}/plans", "status": 500, "ms": 12.3, **ids}


def _rendered(renderer: Any, event_dict: dict[str, Any]) -> Any:
    """The text, or the error raised (ConsoleRenderer's, for a level of None beside a traceback: the same both ways)."""
    try:
        return renderer(None, "info", dict(event_dict))
    except Exception as error:  # noqa: BLE001
        return (type(error), str(error))


def test_readable_lines_renders_every_event_dict_as_before() -> None:
    old, new = OldReadableLines(), ReadableLines()
    for event_dict in _event_dicts():
        assert _rendered(new, event_dict) == _rendered(old, event_dict), event_dict


def test_readable_lines_renders_a_traceback_as_before() -> None:
    old, new = OldReadableLines(), ReadableLines()
    try:
        raise RuntimeError("boom 'x'\n相談")
    except RuntimeError as error:
        for exc_info in (True, error, sys.exc_info()):
            event_dict = {"timestamp": "2026-12-07T03:29:44Z", "level": "error", "event": "inbox.failed",
                          "exc_info": exc_info, "case_id": "c 1"}
            rendered = new(None, "error", dict(event_dict))
            assert rendered == old(None, "error", dict(event_dict))
            assert "RuntimeError" in rendered


def _iso(nanoseconds: int) -> str:
    """structlog's TimeStamper(fmt="iso", utc=True) at this instant (datetime.now floors to the microsecond)."""
    moment = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(microseconds=nanoseconds // 1000)
    return moment.isoformat().replace("+00:00", "Z")


def _instants() -> Iterator[int]:
    rng = random.Random(19)
    start = 1_796_615_384 * 10**9  # 2026-12-07
    yield from (start, start + 999, start + 1000, start + 999_999_999, 0, 951_782_400 * 10**9)  # 2000-02-29
    for _ in range(5000):
        yield rng.randrange(0, 4_102_444_800 * 10**9)  # to 2100
    now = start
    for _ in range(5000):  # one clock going forward across seconds, as the stamp's kept second sees it
        now += rng.choice([1, 999, 1000, 250_000_000, 999_999_000, 10**9])
        yield now


def test_utc_stamp_writes_the_iso_text_timestamper_wrote() -> None:
    stamp = UtcStamp()
    for nanoseconds in _instants():
        assert stamp.text(nanoseconds) == _iso(nanoseconds), nanoseconds


def _frozen_datetime(monkeypatch: pytest.MonkeyPatch, nanoseconds: int) -> None:
    moment = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(microseconds=nanoseconds // 1000)

    class Frozen(datetime.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return moment.astimezone(tz)

    monkeypatch.setattr(structlog.processors, "datetime", SimpleNamespace(datetime=Frozen, timezone=datetime.timezone))


def _through(processors: list[Any], event_dict: dict[str, Any]) -> Any:
    out: Any = dict(event_dict)
    try:
        for processor in processors:
            out = processor(None, "info", out)
    except Exception as error:  # noqa: BLE001
        return (type(error), str(error))
    return out.encode()


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_the_configured_chain_writes_the_bytes_the_old_chain_wrote(monkeypatch: pytest.MonkeyPatch,
                                                                      log_format: str) -> None:
    """configure_logging's processors against the old ones (TimeStamper, the old ReadableLines), contextvars bound."""
    saved = structlog.get_config()
    monkeypatch.setattr(logs, "json_lines", lambda: log_format == "json")
    try:
        configure_logging("collaboration")
        chain = list(structlog.get_config()["processors"])
    finally:
        structlog.configure(**saved)
    (stamp,) = [p for p in chain if isinstance(p, UtcStamp)]
    old_tail = [OldReadableLines()] if log_format == "console" else chain[chain.index(stamp) + 1:]
    old_chain = [*chain[:chain.index(stamp)], structlog.processors.TimeStamper(fmt="iso", utc=True), *old_tail]
    structlog.contextvars.bind_contextvars(case_id=str(UUID(int=5)), correlation_id="corr 'id'")
    try:
        for number, (instant, event_dict) in enumerate(zip(_instants(), _event_dicts(), strict=False)):
            if log_format == "json" and any(key in event_dict for key in ReadableLines.HANDED_ON):
                continue  # the exception renderer's own input; the stamp is what differs between the chains
            event_dict.pop("timestamp", None)
            monkeypatch.setattr(stamp, "clock", lambda instant=instant: instant)
            _frozen_datetime(monkeypatch, instant)
            texts = [_through(processors, event_dict) for processors in (chain, old_chain)]
            assert texts[0] == texts[1], (number, event_dict)
            if log_format == "json" and isinstance(texts[0], bytes):
                json.loads(texts[0])
    finally:
        structlog.contextvars.clear_contextvars()


def test_an_events_ids_are_the_same_text_as_before() -> None:
    """`event_fields` (the ids on an integration event's lines) gives each id's `str`, remembered or not."""
    rng = random.Random(19)
    cases = [UUID(int=rng.getrandbits(128)) for _ in range(20)]
    for number in range(500):
        case = rng.choice(cases)
        envelope = SimpleNamespace(case_id=UUID(str(case)), event_id=UUID(int=rng.getrandbits(128)),
                                   correlation_id=rng.choice([UUID(str(case)), str(case), "相談 1"]),
                                   event_type=rng.choice(["CaseEscalated", "相談"]), source="intake")
        assert logs.event_fields(envelope) == {key: str(getattr(envelope, key)) for key in logs.EVENT_KEYS}, number
