"""The one configuration loader."""

from __future__ import annotations

from essayflow_runtime.config import DEV_JWT_SECRET, load_settings


def test_defaults_work_on_a_developer_machine() -> None:
    settings = load_settings({})
    assert settings.bos_port == 50051 and settings.host == "127.0.0.1"
    assert settings.jwt_secret == DEV_JWT_SECRET
    assert not settings.grpc_tls_enabled


def test_environment_variables_are_read_and_typed() -> None:
    settings = load_settings(
        {
            "ESSAYFLOW_BOS_PORT": "6000",
            "ESSAYFLOW_METRICS_ENABLED": "0",
            "ESSAYFLOW_VALIDATION_DEADLINE_S": "2.5",
            "ESSAYFLOW_REDELIVERY_BACKOFF_S": "0.1, 0.5",
            "ESSAYFLOW_TLS_CERT_FILE": "c.pem",
            "ESSAYFLOW_TLS_KEY_FILE": "k.pem",
        }
    )
    assert settings.bos_port == 6000
    assert settings.metrics_enabled is False
    assert settings.validation_deadline_s == 2.5
    assert settings.redelivery_backoff_s == (0.1, 0.5)
    assert settings.grpc_tls_enabled


def test_keyword_overrides_win_over_the_environment() -> None:
    assert load_settings({"ESSAYFLOW_BOS_PORT": "6000"}, bos_port=7000).bos_port == 7000
