"""BatchReconciliationRequested in ELS: re-emit, from the slot tracker, what BOS waits for.

A batch still awaiting its content whose tracker is complete gets its
BatchContentProvisioningCompleted again, under an id derived from the reconcile request and
the original completion: the original may be exactly the message that was lost, and inside
JetStream's duplicate window a copy under the original id would be dropped. BOS ignores a
completion for a batch whose content is already complete, so a repeat is harmless.

A batch awaiting its students (or their essays) needs CMS's final confirmation first: CMS
re-emits it, and ELS turns it into BatchEssaysReady as for any confirmation. Nothing to do here.
"""

from __future__ import annotations

from google.protobuf.message import Message
from nats.js import JetStreamContext

from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import bos_events_pb2
from essayflow_runtime.consumer import EventContext, publish_caused
from essayflow_runtime.contracts import PoisonMessage
from essayflow_runtime.ids import is_uuid
from essayflow_runtime.logs import get_logger
from services.els import messages
from services.els.provisioning import SOURCE
from services.els.slots import Tracker
from services.els.store import SlotStore

log = get_logger(__name__)

AWAITING_CONTENT = common_pb2.BatchStatus.BATCH_STATUS_AWAITING_CONTENT_VALIDATION


def completion_to_reemit(status: int, tracker: Tracker | None) -> bool:
    """Whether the tracker holds the completion a batch in ``status`` waits for. Pure."""
    return status == AWAITING_CONTENT and tracker is not None and tracker.completed


async def reemit(store: SlotStore, js: JetStreamContext, context: EventContext, payload: Message) -> None:
    """The handler's body (``EventHandlers.on_reconciliation_requested``)."""
    assert isinstance(payload, bos_events_pb2.BatchReconciliationRequested)
    if not is_uuid(payload.batch_id):
        raise PoisonMessage("INVALID_BATCH_ID", f"batch_id {payload.batch_id!r} is not a UUID")
    tracker = await store.get(payload.batch_id)
    if tracker is None or not completion_to_reemit(payload.status, tracker):
        log.info(
            "reconcile: nothing to re-emit",
            batch_id=payload.batch_id,
            status=common_pb2.BatchStatus.Name(payload.status),
            tracker=tracker is not None,
            completed=bool(tracker and tracker.completed),
        )
        return
    event_id = await publish_caused(
        js, context, messages.completion(tracker), source=SOURCE, discriminators=(tracker.completion_event_id,)
    )
    if tracker.completion_due:  # the original was never acknowledged: this copy stands for it
        await store.mark_completion_published(tracker.batch_id)
    log.info("reconcile: content completion re-emitted", batch_id=tracker.batch_id, event_id=event_id)
