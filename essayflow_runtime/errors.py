"""Domain errors and their one mapping to gRPC status codes with rich details.

Service code raises these; the server interceptor turns them into a status whose
``grpc-status-details-bin`` trailer carries google.rpc details a client can act on
(ErrorInfo with an UPPER_SNAKE reason, PreconditionFailure, BadRequest).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

ERROR_DOMAIN = "essayflow"


class StartupRefused(Exception):
    """A service will not start as configured; the message says why and what to change.
    The process exits with it, without a traceback."""


@dataclass
class DomainError(Exception):
    """Base of every error a service reports to its caller."""

    message: str
    reason: str = "ERROR"
    metadata: Mapping[str, str] = field(default_factory=dict)

    code: grpc.StatusCode = field(default=grpc.StatusCode.UNKNOWN, init=False)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def details(self) -> list[Message]:
        return [
            error_details_pb2.ErrorInfo(
                reason=self.reason, domain=ERROR_DOMAIN, metadata=dict(self.metadata)
            )
        ]

    def to_status(self) -> status_pb2.Status:
        packed = []
        for detail in self.details():
            any_detail = any_pb2.Any()
            any_detail.Pack(detail)
            packed.append(any_detail)
        return status_pb2.Status(code=self.code.value[0], message=self.message, details=packed)


@dataclass
class NotFound(DomainError):
    code: grpc.StatusCode = field(default=grpc.StatusCode.NOT_FOUND, init=False)


@dataclass
class Unauthenticated(DomainError):
    code: grpc.StatusCode = field(default=grpc.StatusCode.UNAUTHENTICATED, init=False)


@dataclass
class PermissionDenied(DomainError):
    code: grpc.StatusCode = field(default=grpc.StatusCode.PERMISSION_DENIED, init=False)


@dataclass
class Aborted(DomainError):
    """Someone else changed the resource first (stale status or version)."""

    code: grpc.StatusCode = field(default=grpc.StatusCode.ABORTED, init=False)


@dataclass
class Unavailable(DomainError):
    code: grpc.StatusCode = field(default=grpc.StatusCode.UNAVAILABLE, init=False)


@dataclass
class Internal(DomainError):
    """A bug on our side; the message stays generic, the ``error_id`` finds the log line."""

    code: grpc.StatusCode = field(default=grpc.StatusCode.INTERNAL, init=False)


@dataclass
class FailedPrecondition(DomainError):
    """The request is valid but the resource's state forbids it."""

    # (type, subject, description) triples for google.rpc.PreconditionFailure.
    violations: list[tuple[str, str, str]] = field(default_factory=list)
    code: grpc.StatusCode = field(default=grpc.StatusCode.FAILED_PRECONDITION, init=False)

    def details(self) -> list[Message]:
        failure = error_details_pb2.PreconditionFailure(
            violations=[
                error_details_pb2.PreconditionFailure.Violation(
                    type=kind, subject=subject, description=description
                )
                for kind, subject, description in self.violations
            ]
        )
        return [*super().details(), failure]


@dataclass
class InvalidArgument(DomainError):
    """Malformed request; field_violations name each bad field."""

    # (field path, description) pairs for google.rpc.BadRequest.
    field_violations: list[tuple[str, str]] = field(default_factory=list)
    code: grpc.StatusCode = field(default=grpc.StatusCode.INVALID_ARGUMENT, init=False)

    def details(self) -> list[Message]:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=path, description=description)
                for path, description in self.field_violations
            ]
        )
        return [*super().details(), bad_request]


class FieldErrors:
    """Collects every bad field of a request before raising once."""

    def __init__(self) -> None:
        self.violations: list[tuple[str, str]] = []

    def add(self, path: str, description: str) -> None:
        self.violations.append((path, description))

    def check(self, ok: bool, path: str, description: str) -> None:
        if not ok:
            self.add(path, description)

    def raise_if_any(self, message: str = "the request is invalid") -> None:
        if self.violations:
            raise InvalidArgument(message, reason="INVALID_ARGUMENT", field_violations=self.violations)


@dataclass
class ResourceExhausted(DomainError):
    """A limit of the service is reached (ErrorInfo metadata names the limit)."""

    code: grpc.StatusCode = field(default=grpc.StatusCode.RESOURCE_EXHAUSTED, init=False)
