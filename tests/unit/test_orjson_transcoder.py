"""The services' transcoder parses stored events with orjson and gives exactly what the library's `JSONTranscoder`
gives, value for value and type for type, or raises its error (shared/kernel/lean.py `OrjsonTranscoder`, issue 19):
side by side on texts the library's encoder writes, and on texts it never writes that Python's parser reads and
orjson does not. An upgrade of eventsourcing that changes its decoding fails here."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import (
    InfrastructureFactory,
    TranscodingNotRegisteredError,
)
from eventsourcing.utils import Environment
from hypothesis import given, settings
from hypothesis import strategies as st
from support.transcoders import decoded_alike, transcoder_pair

from shared.kernel.lean import OrjsonTranscoder
from shared.kernel.store import store_env
from shared.settings import Settings

LIBRARY, OURS = transcoder_pair()

leaves = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
          | st.text() | st.uuids() | st.dates()
          | st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=9))]))
          | st.decimals(allow_nan=False, allow_infinity=False) | st.just("_type_") | st.just("_data_"))
keys = st.text(max_size=6) | st.sampled_from(["_type_", "_data_", "timestamp", "meta"])
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                      max_leaves=25)


def _same(data: bytes | str) -> Any:
    return decoded_alike(LIBRARY, OURS, data)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(keys, values, max_size=8))
def test_what_the_library_encodes_decodes_as_the_library_decodes_it(state: dict[str, Any]) -> None:
    _same(LIBRARY.encode(state))


@settings(max_examples=200, deadline=None)
@given(values)
def test_any_value_the_library_encodes_decodes_as_the_library_decodes_it(value: Any) -> None:
    _same(LIBRARY.encode(value))


@pytest.mark.parametrize("text", [
    '{"a":NaN,"b":Infinity,"c":-Infinity}',  # Python's parser reads these, orjson does not
    '{"big":123456789012345678901234567890,"neg":-99999999999999999999}',
    '{"s":"\\ud800"}',  # a lone surrogate
    '\ufeff{"a":1}',  # a byte order mark
    '{"a":1', '', 'nul', '{"a":1}x', '[1,2,]',  # damaged
    '{"_type_":"no_such_type","_data_":1}',  # an unregistered transcoding: the library's error
    '[{"_type_":"no_such_type","_data_":1}]',
    '{"_type_":"uuid_hex","_data_":{"_type_":"uuid_hex","_data_":"00000000000000000000000000000001"}}',
    '{"_type_":"datetime_iso"}', '{"_data_":1,"x":2}', '{"_type_":"uuid_hex","_data_":"0b","x":3}',
    '[[{"_type_":"date_iso","_data_":"2026-12-06"}],{"k":[{"_type_":"decimal_str","_data_":"1.50"}]}]',
    '{"a":{"b":{"c":{"_type_":"uuid_hex","_data_":"' + uuid4().hex + '"}}}}',
    '"just text"', '42', 'null', '[]', '{}', '{"a":1,"a":2}', '{"x":1e400,"y":-0.0,"z":1E-400}',
])
def test_texts_the_encoder_never_writes_decode_or_fail_as_with_the_library(text: str) -> None:
    _same(text)


def test_invalid_utf8_fails_as_with_the_library() -> None:
    _same(b'{"a":"\xff"}')


def test_an_unregistered_type_raises_the_librarys_error() -> None:
    assert isinstance(_same('{"_type_":"no_such_type","_data_":1}'), TranscodingNotRegisteredError)


def test_typed_values_come_back_as_their_types() -> None:
    moment, day, ident = datetime(2026, 12, 6, 9, 30, tzinfo=UTC), date(2026, 12, 6), uuid4()
    state = {"timestamp": moment, "meta": {"case_id": str(ident), "actor": {"staff_id": "s-1"}}, "on": day,
             "ids": [ident, {"nested": ident}], "amount": Decimal("12.50")}
    decoded = _same(LIBRARY.encode(state))
    assert decoded == state
    assert type(decoded["ids"][0]) is UUID and type(decoded["on"]) is date and type(decoded["timestamp"]) is datetime
    assert json.loads(LIBRARY.encode(state))["on"] == {"_type_": "date_iso", "_data_": "2026-12-06"}


def test_the_services_stores_decode_with_orjson(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JUSOU_STORE", "sqlite")
    from services.collaboration.application import CollaborationApplication

    app = CollaborationApplication(env={**store_env(Settings.from_env("collaboration")),
                                        "JUSOU_READMODELS_FOLLOW": "0"})
    try:
        assert type(app.mapper.transcoder) is OrjsonTranscoder
        assert "date_iso" in app.mapper.transcoder.names  # the service's own transcodings are registered on it
    finally:
        app.close()
    factory = InfrastructureFactory.construct(Environment("T", store_env(Settings.from_env("collaboration"))))
    assert type(factory.transcoder()) is OrjsonTranscoder
    factory.close()
