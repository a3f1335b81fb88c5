"""The content store the matcher reads essay texts from, and how ELS opens its buckets."""

from __future__ import annotations

import uuid

import pytest
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig

from services.els.content_store import ContentNotFound, ContentStore
from services.els.store import open_slot_bucket
from tests.integration.els.helpers import sha


async def test_texts_are_stored_once_under_their_sha256(js: JetStreamContext) -> None:
    store = ContentStore(js, f"content_{uuid.uuid4().hex[:8]}")
    text = "Namn: Åsa Öberg\n" + "En text om något viktigt. " * 5

    first = await store.put(text)
    second = await store.put(text)

    assert first == second == sha(text)
    assert await store.get(first) == text
    assert await store.exists(first)
    info = await js.stream_info(f"OBJ_{store.bucket}")
    assert info.state.messages == 2  # one chunk and one meta message: stored once


async def test_reading_an_absent_text_raises_a_clear_error(js: JetStreamContext) -> None:
    store = ContentStore(js, f"content_{uuid.uuid4().hex[:8]}")
    missing = sha("never stored")
    with pytest.raises(ContentNotFound, match=missing):
        await store.get(missing)
    with pytest.raises(ContentNotFound):
        await store.get("../not-an-id")
    assert not await store.exists(missing)


async def test_a_deleted_text_is_absent(js: JetStreamContext) -> None:
    store = ContentStore(js, f"content_{uuid.uuid4().hex[:8]}")
    text_id = await store.put("Namn: Bo Ek\n" + "Ett stycke om hösten. " * 5)
    await (await js.object_store(store.bucket)).delete(text_id)
    assert not await store.exists(text_id)
    with pytest.raises(ContentNotFound):
        await store.get(text_id)


async def test_buckets_made_without_direct_get_are_switched_to_it_when_opened(js: JetStreamContext) -> None:
    # Buckets created by an earlier release (or by hand) are read the fast way too.
    bucket = f"slots_{uuid.uuid4().hex[:8]}"
    kv = await js.create_key_value(config=KeyValueConfig(bucket=bucket, history=1))
    await kv.put("batch.x", b"{}")
    assert not (await js.stream_info(f"KV_{bucket}")).config.allow_direct

    reopened = await open_slot_bucket(js, bucket)

    assert (await js.stream_info(f"KV_{bucket}")).config.allow_direct
    assert (await reopened.get("batch.x")).value == b"{}"
