"""The one upload path: an RPC upload and an upload event both end here.

Binding is a compare-and-set on the tracker in KV; what the binding means for the
outside world (EssaySlotAssigned, ExcessContentProvisioned, and once the last slot
is taken BatchContentProvisioningCompleted) is published afterwards with ids
derived from the batch and the upload. A process that dies between the two leaves
a state that the next attempt — a redelivery, a retried RPC, a later upload, a
GetBatchSlots — finds and finishes by publishing the same ids again.
"""

from __future__ import annotations

from dataclasses import dataclass

from nats.js import JetStreamContext

from essayflow.events.v1 import bos_events_pb2
from essayflow_runtime.consumer import publish
from essayflow_runtime.logs import get_logger
from essayflow_runtime.metrics import EXCESS_DROPPED
from services.els import messages, slots
from services.els.slots import Binding, Outcome, Tracker, Upload
from services.els.store import SlotStore, Versioned

log = get_logger(__name__)

SOURCE = "els"


@dataclass(frozen=True)
class Provisioned:
    """Where an upload ended up. ``outcome`` is None while its batch is not registered."""

    outcome: Outcome | None
    essay_id: str = ""

    @property
    def pending(self) -> bool:
        return self.outcome is None


class Provisioner:
    def __init__(self, store: SlotStore, js: JetStreamContext) -> None:
        self._store = store
        self._js = js

    async def provision(
        self, batch_id: str, upload: Upload, *, causation_id: str = "", seen: Versioned | None = None
    ) -> Provisioned:
        """Bind ``upload`` to a slot of its batch and announce it (or keep it until the
        batch is registered). ``seen``: the batch's tracker, if the caller just read it."""
        bound = await self._store.bind(batch_id, upload, seen=seen)
        if bound is None:
            await self._store.add_pending(batch_id, upload)
            # The registration may have drained the pending uploads just before this
            # one was added; looking again after writing it closes that gap.
            bound = await self._store.bind(batch_id, upload)
            if bound is None:
                log.info("upload kept until the batch is registered", batch_id=batch_id, upload=upload.key)
                return Provisioned(None)
            await self._store.remove_pending(batch_id, [upload.key])
        tracker, binding = bound
        await self._announce(tracker, upload, binding, causation_id)
        await self.publish_completion_if_due(tracker, causation_id=causation_id)
        return Provisioned(binding.outcome, binding.essay_id)

    async def register(
        self, registered: bos_events_pb2.BatchEssaysRegistered, *, event_id: str, correlation_id: str
    ) -> None:
        """Create the batch's tracker (once) and bind the uploads that were waiting for it."""
        tracker = slots.new_tracker(
            batch_id=registered.batch_id,
            essay_ids=list(registered.essay_ids),
            class_id=registered.class_id,
            course_code=registered.course_code,
            owner_id=registered.owner_id,
            correlation_id=correlation_id,
        )
        if await self._store.create(tracker):
            log.info("slot tracker created", batch_id=tracker.batch_id, slots=tracker.expected_count)
        # Also on a redelivery: a process that died half-way through draining left
        # the rest of the pending uploads (and maybe the completion) to us.
        waiting = await self._store.pending(tracker.batch_id)
        for upload in waiting:
            await self.provision(tracker.batch_id, upload, causation_id=event_id)
        if waiting:
            await self._store.remove_pending(tracker.batch_id, [upload.key for upload in waiting])
        current = await self._store.get(tracker.batch_id)
        if current is not None:
            await self.publish_completion_if_due(current, causation_id=event_id)

    async def publish_completion_if_due(self, tracker: Tracker, *, causation_id: str = "") -> None:
        """Publish BatchContentProvisioningCompleted for a completed tracker whose
        completion is not yet known to be on the stream; the fixed event id makes
        every repeat a duplicate JetStream drops."""
        if not tracker.completion_due:
            return
        await publish(
            self._js,
            messages.completion(tracker),
            source=SOURCE,
            correlation_id=tracker.correlation_id,
            causation_id=causation_id,
            event_id=tracker.completion_event_id,
        )
        await self._store.mark_completion_published(tracker.batch_id)
        log.info(
            "batch content complete",
            batch_id=tracker.batch_id,
            stored=len(tracker.stored()),
            failed=len(tracker.failed()),
        )

    async def _announce(self, tracker: Tracker, upload: Upload, binding: Binding, causation_id: str) -> None:
        if binding.outcome in (Outcome.BOUND, Outcome.DUPLICATE):
            # Also for a duplicate: the first attempt may have died before publishing.
            await publish(
                self._js,
                messages.slot_assigned(tracker, binding.essay_id, upload),
                source=SOURCE,
                correlation_id=tracker.correlation_id,
                causation_id=causation_id,
                event_id=messages.slot_assigned_id(tracker.batch_id, upload),
            )
        elif binding.outcome is Outcome.EXCESS:
            log.warning("upload beyond the batch's slots", batch_id=tracker.batch_id, file_name=upload.file_name)
            if upload not in tracker.excess:  # the excess list was full: only counted
                EXCESS_DROPPED.inc()
            await publish(
                self._js,
                messages.excess(tracker, upload),
                source=SOURCE,
                correlation_id=tracker.correlation_id,
                causation_id=causation_id,
                event_id=messages.excess_id(tracker.batch_id, upload),
            )
        else:
            log.info(
                "failed upload consumed a slot",
                batch_id=tracker.batch_id,
                essay_id=binding.essay_id,
                file_name=upload.file_name,
            )
