"""gRPC face of ELS: decode, authorize, hand over to the upload path, encode."""

from __future__ import annotations

from typing import Any

from essayflow.els.v1 import els_pb2, els_pb2_grpc
from essayflow_runtime import enums
from essayflow_runtime.auth import Principal, current_principal
from essayflow_runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from essayflow_runtime.grpc_server import roles_from_proto
from services.els import content_rules, slots
from services.els.content_store import ContentStore
from services.els.provisioning import Provisioned, Provisioner
from services.els.slots import Outcome, Tracker, Upload
from services.els.store import SlotStore, Versioned

SERVICE_NAME = "essayflow.els.v1.EssayLifecycleService"
METHOD_ROLES = roles_from_proto(els_pb2.DESCRIPTOR.services_by_name["EssayLifecycleService"])

_OUTCOMES = {
    Outcome.BOUND: els_pb2.PROVISION_OUTCOME_BOUND,
    Outcome.DUPLICATE: els_pb2.PROVISION_OUTCOME_DUPLICATE,
    Outcome.EXCESS: els_pb2.PROVISION_OUTCOME_EXCESS,
}


def _visible_to(principal: Principal, tracker: Tracker | None) -> bool:
    """The one rule for who sees a batch in ELS (uploads and reads alike)."""
    if tracker is None:
        return False
    return principal.is_privileged or tracker.owner_id == principal.subject


class ElsServicer(els_pb2_grpc.EssayLifecycleServiceServicer):  # type: ignore[misc]
    """Holds only its collaborators; every batch fact is read from KV per call."""

    def __init__(
        self, provisioner: Provisioner, store: SlotStore, content: ContentStore, registration_wait_s: float = 5.0
    ) -> None:
        self._provisioner = provisioner
        self._store = store
        self._content = content
        self._registration_wait_s = registration_wait_s

    async def ProvisionEssay(self, request: Any, context: Any) -> els_pb2.ProvisionEssayResponse:
        file_name = content_rules.display_file_name(request.file_name)
        content_rules.check_upload_request(file_name)
        principal = current_principal()
        seen: Versioned | None = None
        if not principal.is_privileged:
            # Teachers upload to their own registered batches only; services (the
            # file-service path) may upload before registration. A batch registered a
            # moment ago may still be on its way here, so a teacher's upload waits for it
            # briefly -- for one of *theirs*: another teacher's batch is waited past like
            # an unregistered one and refused with the same answer at the same time, so
            # neither the answer nor its timing tells that the batch exists.
            seen = await self._store.wait_for(
                request.batch_id, self._registration_wait_s, accept=lambda tracker: _visible_to(principal, tracker)
            )
            if seen is None:
                raise FailedPrecondition(
                    f"batch {request.batch_id} is not registered for you",
                    reason="BATCH_NOT_REGISTERED",
                    metadata={"batch_id": request.batch_id},
                    violations=[("BATCH_NOT_REGISTERED", f"batch/{request.batch_id}", "register the batch first")],
                )
        checked = content_rules.check_text(request.content)
        if not checked.ok:
            await self._refuse(request, file_name, checked, seen)
        text_storage_id = await self._content.put(checked.text)
        upload = Upload(
            file_name=file_name,
            file_upload_id=request.file_upload_id,
            text_storage_id=text_storage_id,
        )
        provisioned = await self._provisioner.provision(request.batch_id, upload, seen=seen)
        return els_pb2.ProvisionEssayResponse(
            outcome=self._outcome(provisioned),
            essay_id=provisioned.essay_id,
            text_storage_id=text_storage_id,
        )

    async def GetBatchSlots(self, request: Any, context: Any) -> els_pb2.GetBatchSlotsResponse:
        principal = current_principal()
        tracker = await self._store.get(request.batch_id)
        pending = await self._store.pending(request.batch_id)
        if tracker is None and pending and principal.is_privileged:
            # Operators and the file service may watch uploads wait for registration.
            return els_pb2.GetBatchSlotsResponse(batch_id=request.batch_id, pending_count=len(pending))
        if tracker is None or not _visible_to(principal, tracker):
            raise NotFound(
                f"batch {request.batch_id} not found",
                reason="BATCH_NOT_FOUND",
                metadata={"batch_id": request.batch_id},
            )
        # A reader may be the first to notice a completion a dead replica never published.
        await self._provisioner.publish_completion_if_due(tracker)
        # The registration removes the uploads it drained only after binding them (and maybe
        # completing the batch); one the tracker already holds is no longer waiting.
        waiting = [upload for upload in pending if not slots.holds(tracker, upload)]
        return els_pb2.GetBatchSlotsResponse(
            batch_id=tracker.batch_id,
            expected_essay_count=tracker.expected_count,
            slots=[
                els_pb2.Slot(
                    essay_id=slot.essay_id,
                    status=slot.status,
                    file_name=slot.file_name,
                    text_storage_id=slot.text_storage_id,
                    error_code=slot.error_code,
                )
                for slot in tracker.slots
            ],
            excess_count=tracker.excess_count,  # kept and dropped
            completed=tracker.completed,
            pending_count=len(waiting),
        )

    async def _refuse(
        self, request: Any, file_name: str, checked: content_rules.TextCheck, seen: Versioned | None
    ) -> None:
        """A text that breaks the rule still takes its slot as failed, then the caller
        hears INVALID_ARGUMENT naming the field and the reason code."""
        upload = Upload(
            file_name=file_name,
            file_upload_id=request.file_upload_id,
            error_code=checked.error_code,
            error_message=checked.message,
        )
        provisioned = await self._provisioner.provision(request.batch_id, upload, seen=seen)
        error_code = enums.to_db(slots.ErrorCode, checked.error_code)
        outcome = "pending_registration" if provisioned.outcome is None else provisioned.outcome.value
        raise InvalidArgument(
            checked.message,
            reason="ESSAY_VALIDATION_FAILED",
            metadata={
                "batch_id": request.batch_id,
                "error_code": error_code,
                "essay_id": provisioned.essay_id,
                "outcome": outcome,
            },
            field_violations=[("content", f"{error_code}: {checked.message}")],
        )

    @staticmethod
    def _outcome(provisioned: Provisioned) -> els_pb2.ProvisionOutcome:
        if provisioned.outcome is None:
            return els_pb2.PROVISION_OUTCOME_PENDING_REGISTRATION
        return _OUTCOMES[provisioned.outcome]
