"""The one configuration loader: every setting comes from an ``ESSAYFLOW_*``
environment variable, with a default that works on a developer machine."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

# The development signing secret: fine on 127.0.0.1, refused nowhere, so never
# deploy with it. Production sets ESSAYFLOW_JWT_SECRET.
DEV_JWT_SECRET = "essayflow-development-secret-not-for-production"


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    nats_url: str = ""
    host: str = "127.0.0.1"
    bos_port: int = 50051
    els_port: int = 50052
    cms_port: int = 50053
    nlp_port: int = 50054
    # Prometheus metrics: each service serves on metrics_base_port + its offset (0..3).
    metrics_base_port: int = 9461
    metrics_enabled: bool = True
    jwt_secret: str = DEV_JWT_SECRET
    jwt_issuer: str = "essayflow"
    log_level: str = "INFO"
    log_json: bool = False
    # JetStream: one stream for every event subject declared in proto, one for dead letters.
    stream_name: str = "ESSAYFLOW_EVENTS"
    dlq_stream_name: str = "ESSAYFLOW_DLQ"
    stream_max_age_s: float = 7 * 24 * 3600.0
    stream_max_bytes: int = -1
    stream_replicas: int = 1
    # Longer than the outbox relay's longest retry horizon, so a row republished
    # after a crash is always recognised as a duplicate.
    duplicate_window_s: float = 2 * 3600.0
    # Consumers: deliveries before a message is dead-lettered, and the redelivery backoff.
    max_deliver: int = 5
    redelivery_backoff_s: tuple[float, ...] = (0.2, 1.0, 5.0, 15.0)
    ack_wait_s: float = 30.0
    # Outbox relay.
    outbox_batch_size: int = 256
    outbox_poll_interval_s: float = 1.0
    outbox_max_backoff_s: float = 30.0
    outbox_retention_s: float = 24 * 3600.0
    outbox_prune_interval_s: float = 300.0
    outbox_stats_interval_s: float = 5.0
    # gRPC.
    grpc_max_message_bytes: int = 8 * 1024 * 1024
    grpc_shutdown_grace_s: float = 5.0
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # CA that clients (services calling services, the CLI) verify servers against.
    tls_ca_file: str = ""
    # NATS authentication (optional): a .creds file, or user/password, or a token.
    nats_creds_file: str = ""
    nats_user: str = ""
    nats_password: str = ""
    nats_token: str = ""
    nats_tls_ca_file: str = ""
    # Addresses services use to reach each other.
    cms_address: str = "127.0.0.1:50053"
    # CMS validation deadline after the suggestions arrive, and how often the sweep runs.
    validation_deadline_s: float = 24 * 3600.0
    deadline_sweep_interval_s: float = 5.0
    # ELS: how long a teacher's upload waits for a batch registered a moment ago to
    # reach ELS (registration travels BOS outbox → NATS → ELS, usually in milliseconds).
    registration_wait_s: float = 5.0
    # Objects and keys in JetStream.
    content_bucket: str = "essay_content"
    slot_bucket: str = "essay_slots"
    # NLP matcher: worker processes that match essays (off the service's event loop), the time one
    # essay may take before its worker is killed and the essay is reported
    # NO_MATCH_REASON_ANALYSIS_BUDGET_EXCEEDED, and how workers start ("spawn" or "forkserver").
    matcher_workers: int = 2
    matcher_essay_budget_s: float = 2.0
    matcher_start_method: str = "spawn"
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def grpc_tls_enabled(self) -> bool:
        return bool(self.tls_cert_file and self.tls_key_file)


def _coerce(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, tuple):
        return tuple(float(part) for part in raw.split(",") if part.strip())
    return raw


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from ``ESSAYFLOW_<FIELD>`` variables, then keyword overrides."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name == "extra":
            continue
        raw = env.get(f"ESSAYFLOW_{f.name.upper()}")
        if raw is not None and raw != "":
            default = Settings.__dataclass_fields__[f.name].default
            values[f.name] = _coerce(raw, default)
    values.update(overrides)
    return Settings(**values)
