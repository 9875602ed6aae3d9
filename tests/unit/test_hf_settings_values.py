"""Values of the Configuration table that passed the settings model and failed later (HF, session 20): each is now
refused at start (status 2), naming the variable, its value and what is allowed, as the README promises.

- JUSOU_CIPHER_KEY that is not base64, or not an AES key's length: `jusou up` started, then a service exited with
  code 3 and a traceback in its log (up said only "meeting did not start").
- JUSOU_RELAY_POLL_SECONDS=inf and JUSOU_PARTITION_LEASE_SECONDS=inf passed `gt=0` (a relay that never polls, a lease
  that never ends)."""

from __future__ import annotations

import base64
import secrets

import pytest

from shared import settings


@pytest.mark.parametrize("key", ["notbase64", "YWJj", base64.b64encode(secrets.token_bytes(20)).decode(), "  "])
def test_a_cipher_key_that_is_no_aes_key_is_refused_naming_it(key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUSOU_CIPHER_KEY", key)
    with pytest.raises(settings.SettingsError) as refused:
        settings.current()
    text = str(refused.value)
    assert "JUSOU_CIPHER_KEY" in text and "base64" in text and "32" in text


@pytest.mark.parametrize("size", [16, 24, 32])
def test_an_aes_key_in_base64_is_taken(size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    key = base64.b64encode(secrets.token_bytes(size)).decode()
    monkeypatch.setenv("JUSOU_CIPHER_KEY", key)
    assert settings.current().cipher_key == key


def test_unset_the_cipher_key_is_still_generated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUSOU_CIPHER_KEY", raising=False)
    assert settings.current().cipher_key == ""


@pytest.mark.parametrize("name", ["JUSOU_RELAY_POLL_SECONDS", "JUSOU_PARTITION_LEASE_SECONDS"])
@pytest.mark.parametrize("value", ["inf", "Infinity", "nan"])
def test_a_number_of_seconds_must_be_finite(name: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(settings.SettingsError) as refused:
        settings.current()
    assert name in str(refused.value)


def test_the_lease_s_refusal_states_its_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """It said 「0 より大きい数 / a number above 0」 for JUSOU_PARTITION_LEASE_SECONDS=0, yet 0.5 is refused too."""
    monkeypatch.setenv("JUSOU_PARTITION_LEASE_SECONDS", "0")
    with pytest.raises(settings.SettingsError) as refused:
        settings.current()
    assert "1〜600" in str(refused.value) and "from 1 to 600" in str(refused.value)


def test_a_refused_cipher_key_is_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    near_miss = base64.b64encode(secrets.token_bytes(32)).decode() + "!"
    monkeypatch.setenv("JUSOU_CIPHER_KEY", near_miss)
    with pytest.raises(settings.SettingsError) as refused:
        settings.current()
    assert near_miss[:20] not in str(refused.value) and "JUSOU_CIPHER_KEY" in str(refused.value)
