"""The one classification of failures: may it pass by itself, or will it never succeed?

Everything that decides what to do with an exception asks here — the consumer loop
(retry indefinitely, or count towards the dead letters), the gRPC interceptor
(UNAVAILABLE, INVALID_ARGUMENT or INTERNAL) and the outbox relay:

- **transient** — infrastructure that is down, restarting or overloaded: the database
  connection lost or refused, NATS timeouts, no responders or a closed connection,
  JetStream "temporarily unavailable", a peer answering UNAVAILABLE, DEADLINE_EXCEEDED
  or RESOURCE_EXHAUSTED, any OSError (refused, reset, unreachable) or timeout, no server
  of a multi-host URL accepting writes (a failover under way).
  Waiting and trying again is the answer; it never makes an input poison.
- **invalid** — the input can never succeed: a :class:`PoisonMessage`, a value the
  database refuses (``asyncpg.DataError`` and its subclasses), an event too large for
  the bus (:class:`EventTooLarge`, NATS ``MaxPayloadError``): the same input makes the
  same event every time.
- **unexpected** — everything else, most likely a bug. The consumer retries it a few
  times (it may be a race) and then dead-letters it with its reason.
"""

from __future__ import annotations

import asyncio
import enum

import asyncpg
import grpc
import nats.errors
import nats.js.errors
from asyncpg.exceptions import _base as asyncpg_base

from essayflow_runtime.contracts import EventTooLarge, PoisonMessage
from essayflow_runtime.errors import DomainError


class TransientError(Exception):
    """Raised by code that knows its failure may pass (a peer or store briefly away)."""


class Kind(enum.Enum):
    TRANSIENT = "transient"
    INVALID = "invalid"
    UNEXPECTED = "unexpected"


TRANSIENT_GRPC_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
)

# SQLSTATE classes and codes that describe the server, not the statement:
# 08 connection exception, 53 insufficient resources (too many connections, out of
# memory or disk), 57P01..57P05 admin/crash shutdown, cannot connect now, idle timeouts;
# 40001 / 40P01 serialization failure and deadlock (the transaction may simply be run again).
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "53", "57P", "40001", "40P01", "58030")

_TRANSIENT_NATS = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionDrainingError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.NoServersError,
    nats.errors.SlowConsumerError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.NoStreamResponseError,
)

# asyncpg.InterfaceError also means API misuse (a bug); only these say the connection went away.
_CLOSED_CONNECTION_MESSAGES = ("connection is closed", "pool is closed", "pool is closing", "connection was closed")


def classify(exc: BaseException) -> Kind:
    """What kind of failure ``exc`` is (see the module docstring)."""
    if isinstance(exc, BaseExceptionGroup):
        kinds = {classify(inner) for inner in exc.exceptions}
        if kinds == {Kind.TRANSIENT}:
            return Kind.TRANSIENT
        return Kind.INVALID if Kind.INVALID in kinds else Kind.UNEXPECTED
    if isinstance(exc, TransientError):
        return Kind.TRANSIENT
    if isinstance(
        exc, PoisonMessage | EventTooLarge | nats.errors.MaxPayloadError | asyncpg.DataError | asyncpg_base.DataError
    ):
        return Kind.INVALID
    if isinstance(exc, DomainError):
        return Kind.TRANSIENT if exc.code in TRANSIENT_GRPC_CODES else Kind.UNEXPECTED
    if isinstance(exc, grpc.aio.AioRpcError):
        return Kind.TRANSIENT if exc.code() in TRANSIENT_GRPC_CODES else Kind.UNEXPECTED
    if isinstance(exc, asyncpg.PostgresError):
        sqlstate = str(getattr(exc, "sqlstate", "") or "")
        return Kind.TRANSIENT if sqlstate.startswith(_TRANSIENT_SQLSTATE_PREFIXES) else Kind.UNEXPECTED
    if isinstance(exc, asyncpg_base.TargetServerAttributeNotMatched):
        # A multi-host URL found servers but none accepting writes: a failover under way
        # (the primary gone, the standby not yet promoted).
        return Kind.TRANSIENT
    if isinstance(exc, asyncpg.InterfaceError):
        message = str(exc).lower()
        if any(text in message for text in _CLOSED_CONNECTION_MESSAGES):
            return Kind.TRANSIENT
        return Kind.UNEXPECTED
    if isinstance(exc, _TRANSIENT_NATS):
        return Kind.TRANSIENT
    if isinstance(exc, nats.js.errors.APIError):
        # 503: JetStream temporarily unavailable (no quorum, restarting); 408: request timed out.
        return Kind.TRANSIENT if exc.code in (503, 408) else Kind.UNEXPECTED
    # OSError covers ConnectionError (refused, reset) and, from Python 3.11, TimeoutError
    # which asyncio.TimeoutError (a pool acquire or wait_for timing out) is.
    if isinstance(exc, OSError | asyncio.TimeoutError):
        return Kind.TRANSIENT
    # A wrapper raised ``from`` a transient cause (e.g. "could not fetch X" from a refused
    # connection) is as transient as its cause.
    if exc.__cause__ is not None and exc.__cause__ is not exc:
        return Kind.TRANSIENT if classify(exc.__cause__) is Kind.TRANSIENT else Kind.UNEXPECTED
    return Kind.UNEXPECTED


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a dependency being down or busy, so trying again later may succeed."""
    return classify(exc) is Kind.TRANSIENT


def is_invalid(exc: BaseException) -> bool:
    """Whether ``exc`` says the input itself can never succeed."""
    return classify(exc) is Kind.INVALID
