"""Streams come from the proto declarations and are created idempotently."""

from __future__ import annotations

import dataclasses

import nats
from nats.js.api import StorageType

from essayflow_runtime import bus, contracts
from essayflow_runtime.config import Settings
from essayflow_runtime.embedded import EmbeddedNats


async def test_streams_are_created_once_from_the_proto_subjects(settings: Settings, private_nats: EmbeddedNats) -> None:
    own = dataclasses.replace(settings, nats_url=private_nats.url, duplicate_window_s=600.0)
    client = await nats.connect(own.nats_url)
    try:
        js = client.jetstream()
        await bus.ensure_streams(own, js)
        first = await js.stream_info(own.stream_name)
        await bus.ensure_streams(own, js)  # a second service starting, or a restart
        second = await js.stream_info(own.stream_name)
        assert sorted(first.config.subjects or []) == contracts.all_subjects()
        assert first.config.duplicate_window == 600.0
        assert first.config.storage == StorageType.FILE
        assert second.created == first.created and second.config == first.config

        changed = dataclasses.replace(own, stream_max_age_s=3600.0)  # a user-configured limit
        await bus.ensure_streams(changed, js)
        assert (await js.stream_info(own.stream_name)).config.max_age == 3600.0
        dlq = await js.stream_info(own.dlq_stream_name)
        assert dlq.config.subjects == [f"{contracts.DLQ_SUBJECT_PREFIX}.>"]
    finally:
        await client.close()
