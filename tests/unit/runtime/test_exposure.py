"""Fail closed before serving: what a service needs to listen beyond loopback. Pure."""

from __future__ import annotations

import pytest

from essayflow_runtime import exposure
from essayflow_runtime.config import DEV_JWT_SECRET, load_settings
from essayflow_runtime.exposure import UnsafeExposure

PRODUCTION = dict(
    host="0.0.0.0",
    tls_cert_file="server.pem",
    tls_key_file="server.key",
    jwt_secret="x" * 32,
    service_keys_dir="/keys",
)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "[::1]", "localhost"])
def test_loopback_needs_nothing(host: str) -> None:
    assert exposure.problems(load_settings({}, host=host)) == []


@pytest.mark.parametrize("host", ["0.0.0.0", "", "::", "10.0.0.7", "bos.internal"])
def test_every_other_host_counts_as_exposed(host: str) -> None:
    assert exposure.problems(load_settings({}, host=host))


def test_a_production_setup_passes() -> None:
    assert exposure.problems(load_settings({}, **PRODUCTION)) == []
    with_public_key = {**PRODUCTION, "jwt_secret": DEV_JWT_SECRET, "user_token_public_key_file": "users.pub"}
    assert exposure.problems(load_settings({}, **with_public_key)) == []


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (dict(jwt_secret=DEV_JWT_SECRET), "development secret"),
        (dict(jwt_secret="x" * 31), "31 bytes; HS256 needs at least 32"),
        (dict(tls_cert_file="", tls_key_file=""), "plaintext"),
        (dict(service_keys_dir=""), "development keys"),
    ],
    ids=["dev-secret", "short-secret", "no-tls", "dev-service-keys"],
)
def test_each_missing_protection_is_named(change: dict[str, str], said: str) -> None:
    settings = load_settings({}, **{**PRODUCTION, **change})
    with pytest.raises(UnsafeExposure, match=said) as refused:
        exposure.check(settings, "bos")
    assert "bos refuses to listen on 0.0.0.0" in str(refused.value)
    assert "ESSAYFLOW_INSECURE_LAB" in str(refused.value)


def test_the_lab_setting_starts_anyway_and_warns(capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings({"ESSAYFLOW_INSECURE_LAB": "1"}, host="0.0.0.0")
    exposure.check(settings, "bos")  # no refusal
    captured = capsys.readouterr()  # wherever logging is configured to go
    assert "ESSAYFLOW_INSECURE_LAB is set" in captured.out + captured.err


@pytest.mark.parametrize(
    ("address", "refused"),
    [("127.0.0.1:50053", False), ("localhost:1", False), ("[::1]:1", False), ("cms.internal:50053", True),
     ("10.1.2.3:50053", True)],
)  # fmt: skip
def test_a_plaintext_channel_beyond_loopback_is_refused(address: str, refused: bool) -> None:
    settings = load_settings({})
    if refused:
        with pytest.raises(UnsafeExposure, match="in the clear"):
            exposure.check_client(settings, address)
        exposure.check_client(load_settings({}, tls_ca_file="ca.pem"), address)
    else:
        exposure.check_client(settings, address)
