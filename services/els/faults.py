"""A deliberate crash point for the chaos tests, off unless its variable is set.

``ESSAYFLOW_ELS_EXIT_BEFORE_ACK=<event type>`` (a proto name such as
``EssayContentProvisioned``, or ``*``) makes the process exit abruptly after a
handler of that type returned — everything it published acknowledged by JetStream —
and before the consumer acknowledges the event: exactly the window in which a
replica dying must not lose or duplicate anything.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from google.protobuf.message import Message

from essayflow_runtime.consumer import EventContext, Handler
from essayflow_runtime.logs import get_logger

log = get_logger(__name__)

EXIT_BEFORE_ACK_VARIABLE = "ESSAYFLOW_ELS_EXIT_BEFORE_ACK"
EXIT_CODE = 70


def _exit_after(handler: Handler, event_type: str) -> Handler:
    async def handle(context: EventContext, payload: Message) -> None:
        await handler(context, payload)
        log.warning("exiting before ack (fault injection)", event_type=event_type, event_id=context.event_id)
        os._exit(EXIT_CODE)

    return handle


def with_faults(handlers: Mapping[type[Message], Handler]) -> dict[type[Message], Handler]:
    wanted = os.environ.get(EXIT_BEFORE_ACK_VARIABLE, "")
    if not wanted:
        return dict(handlers)
    return {
        cls: _exit_after(handler, cls.DESCRIPTOR.name)
        if wanted in ("*", cls.DESCRIPTOR.name, cls.DESCRIPTOR.full_name)
        else handler
        for cls, handler in handlers.items()
    }
