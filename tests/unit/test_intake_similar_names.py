"""D2 (issue 15): a reception's candidates on a similar name are those of difflib's ratio ≥ SIMILAR_NAME, exactly; the
two cheap upper bounds tried first (issue 19, services/intake/people.py `_alike`) rule out only names whose ratio is
below it."""

from __future__ import annotations

import random
from difflib import SequenceMatcher

from services.intake.people import SIMILAR_NAME, _alike

LETTERS = "ちょうふいろはなこたやまだ一郎花子調布山田太"


def test_d2_a_similar_name_is_exactly_a_ratio_of_at_least_the_threshold() -> None:
    rng = random.Random(19)
    pairs = [("".join(rng.choices(LETTERS, k=rng.randint(2, 9))), "".join(rng.choices(LETTERS, k=rng.randint(2, 9))))
             for _ in range(20000)]
    pairs += [("ちょうふいちろう", "ちょうふいちろ"), ("調布一郎", "調布二郎"), ("山田花子", "花子山田"), ("ab", "abcd"), ("調布一郎", "調布一子")]  # the last: exactly 0.75
    for one, other in pairs:
        assert _alike(one, other) == (SequenceMatcher(None, one, other).ratio() >= SIMILAR_NAME), (one, other)
    assert any(_alike(one, other) for one, other in pairs) and not all(_alike(one, other) for one, other in pairs)
