"""No key or secret is committed: secrets come from the environment or files outside the repo (issue 6).

Every file git tracks, or would add (untracked and not ignored), is scanned for AES keys in
base64 (16, 24 or 32 bytes) beside a KEY / SECRET / PASSWORD-like name, private key PEM blocks,
and a `JUSOU_CIPHER_KEY` with a value that is not a placeholder. The scanner is first shown
secrets it must find (made at run time, so this file holds none).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_BYTES = 2_000_000
AES_KEY_BYTES = (16, 24, 32)

SECRET_NAME = r"(?:key|secret|passw(?:or)?d|passphrase|token|cipher|credential)[\w.-]*"
ASSIGNED_B64 = re.compile(
    rf"(?i){SECRET_NAME}[\"']?\]?\s*(?::|=|=>)\s*[\"']?(?P<value>[A-Za-z0-9+/_-]{{20,}}={{0,2}})(?=[\"'\s,;)}}]|$)",
    re.MULTILINE,
)
PEM = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
CIPHER_KEY = re.compile(
    r"JUSOU_CIPHER_KEY[\"']?\]?\s*[:=]\s*[\"']?(?P<value>[A-Za-z0-9+/_-]{8,}={0,2})(?=[\"'\s,;)}]|$)", re.MULTILINE
)
PLACEHOLDER = re.compile(r"(?i)replace|change|example|your|placeholder|dummy|xxx|todo|secret_here")


def is_aes_key(value: str) -> bool:
    """Base64 (standard or URL-safe) of exactly 16, 24 or 32 bytes."""
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            raw = decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError):
            continue
        if len(raw) in AES_KEY_BYTES and len(value.rstrip("=")) == len(base64.b64encode(raw).decode().rstrip("=")):
            return True
    return False


def find_secrets(text: str) -> list[str]:
    """What in `text` looks like a committed secret (one line each)."""
    found = []
    for match in ASSIGNED_B64.finditer(text):
        if is_aes_key(match["value"]):
            found.append(f"a base64 AES key beside a secret's name: {match[0][:60]}")
    found += [f"a private key: {m[0]}" for m in PEM.finditer(text)]
    for match in CIPHER_KEY.finditer(text):
        if not PLACEHOLDER.search(match["value"]):
            found.append(f"JUSOU_CIPHER_KEY with a value: {match[0][:60]}")
    return found


def require_checkout() -> None:
    """Outside a git checkout (an unpacked sdist) nothing is committed, so there is nothing to check; in CI,
    which always runs on a clone, a missing checkout is a failure, never a skip."""
    if (ROOT / ".git").exists():
        return
    if os.environ.get("CI"):
        pytest.fail("CI must run these on a git clone: .git is missing")
    pytest.skip("not a git checkout: nothing is committed here")


def repo_files() -> list[Path]:
    """Tracked files, and untracked ones git would add (not ignored)."""
    require_checkout()
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    return [ROOT / name for name in listed if name and (ROOT / name).is_file()]


@pytest.mark.parametrize("sample", [
    "JUSOU_CIPHER_KEY={key32}",
    'cipher_key = "{key16}"',
    "  pg_password: {key24}",
    '{{"secret": "{key32}"}}',
    "export NATS_TOKEN='{key32url}'",
    "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----",
    "-----BEGIN " + "PRIVATE KEY-----",
    "-----BEGIN " + "OPENSSH PRIVATE KEY-----",
    "JUSOU_CIPHER_" + "KEY: hunter2hunter2",  # split, so that this file holds no secret
])
def test_the_scanner_finds_a_secret(sample: str) -> None:
    keys = {f"key{n}": base64.b64encode(os.urandom(n)).decode() for n in AES_KEY_BYTES}
    keys["key32url"] = base64.urlsafe_b64encode(os.urandom(32)).decode()

    assert find_secrets(sample.format(**keys)), sample


@pytest.mark.parametrize("sample", [
    "JUSOU_CIPHER_KEY=REPLACE_WITH_BASE64_OF_32_RANDOM_BYTES",
    'JUSOU_CIPHER_KEY: ${JUSOU_CIPHER_KEY:?set it in .env}',
    'export JUSOU_CIPHER_KEY="$(python3 -c \'import base64,os;print(base64.b64encode(os.urandom(32)).decode())\')"',
    'cipher_key=_env("JUSOU_CIPHER_KEY", "") or cipher_key_in(data_dir)',
    "key = uuid5(EVENT_NAMESPACE, f'{service}')",
    f"digest = {'a' * 64!r}  # sha256 of a stored event",
    f"password: {secrets.token_urlsafe(5)}",
])
def test_the_scanner_leaves_placeholders_and_code_alone(sample: str) -> None:
    assert find_secrets(sample) == []


def test_no_key_or_secret_is_committed() -> None:
    files = repo_files()
    found = {}
    for path in files:
        if path.stat().st_size > MAX_BYTES:
            continue
        hits = find_secrets(path.read_bytes().decode("utf-8", errors="ignore"))
        if hits:
            found[str(path.relative_to(ROOT))] = hits

    assert len(files) > 50, f"only {len(files)} files to scan: is this the repository?"
    assert found == {}, f"secrets in the repository (move them to the environment or the data folder): {found}"


@pytest.mark.parametrize("path", ["data/", "data/cipher.key", "data/nats-auth.json", "data/intake.sqlite", ".env"])
def test_the_data_folder_and_env_file_are_ignored_by_git(path: str) -> None:
    require_checkout()

    ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], check=False, cwd=ROOT)

    assert ignored.returncode == 0, f"{path} is not ignored by git: add it to .gitignore"
