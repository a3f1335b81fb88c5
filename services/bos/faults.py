"""A deliberate handler bug for the re-drive tests, off unless its variable is set.

``ESSAYFLOW_BOS_FAIL_EVENT=<event type>`` (a proto name such as
``BatchContentProvisioningCompleted``, or ``*``) makes BOS's handler of that type fail
with an unexpected error before it acts, on every delivery: the event is dead-lettered
once the delivery limit is reached, as a real bug's would be. Restarting BOS without
the variable is the fix being deployed; ``essayflow events redrive`` then sends the
dead letter back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from google.protobuf.message import Message

from essayflow_runtime.consumer import EventContext, Handler
from essayflow_runtime.logs import get_logger

log = get_logger(__name__)

FAIL_EVENT_VARIABLE = "ESSAYFLOW_BOS_FAIL_EVENT"


class InjectedBug(RuntimeError):
    """What the injected bug raises: unexpected, not transient."""


def _failing(event_type: str) -> Handler:
    async def handle(context: EventContext, payload: Message) -> None:
        log.warning("failing on purpose (fault injection)", event_type=event_type, event_id=context.event_id)
        raise InjectedBug(f"injected bug in the {event_type} handler")

    return handle


def with_faults(handlers: Mapping[type[Message], Handler]) -> dict[type[Message], Handler]:
    wanted = os.environ.get(FAIL_EVENT_VARIABLE, "")
    if not wanted:
        return dict(handlers)
    chosen = {cls for cls in handlers if wanted in ("*", cls.DESCRIPTOR.name, cls.DESCRIPTOR.full_name)}
    return {cls: _failing(cls.DESCRIPTOR.name) if cls in chosen else handler for cls, handler in handlers.items()}
