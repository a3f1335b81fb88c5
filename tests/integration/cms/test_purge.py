"""BatchPurged in CMS: the batch's associations (student links, match reasons that quote
names) are deleted over the real bus and database, suggestions arriving afterwards are
not stored, and a second delivery changes nothing."""

from __future__ import annotations

from nats.js import JetStreamContext

from essayflow.events.v1 import bos_events_pb2
from essayflow_runtime.consumer import publish
from tests.integration.cms.conftest import Cms, new_id, suggestions
from tests.support import eventually


async def association_rows(cms: Cms, batch_id: str) -> int:
    return int(await cms.pool.fetchval("SELECT count(*) FROM essay_student_associations WHERE batch_id = $1", batch_id))


async def processed(cms: Cms, event_id: str) -> bool:
    return bool(await cms.pool.fetchval("SELECT 1 FROM processed_events WHERE event_id = $1", event_id))


async def test_a_purged_batch_loses_its_associations_and_never_gets_them_back(
    cms: Cms, js: JetStreamContext
) -> None:
    class_id = await cms.create_class("teacher-1")
    students = await cms.add_students("teacher-1", class_id, 2)
    batch_id, kept_batch = new_id(), new_id()
    for batch in (batch_id, kept_batch):
        essays = [(new_id(), students[0], 0.95), (new_id(), None, 0.0)]
        await cms.receive_suggestions(suggestions(batch, class_id, essays))
    assert await association_rows(cms, batch_id) == 2

    purge = bos_events_pb2.BatchPurged(batch_id=batch_id, class_id=class_id, cause="rpc:PurgeBatch")
    event_id = await publish(js, purge, source="bos", correlation_id=batch_id)
    await eventually(lambda: processed(cms, event_id), message="CMS never handled BatchPurged")
    assert await association_rows(cms, batch_id) == 0
    assert await association_rows(cms, kept_batch) == 2, "another batch's associations were deleted"
    assert await cms.pool.fetchval("SELECT 1 FROM batch_validations WHERE batch_id = $1", batch_id) == 1

    # Suggestions after the purge (a purge during matching) are not stored.
    await cms.receive_suggestions(suggestions(batch_id, class_id, [(new_id(), students[1], 0.99)]))
    assert await association_rows(cms, batch_id) == 0
    # Nor for a batch purged before CMS saw any suggestion of it.
    early = new_id()
    early_purge = await publish(
        js, bos_events_pb2.BatchPurged(batch_id=early, class_id=class_id), source="bos", correlation_id=early
    )
    await eventually(lambda: processed(cms, early_purge), message="CMS never handled the early BatchPurged")
    await cms.receive_suggestions(suggestions(early, class_id, [(new_id(), students[1], 0.99)]))
    assert await association_rows(cms, early) == 0
