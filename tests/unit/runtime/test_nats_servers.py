"""ESSAYFLOW_NATS_URL with a cluster's servers: a list for nats-py, shown without credentials."""

from __future__ import annotations

from essayflow_runtime.config import load_settings, nats_servers
from essayflow_runtime.stackfile import without_secret


def test_comma_separated_servers_are_a_list() -> None:
    settings = load_settings({"ESSAYFLOW_NATS_URL": "nats://a:4222, nats://b:4222,nats://c:4222"})
    assert nats_servers(settings.nats_url) == ["nats://a:4222", "nats://b:4222", "nats://c:4222"]
    assert nats_servers("nats://a:4222") == ["nats://a:4222"]


def test_each_server_loses_its_credentials_and_a_multi_host_database_url_keeps_its_form() -> None:
    assert without_secret("nats://token@a:4222,nats://u:p@b:4222") == "nats://a:4222,nats://b:4222"
    assert without_secret("postgresql://u:p@h1:5432,h2:5432/db") == "postgresql://u@h1:5432,h2:5432/db"
