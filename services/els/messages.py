"""The events ELS emits, built from the tracker, and their deterministic ids.

Pure. An id derived from the batch and the upload means that binding the same
upload again — after a crash, a redelivery or a retried RPC — republishes the same
event id, and JetStream's duplicate window drops the copy.
"""

from __future__ import annotations

from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import bos_events_pb2, cms_events_pb2, els_events_pb2
from essayflow_runtime import contracts
from services.els.slots import Slot, Tracker, Upload


def slot_assigned_id(batch_id: str, upload: Upload) -> str:
    return contracts.derived_event_id(batch_id, els_events_pb2.EssaySlotAssigned, upload.key)


def excess_id(batch_id: str, upload: Upload) -> str:
    return contracts.derived_event_id(batch_id, els_events_pb2.ExcessContentProvisioned, upload.key)


def essay_ref(slot: Slot) -> common_pb2.EssayRef:
    return common_pb2.EssayRef(essay_id=slot.essay_id, text_storage_id=slot.text_storage_id, file_name=slot.file_name)


def slot_assigned(tracker: Tracker, essay_id: str, upload: Upload) -> els_events_pb2.EssaySlotAssigned:
    return els_events_pb2.EssaySlotAssigned(
        batch_id=tracker.batch_id,
        essay_id=essay_id,
        file_name=upload.file_name,
        text_storage_id=upload.text_storage_id,
        file_upload_id=upload.file_upload_id,
    )


def excess(tracker: Tracker, upload: Upload) -> els_events_pb2.ExcessContentProvisioned:
    return els_events_pb2.ExcessContentProvisioned(
        batch_id=tracker.batch_id,
        file_name=upload.file_name,
        text_storage_id=upload.text_storage_id,
        file_upload_id=upload.file_upload_id,
        expected_essay_count=tracker.expected_count,
    )


def completion(tracker: Tracker) -> els_events_pb2.BatchContentProvisioningCompleted:
    return els_events_pb2.BatchContentProvisioningCompleted(
        batch_id=tracker.batch_id,
        stored_essays=[essay_ref(slot) for slot in tracker.stored()],
        failed_uploads=[
            els_events_pb2.FailedUpload(
                essay_id=slot.essay_id,
                file_name=slot.file_name,
                error_code=slot.error_code,
                message=slot.error_message,
            )
            for slot in tracker.failed()
        ],
        expected_essay_count=tracker.expected_count,
        class_id=tracker.class_id,
        course_code=tracker.course_code,
    )


def matching_requested(
    command: bos_events_pb2.StudentMatchingInitiate, tracker: Tracker | None
) -> els_events_pb2.BatchStudentMatchingRequested:
    """The matcher's request: the essays BOS names, or the tracker's stored ones
    when the command carries none."""
    essays = list(command.essays)
    if not essays and tracker is not None:
        essays = [essay_ref(slot) for slot in tracker.stored()]
    return els_events_pb2.BatchStudentMatchingRequested(
        batch_id=command.batch_id,
        class_id=command.class_id or (tracker.class_id if tracker else ""),
        course_code=command.course_code or (tracker.course_code if tracker else common_pb2.COURSE_CODE_UNSPECIFIED),
        essays=essays,
    )


def essays_ready(
    tracker: Tracker, confirmed: cms_events_pb2.StudentAssociationsConfirmed
) -> els_events_pb2.BatchEssaysReady:
    """The tracker's stored essays joined with each one's confirmed student; failed
    uploads have no essay to assess and are left out."""
    by_essay = {association.essay_id: association for association in confirmed.associations}
    ready = []
    for slot in tracker.stored():
        association = by_essay.get(slot.essay_id)
        ready.append(
            bos_events_pb2.ReadyEssay(
                essay=essay_ref(slot),
                student_id=association.student_id if association else "",
                association_status=(
                    association.status if association else common_pb2.STUDENT_ASSOCIATION_STATUS_UNSPECIFIED
                ),
                validation_method=(
                    association.validation_method
                    if association
                    else common_pb2.ASSOCIATION_VALIDATION_METHOD_UNSPECIFIED
                ),
            )
        )
    return els_events_pb2.BatchEssaysReady(
        batch_id=tracker.batch_id,
        class_id=confirmed.class_id or tracker.class_id,
        course_code=confirmed.course_code or tracker.course_code,
        essays=ready,
    )
