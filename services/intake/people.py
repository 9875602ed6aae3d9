"""Search before create (D1 D2): find a person intake already knows.

The index follows intake's own notification log (only `Person` records), so it is rebuilt from
the store at start-up and catches up before every search, also with several replicas on one
PostgreSQL. Matching ignores spaces, full/half width and katakana/hiragana, and phone punctuation.
An erased person is dropped from it (`Person.Erased`) and, their key being gone, never added again.
"""

from __future__ import annotations

import threading
import unicodedata
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Mapper

from services.intake.domain import Person

PERSON_TOPIC = f"{Person.__module__}:{Person.__qualname__}."
PERSON_TOPICS = [PERSON_TOPIC + "Registered", PERSON_TOPIC + "Erased"]


def _text(value: str | None) -> str:
    text = unicodedata.normalize("NFKC", value or "")
    text = "".join(ch for ch in text if not ch.isspace())
    return "".join(chr(ord(ch) - 0x60) if "ァ" <= ch <= "ヶ" else ch for ch in text)  # katakana → hiragana


def _digits(value: str | None) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", value or "") if ch.isdigit())


class PersonIndex:
    def __init__(self, recorder: ApplicationRecorder, mapper: Mapper[Any]) -> None:
        self.recorder, self.mapper = recorder, mapper
        self.position = 0
        self.people: dict[str, dict[str, Any]] = {}
        self.by_name_birth: dict[tuple[str, str], set[str]] = {}
        self.by_kana_phone: dict[tuple[str, str], set[str]] = {}
        self.lock = threading.Lock()

    def catch_up(self) -> None:
        with self.lock:
            while True:
                batch = self.recorder.select_notifications(
                    start=self.position + 1, limit=500, topics=PERSON_TOPICS
                )
                for notification in batch:
                    event: Any = self.mapper.to_domain_event(notification)  # a Person event: its fields
                    if isinstance(event, Person.Erased):
                        self._drop(str(event.originator_id))
                    elif event.name is not None:  # None: erased, the key is gone
                        self._add(event)
                    self.position = notification.id
                if len(batch) < 500:
                    return

    def _add(self, registered: Any) -> None:
        ref = str(registered.originator_id)
        self.people[ref] = {"person_ref": ref, "name": registered.name, "kana": registered.kana,
                            "birth_date": registered.birth_date}
        if registered.name and registered.birth_date:
            self.by_name_birth.setdefault((_text(registered.name), registered.birth_date), set()).add(ref)
        if registered.kana and registered.phone:
            self.by_kana_phone.setdefault((_text(registered.kana), _digits(registered.phone)), set()).add(ref)

    def _drop(self, ref: str) -> None:
        self.people.pop(ref, None)
        for index in (self.by_name_birth, self.by_kana_phone):
            for key in [k for k, refs in index.items() if ref in refs]:
                index[key].discard(ref)
                if not index[key]:
                    del index[key]

    def find(self, name: str | None, birth_date: str | None, kana: str | None, phone: str | None) -> list[dict[str, Any]]:
        """People with the same name and birth date, or the same kana and phone."""
        self.catch_up()
        refs: set[str] = set()
        if name and birth_date:
            refs |= self.by_name_birth.get((_text(name), birth_date), set())
        if kana and phone:
            refs |= self.by_kana_phone.get((_text(kana), _digits(phone)), set())
        return [self.people[r] for r in sorted(refs)]
