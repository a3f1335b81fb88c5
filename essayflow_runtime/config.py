"""The one configuration loader: every setting comes from an ``ESSAYFLOW_*``
environment variable, with a default that works on a developer machine.

Precedence, highest first: keyword overrides (the CLI's flags), ``ESSAYFLOW_*`` variables,
the running stack's ``<data dir>/stack.json`` (written by ``make run``; see
:mod:`essayflow_runtime.stackfile`), the defaults below."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from essayflow_runtime import stackfile

# The development signing secret: fine on 127.0.0.1, and a service refuses to listen
# beyond loopback with it (essayflow_runtime.exposure). Production sets ESSAYFLOW_JWT_SECRET
# (or a user-token public key). Service keys derived from it exist only for development.
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
    # The data directory of the local stack (``make run``): embedded PostgreSQL and NATS
    # data, logs, the lock and stack.json. Relative paths are relative to the working directory.
    data_dir: str = ".data"
    # Ports of the embedded PostgreSQL and nats-server the local stack starts.
    postgres_port: int = 54329
    nats_port: int = 42229
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
    # Size limit of the events stream (discard NEW: a full stream refuses publishes, which
    # then retry; it never deletes an event a consumer has not processed). No age limit.
    stream_max_bytes: int = 1024**3
    stream_replicas: int = 1
    # Longer than the outbox relay's longest retry horizon, so a row republished
    # after a crash is always recognised as a duplicate.
    duplicate_window_s: float = 2 * 3600.0
    # Consumers: failures that are not transient before a message is dead-lettered, and
    # the redelivery backoff after each of them.
    max_deliver: int = 5
    redelivery_backoff_s: tuple[float, ...] = (0.2, 1.0, 5.0, 15.0)
    ack_wait_s: float = 30.0
    # Streams and dead letters: the dead-letter stream's size limit (no age limit: a dead
    # letter stays until it is re-driven), the fill fraction at which a stream warns, and
    # how often each service reports stream fill and its consumer's backlog.
    dlq_max_bytes: int = 256 * 1024**2
    stream_fill_warning: float = 0.8
    bus_stats_interval_s: float = 10.0
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
    # Failure handling: a transient failure (a dependency down, see failures.py) is
    # redelivered indefinitely, first after transient_backoff_initial_s, doubling up to
    # transient_backoff_max_s (never above 60 s); it does not count toward max_deliver.
    transient_backoff_initial_s: float = 0.5
    transient_backoff_max_s: float = 30.0
    # Health: how often each service checks its database and NATS connection, and how
    # long one database check may take before the database counts as down.
    health_probe_interval_s: float = 1.0
    health_probe_timeout_s: float = 1.0
    # Authentication (essayflow_runtime.auth, essayflow_runtime.exposure). User tokens
    # (teacher, admin): verified with this Ed25519 public key (PEM) when set, else with
    # jwt_secret (HS256); the private key only where user tokens are minted.
    user_token_public_key_file: str = ""
    user_token_private_key_file: str = ""
    # Service tokens: <dir>/<service>.key is this service's Ed25519 private key (PEM),
    # <dir>/<peer>.pub the public keys of the services it accepts calls from. Empty:
    # development keys derived from the development secret (loopback only).
    service_keys_dir: str = ""
    service_token_ttl_s: float = 300.0
    # Longest lifetime a callee accepts in a service token.
    service_token_max_ttl_s: float = 900.0
    # Clock skew allowed on iat, nbf and exp, for every token.
    token_leeway_s: float = 60.0
    # Listen beyond loopback without TLS, with the development secret or keys, or a short
    # secret: only for a throwaway lab (a warning at every start).
    insecure_lab: bool = False
    # Stalled batches (BOS): how often the batches-by-status and oldest-wait gauges are refreshed.
    batch_wait_stats_interval_s: float = 15.0
    # Bounded growth and retention.
    # processed_events rows are kept this long (14 days): far beyond the duplicate window
    # (2 h) and any outage after which an unacknowledged event comes back. The outbox relay
    # never prunes below max(ack_wait_s, duplicate_window_s) whatever this says
    # (outbox.dedup_horizon_s).
    processed_events_retention_s: float = 14 * 24 * 3600.0
    # Essay texts and personal data of a batch are purged (as by PurgeBatch) once the batch
    # has been terminal this long; 0 turns the sweep off. The sweep runs in BOS.
    text_retention_s: float = 90 * 24 * 3600.0
    text_retention_sweep_interval_s: float = 3600.0
    # ELS KV limits. A tracker expires this long after its last change (180 days: the
    # flow from registration to READY takes minutes to days, the validation deadline is
    # 24 h by default); a purge deletes it much earlier.
    els_tracker_ttl_s: float = 180 * 24 * 3600.0
    # Uploads waiting for a batch that never registers expire this long after the last one
    # arrived (3 days: far beyond a registration delayed by an outage of BOS or NATS,
    # whose outbox retries until it is published).
    els_pending_ttl_s: float = 3 * 24 * 3600.0
    # Excess uploads kept per tracker; beyond it only their number is kept.
    els_max_excess: int = 100
    # Uploads kept per pending list; beyond it an upload is refused (RESOURCE_EXHAUSTED).
    els_max_pending: int = 1000
    # WatchBatch streams open at once per caller and per process.
    watch_max_per_caller: int = 50
    watch_max_total: int = 2000
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


def nats_servers(url: str) -> list[str]:
    """``ESSAYFLOW_NATS_URL`` as a list of servers: a cluster's are separated by commas
    (``nats://10.0.0.1:4222,nats://10.0.0.2:4222``); nats-py takes them as a list."""
    return [part.strip() for part in url.split(",") if part.strip()]


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
    """Settings from ``ESSAYFLOW_<FIELD>`` variables, then keyword overrides, over what the
    running stack recorded in ``<data_dir>/stack.json``.

    ``discover`` (default: only when reading the process environment) reads the stack file;
    an explicit ``environ`` mapping is the whole configuration unless ``discover=True``.
    Services never discover: they are configured explicitly."""
    discover: bool | None = overrides.pop("discover", None)
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
    if environ is None if discover is None else discover:
        recorded = stackfile.read(Path(values.get("data_dir", Settings.data_dir)))
        if recorded is not None:
            values = {**stackfile.settings_from(recorded), **values}
    return Settings(**values)
