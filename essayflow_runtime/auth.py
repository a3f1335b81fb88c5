"""Bearer-token authentication: who is calling, and in which role.

Tokens are JWTs (HS256) with ``sub`` (the user or service id) and ``role``. The
interceptor in :mod:`essayflow_runtime.grpc_server` verifies them on every call and
puts the :class:`Principal` in a context variable for the servicer.
"""

from __future__ import annotations

import contextvars
import enum
import time
from dataclasses import dataclass
from functools import lru_cache

import jwt

from essayflow_runtime.config import Settings
from essayflow_runtime.errors import Unauthenticated


class Role(enum.StrEnum):
    TEACHER = "teacher"
    SERVICE = "service"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role

    @property
    def is_privileged(self) -> bool:
        """Services and admins act on any batch or class."""
        return self.role in (Role.SERVICE, Role.ADMIN)

    @property
    def actor(self) -> str:
        return f"service:{self.subject}" if self.role is Role.SERVICE else self.subject


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "essayflow_principal", default=None
)


def current_principal() -> Principal:
    principal = _current.get()
    if principal is None:
        raise Unauthenticated("no authenticated caller", reason="UNAUTHENTICATED")
    return principal


def set_current_principal(principal: Principal | None) -> contextvars.Token[Principal | None]:
    return _current.set(principal)


def mint_token(settings: Settings, subject: str, role: Role | str, ttl_s: float = 12 * 3600) -> str:
    now = int(time.time())
    claims = {
        "sub": subject,
        "role": Role(role).value,
        "iss": settings.jwt_issuer,
        "iat": now,
        "exp": now + int(ttl_s),
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def verify_token(settings: Settings, token: str) -> Principal:
    principal, expires_at = _verified(token, settings.jwt_secret, settings.jwt_issuer)
    if expires_at <= time.time():
        raise Unauthenticated("the token has expired", reason="TOKEN_EXPIRED")
    return principal


@lru_cache(maxsize=4096)
def _verified(token: str, secret: str, issuer: str) -> tuple[Principal, float]:
    """Signature and claims checked once per token: a client sends the same token on
    every call, and HMAC plus JSON decoding showed up in RPC profiles. Expiry is still
    checked on every call by the caller; failures raise, so they are never cached."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=issuer,
            options={"require": ["sub", "exp", "role"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("the token has expired", reason="TOKEN_EXPIRED") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthenticated(f"the token is invalid: {exc}", reason="TOKEN_INVALID") from exc
    try:
        role = Role(claims["role"])
    except ValueError as exc:
        raise Unauthenticated("the token names an unknown role", reason="TOKEN_INVALID") from exc
    return Principal(subject=str(claims["sub"]), role=role), float(claims["exp"])


def principal_from_metadata(settings: Settings, metadata: dict[str, str]) -> Principal:
    header = metadata.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated(
            "missing bearer token (metadata 'authorization: Bearer <jwt>')",
            reason="MISSING_TOKEN",
        )
    return verify_token(settings, token.strip())
