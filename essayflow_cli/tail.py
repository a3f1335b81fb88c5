"""``essayflow events tail``: every event on the bus, decoded through the proto
descriptors, and the dead letters with their reason."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Callable
from typing import Any

import nats
import nats.errors
from google.protobuf.json_format import MessageToDict
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from essayflow_runtime import bus, contracts
from essayflow_runtime.config import Settings, nats_servers
from essayflow_runtime.consumer import HEADER_DELIVERY_COUNT, HEADER_ORIGINAL_SUBJECT, HEADER_REASON
from essayflow_runtime.stackfile import without_secret


def describe(msg: Msg) -> dict[str, object]:
    """A JSON-ready view of one message (event or dead letter)."""
    headers = msg.headers or {}
    view: dict[str, object] = {"subject": msg.subject}
    if HEADER_REASON in headers:
        view["dead_letter"] = {
            "reason": headers[HEADER_REASON],
            "original_subject": headers.get(HEADER_ORIGINAL_SUBJECT),
            "delivery_count": headers.get(HEADER_DELIVERY_COUNT),
        }
    try:
        envelope, payload = contracts.unwrap(msg.data or b"")
    except contracts.PoisonMessage as poison:
        view["undecodable"] = poison.reason
        view["bytes"] = len(msg.data or b"")
        return view
    view.update(
        event_type=envelope.event_type,
        event_id=envelope.event_id,
        correlation_id=envelope.correlation_id,
        causation_id=envelope.causation_id,
        source=envelope.source,
        occurred_at=envelope.occurred_at.ToJsonString(),
        payload=MessageToDict(payload, preserving_proto_field_name=True),
    )
    return view


class NoNats(Exception):
    """No NATS is configured and no running stack recorded one."""


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def tail(
    settings: Settings,
    subject: str = ">",
    *,
    dead_letters: bool = False,
    from_start: bool = False,
    limit: int | None = None,
    emit: Callable[[str], None] = print,
    notify: Callable[[str], None] = _to_stderr,
    retry_interval_s: float = 2.0,
) -> int:
    """Print each message on ``subject`` as one JSON line (``emit``) until ``limit`` messages
    (never more) or until cancelled; returns how many were printed.

    What it is doing goes to ``notify`` (stderr), one line per change: waiting for events,
    caught up after a replay, NATS unreachable or lost (it retries every ``retry_interval_s``
    and resumes after the last message it printed, so nothing is shown twice)."""
    if not settings.nats_url:
        raise NoNats("no NATS configured: start the stack (make run) or set ESSAYFLOW_NATS_URL")
    if limit is not None and limit <= 0:
        return 0
    url = without_secret(settings.nats_url)  # as shown: credentials never printed
    stream = settings.dlq_stream_name if dead_letters else settings.stream_name
    if subject == ">":
        subject = f"{contracts.DLQ_SUBJECT_PREFIX}.>" if dead_letters else ">"
    seen = 0
    next_seq: int | None = None  # the stream sequence after the last message printed
    done = asyncio.Event()
    resubscribe = asyncio.Event()
    caught_up = False

    async def on_message(msg: Msg) -> None:
        nonlocal seen, next_seq, caught_up
        if done.is_set():
            return  # the limit is reached: whatever the server had already sent is not printed
        meta = msg.metadata
        if next_seq is not None and meta.sequence.stream < next_seq:
            return  # already printed before a reconnect
        emit(json.dumps(describe(msg), ensure_ascii=False))
        seen += 1
        next_seq = meta.sequence.stream + 1
        if limit is not None and seen >= limit:
            done.set()
        elif from_start and not caught_up and meta.num_pending == 0:
            caught_up = True
            notify(f"replayed what {stream} holds; waiting for new events")

    connected = unreachable = False

    async def on_error(error: Exception) -> None:
        # nats-py calls this for every failed attempt; say it once, before the first connect.
        nonlocal unreachable
        if not connected and not unreachable:
            unreachable = True
            reason = str(error) or type(error).__name__
            notify(f"cannot reach NATS at {url} ({reason}); retrying every {retry_interval_s:g} s, Ctrl-C stops")

    async def on_disconnect() -> None:
        if connected and not done.is_set():
            notify(f"lost NATS at {url}; reconnecting every {retry_interval_s:g} s")

    async def on_reconnect() -> None:
        notify(f"reconnected to NATS at {url}; resuming after the last event shown")
        resubscribe.set()

    client = await nats.connect(
        servers=nats_servers(settings.nats_url),
        name="essayflow-tail",
        connect_timeout=2,
        allow_reconnect=True,
        max_reconnect_attempts=-1,  # also for the first connect: it waits for NATS to come up
        reconnect_time_wait=retry_interval_s,
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        **bus.credentials(settings),
    )
    connected = True
    if unreachable:
        notify(f"connected to NATS at {url}")
    js = client.jetstream()

    async def subscribe() -> Any:
        nonlocal next_seq
        reported = ""
        while True:
            try:
                if next_seq is None and not from_start:
                    next_seq = (await js.stream_info(stream)).state.last_seq + 1
                if next_seq is None:
                    config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
                else:
                    config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=next_seq)
                return await js.subscribe(subject, stream=stream, cb=on_message, config=config, ordered_consumer=True)
            except (nats.errors.Error, OSError, TimeoutError) as error:
                reason = str(error) or type(error).__name__
                if reason != reported:
                    notify(f"cannot read {stream} at {url} ({reason}); retrying every {retry_interval_s:g} s")
                    reported = reason
                await asyncio.sleep(retry_interval_s)

    subscription = await subscribe()
    if from_start:
        notify(f"replaying {subject} from what {stream} holds, then waiting for new events ({url}); Ctrl-C stops")
    else:
        notify(f"waiting for events on {subject} ({stream} at {url}); Ctrl-C stops")
    try:
        while not done.is_set():
            waiters = [asyncio.ensure_future(done.wait()), asyncio.ensure_future(resubscribe.wait())]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
            if resubscribe.is_set() and not done.is_set():
                resubscribe.clear()
                with contextlib.suppress(Exception):
                    await subscription.unsubscribe()
                subscription = await subscribe()
    except asyncio.CancelledError:
        pass
    finally:
        done.set()  # closing below is no lost connection
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()
        with contextlib.suppress(Exception):
            await client.close()
    return seen

