"""The largest batch the contract allows reaches completion on a real nats-server: 500
slots, every upload failed with the longest file name (in four-byte characters), the
longest upload id and the longest message, and excess uploads after it. Its tracker, one
KV value, grows past nats-server's default max_payload (1 MiB) — on such a server ELS
refuses to start, rather than strand a batch like this one at an upload."""

from __future__ import annotations

import uuid

import pytest
from nats.js import JetStreamContext

from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import els_events_pb2, file_events_pb2
from essayflow_runtime.config import Settings
from essayflow_runtime.consumer import publish
from essayflow_runtime.errors import StartupRefused
from services.els import slots
from services.els.main import check_values_fit
from services.els.store import Limits, open_slot_bucket, tracker_key
from tests.integration.els.helpers import Caller, new_ids, payloads, register_batch
from tests.support import eventually

DEFAULT_NATS_MAX_PAYLOAD = 1024 * 1024


async def test_a_batch_of_500_failed_uploads_with_the_longest_names_completes(
    js: JetStreamContext, els_settings: Settings, service_caller: Caller
) -> None:
    batch_id = str(uuid.uuid4())
    await register_batch(js, batch_id, new_ids(slots.MAX_SLOTS))
    await eventually(lambda: service_caller.slots_or_none(batch_id), message="tracker never created")
    wide = "\U0001f600"
    excess = 60
    for index in range(slots.MAX_SLOTS + excess):
        tag = f"-{index}.txt"
        failure = file_events_pb2.EssayValidationFailed(
            batch_id=batch_id,
            file_name=wide * (slots.MAX_FILE_NAME - len(tag)) + tag,
            file_upload_id=f"{index}-".ljust(slots.MAX_FILE_NAME, "u"),
            error_code=common_pb2.ESSAY_VALIDATION_ERROR_CODE_OTHER,
            message=wide * 1000,
        )
        await publish(js, failure, source="file", correlation_id=batch_id)

    async def completed() -> list[els_events_pb2.BatchContentProvisioningCompleted]:
        return await payloads(js, els_settings, els_events_pb2.BatchContentProvisioningCompleted, batch_id)

    [event] = await eventually(completed, timeout_s=120, interval_s=1.0, message="the batch never completed")
    assert len(event.failed_uploads) == slots.MAX_SLOTS and not event.stored_essays
    bucket = await open_slot_bucket(js, els_settings.slot_bucket)

    async def every_excess_kept() -> bytes | None:
        value = (await bucket.get(tracker_key(batch_id))).value or b""
        return value if len(slots.from_json(value).excess) == excess else None

    value = await eventually(every_excess_kept, timeout_s=60, message="the excess uploads were not all kept")
    assert len(value) > DEFAULT_NATS_MAX_PAYLOAD, "the case this guards against did not arise"
    assert len(value) <= slots.largest_tracker_bytes(max_excess=els_settings.els_max_excess)


def test_els_refuses_to_start_on_a_server_whose_max_payload_a_tracker_could_outgrow(els_settings: Settings) -> None:
    limits = Limits.from_settings(els_settings)
    with pytest.raises(StartupRefused, match="max_payload"):
        check_values_fit(limits, DEFAULT_NATS_MAX_PAYLOAD)
    check_values_fit(limits, 4 * 1024 * 1024)
