"""``essayflow events redrive``: list dead letters by service, subject, reason, event id
or time, and send the chosen ones back to the consumer that dead-lettered them.

A dead letter is re-driven by publishing its original message to
``essayflow.redrive.<durable>`` (only that consumer listens there; it treats the
message as if it came on its original subject) with ``Nats-Msg-Id`` =
``redrive:<dead-letter sequence>``; once JetStream acknowledged the publish the dead
letter is deleted, so a second re-drive finds nothing. A re-drive interrupted between
the two steps repeats the same message id, which JetStream drops inside its duplicate
window, and the consumer's processed-events record (or its derived event ids) makes the
event act at most once in any case.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from rich.table import Table

from essayflow_cli.durations import parse_duration
from essayflow_runtime import contracts
from essayflow_runtime.config import Settings
from essayflow_runtime.consumer import (
    HEADER_CONSUMER,
    HEADER_DELIVERY_COUNT,
    HEADER_DETAIL,
    HEADER_ORIGINAL_SUBJECT,
    HEADER_REASON,
)

# How long one read of the dead letters waits for the next page.
FETCH_TIMEOUT_S = 1.0
PUBLISH_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class DeadLetter:
    sequence: int  # in the dead-letter stream
    service: str
    durable: str
    original_subject: str
    reason: str
    detail: str
    delivery_count: str
    dead_lettered_at: datetime
    event_id: str
    event_type: str
    data: bytes

    def view(self) -> dict[str, object]:
        """A JSON-ready view (without the message bytes)."""
        return {
            "sequence": self.sequence,
            "service": self.service,
            "consumer": self.durable,
            "original_subject": self.original_subject,
            "reason": self.reason,
            "detail": self.detail,
            "delivery_count": self.delivery_count,
            "dead_lettered_at": self.dead_lettered_at.isoformat(),
            "event_id": self.event_id,
            "event_type": self.event_type,
        }


def read_dead_letter(sequence: int, subject: str, headers: dict[str, str], data: bytes, at: datetime) -> DeadLetter:
    service = subject.removeprefix(f"{contracts.DLQ_SUBJECT_PREFIX}.")
    try:
        envelope, _ = contracts.unwrap(data)
        event_id, event_type = envelope.event_id, envelope.event_type
    except contracts.PoisonMessage:  # undecodable: still listed, and re-drivable as it is
        event_id = event_type = ""
    return DeadLetter(
        sequence=sequence,
        service=service,
        durable=headers.get(HEADER_CONSUMER) or contracts.durable_name(service),
        original_subject=headers.get(HEADER_ORIGINAL_SUBJECT, ""),
        reason=headers.get(HEADER_REASON, ""),
        detail=headers.get(HEADER_DETAIL, ""),
        delivery_count=headers.get(HEADER_DELIVERY_COUNT, ""),
        dead_lettered_at=at,
        event_id=event_id,
        event_type=event_type,
        data=data,
    )


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` the rest."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > index
        if index >= len(tokens) or (token != "*" and token != tokens[index]):
            return False
    return len(tokens) == len(wanted)


def parse_moment(text: str, now: datetime) -> datetime:
    """``15m``, ``2h``, ``7d`` (that long before ``now``) or an ISO 8601 time (UTC if no offset)."""
    with contextlib.suppress(ValueError):
        return now - parse_duration(text)
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Selection:
    """Which dead letters to re-drive; an unset criterion matches everything."""

    service: str = ""
    subject: str = ""
    reason: str = ""
    event_ids: frozenset[str] = frozenset()
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, letter: DeadLetter) -> bool:
        return (
            (not self.service or letter.service == self.service)
            and (not self.subject or subject_matches(self.subject, letter.original_subject))
            and (not self.reason or letter.reason == self.reason)
            and (not self.event_ids or letter.event_id in self.event_ids)
            and (self.since is None or letter.dead_lettered_at >= self.since)
            and (self.until is None or letter.dead_lettered_at <= self.until)
        )

    def dlq_filter(self) -> str:
        return contracts.dlq_subject(self.service) if self.service else f"{contracts.DLQ_SUBJECT_PREFIX}.>"


def _letter_of(msg: Msg) -> DeadLetter:
    metadata = msg.metadata
    return read_dead_letter(
        metadata.sequence.stream,
        msg.subject,
        dict(msg.headers or {}),
        msg.data or b"",
        metadata.timestamp,
    )


async def list_dead_letters(settings: Settings, js: JetStreamContext, selection: Selection) -> list[DeadLetter]:
    """Every dead letter the selection matches, oldest first. Read with an ephemeral
    consumer that acknowledges nothing: the dead-letter stream keeps its messages until
    they are re-driven."""
    config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=30.0)
    subscription = await js.pull_subscribe(selection.dlq_filter(), stream=settings.dlq_stream_name, config=config)
    found: list[DeadLetter] = []
    try:
        while ((await subscription.consumer_info()).num_pending or 0) > 0:
            try:
                messages = await subscription.fetch(256, timeout=FETCH_TIMEOUT_S)
            except NatsTimeoutError:
                continue
            found.extend(letter for letter in map(_letter_of, messages) if selection.matches(letter))
    finally:
        await subscription.unsubscribe()
    return sorted(found, key=lambda letter: letter.sequence)


class NotRedrivable(Exception):
    """A dead letter that does not say where it came from."""


async def redrive_one(settings: Settings, js: JetStreamContext, letter: DeadLetter) -> None:
    """Back to its consumer, acknowledged by JetStream, then out of the dead letters."""
    if not letter.original_subject:
        raise NotRedrivable(f"dead letter {letter.sequence} has no {HEADER_ORIGINAL_SUBJECT} header")
    await js.publish(
        contracts.redrive_subject(letter.durable),
        letter.data,
        headers={HEADER_ORIGINAL_SUBJECT: letter.original_subject, "Nats-Msg-Id": f"redrive:{letter.sequence}"},
        timeout=PUBLISH_TIMEOUT_S,
    )
    await js.delete_msg(settings.dlq_stream_name, letter.sequence)


@dataclass(frozen=True)
class Outcome:
    letter: DeadLetter
    error: str = ""  # empty: re-driven (or, in a dry run, would be)


async def redrive(
    settings: Settings, js: JetStreamContext, letters: Iterable[DeadLetter], *, execute: bool
) -> list[Outcome]:
    """Re-drive each letter (only when ``execute``); one that fails does not stop the rest."""
    outcomes = []
    for letter in letters:
        if not execute:
            outcomes.append(Outcome(letter))
            continue
        try:
            await redrive_one(settings, js, letter)
        except Exception as exc:  # reported per letter; the command exits 1
            outcomes.append(Outcome(letter, error=str(exc) or type(exc).__name__))
        else:
            outcomes.append(Outcome(letter))
    return outcomes


def report(outcomes: list[Outcome], *, execute: bool) -> dict[str, object]:
    """The outcomes for ``--output json``."""
    failed = sum(1 for o in outcomes if o.error)
    return {
        "dry_run": not execute,
        "matched": len(outcomes),
        "redriven": len(outcomes) - failed if execute else 0,
        "failed": failed,
        "dead_letters": [{**o.letter.view(), **({"error": o.error} if o.error else {})} for o in outcomes],
    }


def table(outcomes: list[Outcome], *, execute: bool) -> Table:
    """The outcomes as a table (dry run: what would be re-driven)."""
    table = Table(title="dead letters" + ("" if execute else " (dry run)"))
    for column in ("seq", "service", "original subject", "reason", "event id", "event type", "at", "result"):
        table.add_column(column, no_wrap=True)
    for outcome in outcomes:
        letter = outcome.letter
        result = f"failed: {outcome.error}" if outcome.error else ("re-driven" if execute else "would re-drive")
        table.add_row(
            str(letter.sequence),
            letter.service,
            letter.original_subject or "-",
            letter.reason,
            letter.event_id or "-",
            letter.event_type.rpartition(".")[2] or "-",
            letter.dead_lettered_at.isoformat(timespec="seconds"),
            result,
        )
    return table
