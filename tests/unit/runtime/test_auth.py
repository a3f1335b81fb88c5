"""Bearer tokens: minted, verified, refused."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from essayflow_runtime import auth
from essayflow_runtime.auth import (
    Principal,
    Role,
    mint_service_token,
    mint_token,
    principal_from_metadata,
    verify_token,
)
from essayflow_runtime.config import load_settings
from essayflow_runtime.errors import Unauthenticated

SETTINGS = load_settings(jwt_secret="unit-test-secret")


def test_a_minted_token_verifies_to_its_subject_and_role() -> None:
    token = mint_token(SETTINGS, "teacher-1", Role.TEACHER)
    assert verify_token(SETTINGS, token) == Principal("teacher-1", Role.TEACHER)
    assert principal_from_metadata(SETTINGS, {"authorization": f"Bearer {token}"}).subject == "teacher-1"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (mint_token(load_settings(jwt_secret="other"), "x", Role.ADMIN), "TOKEN_INVALID"),
        (mint_token(load_settings(jwt_secret="unit-test-secret", jwt_issuer="else"), "x", Role.ADMIN), "TOKEN_INVALID"),
        (jwt.encode({"sub": "x", "role": "janitor", "iss": "essayflow", "exp": time.time() + 86400},
                    "unit-test-secret", algorithm="HS256"), "TOKEN_INVALID"),
        (mint_token(SETTINGS, "x", Role.TEACHER, ttl_s=-(SETTINGS.token_leeway_s + 10)), "TOKEN_EXPIRED"),
        ("not.a.jwt", "TOKEN_INVALID"),
    ],
    ids=["forged", "other-issuer", "unknown-role", "expired", "garbage"],
)  # fmt: skip
def test_bad_tokens_are_refused_with_a_reason(token: str, reason: str) -> None:
    with pytest.raises(Unauthenticated) as refused:
        verify_token(SETTINGS, token)
    assert refused.value.reason == reason


def test_a_cached_token_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    token = mint_token(SETTINGS, "teacher-2", Role.TEACHER, ttl_s=60)
    assert verify_token(SETTINGS, token).subject == "teacher-2"
    later = time.time() + 120
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(Unauthenticated) as refused:
        verify_token(SETTINGS, token)
    assert refused.value.reason == "TOKEN_EXPIRED"


@pytest.mark.parametrize("header", ["", "Bearer", "Basic abc", "bearer "])
def test_a_missing_bearer_token_is_unauthenticated(header: str) -> None:
    with pytest.raises(Unauthenticated) as refused:
        principal_from_metadata(SETTINGS, {"authorization": header} if header else {})
    assert refused.value.reason == "MISSING_TOKEN"


# -- two trust domains ---------------------------------------------------------------------------


def test_a_service_token_verifies_only_at_its_audience() -> None:
    token = mint_service_token(SETTINGS, "bos", "cms")
    assert verify_token(SETTINGS, token, audience="cms") == Principal("bos", Role.SERVICE)
    for elsewhere in ("els", "nlp", None):
        with pytest.raises(Unauthenticated) as refused:
            verify_token(SETTINGS, token, audience=elsewhere)
        assert refused.value.reason == "TOKEN_INVALID"


def _signed_by_service(name: str, claims: dict[str, object], kid: str | None = None) -> str:
    """A token signed with service ``name``'s own (development) key, claiming anything."""
    key = auth._private_key(SETTINGS.service_keys_dir, name)
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims, key, algorithm="EdDSA", headers=headers)


def _claims(**extra: object) -> dict[str, object]:
    now = int(time.time())
    return {"iss": "essayflow", "iat": now, "nbf": now, "exp": now + 60, **extra}


@pytest.mark.parametrize(
    ("claims", "kid"),
    [
        (dict(sub="bos", role="admin", aud="cms"), "service:bos"),
        (dict(sub="root", role="admin", aud="cms"), "service:bos"),
        (dict(sub="teacher-1", role="teacher"), None),
        (dict(sub="teacher-1", role="teacher"), "users"),
        (dict(sub="nlp", role="service", aud="cms"), "service:nlp"),
        (dict(sub="nlp", role="service", aud="cms"), "service:bos"),
    ],
    ids=["own-name-as-admin", "admin", "teacher-without-kid", "teacher-other-kid", "other-service-kid", "other-sub"],
)
def test_a_service_key_cannot_sign_anyone_else(claims: dict[str, object], kid: str | None) -> None:
    """What a compromised BOS could sign: none of it passes, as a user token or as another service."""
    token = _signed_by_service("bos", _claims(**claims), kid=kid)  # signed now, not at collection
    for audience in ("cms", None):
        with pytest.raises(Unauthenticated) as refused:
            verify_token(SETTINGS, token, audience=audience)
        assert refused.value.reason == "TOKEN_INVALID"


def test_the_user_token_key_cannot_sign_a_service_token() -> None:
    forged = jwt.encode(_claims(sub="bos", role="service", aud="cms"), "unit-test-secret", algorithm="HS256")
    for audience in ("cms", None):
        with pytest.raises(Unauthenticated) as refused:
            verify_token(SETTINGS, forged, audience=audience)
        assert refused.value.reason == "TOKEN_INVALID"
    with pytest.raises(ValueError, match="mint_service_token"):
        mint_token(SETTINGS, "bos", Role.SERVICE)


def test_a_service_token_that_lives_for_hours_is_refused() -> None:
    token = mint_service_token(SETTINGS, "bos", "cms", ttl_s=12 * 3600)
    with pytest.raises(Unauthenticated) as refused:
        verify_token(SETTINGS, token, audience="cms")
    assert refused.value.reason == "TOKEN_INVALID"
    assert SETTINGS.service_token_ttl_s <= 600  # minutes, by default


def write_keypair(directory: Path, name: str) -> None:
    """``<name>.key`` and ``<name>.pub``, as ``openssl genpkey -algorithm ed25519`` writes them."""
    private = Ed25519PrivateKey.generate()
    encoding, none = serialization.Encoding.PEM, serialization.NoEncryption()
    (directory / f"{name}.key").write_bytes(private.private_bytes(encoding, serialization.PrivateFormat.PKCS8, none))
    public = private.public_key().public_bytes(encoding, serialization.PublicFormat.SubjectPublicKeyInfo)
    (directory / f"{name}.pub").write_bytes(public)


def test_service_keys_from_files(tmp_path: Path) -> None:
    """A production layout: each service its own private key, the peers' public keys."""
    write_keypair(tmp_path, "bos")
    settings = load_settings(jwt_secret="unit-test-secret", service_keys_dir=str(tmp_path))
    assert verify_token(settings, mint_service_token(settings, "bos", "cms"), "cms") == Principal("bos", Role.SERVICE)
    # The development key of the same name is not this deployment's key, and an unknown
    # service has no key at all.
    with pytest.raises(Unauthenticated):
        verify_token(settings, mint_service_token(SETTINGS, "bos", "cms"), "cms")
    with pytest.raises(Unauthenticated, match="no key"):
        verify_token(settings, mint_service_token(SETTINGS, "nlp", "cms"), "cms")


def test_user_tokens_can_be_verified_with_a_public_key_only(tmp_path: Path) -> None:
    write_keypair(tmp_path, "users")
    issuer = load_settings(user_token_private_key_file=str(tmp_path / "users.key"))
    service = load_settings(user_token_public_key_file=str(tmp_path / "users.pub"))
    assert verify_token(service, mint_token(issuer, "teacher-1", Role.TEACHER)) == Principal("teacher-1", Role.TEACHER)
    with pytest.raises(Unauthenticated):  # the HS256 secret no longer signs user tokens here
        verify_token(service, mint_token(SETTINGS, "teacher-1", Role.ADMIN))
    with pytest.raises(ValueError, match="cannot sign"):
        mint_token(service, "teacher-1", Role.TEACHER)


# -- clock skew -----------------------------------------------------------------------------------


@pytest.mark.parametrize("skew_s", [30.0, -30.0], ids=["caller-ahead", "caller-behind"])
def test_thirty_seconds_of_skew_either_way_is_accepted(skew_s: float) -> None:
    """iat/nbf 30 s in the future (a caller ahead), or exp 30 s in the past (a caller behind)."""
    ttl = SETTINGS.service_token_ttl_s
    issued_at = time.time() + skew_s if skew_s > 0 else time.time() - ttl + skew_s
    service = mint_service_token(SETTINGS, "bos", "cms", now=issued_at)
    user = mint_token(SETTINGS, "teacher-1", Role.TEACHER, ttl_s=ttl, now=issued_at)
    assert verify_token(SETTINGS, service, "cms").subject == "bos"
    assert verify_token(SETTINGS, user).subject == "teacher-1"


@pytest.mark.parametrize(
    ("beyond_s", "reason"), [(30.0, "TOKEN_NOT_YET_VALID"), (-30.0, "TOKEN_EXPIRED")], ids=["ahead", "behind"]
)
def test_skew_beyond_the_leeway_is_refused(beyond_s: float, reason: str) -> None:
    leeway, ttl = SETTINGS.token_leeway_s, SETTINGS.service_token_ttl_s
    issued_at = time.time() + leeway + beyond_s if beyond_s > 0 else time.time() - ttl - leeway + beyond_s
    for token, audience in (
        (mint_service_token(SETTINGS, "bos", "cms", now=issued_at), "cms"),
        (mint_token(SETTINGS, "teacher-1", Role.TEACHER, ttl_s=ttl, now=issued_at), None),
    ):
        with pytest.raises(Unauthenticated) as refused:
            verify_token(SETTINGS, token, audience)
        assert refused.value.reason == reason


def test_the_leeway_is_between_thirty_and_sixty_seconds() -> None:
    assert 30 <= SETTINGS.token_leeway_s <= 60


def test_service_tokens_are_reused_then_renewed(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = auth.ServiceTokens(SETTINGS, "bos")
    first = tokens.token("cms")
    assert tokens.token("cms") == first and tokens.token("els") != first
    later = time.time() + SETTINGS.service_token_ttl_s / 2 + 1
    monkeypatch.setattr(time, "time", lambda: later)
    renewed = tokens.token("cms")
    monkeypatch.undo()
    assert renewed != first and jwt.decode(renewed, options={"verify_signature": False})["iat"] >= int(later)
