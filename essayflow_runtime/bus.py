"""NATS JetStream: the connection and the streams, built from the proto declarations.

``ensure_streams`` is idempotent: a second service starting, or a restart, finds
the streams as they should be and changes nothing.
"""

from __future__ import annotations

import ssl
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from essayflow_runtime import contracts
from essayflow_runtime.config import Settings
from essayflow_runtime.logs import get_logger

log = get_logger(__name__)


async def connect(settings: Settings, name: str) -> NATS:
    """A client that reconnects forever: consumers and relays resume after an outage."""
    options: dict[str, Any] = {
        "servers": [settings.nats_url],
        "name": f"essayflow-{name}",
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 5,
        "allow_reconnect": True,
    }
    if settings.nats_creds_file:
        options["user_credentials"] = settings.nats_creds_file
    if settings.nats_user:
        options["user"] = settings.nats_user
        options["password"] = settings.nats_password
    if settings.nats_token:
        options["token"] = settings.nats_token
    if settings.nats_tls_ca_file:
        context = ssl.create_default_context(cafile=settings.nats_tls_ca_file)
        options["tls"] = context

    async def on_error(exc: Exception) -> None:
        log.warning("nats error", error=str(exc))

    async def on_disconnect() -> None:
        log.warning("nats disconnected")

    async def on_reconnect() -> None:
        log.info("nats reconnected")

    return await nats.connect(error_cb=on_error, disconnected_cb=on_disconnect, reconnected_cb=on_reconnect, **options)


def events_stream_config(settings: Settings) -> StreamConfig:
    return StreamConfig(
        name=settings.stream_name,
        description="essayflow Phase 1 events (subjects from proto event_subject options)",
        subjects=contracts.all_subjects(),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=settings.stream_max_age_s,
        max_bytes=settings.stream_max_bytes,
        discard=DiscardPolicy.OLD,
        duplicate_window=settings.duplicate_window_s,
        num_replicas=settings.stream_replicas,
    )


def dlq_stream_config(settings: Settings) -> StreamConfig:
    return StreamConfig(
        name=settings.dlq_stream_name,
        description="essayflow dead letters, one subject per consuming service",
        subjects=[f"{contracts.DLQ_SUBJECT_PREFIX}.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=settings.stream_max_age_s,
        max_bytes=settings.stream_max_bytes,
        # Dead letters carry a Nats-Msg-Id too: a repeated dead-lettering is one entry.
        duplicate_window=settings.duplicate_window_s,
        num_replicas=settings.stream_replicas,
    )


def _differs(have: StreamConfig, want: StreamConfig) -> bool:
    """Whether a setting we choose differs from the server's (defaults we leave unset never do)."""
    if sorted(have.subjects or []) != sorted(want.subjects or []):
        return True
    chosen = ("duplicate_window", "max_age", "max_bytes", "num_replicas", "description")
    return any(getattr(want, name) is not None and getattr(have, name) != getattr(want, name) for name in chosen)


async def ensure_streams(settings: Settings, js: JetStreamContext) -> None:
    for config in (events_stream_config(settings), dlq_stream_config(settings)):
        assert config.name is not None
        try:
            current = await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
            log.info("stream created", stream=config.name)
            continue
        if _differs(current.config, config):
            await js.update_stream(config)
            log.info("stream updated", stream=config.name)


# How long a publish waits for JetStream's acknowledgement.
PUBLISH_TIMEOUT_S = 5.0


async def publish_sealed(js: JetStreamContext, event: contracts.SealedEvent) -> None:
    """Publish with ``Nats-Msg-Id`` = the event id (JetStream drops a repeat inside its
    duplicate window) and wait for the PubAck."""
    await js.publish(event.subject, event.data, headers={"Nats-Msg-Id": event.event_id}, timeout=PUBLISH_TIMEOUT_S)


async def allow_direct_get(js: JetStreamContext, stream: str) -> bool:
    """Turn on direct get for ``stream`` (a KV bucket's or object store's, made before
    essayflow read them that way); True if it had to be turned on. Direct gets return
    the stored message as it is, without the JSON and base64 wrapping of the
    stream-message API that nats-py decodes on every read."""
    info = await js.stream_info(stream)
    if info.config.allow_direct:
        return False
    info.config.allow_direct = True
    await js.update_stream(info.config)
    log.info("direct get enabled", stream=stream)
    return True


async def allow_msg_ttl(js: JetStreamContext, stream: str) -> bool:
    """Turn on per-message TTLs (``Nats-TTL``, nats-server 2.11+) for ``stream``, a KV
    bucket made before its keys expired; True if it had to be turned on. The server
    allows turning this on for an existing stream, never off."""
    info = await js.stream_info(stream)
    if info.config.allow_msg_ttl:
        return False
    info.config.allow_msg_ttl = True
    await js.update_stream(info.config)
    log.info("per-message TTL enabled", stream=stream)
    return True
