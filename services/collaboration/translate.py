"""Collaboration's public events."""

from shared.plan import PLAN_RULES
from shared.translate import translator

translate = translator("collaboration", dict(PLAN_RULES))
