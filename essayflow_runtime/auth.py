"""Bearer-token authentication: who is calling, and in which role.

Two trust domains that never mix:

- **User tokens** (roles ``teacher`` and ``admin``) come from whoever signs in users
  (``essayflow token mint`` in development). They are verified with the user-token key:
  an Ed25519 public key when ``ESSAYFLOW_USER_TOKEN_PUBLIC_KEY_FILE`` is set (then a
  service holds nothing that can sign one), else the HS256 secret
  ``ESSAYFLOW_JWT_SECRET``. A user token can never carry the ``service`` role.
- **Service tokens** (role ``service`` only) are signed by the calling service with a key
  of its own (Ed25519, PyJWT's ``EdDSA``), name the service they are meant for in
  ``aud``, live minutes, and are accepted only by that service. The header's ``kid``
  (``service:<name>``) picks the caller's public key; the verified ``sub`` must be that
  name. A compromised service can therefore sign only its own calls: not a teacher's,
  not an admin's, not another service's.

Service keys come from ``ESSAYFLOW_SERVICE_KEYS_DIR``: ``<name>.key`` (this service's
private key, PKCS#8 PEM) and ``<peer>.pub`` (public keys of the services it accepts).
Without it every key is derived from the development secret (see :func:`_dev_key`):
nothing to set up for ``make run`` and tests, and refused beyond loopback
(:mod:`essayflow_runtime.exposure`).

Every check allows ``ESSAYFLOW_TOKEN_LEEWAY_S`` (60 s) of clock skew on ``iat``, ``nbf``
and ``exp``. The interceptor in :mod:`essayflow_runtime.grpc_server` verifies tokens on
every call and puts the :class:`Principal` in a context variable for the servicer.
"""

from __future__ import annotations

import contextvars
import enum
import hashlib
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from essayflow_runtime.config import DEV_JWT_SECRET, Settings
from essayflow_runtime.errors import Unauthenticated


class Role(enum.StrEnum):
    TEACHER = "teacher"
    SERVICE = "service"
    ADMIN = "admin"


USER_ROLES = frozenset({Role.TEACHER, Role.ADMIN})
SERVICE_KID_PREFIX = "service:"
SERVICE_ALGORITHM = "EdDSA"
DEFAULT_USER_TOKEN_TTL_S = 12 * 3600.0


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


# -- keys --------------------------------------------------------------------------------------


def _dev_key(name: str) -> Ed25519PrivateKey:
    """A service's development key, derived from the development secret and its name.

    Anyone with the repository can derive it, which is the point: every process of a
    development stack (and every test) knows every peer's public key without files or
    setup. It is never derived from a configured secret, so a production user-token
    secret never doubles as service key material, and a service that uses derived keys
    refuses to listen beyond loopback."""
    seed = hashlib.sha256(f"{DEV_JWT_SECRET}|service-key|{name}".encode()).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


@lru_cache(maxsize=64)
def _private_key(keys_dir: str, name: str) -> Ed25519PrivateKey:
    if not keys_dir:
        return _dev_key(name)
    path = Path(keys_dir) / f"{name}.key"
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


@lru_cache(maxsize=256)
def _public_key(keys_dir: str, name: str) -> Ed25519PublicKey | None:
    """The public key of service ``name``, or None when this deployment does not know it
    (read once per process: a new peer's key is seen after a restart)."""
    if not keys_dir:
        return _dev_key(name).public_key()
    if not name or "/" in name or name.startswith("."):  # a name from a token, not a path
        return None
    path = Path(keys_dir) / f"{name}.pub"
    if not path.is_file():
        return None
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    return key


@lru_cache(maxsize=8)
def _user_key_file(path: str, private: bool) -> Ed25519PrivateKey | Ed25519PublicKey:
    """The user-token key pair's half at ``path`` (PEM), read once per process."""
    data = Path(path).read_bytes()
    key = serialization.load_pem_private_key(data, None) if private else serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PrivateKey | Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 key")
    return key


def _user_signing_key(settings: Settings) -> tuple[Any, str]:
    if settings.user_token_private_key_file:
        return _user_key_file(settings.user_token_private_key_file, True), "EdDSA"
    if settings.user_token_public_key_file:
        raise ValueError("user tokens are verified with a public key here; this process cannot sign one")
    return settings.jwt_secret, "HS256"


def _user_verifying_key(settings: Settings) -> tuple[Any, str]:
    if settings.user_token_public_key_file:
        return _user_key_file(settings.user_token_public_key_file, False), "EdDSA"
    if settings.user_token_private_key_file:  # the issuer checks what it signed
        private = _user_key_file(settings.user_token_private_key_file, True)
        assert isinstance(private, Ed25519PrivateKey)
        return private.public_key(), "EdDSA"
    return settings.jwt_secret, "HS256"


# -- minting -----------------------------------------------------------------------------------


def mint_token(
    settings: Settings,
    subject: str,
    role: Role | str,
    ttl_s: float = DEFAULT_USER_TOKEN_TTL_S,
    *,
    now: float | None = None,
) -> str:
    """A user token (teacher or admin) signed with the user-token key. Service tokens are
    :func:`mint_service_token`'s: a user-token key cannot sign one."""
    role = Role(role)
    if role not in USER_ROLES:
        raise ValueError("service tokens are signed by the calling service: use mint_service_token")
    issued = int(time.time() if now is None else now)
    claims = {
        "sub": subject,
        "role": role.value,
        "iss": settings.jwt_issuer,
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(ttl_s),
    }
    key, algorithm = _user_signing_key(settings)
    return jwt.encode(claims, key, algorithm=algorithm)


def mint_service_token(
    settings: Settings,
    caller: str,
    audience: str,
    ttl_s: float | None = None,
    *,
    now: float | None = None,
) -> str:
    """A token for service ``caller``'s calls to service ``audience``, signed with the
    caller's own key (``ESSAYFLOW_SERVICE_KEYS_DIR/<caller>.key``, or its development
    key). Tests use it to call a service as another one."""
    issued = int(time.time() if now is None else now)
    lifetime = int(settings.service_token_ttl_s if ttl_s is None else ttl_s)
    claims = {
        "sub": caller,
        "role": Role.SERVICE.value,
        "aud": audience,
        "iss": settings.jwt_issuer,
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime,
    }
    key = _private_key(settings.service_keys_dir, caller)
    return jwt.encode(claims, key, algorithm=SERVICE_ALGORITHM, headers={"kid": SERVICE_KID_PREFIX + caller})


class ServiceTokens:
    """One service's tokens for its calls to others: minted per audience, reused until
    half their lifetime is gone (the callee's verification cache then hits), never
    held past it."""

    def __init__(self, settings: Settings, caller: str) -> None:
        self._settings = settings
        self._caller = caller
        self._tokens: dict[str, tuple[str, float]] = {}

    def token(self, audience: str) -> str:
        now = time.time()
        cached = self._tokens.get(audience)
        if cached is not None and now < cached[1]:
            return cached[0]
        token = mint_service_token(self._settings, self._caller, audience, now=now)
        self._tokens[audience] = (token, now + self._settings.service_token_ttl_s / 2)
        return token

    def metadata(self, audience: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token(audience)}"),)


# -- verifying ---------------------------------------------------------------------------------


def _invalid(detail: str) -> Unauthenticated:
    return Unauthenticated(f"the token is invalid: {detail}", reason="TOKEN_INVALID")


def _decode(token: str, key: Any, algorithm: str, settings: Settings, audience: str | None) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            issuer=settings.jwt_issuer,
            audience=audience,
            leeway=settings.token_leeway_s,
            options={"require": ["sub", "exp", "role"] + (["aud", "iat", "nbf"] if audience else [])},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("the token has expired", reason="TOKEN_EXPIRED") from exc
    except jwt.ImmatureSignatureError as exc:
        raise Unauthenticated(f"the token is not valid yet: {exc}", reason="TOKEN_NOT_YET_VALID") from exc
    except jwt.InvalidTokenError as exc:
        raise _invalid(str(exc)) from exc
    return claims


def _verify_service_token(
    settings: Settings, token: str, caller: str, audience: str | None
) -> tuple[Principal, float]:
    if not audience:
        raise _invalid("service tokens are accepted only by the service they name")
    key = _public_key(settings.service_keys_dir, caller)
    if key is None:
        raise _invalid(f"no key is known for service {caller!r}")
    claims = _decode(token, key, SERVICE_ALGORITHM, settings, audience)
    if claims.get("role") != Role.SERVICE.value or str(claims["sub"]) != caller:
        raise _invalid("a service key signs only its own service's calls")
    expires_at = float(claims["exp"])
    if expires_at - float(claims["iat"]) > settings.service_token_max_ttl_s:
        raise _invalid(f"a service token may live at most {settings.service_token_max_ttl_s:.0f}s")
    return Principal(subject=caller, role=Role.SERVICE), expires_at


def _verify_user_token(settings: Settings, token: str) -> tuple[Principal, float]:
    key, algorithm = _user_verifying_key(settings)
    claims = _decode(token, key, algorithm, settings, None)
    try:
        role = Role(claims["role"])
    except ValueError as exc:
        raise Unauthenticated("the token names an unknown role", reason="TOKEN_INVALID") from exc
    if role not in USER_ROLES:
        raise _invalid("the user-token key cannot grant the service role")
    return Principal(subject=str(claims["sub"]), role=role), float(claims["exp"])


def verify_token(settings: Settings, token: str, audience: str | None = None) -> Principal:
    """The principal a token proves. ``audience`` is the verifying service's name: only
    tokens minted for it are accepted as service tokens (without one, none are)."""
    principal, expires_at = _cached_verify(token, audience, _Trust(settings))
    if expires_at + settings.token_leeway_s <= time.time():
        raise Unauthenticated("the token has expired", reason="TOKEN_EXPIRED")
    return principal


@dataclass(frozen=True, eq=False)
class _Trust:
    """Settings as a cache key: only the fields verification reads (Settings holds a dict
    and is not hashable)."""

    settings: Settings

    def _fields(self) -> tuple[object, ...]:
        s = self.settings
        return (
            s.jwt_secret,
            s.jwt_issuer,
            s.user_token_public_key_file,
            s.service_keys_dir,
            s.token_leeway_s,
            s.service_token_max_ttl_s,
        )

    def __hash__(self) -> int:
        return hash(self._fields())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Trust) and self._fields() == other._fields()


@lru_cache(maxsize=4096)
def _cached_verify(token: str, audience: str | None, trust: _Trust) -> tuple[Principal, float]:
    """Signature and claims checked once per token: a client sends the same token on
    every call, and signature checks plus JSON decoding showed up in RPC profiles. Expiry
    is still checked on every call by the caller; failures raise, so they are never cached."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise _invalid(str(exc)) from exc
    kid = header.get("kid")
    # The header only picks the key; what a token may prove is fixed by that key's domain.
    if isinstance(kid, str) and kid.startswith(SERVICE_KID_PREFIX):
        return _verify_service_token(trust.settings, token, kid.removeprefix(SERVICE_KID_PREFIX), audience)
    return _verify_user_token(trust.settings, token)


def principal_from_metadata(settings: Settings, metadata: dict[str, str], audience: str | None = None) -> Principal:
    header = metadata.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated(
            "missing bearer token (metadata 'authorization: Bearer <jwt>')",
            reason="MISSING_TOKEN",
        )
    return verify_token(settings, token.strip(), audience)
