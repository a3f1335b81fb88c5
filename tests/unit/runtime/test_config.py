"""The one configuration loader."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from essayflow_runtime import stackfile
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


def _record(data_dir: Path, **extra: object) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    stackfile.write(
        data_dir,
        {
            "pid": os.getpid(),
            "bos": "127.0.0.1:6001",
            "els": "127.0.0.1:6002",
            "cms": "127.0.0.1:6003",
            "nlp": "127.0.0.1:6004",
            "nats_url": "nats://127.0.0.1:6005",
            "database_url": "postgresql://postgres@127.0.0.1:6006/postgres",
            "metrics_base_port": 6010,
            **extra,
        },
    )


def test_the_running_stack_is_the_lowest_precedence_source(tmp_path: Path) -> None:
    _record(tmp_path)
    found = load_settings({"ESSAYFLOW_DATA_DIR": str(tmp_path)}, discover=True)
    assert (found.bos_port, found.els_port, found.cms_port, found.nlp_port) == (6001, 6002, 6003, 6004)
    assert found.cms_address == "127.0.0.1:6003" and found.metrics_base_port == 6010
    assert found.nats_url == "nats://127.0.0.1:6005"
    assert found.database_url.endswith(":6006/postgres")
    # A variable beats the file, a flag (keyword override) beats both.
    env = {"ESSAYFLOW_DATA_DIR": str(tmp_path), "ESSAYFLOW_BOS_PORT": "7001", "ESSAYFLOW_NATS_URL": "nats://h:1"}
    assert load_settings(env, discover=True).bos_port == 7001
    assert load_settings(env, discover=True).nats_url == "nats://h:1"
    assert load_settings(env, discover=True, bos_port=8001).bos_port == 8001


def test_an_explicit_environment_does_not_discover_and_a_dead_stack_is_ignored(tmp_path: Path) -> None:
    _record(tmp_path)
    assert load_settings({"ESSAYFLOW_DATA_DIR": str(tmp_path)}).bos_port == 50051
    _record(tmp_path, pid=_dead_pid())
    assert load_settings({"ESSAYFLOW_DATA_DIR": str(tmp_path)}, discover=True).bos_port == 50051


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_urls_lose_their_secrets_before_they_are_written_or_shown() -> None:
    assert stackfile.without_secret("postgresql://postgres@127.0.0.1:5/p") == "postgresql://postgres@127.0.0.1:5/p"
    assert stackfile.without_secret("postgresql://app:s3cret@db:5432/x") == "postgresql://app@db:5432/x"
    assert stackfile.without_secret("nats://user:pw@n:4222") == "nats://n:4222"
    assert stackfile.without_secret("nats://tok3n@n:4222") == "nats://n:4222"
    assert stackfile.without_secret("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"


def test_one_lock_per_data_directory_naming_its_holder(tmp_path: Path) -> None:
    first = stackfile.DataDirLock(tmp_path).acquire()
    try:
        _record(tmp_path)
        with pytest.raises(stackfile.StackLocked) as refused:
            stackfile.DataDirLock(tmp_path).acquire()
        assert refused.value.holder_pid == os.getpid()
        assert "127.0.0.1:6001" in str(refused.value) and f"pid {os.getpid()}" in str(refused.value)
    finally:
        first.release()
    stackfile.DataDirLock(tmp_path).acquire().release()  # free again once released
