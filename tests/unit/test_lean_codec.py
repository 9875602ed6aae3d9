"""The services' stored bytes are written and read as the library writes and reads them (issue 19): the JSON of a new
event is written by orjson byte for byte as the library's `JSONTranscoder` writes it (or by the library itself where
orjson might differ), the stored events decode to what the library decodes, old bytes with the new code and new
bytes with the library's; the AES-GCM cipher that keeps its key schedule (`KeptKeyAESCipher`) writes the library's
layout and reads and refuses as the library's `AESCipher` does (shared/kernel/lean.py)."""

from __future__ import annotations

import base64
import enum
import os
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, SafeUUID, uuid4

import pytest
from eventsourcing.application import Application
from eventsourcing.cryptography import AESCipher
from eventsourcing.persistence import JSONTranscoder, UUIDAsHex
from eventsourcing.utils import Environment
from hypothesis import given, settings
from hypothesis import strategies as st
from support.transcoders import decoded_alike, transcoder_pair

from shared.kernel import lean
from shared.kernel.app import DateAsISO
from shared.kernel.lean import KeptKeyAESCipher, OrjsonTranscoder
from shared.kernel.store import store_env
from shared.settings import Settings

LIBRARY, OURS = transcoder_pair()


class Colour(enum.Enum):
    RED = "red"


class Kind(str, enum.Enum):
    CASE = "case"


leaves = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63 - 2, max_value=2**70)
          | st.floats(allow_nan=True, allow_infinity=True) | st.text() | st.uuids() | st.dates()
          | st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=9))]))
          | st.decimals(allow_nan=False, allow_infinity=False) | st.just("_type_") | st.just("_data_")
          | st.sampled_from(["\x00\x1f\x7f\"\\/\n\t\r\b\f", "\u2028\u2029", "福祉総合相談課", "\U0001f600", "\ud800"]))
keys = st.text(max_size=6) | st.sampled_from(["_type_", "_data_", "timestamp", "meta"])
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
                      | st.dictionaries(keys, inner, max_size=4), max_leaves=25)


def _encoded_alike(value: Any) -> bytes | None:
    """Encode `value` both ways: the same bytes, or the same error (None then)."""
    try:
        expected = LIBRARY.encode(value)
    except Exception as exc:  # noqa: BLE001 - the error is what is compared
        with pytest.raises(type(exc)) as raised:
            OURS.encode(value)
        assert str(raised.value) == str(exc)
        return None
    got = OURS.encode(value)
    assert got == expected
    return got


def _decoded_alike(data: bytes | str) -> Any:
    return decoded_alike(LIBRARY, OURS, data)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(keys, values, max_size=8))
def test_an_event_state_is_written_byte_for_byte_as_the_library_writes_it(state: dict[str, Any]) -> None:
    written = _encoded_alike(state)
    if written is not None:  # new bytes, read by the library's decoder and by ours: the same values
        _decoded_alike(written)


@settings(max_examples=300, deadline=None)
@given(values)
def test_any_value_is_written_as_the_library_writes_it(value: Any) -> None:
    _encoded_alike(value)


@pytest.mark.parametrize("value", [
    {"colour": Colour.RED},  # no transcoding: the library's error (orjson would write "red")
    {"kind": Kind.CASE},  # a str subclass: the library writes its value as a string its own way
    {1: "a", None: "b", 2.5: "c", False: "d"},  # keys the library turns into text, orjson refuses
    {Kind.CASE: "a", "b": {Kind.CASE: 1}},  # a key of a str subclass
    {"big": 2**64, "neg": -(2**63) - 1, "f": 1e16, "g": 0.1, "nan": float("nan"), "inf": float("-inf")},
    {"s": "\ud800"},  # a lone surrogate: the library's UnicodeEncodeError
    {"t": (1, (2, "x"))},
    {"nested": {"ids": [uuid4(), {"on": date(2026, 12, 6)}], "amount": Decimal("12.50")}},
    {"set": {1, 2}},  # no transcoding
    {"bytes": b"x"},
])
def test_values_orjson_might_write_otherwise_are_written_as_the_library_writes_them(value: dict[Any, Any]) -> None:
    _encoded_alike(value)


def test_a_cycle_fails_as_with_the_library() -> None:
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    _encoded_alike(cycle)


def test_an_event_state_is_written_without_the_librarys_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The common states (ids, times, dates, text, numbers, lists, `meta`) never reach Python's JSON encoder."""
    state = {"timestamp": datetime.now(UTC), "meta": {"case_id": str(uuid4()), "actor": {"staff_id": "s-1"}},
             "strand_id": uuid4(), "on": date(2026, 12, 6), "concerns": ["生活困窮", "介護"], "revision": 3,
             "done": False, "note": None}
    expected = LIBRARY.encode(state)

    def refused(*_: Any) -> bytes:
        raise AssertionError("the library's encoder was used")

    monkeypatch.setattr(JSONTranscoder, "encode", refused)
    assert OURS.encode(state) == expected


@pytest.mark.parametrize("text", [
    '{"id":{"_type_":"uuid_hex","_data_":"0123456789ABCDEFabcdef0123456789"}}',  # upper case: as UUID() reads it
    '{"id":{"_type_":"uuid_hex","_data_":"0123456789abcdefghij0123456789ab"}}',  # not hex: UUID()'s ValueError
    '{"id":{"_type_":"uuid_hex","_data_":"{0123456789abcdef0123456789abcd}"}}',  # braces: UUID() strips them
    '{"id":{"_type_":"uuid_hex","_data_":"01234567-89ab-cdef-0123-456789abcdef"}}',
    '{"id":{"_type_":"uuid_hex","_data_":"urn:uuid:0123456789abcdef0123456789abcdef"}}',
    '{"id":{"_type_":"uuid_hex","_data_":"0123456789abcdef0123456789abcde"}}',  # 31: UUID()'s error
    '{"id":{"_type_":"uuid_hex","_data_":"0123456789abcdef0123456789abcd_f"}}',  # int() takes the underscore: so does UUID()
    '{"id":{"_type_":"uuid_hex","_data_":"-0123456789abcdef0123456789abcde"}}',  # int() a negative number, UUID() an error
    '{"id":{"_type_":"uuid_hex","_data_":" 0123456789abcdef0123456789abcde"}}',  # both read past the space
    '{"id":{"_type_":"uuid_hex","_data_":"０１２３４５６７８９abcdef0123456789abcdef"}}',  # wide digits
    '{"id":{"_type_":"uuid_hex","_data_":12}}', '{"t":{"_type_":"datetime_iso","_data_":5}}',
    '{"t":{"_type_":"datetime_iso","_data_":"2026-12-06T10:00:00+09:00"}}',
    '{"t":{"_type_":"datetime_iso","_data_":"not a time"}}',
    '{"t":{"_type_":["uuid_hex"],"_data_":"x"}}', '{"t":{"_type_":"uuid_hex","x":"y"}}',
    '{"actor":{"staff_id":"s-1","division":"d"}}', '{"a":{"_type_":"x"}}',
])
def test_typed_values_decode_as_the_library_decodes_them(text: str) -> None:
    _decoded_alike(text.encode())


def test_a_uuid_made_by_the_decoder_is_the_uuid_the_library_makes() -> None:
    ident = uuid4()
    got = OURS.decode(LIBRARY.encode({"id": ident}))["id"]
    assert type(got) is UUID and got == ident and hash(got) == hash(ident) and got.is_safe is SafeUUID.unknown
    assert str(got) == str(ident) and got.version == 4 and {got: 1}[ident] == 1


def test_a_transcoding_registered_over_the_librarys_is_the_one_used() -> None:
    class UUIDAsText(UUIDAsHex):
        def decode(self, data: str) -> Any:
            return f"uuid {data}"

    transcoder = OrjsonTranscoder()
    transcoder.register(UUIDAsText())
    assert transcoder.decode(b'{"id":{"_type_":"uuid_hex","_data_":"' + b"0" * 32 + b'"}}') == {"id": "uuid " + "0" * 32}


# -- the cipher ---------------------------------------------------------------------------------------------------


def _ciphers(key: bytes | None = None) -> tuple[AESCipher, KeptKeyAESCipher]:
    env = Environment(env={"CIPHER_KEY": base64.b64encode(key or os.urandom(32)).decode()})
    return AESCipher(env), KeptKeyAESCipher(env)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000))
def test_either_cipher_opens_what_the_other_sealed(plaintext: bytes) -> None:
    library, ours = _ciphers()
    sealed = ours.encrypt(plaintext)
    assert len(sealed) == 12 + 16 + len(plaintext)  # nonce, tag, ciphertext: the library's layout
    assert library.decrypt(sealed) == plaintext == ours.decrypt(library.encrypt(plaintext))
    assert ours.encrypt(plaintext) != sealed  # a fresh nonce each time


@pytest.mark.parametrize("damage", ["short", "nonce", "tag", "body", "key", "empty"])
def test_the_cipher_refuses_as_the_library_refuses(damage: str) -> None:
    library, ours = _ciphers()
    sealed = library.encrypt(b'{"a":1}' * 10)
    damaged = {"short": sealed[:20], "empty": b"", "nonce": bytes([sealed[0] ^ 1]) + sealed[1:],
               "tag": sealed[:12] + bytes([sealed[12] ^ 1]) + sealed[13:], "body": sealed[:-1] + bytes([sealed[-1] ^ 1]),
               "key": _ciphers()[0].encrypt(b'{"a":1}')}[damage]
    with pytest.raises(ValueError) as expected:
        library.decrypt(damaged)
    with pytest.raises(ValueError) as got:
        ours.decrypt(damaged)
    assert type(got.value) is type(expected.value) and str(got.value) == str(expected.value)


def test_the_cipher_builds_its_key_schedule_once(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[bytes] = []
    real = lean.AESGCM

    def counted(key: bytes) -> Any:
        built.append(key)
        return real(key)

    monkeypatch.setattr(lean, "AESGCM", counted)
    _, ours = _ciphers()
    for _ in range(5):
        assert ours.decrypt(ours.encrypt(b"x")) == b"x"
    assert len(built) == 1


# -- a service's store: old bytes with the new code, new bytes with the library's --------------------------------


def _library_env(env: dict[str, str]) -> dict[str, str]:
    """The same store read as the library alone reads it: its cipher, its transcoder, its recorders."""
    plain = {k: v for k, v in env.items() if k not in ("TRANSCODER_TOPIC", "PROCESS_RECORDER_TOPIC",
                                                       "APPLICATION_RECORDER_TOPIC")}
    return {**plain, "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher"}


def test_a_services_events_are_read_alike_by_the_library_and_by_the_service(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JUSOU_STORE", "sqlite")
    from services.collaboration.application import CollaborationApplication
    from services.collaboration.domain import CollaborationCase
    from shared.kernel.journey import acting

    env = {**store_env(Settings.from_env("collaboration")), "JUSOU_READMODELS_FOLLOW": "0"}
    assert env["CIPHER_TOPIC"] == "shared.kernel.lean:KeptKeyAESCipher"

    class Library(Application[UUID]):
        def register_transcodings(self, transcoder: JSONTranscoder) -> None:
            super().register_transcodings(transcoder)
            transcoder.register(DateAsISO())

    def make(app: Any, case_id: UUID) -> None:
        with acting({"staff_id": "s-001", "division": "福祉総合相談課"}, caused_by=uuid4()):
            case = CollaborationCase(case_id=case_id, reason="複合課題\n改行", concerns=["生活困窮", "介護"],
                                     primary_agency="地域包括支援センター", primary_agency_code="A01")
            case.add_strand(uuid4(), "生活困窮", "課題 の説明 \"引用\" \\", "地域包括支援センター", "todo")
            app.save(case)

    service = CollaborationApplication(env=env)
    library = Library(env=_library_env(env))
    try:
        assert type(service.mapper.cipher) is KeptKeyAESCipher and type(service.mapper.transcoder) is OrjsonTranscoder
        assert type(library.mapper.cipher) is AESCipher and type(library.mapper.transcoder) is JSONTranscoder
        new, old = uuid4(), uuid4()
        make(service, new)  # new bytes
        make(library, old)  # old bytes: as the library (and this suite before) wrote them
        for case_id in (new, old):
            by_service = list(service.repository.event_store.get(case_id))
            by_library = list(library.repository.event_store.get(case_id))
            assert [type(e) for e in by_service] == [type(e) for e in by_library]
            assert [repr(vars(e)) for e in by_service] == [repr(vars(e)) for e in by_library]
            assert vars(service.repository.get(case_id)) == vars(library.repository.get(case_id))
        stored = service.recorder.select_events(new)
        assert library.mapper.compressor is not None and library.mapper.cipher is not None
        for record in stored:  # the service's JSON text is the library's, byte for byte
            text = library.mapper.compressor.decompress(library.mapper.cipher.decrypt(record.state))
            event = library.mapper.to_domain_event(record)
            state = {k: v for k, v in vars(event).items() if k not in ("originator_id", "originator_version")}
            assert text == library.mapper.transcoder.encode(state)
    finally:
        service.close()
        library.close()


def test_the_kept_key_schedule_is_shared_by_threads() -> None:
    """The services encrypt and decrypt in many threads at once (anyio's workers, the inbox, the read models)."""
    from concurrent.futures import ThreadPoolExecutor

    library, ours = _ciphers()

    def round_trips(seed: int) -> bool:
        texts = [os.urandom(seed % 700 + n) for n in range(200)]
        return all(library.decrypt(ours.encrypt(t)) == t == ours.decrypt(library.encrypt(t)) for t in texts)

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(round_trips, range(32)))
