"""ELS's event handlers: decode, check, and hand over to the upload path or relay.

Each handler returns only after JetStream acknowledged everything it published,
so the runtime Consumer acks the cause afterwards; a crash in between means a
redelivery, which publishes the same derived event ids again.
"""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf.message import Message
from nats.js import JetStreamContext

from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import bos_events_pb2, cms_events_pb2, file_events_pb2
from essayflow_runtime.consumer import EventContext, Handler, publish_caused
from essayflow_runtime.contracts import PoisonMessage
from essayflow_runtime.ids import is_uuid
from services.els import messages, reconcile
from services.els.content_rules import display_file_name, is_text_storage_id
from services.els.provisioning import SOURCE, Provisioner
from services.els.slots import Upload
from services.els.store import SlotStore


def _require_batch_id(batch_id: str) -> None:
    if not is_uuid(batch_id):
        raise PoisonMessage("INVALID_BATCH_ID", f"batch_id {batch_id!r} is not a UUID")


class EventHandlers:
    """Holds only its collaborators: everything about a batch is read from KV per event."""

    def __init__(self, provisioner: Provisioner, store: SlotStore, js: JetStreamContext) -> None:
        self._provisioner = provisioner
        self._store = store
        self._js = js

    def handlers(self) -> Mapping[type[Message], Handler]:
        return {
            bos_events_pb2.BatchEssaysRegistered: self.on_batch_registered,
            file_events_pb2.EssayContentProvisioned: self.on_content_provisioned,
            file_events_pb2.EssayValidationFailed: self.on_validation_failed,
            bos_events_pb2.StudentMatchingInitiate: self.on_matching_initiate,
            cms_events_pb2.StudentAssociationsConfirmed: self.on_associations_confirmed,
            bos_events_pb2.BatchReconciliationRequested: self.on_reconciliation_requested,
        }

    async def on_batch_registered(self, context: EventContext, payload: Message) -> None:
        assert isinstance(payload, bos_events_pb2.BatchEssaysRegistered)
        _require_batch_id(payload.batch_id)
        if len(set(payload.essay_ids)) != len(payload.essay_ids) or not all(map(is_uuid, payload.essay_ids)):
            raise PoisonMessage("INVALID_ESSAY_IDS", "essay_ids must be distinct UUIDs")
        await self._provisioner.register(payload, event_id=context.event_id, correlation_id=context.correlation_id)

    async def on_content_provisioned(self, context: EventContext, payload: Message) -> None:
        assert isinstance(payload, file_events_pb2.EssayContentProvisioned)
        _require_batch_id(payload.batch_id)
        if not is_text_storage_id(payload.text_storage_id):
            raise PoisonMessage("INVALID_TEXT_STORAGE_ID", f"{payload.text_storage_id!r} is not a sha256 hex digest")
        file_name = display_file_name(payload.file_name)
        if not file_name:
            raise PoisonMessage("INVALID_FILE_NAME", f"{payload.file_name[:100]!r} names no file")
        upload = Upload(
            file_name=file_name,
            file_upload_id=payload.file_upload_id,
            text_storage_id=payload.text_storage_id,
        )
        await self._provisioner.provision(payload.batch_id, upload, causation_id=context.event_id)

    async def on_validation_failed(self, context: EventContext, payload: Message) -> None:
        assert isinstance(payload, file_events_pb2.EssayValidationFailed)
        _require_batch_id(payload.batch_id)
        file_name = display_file_name(payload.file_name)
        if not (payload.file_upload_id or file_name):
            raise PoisonMessage("UNIDENTIFIABLE_UPLOAD", "neither file_upload_id nor file_name is set")
        upload = Upload(
            file_name=file_name,
            file_upload_id=payload.file_upload_id,
            # A failure must stay a failure even if the sender left the code unset.
            error_code=payload.error_code or common_pb2.ESSAY_VALIDATION_ERROR_CODE_OTHER,
            error_message=payload.message,
        )
        await self._provisioner.provision(payload.batch_id, upload, causation_id=context.event_id)

    async def on_matching_initiate(self, context: EventContext, payload: Message) -> None:
        assert isinstance(payload, bos_events_pb2.StudentMatchingInitiate)
        _require_batch_id(payload.batch_id)
        tracker = None if payload.essays else await self._store.get(payload.batch_id)
        await publish_caused(self._js, context, messages.matching_requested(payload, tracker), source=SOURCE)

    async def on_associations_confirmed(self, context: EventContext, payload: Message) -> None:
        assert isinstance(payload, cms_events_pb2.StudentAssociationsConfirmed)
        _require_batch_id(payload.batch_id)
        tracker = await self._store.get(payload.batch_id)
        if tracker is None:
            raise PoisonMessage("BATCH_NOT_REGISTERED", f"no slot tracker for batch {payload.batch_id}")
        await publish_caused(self._js, context, messages.essays_ready(tracker, payload), source=SOURCE)

    async def on_reconciliation_requested(self, context: EventContext, payload: Message) -> None:
        await reconcile.reemit(self._store, self._js, context, payload)
