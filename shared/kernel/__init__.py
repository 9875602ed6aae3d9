"""The event-store kernel: the application base, the store, read models, idempotency, journeys."""

from shared.kernel import moved as _moved  # noqa: F401  (old topics of stored events: shared/kernel/moved.py)
