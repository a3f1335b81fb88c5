"""Essay texts in a JetStream object store, addressed by their content.

``text_storage_id`` is the sha256 (hex) of the text's UTF-8 bytes, so the same text
stored twice is one object and a reader can trust that the id names exactly that
text. Shared by ELS (which stores uploads) and the matcher (which reads them)::

    store = ContentStore(js, settings.content_bucket)
    text_storage_id = await store.put(text)
    text = await store.get(text_storage_id)
"""

from __future__ import annotations

import base64
import hashlib
import json

from nats.js import JetStreamContext
from nats.js.api import ObjectInfo, ObjectStoreConfig, StorageType
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.object_store import OBJ_CHUNKS_PRE_TEMPLATE, OBJ_META_PRE_TEMPLATE, OBJ_STREAM_TEMPLATE, ObjectStore

from essayflow_runtime import bus
from services.els.content_rules import is_text_storage_id, text_storage_id


class ContentNotFound(LookupError):
    """No text is stored under this id."""

    def __init__(self, text_storage_id: str, bucket: str) -> None:
        super().__init__(f"no essay text {text_storage_id!r} in content bucket {bucket!r}")
        self.text_storage_id = text_storage_id


class ContentStore:
    def __init__(self, js: JetStreamContext, bucket: str, *, replicas: int | None = None) -> None:
        """``replicas``: the bucket's copies (1 when None) when it is created, and what an
        existing bucket is changed to when given (a reader passes None and changes nothing)."""
        self._js = js
        self._bucket_name = bucket
        self._replicas = replicas
        self._bucket: ObjectStore | None = None

    @property
    def bucket(self) -> str:
        return self._bucket_name

    async def ensure(self) -> None:
        """Open the bucket, creating it if this is the first process to need it."""
        await self._objects()

    async def put(self, text: str) -> str:
        """Store ``text`` (once) and return its ``text_storage_id``."""
        key = text_storage_id(text)
        objects = await self._objects()
        if await self._info(key) is None:
            await objects.put(key, text.encode("utf-8"))
        return key

    async def get(self, text_storage_id: str) -> str:
        """The text stored under ``text_storage_id``; :class:`ContentNotFound` if none."""
        if not is_text_storage_id(text_storage_id):
            raise ContentNotFound(text_storage_id, self._bucket_name)
        info = await self._info(text_storage_id)
        if info is None:
            raise ContentNotFound(text_storage_id, self._bucket_name)
        try:
            if info.chunks == 1 and info.nuid:
                # An essay fits one chunk: read it with one direct get instead of the
                # ordered consumer ObjectStore.get creates per object (costly under load).
                chunk = await self._js.get_last_msg(
                    self._stream, OBJ_CHUNKS_PRE_TEMPLATE.format(bucket=self._bucket_name, obj=info.nuid), direct=True
                )
                data = bytes(chunk.data or b"")
            else:
                data = bytes((await (await self._objects()).get(text_storage_id)).data or b"")
        except NotFoundError as exc:
            raise ContentNotFound(text_storage_id, self._bucket_name) from exc
        # The id is the text's sha256: what we read must be exactly what was stored.
        if hashlib.sha256(data).hexdigest() != text_storage_id:
            raise ContentNotFound(text_storage_id, self._bucket_name)
        return data.decode("utf-8")

    async def delete(self, text_storage_id: str) -> bool:
        """Delete the text (its chunks are purged; a meta record marked deleted stays,
        naming only the hash). False if there was none: deleting twice is harmless."""
        if await self._info(text_storage_id) is None:
            return False
        try:
            await (await self._objects()).delete(text_storage_id)
        except NotFoundError:
            return False
        return True

    async def exists(self, text_storage_id: str) -> bool:
        if not is_text_storage_id(text_storage_id):
            return False
        return await self._info(text_storage_id) is not None

    async def _info(self, key: str) -> ObjectInfo | None:
        """The object's description, None if there is none (or it was deleted).

        Read with a direct get (nats-py object stores allow it): ObjectStore.get_info
        goes through the stream-message API, whose JSON and base64 wrapping nats-py
        decodes on every call, on every upload."""
        await self._objects()  # the bucket exists
        name = base64.urlsafe_b64encode(key.encode()).decode()
        try:
            meta = await self._js.get_last_msg(
                self._stream, OBJ_META_PRE_TEMPLATE.format(bucket=self._bucket_name, obj=name), direct=True
            )
        except NotFoundError:
            return None
        info = ObjectInfo.from_response(json.loads(meta.data or b"{}"))
        return None if info.deleted else info

    @property
    def _stream(self) -> str:
        return OBJ_STREAM_TEMPLATE.format(bucket=self._bucket_name)

    async def _objects(self) -> ObjectStore:
        if self._bucket is None:
            try:
                self._bucket = await self._js.object_store(self._bucket_name)
            except BucketNotFoundError:
                # Creating a bucket that another process just created with the same
                # configuration succeeds, so racing first starts are harmless.
                self._bucket = await self._js.create_object_store(
                    config=ObjectStoreConfig(
                        bucket=self._bucket_name,
                        description="essayflow essay texts by sha256",
                        storage=StorageType.FILE,
                        replicas=self._replicas or 1,
                    ),
                    bucket=self._bucket_name,
                )
            await bus.allow_direct_get(self._js, self._stream)
            if self._replicas is not None:
                await bus.ensure_replicas(self._js, self._stream, self._replicas)
        return self._bucket
