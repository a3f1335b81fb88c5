"""NATS JetStream: the connection and the streams, built from the proto declarations.

``ensure_streams`` is idempotent: a second service starting, or a restart, finds
the streams as they should be and changes nothing.
"""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Sequence
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError

from essayflow_runtime import contracts
from essayflow_runtime.config import Settings, nats_servers
from essayflow_runtime.logs import get_logger

log = get_logger(__name__)


def credentials(settings: Settings) -> dict[str, Any]:
    """nats.connect options for the configured credentials and TLS (none in development)."""
    options: dict[str, Any] = {}
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
    return options


async def connect(settings: Settings, name: str) -> NATS:
    """A client that reconnects forever: consumers and relays resume after an outage.
    Several servers (``ESSAYFLOW_NATS_URL`` comma-separated, a cluster) are tried in turn,
    and on a reconnect also the ones the cluster announces."""
    options: dict[str, Any] = {
        "servers": nats_servers(settings.nats_url),
        "name": f"essayflow-{name}",
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 5,
        "allow_reconnect": True,
        **credentials(settings),
    }

    async def on_error(exc: Exception) -> None:
        log.warning("nats error", error=str(exc))

    async def on_disconnect() -> None:
        log.warning("nats disconnected")

    async def on_reconnect() -> None:
        log.info("nats reconnected")

    nc = await nats.connect(error_cb=on_error, disconnected_cb=on_disconnect, reconnected_cb=on_reconnect, **options)
    # Events are sealed (and refused when too large) before they commit, long before a publish.
    contracts.set_max_payload(nc.max_payload)
    return nc


def events_stream_config(settings: Settings) -> StreamConfig:
    """Interest retention: an event stays until every durable consumer whose filter
    matches it acknowledged it (an event no consumer declares is for live watchers only
    and is not kept). No age limit; the size limit discards NEW, so a full stream refuses
    publishes (the outbox holds its rows back, a stateless relay naks and retries) and
    never deletes an event a consumer has not processed."""
    return StreamConfig(
        name=settings.stream_name,
        description="essayflow Phase 1 events (subjects from proto event_subject options)",
        subjects=[*contracts.all_subjects(), f"{contracts.REDRIVE_SUBJECT_PREFIX}.>"],
        retention=RetentionPolicy.INTEREST,
        storage=StorageType.FILE,
        max_age=0.0,
        max_bytes=settings.stream_max_bytes,
        discard=DiscardPolicy.NEW,
        duplicate_window=settings.duplicate_window_s,
        num_replicas=settings.stream_replicas,
    )


def dlq_stream_config(settings: Settings) -> StreamConfig:
    """Dead letters stay until re-driven (``essayflow events redrive`` deletes what it
    re-drove): no age limit; when the size limit is reached the stream refuses new dead
    letters and the consumer keeps the message and retries instead of dropping it."""
    return StreamConfig(
        name=settings.dlq_stream_name,
        description="essayflow dead letters, one subject per consuming service",
        subjects=[f"{contracts.DLQ_SUBJECT_PREFIX}.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=0.0,
        max_bytes=settings.dlq_max_bytes,
        discard=DiscardPolicy.NEW,
        # Dead letters carry a Nats-Msg-Id too: a repeated dead-lettering is one entry.
        duplicate_window=settings.duplicate_window_s,
        num_replicas=settings.stream_replicas,
    )


def consumer_config(
    settings: Settings, service: str, subjects: Sequence[str], *, durable: str | None = None
) -> ConsumerConfig:
    """The one durable consumer configuration: what a service's Consumer ensures, and what
    ensure_streams creates for every consumer proto declares. It listens on its event
    subjects and on its own re-drive subject."""
    name = durable or contracts.durable_name(service)
    return ConsumerConfig(
        durable_name=name,
        description=f"essayflow {service}",
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait_s,
        # Unlimited on the server: the delivery limit is enforced by the consumer loop, so
        # the last failing delivery is dead-lettered instead of silently dropped.
        max_deliver=-1,
        # Always several subjects (at least one event and the re-drive subject): nats-server 2.10+.
        filter_subjects=sorted({*subjects, contracts.redrive_subject(name)}),
        max_ack_pending=1000,
    )


def declared_consumer_config(settings: Settings, service: str) -> ConsumerConfig:
    """``service``'s consumer as proto declares it (the events naming it as a consumer)."""
    return consumer_config(settings, service, [t.subject for t in contracts.consumed_by(service)])


def _differs(have: StreamConfig, want: StreamConfig) -> bool:
    """Whether a setting we choose differs from the server's (defaults we leave unset never do)."""
    if sorted(have.subjects or []) != sorted(want.subjects or []):
        return True
    chosen = ("duplicate_window", "max_age", "max_bytes", "num_replicas", "description", "retention", "discard")
    return any(getattr(want, name) is not None and getattr(have, name) != getattr(want, name) for name in chosen)


async def _ensure_stream(js: JetStreamContext, config: StreamConfig, *, keep_retention: bool = False) -> None:
    """Create or update ``config``'s stream. ``keep_retention``: a new stream starts with
    limits retention and an existing one keeps its retention (see ensure_streams)."""
    assert config.name is not None
    try:
        current = await js.stream_info(config.name)
    except NotFoundError:
        try:
            first = dataclasses.replace(config, retention=RetentionPolicy.LIMITS) if keep_retention else config
            await js.add_stream(first)
            log.info("stream created", stream=config.name)
            return
        except BadRequestError:  # another service created it a moment ago
            current = await js.stream_info(config.name)
    want = dataclasses.replace(config, retention=current.config.retention) if keep_retention else config
    if _differs(current.config, want):
        await js.update_stream(want)
        log.info("stream updated", stream=config.name, retention=str(want.retention), discard=str(want.discard))


async def ensure_declared_consumers(settings: Settings, js: JetStreamContext) -> None:
    """Create every durable consumer proto declares that does not exist yet. Under
    interest retention an event published while its consumer does not exist is kept
    for no one, so the consumers must exist before the first publish, not when each
    service first starts. An existing consumer is left as it is: its service's
    Consumer keeps it up to date."""
    for service in contracts.consuming_services():
        config = declared_consumer_config(settings, service)
        assert config.durable_name is not None
        try:
            await js.consumer_info(settings.stream_name, config.durable_name)
        except NotFoundError:
            await js.add_consumer(settings.stream_name, config)
            log.info("consumer created", durable=config.durable_name)


async def ensure_streams(settings: Settings, js: JetStreamContext) -> None:
    """The dead-letter stream, the events stream and its declared consumers.

    A new events stream is created with limits retention, its consumers added, and only
    then switched to interest retention; an existing limits stream (made before essayflow
    chose interest) is migrated the same way: nats-server allows limits ↔ interest on a
    live stream, and the switch drops what every consumer has acknowledged and what no
    consumer is interested in, so the consumers must exist first."""
    await _ensure_stream(js, dlq_stream_config(settings))
    events = events_stream_config(settings)
    await _ensure_stream(js, events, keep_retention=True)
    await ensure_declared_consumers(settings, js)
    await _ensure_stream(js, events)


async def record_history(settings: Settings, js: JetStreamContext, name: str) -> None:
    """Keep every event on the stream from now on, for a reader of its history (tests,
    benchmarks, an operator investigating): a durable consumer of every subject that is
    never read and never acknowledges, so interest retention keeps what it would
    otherwise drop. Delete the consumer (``js.delete_consumer``) to let go of them."""
    await ensure_streams(settings, js)
    config = ConsumerConfig(
        durable_name=name,
        description="keeps the stream's history while it exists",
        deliver_policy=DeliverPolicy.NEW,
        ack_policy=AckPolicy.EXPLICIT,
    )
    await js.add_consumer(settings.stream_name, config)


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


async def ensure_replicas(js: JetStreamContext, stream: str, replicas: int) -> bool:
    """Give ``stream`` (a KV bucket's or object store's, made before the configured replica
    count changed) ``replicas`` copies; True if it had to change. On a cluster, the server
    copies the data to the new replicas itself."""
    info = await js.stream_info(stream)
    if info.config.num_replicas == replicas:
        return False
    info.config.num_replicas = replicas
    await js.update_stream(info.config)
    log.info("stream replicas changed", stream=stream, replicas=replicas)
    return True
