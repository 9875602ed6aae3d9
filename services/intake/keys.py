"""Crypto-shredding: a data key per person (消去 / erasure).

Every `Person` event's personal fields (`Person.personal_fields`), and a `Reception`'s texts (主訴, 相談概要,
issue 15), are stored sealed with that person's own AES-GCM key, inside the event the suite's cipher encrypts as a whole. The keys live
in intake's key table, each wrapped with a key derived from the suite's master key
(`JUSOU_CIPHER_KEY`). Erasure deletes the key: the events stay, and their personal fields can no
longer be read by anyone, from the store, a replay or a backup of the store alone.

- SQLite: `intake.keys.sqlite` beside the store, with `secure_delete` (a deleted key's bytes are
  overwritten with zeros), in WAL mode, every commit synced (`synchronous = FULL`: a key must outlive a
  power cut as the events it unlocks do, which the store syncs). An erasure ends with a checkpoint that
  writes the zeroed page into the file and truncates the WAL to nothing, so once an erasure returns,
  the key's bytes are in no file (the event store's WAL never holds a key). A new person's key costs
  one fsync (the WAL's); the rollback journal this replaced cost two, and a file made and deleted,
  per new person (bench/commands.py: 2.45 fsyncs per intake command, with this one of them).
- PostgreSQL: `jusou_person_keys` in intake's schema. A deleted row stays in the table's pages
  until VACUUM and in every backup taken before: those are the operator's duty (docs/security.md).
- In memory (unit tests): a dictionary.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eventsourcing.persistence import Mapper, OperationalError, StoredEvent

from services.intake.domain import Household, Person, Reception
from shared.domain.casework import CaseFile

NONCE = 12


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    return AESGCM(key).decrypt(sealed[:NONCE], sealed[NONCE:], aad)


class PersonKeys:
    """The key table: person_ref → that person's data key, wrapped with the master key."""

    def __init__(self, master_key: bytes) -> None:
        self._kek = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                         info=b"jusou intake person keys").derive(master_key)

    def create(self, person_ref: UUID) -> bytes:
        key = AESGCM.generate_key(bit_length=256)
        self._put(str(person_ref), _seal(self._kek, key, str(person_ref).encode()))
        return key

    def first(self, person_ref: UUID) -> bytes:
        """A new person's key (their first event is being stored): made now, in one statement where a look-up and an
        insert were two (issue 19); the key already made for them if the same first event is stored again. As
        durable as `create`: on disk before the event sealed with it is recorded."""
        key = AESGCM.generate_key(bit_length=256)
        if self._put_new(str(person_ref), _seal(self._kek, key, str(person_ref).encode())):
            return key
        made = self.get(person_ref)
        if made is None:  # (deleted between the two statements: an erasure of a person not yet recorded)
            raise ValueError(f"person {person_ref} is erased: no personal information can be stored for them")
        return made

    def get(self, person_ref: UUID) -> bytes | None:
        """The person's data key; None once they are erased."""
        wrapped = self._get(str(person_ref))
        return None if wrapped is None else _open(self._kek, wrapped, str(person_ref).encode())

    def delete(self, person_ref: UUID) -> None:
        """Erasure: the key is gone for good (idempotent)."""
        self._delete(str(person_ref))

    def close(self) -> None:
        """Let go of the table's connection (the application closes)."""

    def _put(self, person_ref: str, wrapped: bytes) -> None:
        raise NotImplementedError

    def _put_new(self, person_ref: str, wrapped: bytes) -> bool:
        """Insert unless the person has a key already; whether it was inserted."""
        raise NotImplementedError

    def _get(self, person_ref: str) -> bytes | None:
        raise NotImplementedError

    def _delete(self, person_ref: str) -> None:
        raise NotImplementedError


class MemoryKeys(PersonKeys):
    def __init__(self, master_key: bytes) -> None:
        super().__init__(master_key)
        self._keys: dict[str, bytes] = {}

    def _put(self, person_ref: str, wrapped: bytes) -> None:
        self._keys[person_ref] = wrapped

    def _put_new(self, person_ref: str, wrapped: bytes) -> bool:
        return self._keys.setdefault(person_ref, wrapped) is wrapped

    def _get(self, person_ref: str) -> bytes | None:
        return self._keys.get(person_ref)

    def _delete(self, person_ref: str) -> None:
        self._keys.pop(person_ref, None)


class SQLiteKeys(PersonKeys):
    """Its own file, so that no other writer (the event store's WAL) ever holds a key's page."""

    def __init__(self, master_key: bytes, path: Path) -> None:
        super().__init__(master_key)
        self.path = path
        self._lock = threading.Lock()  # one connection, shared by the service's worker threads
        self._db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA secure_delete = ON")  # freed cells and pages are overwritten with zeros
        self._db.execute("PRAGMA journal_mode = WAL")  # a commit appends to the WAL: one fsync
        self._db.execute("PRAGMA synchronous = FULL")  # ... and it is that fsync: a key is as durable as the store
        self._db.execute("CREATE TABLE IF NOT EXISTS person_keys (person_ref TEXT PRIMARY KEY, wrapped BLOB NOT NULL)")

    def _put(self, person_ref: str, wrapped: bytes) -> None:
        with self._lock:
            self._db.execute("INSERT INTO person_keys VALUES (?, ?)", (person_ref, wrapped))

    def _put_new(self, person_ref: str, wrapped: bytes) -> bool:
        with self._lock:
            return self._db.execute("INSERT OR IGNORE INTO person_keys VALUES (?, ?)", (person_ref, wrapped)).rowcount == 1

    def _get(self, person_ref: str) -> bytes | None:
        # Kept open rather than opened per call: every Person event read (a search, a case page)
        # asks for a key, and opening the file was a third of the time (bench/ --profile intake).
        with self._lock:
            row = self._db.execute("SELECT wrapped FROM person_keys WHERE person_ref = ?", (person_ref,)).fetchone()
        return None if row is None else bytes(row[0])

    def _delete(self, person_ref: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM person_keys WHERE person_ref = ?", (person_ref,))
            self._forget_old_pages()

    def _forget_old_pages(self) -> None:
        """The WAL still holds the page as it was (the key, when it was made or last checkpointed): copy the
        zeroed page into the file and truncate the WAL to nothing, waiting (the connection's 10 s) for readers
        of another process (`jusou replay`, a backup) to let go. Not done: the store's OperationalError (503, try
        again), and the retried erasure deletes the key again (services/intake/application.py `erase_person`)."""
        busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise OperationalError(f"the key table's WAL could not be emptied after an erasure ({self.path}): "
                                   "a reader held it; the erasure must be retried")

    def close(self) -> None:
        with self._lock:
            self._db.close()


class PostgresKeys(PersonKeys):
    """A table in intake's schema, on the store's own connection pool."""

    def __init__(self, master_key: bytes, datastore: Any) -> None:
        super().__init__(master_key)
        self.datastore = datastore
        self.table = f'"{datastore.schema}"."jusou_person_keys"'
        self._run(f"CREATE TABLE IF NOT EXISTS {self.table} (person_ref TEXT PRIMARY KEY, wrapped BYTEA NOT NULL)")

    def _run(self, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """One statement, committed on its own (the pool's connections are in autocommit): one round trip, where
        BEGIN, the statement and COMMIT were three (issue 19); as synchronous as before, a key is on disk before
        the event sealed with it is recorded, and an erasure's DELETE before it is answered."""
        from psycopg.sql import SQL

        with self.datastore.get_connection() as conn, conn.cursor() as c:
            c.execute(SQL(statement), params, prepare=bool(params) or None)  # the key reads and writes: prepared
            return list(c.fetchall()) if c.description else []

    def _put(self, person_ref: str, wrapped: bytes) -> None:
        self._run(f"INSERT INTO {self.table} VALUES (%s, %s)", (person_ref, wrapped))

    def _put_new(self, person_ref: str, wrapped: bytes) -> bool:
        return bool(self._run(f"INSERT INTO {self.table} VALUES (%s, %s) ON CONFLICT (person_ref) DO NOTHING "
                              "RETURNING person_ref", (person_ref, wrapped)))

    def _get(self, person_ref: str) -> bytes | None:
        rows = self._run(f"SELECT wrapped FROM {self.table} WHERE person_ref = %s", (person_ref,))
        return bytes(rows[0]["wrapped"]) if rows else None

    def _delete(self, person_ref: str) -> None:
        self._run(f"DELETE FROM {self.table} WHERE person_ref = %s", (person_ref,))


def open_keys(env: Mapping[str, str], recorder: Any) -> PersonKeys:
    """The key table for the application's store (the same kind: SQLite, PostgreSQL or memory)."""
    master = base64.b64decode(env.get("CIPHER_KEY") or "") or os.urandom(32)  # in memory: a key per process
    module = (env.get("PERSISTENCE_MODULE") or "eventsourcing.popo").strip()
    db = env.get("SQLITE_DBNAME") or ""
    if module == "eventsourcing.sqlite" and ":memory:" not in db and not db.startswith("file:"):
        return SQLiteKeys(master, Path(db).with_name(Path(db).stem + ".keys.sqlite"))
    if module == "eventsourcing.postgres":
        return PostgresKeys(master, recorder.datastore)
    return MemoryKeys(master)


#: 支援経過記録 (D17): a case note's texts, sealed with the key of the case's person (erasure reaches them)
NOTE_FIELDS = ("counterpart", "content", "agreed", "next_step")
NOTE_ERASED = "（相談者の個人情報の消去により読めません / erased with the person）"


class PersonalMapper(Mapper[UUID]):
    """Seals a `Person` event's personal fields with the person's key; reads them as None once erased.

    Also a `Reception`'s texts and a household member's 続柄 (`Household.MemberAdded`) with their person's key,
    and (D17, issue 15) a case note's texts (`CaseFile.NoteWritten`) with the key of the case's person,
    found through `note_person` (case file id → person_ref; the application sets it): an erased person's
    notes read as NOTE_ERASED. Notes written before this sealing stay as they were (the store's cipher).

    Stored: `sealed = {"fields": [...], "data": base64(nonce + AES-GCM(fields as JSON))}` (and `person_ref`
    for a note), bound to the event's aggregate and version. `keys` is set by the application once its
    store is open.
    """

    keys: PersonKeys
    note_person: Callable[[UUID], UUID | None] = staticmethod(lambda _file_id: None)
    #: the aggregates some of whose events this mapper seals with a person's key (`to_stored_event`)
    SEALED_KINDS: tuple[type, ...] = (Person, Reception, Household, CaseFile)

    def seals(self, aggregate: Any) -> bool:
        """Whether the aggregate, decoded, may hold what a person's key opened: the application keeps no such
        aggregate between loads (shared/kernel/app.py `keeps_decoded`), so that after an erasure (the key deleted)
        no process serves it from memory; every load of it decodes it again and finds the key gone."""
        return isinstance(aggregate, self.SEALED_KINDS)

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        state = vars(domain_event)
        fields = (Person.personal_fields if isinstance(domain_event, Person.Event)
                  else Reception.personal_fields if isinstance(domain_event, Reception.Event)
                  else Household.personal_fields if isinstance(domain_event, Household.MemberAdded)
                  else NOTE_FIELDS if isinstance(domain_event, CaseFile.NoteWritten) else ())
        personal = [f for f in fields if f in state]
        if not personal:
            return super().to_stored_event(domain_event)
        note = isinstance(domain_event, CaseFile.NoteWritten)
        ref = self.note_person(domain_event.originator_id) if note else _person_of(domain_event)
        if ref is None:  # a note on no case of a known person: the store's cipher alone, as before
            return super().to_stored_event(domain_event)
        if domain_event.originator_version == 1 and isinstance(domain_event, Person.Event):
            key: bytes | None = self.keys.first(ref)  # a new person: their key made (no look-up first)
        else:
            key = self.keys.get(ref)
        if key is None:
            raise ValueError(f"person {ref} is erased: no personal information can be stored for them")
        data = json.dumps({f: state[f] for f in personal}, ensure_ascii=False).encode()
        sealed = {"fields": personal,
                  "data": base64.b64encode(_seal(key, data, _aad(domain_event.originator_id, domain_event.originator_version))).decode()}
        if note:
            sealed["person_ref"] = str(ref)
        stored = object.__new__(type(domain_event))
        object.__setattr__(stored, "__dict__", {**{k: v for k, v in state.items() if k not in personal},
                                                "sealed": sealed})
        return super().to_stored_event(stored)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        domain_event = super().to_domain_event(stored_event)
        state = vars(domain_event)
        sealed = state.pop("sealed", None)
        if sealed is None:
            return domain_event
        key = self.keys.get(UUID(sealed["person_ref"]) if "person_ref" in sealed else _person_of(domain_event))
        if key is None and "person_ref" in sealed:  # a note of an erased person: text fields that say so
            state.update({f: NOTE_ERASED if f == "content" else "" for f in sealed["fields"]})
        elif key is None:  # erased: the fields exist, and say nothing
            state.update(dict.fromkeys(sealed["fields"]))
        else:
            aad = _aad(domain_event.originator_id, domain_event.originator_version)
            state.update(json.loads(_open(key, base64.b64decode(sealed["data"]), aad)))
        return domain_event


def _person_of(domain_event: Any) -> UUID:
    """Whose key seals the event: a Person's own; a Reception's (主訴, 相談概要) its person's (issue 15); a
    household member's 続柄 the member's (D16)."""
    ref = vars(domain_event).get("person_ref")
    kinds = (Reception.Event, Household.MemberAdded)
    return UUID(str(ref)) if isinstance(domain_event, kinds) and ref else domain_event.originator_id


def _aad(person_ref: UUID, version: int) -> bytes:
    return f"{person_ref}:{version}".encode()
