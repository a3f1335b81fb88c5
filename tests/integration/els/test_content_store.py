"""The content store the matcher reads essay texts from."""

from __future__ import annotations

import uuid

import pytest
from nats.js import JetStreamContext

from services.els.content_store import ContentNotFound, ContentStore
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
