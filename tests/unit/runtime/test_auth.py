"""Bearer tokens: minted, verified, refused."""

from __future__ import annotations

import time

import jwt
import pytest

from essayflow_runtime.auth import Principal, Role, mint_token, principal_from_metadata, verify_token
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
        (mint_token(SETTINGS, "x", Role.TEACHER, ttl_s=-10), "TOKEN_EXPIRED"),
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
