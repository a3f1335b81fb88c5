"""The one failure classification: what may pass by itself, what never succeeds, what is a bug."""

from __future__ import annotations

import asyncpg
import grpc
import nats.errors
import nats.js.errors
import pytest
from asyncpg.exceptions import _base as asyncpg_base

from essayflow_runtime.contracts import EventTooLarge, PoisonMessage
from essayflow_runtime.errors import FailedPrecondition, InvalidArgument, Unavailable
from essayflow_runtime.failures import Kind, TransientError, classify, is_invalid, is_transient


def rpc_error(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="peer said so")


def api_error(code: int) -> nats.js.errors.APIError:
    error = nats.js.errors.APIError()
    error.code = code
    return error


TRANSIENT = [
    ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)"),
    ConnectionResetError(),
    OSError("Network is unreachable"),
    TimeoutError(),  # also asyncio.TimeoutError: a pool acquire or wait_for that ran out
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.exceptions.SerializationError("could not serialize access"),
    asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
    asyncpg.InterfaceError("connection is closed"),
    asyncpg.InterfaceError("pool is closing"),
    # A multi-host URL during a failover: the standby answers, no server accepts writes yet.
    asyncpg_base.TargetServerAttributeNotMatched("None of the hosts match the target attribute requirement"),
    nats.errors.TimeoutError(),
    nats.errors.NoRespondersError(),
    nats.errors.ConnectionClosedError(),
    nats.errors.ConnectionReconnectingError(),
    nats.errors.NoServersError(),
    nats.js.errors.ServiceUnavailableError(),
    nats.js.errors.NoStreamResponseError(),
    nats.js.errors.FetchTimeoutError(),
    api_error(503),
    rpc_error(grpc.StatusCode.UNAVAILABLE),
    rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED),
    rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED),
    Unavailable("the class directory could not be asked", reason="CLASS_DIRECTORY_UNAVAILABLE"),
    TransientError("CMS away"),
]

INVALID = [
    PoisonMessage("UNDECODABLE_ENVELOPE"),
    asyncpg.DataError("invalid input syntax for type uuid"),
    asyncpg.exceptions.StringDataRightTruncationError("value too long for type character varying(255)"),
    asyncpg.exceptions.NumericValueOutOfRangeError("integer out of range"),
    asyncpg_base.DataError("invalid input for query argument $1"),  # refused by asyncpg's encoder
    EventTooLarge("the event is too large", reason="EVENT_TOO_LARGE"),
    nats.errors.MaxPayloadError(),
]

UNEXPECTED = [
    RuntimeError("a bug"),
    KeyError("x"),
    AssertionError(),
    asyncpg.exceptions.UndefinedTableError('relation "batches" does not exist'),
    asyncpg.exceptions.UniqueViolationError("duplicate key"),
    asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
    nats.js.errors.BadRequestError(),
    nats.js.errors.NotFoundError(),
    api_error(400),
    rpc_error(grpc.StatusCode.INTERNAL),
    rpc_error(grpc.StatusCode.UNAUTHENTICATED),
    rpc_error(grpc.StatusCode.NOT_FOUND),
    InvalidArgument("bad field", reason="INVALID_ARGUMENT"),
    FailedPrecondition("wrong state", reason="STALE"),
]


@pytest.mark.parametrize("exc", TRANSIENT, ids=repr)
def test_a_dependency_down_or_busy_is_transient(exc: BaseException) -> None:
    assert classify(exc) is Kind.TRANSIENT
    assert is_transient(exc) and not is_invalid(exc)


@pytest.mark.parametrize("exc", INVALID, ids=repr)
def test_input_that_can_never_succeed_is_invalid(exc: BaseException) -> None:
    assert classify(exc) is Kind.INVALID
    assert is_invalid(exc) and not is_transient(exc)


@pytest.mark.parametrize("exc", UNEXPECTED, ids=repr)
def test_anything_else_is_unexpected(exc: BaseException) -> None:
    assert classify(exc) is Kind.UNEXPECTED


def test_a_wrapper_raised_from_a_transient_cause_is_transient() -> None:
    try:
        try:
            raise ConnectionRefusedError(111, "refused")
        except OSError as cause:
            raise RuntimeError("could not fetch the roster") from cause
    except RuntimeError as wrapper:
        assert is_transient(wrapper)


def test_a_wrapper_of_a_bug_stays_unexpected() -> None:
    wrapper = RuntimeError("could not fetch")
    wrapper.__cause__ = KeyError("x")
    assert classify(wrapper) is Kind.UNEXPECTED


def test_an_exception_group_is_transient_only_when_every_member_is() -> None:
    assert is_transient(ExceptionGroup("all down", [ConnectionRefusedError(), nats.errors.TimeoutError()]))
    assert classify(ExceptionGroup("mixed", [ConnectionRefusedError(), RuntimeError()])) is Kind.UNEXPECTED
    assert classify(ExceptionGroup("bad input", [ConnectionRefusedError(), PoisonMessage("X")])) is Kind.INVALID
