"""BatchPurged: ELS deletes the batch's tracker, its pending uploads and its texts.

Texts are content-addressed, so two batches may hold the same text: a text is deleted
only when no other tracker or pending list refers to it (a scan of the slot bucket,
which purges are rare enough to afford). The texts go first and the keys last, so a
redelivery after a crash in between still finds, in the tracker, which texts were the
batch's. Every step is idempotent.

Not covered: an upload of the very same text to another batch racing the purge (its
text may be deleted between its existence check and its bind; that batch then misses
the text), and events already on the stream, which carry file names until the stream's
max age removes them.
"""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf.message import Message

from essayflow.events.v1 import bos_events_pb2
from essayflow_runtime.consumer import EventContext, Handler
from essayflow_runtime.contracts import PoisonMessage
from essayflow_runtime.ids import is_uuid
from essayflow_runtime.logs import get_logger
from services.els import slots
from services.els.content_rules import is_text_storage_id
from services.els.content_store import ContentStore
from services.els.store import SlotStore

log = get_logger(__name__)


class Purger:
    def __init__(self, store: SlotStore, content: ContentStore) -> None:
        self._store = store
        self._content = content

    def handlers(self) -> Mapping[type[Message], Handler]:
        return {bos_events_pb2.BatchPurged: self.on_batch_purged}

    async def on_batch_purged(self, context: EventContext, payload: Message) -> None:
        assert isinstance(payload, bos_events_pb2.BatchPurged)
        if not is_uuid(payload.batch_id):
            raise PoisonMessage("INVALID_BATCH_ID", f"batch_id {payload.batch_id!r} is not a UUID")
        deleted = await self.purge(payload.batch_id, payload.text_storage_ids)
        log.info("batch purged", batch_id=payload.batch_id, texts_deleted=deleted)

    async def purge(self, batch_id: str, known_text_ids: list[str] | tuple[str, ...] = ()) -> int:
        """Delete the batch's texts (unless another batch holds them) and keys; returns
        how many texts were deleted."""
        tracker = await self._store.get(batch_id)
        candidates = set(known_text_ids) | (slots.text_ids(tracker) if tracker else set())
        candidates |= {u.text_storage_id for u in await self._store.pending(batch_id) if u.text_storage_id}
        candidates = {c for c in candidates if is_text_storage_id(c)}
        deleted = 0
        if candidates:
            shared = await self._store.text_ids_in_use(except_batch=batch_id)
            for text_id in sorted(candidates - shared):
                deleted += await self._content.delete(text_id)
        await self._store.forget(batch_id)
        return deleted
