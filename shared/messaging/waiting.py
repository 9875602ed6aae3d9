"""`Waiting`: a handler's answer "not yet" for a message whose need is provably on its way.

A handler raises it (a subclass of it) when the message cannot be applied yet and what it waits for is known to be
coming: an event on the stream before it that another of the service's consumers has not settled yet (the meeting: the
escalation that opened a collaboration case, services/meeting/openings.py). The inbox tries it again after a growing
delay, as any failure; unlike a failure it is not dead-lettered for its tries (`JUSOU_MAX_DELIVER`), since the handler
says, every time, that the need is still on its way, and says something else once it is not (applies, or refuses the
message with its reason).
"""

from __future__ import annotations


class Waiting(RuntimeError):
    """Not yet: what this message needs is on its way (see the module). Retried, not parked for its tries."""
