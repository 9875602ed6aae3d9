"""The library's JSON transcoder and ours (shared/kernel/lean.py), registered as a service registers them, and the
check that both decode the same bytes alike: tests/unit/test_orjson_transcoder.py and test_lean_codec.py."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex

from shared.kernel.app import DateAsISO
from shared.kernel.lean import OrjsonTranscoder


def transcoder_pair() -> tuple[JSONTranscoder, OrjsonTranscoder]:
    """The library's transcoder and ours, with the transcodings a service registers."""
    library, ours = JSONTranscoder(), OrjsonTranscoder()
    for transcoder in (library, ours):
        for transcoding in (UUIDAsHex(), DatetimeAsISO(), DecimalAsStr(), DateAsISO()):
            transcoder.register(transcoding)
    return library, ours


def decoded_alike(library: JSONTranscoder, ours: OrjsonTranscoder, data: bytes | str) -> Any:
    """Decode `data` both ways: the same value (by repr: types, order, NaN), or the same error (returned)."""
    raw = data.encode("utf8") if isinstance(data, str) else data
    try:
        expected: Any = library.decode(raw)
    except Exception as exc:  # noqa: BLE001 - the error is what is compared
        with pytest.raises(type(exc)) as raised:
            ours.decode(raw)
        assert str(raised.value) == str(exc)
        return exc
    got = ours.decode(raw)
    assert repr(got) == repr(expected)
    return got
