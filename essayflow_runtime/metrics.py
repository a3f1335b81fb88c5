"""Prometheus metrics each service exposes on a port of its own.

They are defined once here so each service reports the same names; the README lists
them. Every family is registered in prometheus_client's default registry (tests read it
in process), but a service *serves* a registry of its own holding only the families it
produces (:data:`FAMILIES`), plus the process and Python collectors."""

from __future__ import annotations

import functools
import logging
import os
import subprocess
from importlib import metadata
from pathlib import Path

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.registry import Collector

# Unary calls only: a server-streaming call (WatchBatch) lasts as long as its client
# watches, minutes or hours, and would drown the latency of every other call.
RPC_LATENCY = Histogram(
    "essayflow_rpc_duration_seconds",
    "gRPC handling time of unary calls by method and status code.",
    ["service", "method", "code"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
RPC_STREAMS_OPEN = Gauge(
    "essayflow_rpc_streams_open", "Server-streaming calls open now, by method.", ["service", "method"]
)
RPC_STREAMS = Counter(
    "essayflow_rpc_streams_total",
    "Server-streaming calls ended, by method and status code (CANCELLED: the client went away).",
    ["service", "method", "code"],
)
BUILD_INFO = Gauge(
    "essayflow_build_info",
    "Always 1: the version of the essayflow package and the git revision it was built from.",
    ["service", "version", "revision"],
)
BATCH_TRANSITIONS = Counter(
    "essayflow_batch_transitions_total",
    "Committed batch status transitions.",
    ["from_status", "to_status"],
)
OUTBOX_BACKLOG = Gauge(
    "essayflow_outbox_backlog", "Outbox rows not yet published.", ["service"]
)
OUTBOX_OLDEST_AGE = Gauge(
    "essayflow_outbox_oldest_unsent_age_seconds",
    "Age of the oldest unpublished outbox row.",
    ["service"],
)
OUTBOX_PUBLISHED = Counter(
    "essayflow_outbox_published_total", "Outbox rows published and acknowledged.", ["service"]
)
OUTBOX_PUBLISH_FAILURES = Counter(
    "essayflow_outbox_publish_failures_total", "Failed outbox publish attempts.", ["service"]
)
OUTBOX_PARKED = Counter(
    "essayflow_outbox_parked_total",
    "Outbox rows parked because the bus can never take them (e.g. over max_payload).",
    ["service"],
)
OUTBOX_PARKED_ROWS = Gauge(
    "essayflow_outbox_parked_rows", "Parked outbox rows waiting for an operator.", ["service"]
)
CONSUMER_DELIVERIES = Counter(
    "essayflow_consumer_deliveries_total",
    "Messages delivered to a consumer.",
    ["service", "subject"],
)
CONSUMER_REDELIVERIES = Counter(
    "essayflow_consumer_redeliveries_total",
    "Messages delivered more than once.",
    ["service", "subject"],
)
CONSUMER_DEAD_LETTERS = Counter(
    "essayflow_consumer_dead_letters_total",
    "Messages sent to the dead-letter subject.",
    ["service", "subject", "reason"],
)
CONSUMER_TRANSIENT_FAILURES = Counter(
    "essayflow_consumer_transient_failures_total",
    "Handler failures classified transient (a dependency down): redelivered with backoff, never dead-lettered.",
    ["service", "subject"],
)
DEPENDENCY_UP = Gauge(
    "essayflow_dependency_up",
    "1 while the service reaches the dependency (database, nats), 0 while it does not.",
    ["service", "dependency"],
)
CONSUMER_DUPLICATES = Counter(
    "essayflow_consumer_duplicates_skipped_total",
    "Events already processed, acknowledged without acting.",
    ["service", "subject"],
)
CAS_CONFLICTS = Counter(
    "essayflow_compare_and_set_conflicts_total",
    "Writes that found their record changed since they read it, and read again.",
    ["service", "record"],
)
# Streams and consumers (essayflow_runtime.bus_stats): every service with a consumer reports
# both streams and every declared consumer (the same figures from each; aggregate with max).
STREAM_MESSAGES = Gauge("essayflow_stream_messages", "Messages stored in a JetStream stream.", ["stream"])
STREAM_BYTES = Gauge("essayflow_stream_bytes", "Bytes stored in a JetStream stream.", ["stream"])
STREAM_FILL = Gauge(
    "essayflow_stream_fill_ratio",
    "A stream's size as a fraction of its limit (at 1 it refuses new messages).",
    ["stream"],
)
DEAD_LETTERS = Gauge(
    "essayflow_dead_letters", "Dead letters waiting to be re-driven, by the service that made them.", ["service"]
)
CONSUMER_PENDING = Gauge(
    "essayflow_consumer_pending",
    "Events a durable consumer has not processed yet (not delivered plus delivered and unacknowledged).",
    ["consumer"],
)
CONSUMER_ACK_PENDING = Gauge(
    "essayflow_consumer_ack_pending",
    "Events delivered to a durable consumer and not acknowledged yet (being handled, or waiting for redelivery).",
    ["consumer"],
)
CONSUMER_REDELIVERED = Gauge(
    "essayflow_consumer_redelivered",
    "Unacknowledged events a durable consumer has been given more than once (failing or slow handlers).",
    ["consumer"],
)
CONSUMER_OLDEST_AGE = Gauge(
    "essayflow_consumer_oldest_unprocessed_age_seconds",
    "Age of the oldest event a durable consumer has not processed (0 when none).",
    ["consumer"],
)
BATCHES_BY_STATUS = Gauge("essayflow_batches", "Batches by status.", ["status"])
BATCH_OLDEST_WAIT = Gauge(
    "essayflow_batch_oldest_wait_seconds",
    "How long the batch longest in a non-terminal status has been in it.",
    ["status"],
)
MATCHER_CONFIDENCE = Counter(
    "essayflow_matcher_suggestions_total",
    "Top suggestions by confidence level.",
    ["level"],
)
# Matcher worker processes (NLP): essays given up on, and workers started (the first ones included).
MATCHER_ESSAYS_OVER_BUDGET = Counter(
    "essayflow_matcher_essays_over_budget_total",
    "Essays reported ANALYSIS_BUDGET_EXCEEDED: over their time budget, or their worker process died.",
)
MATCHER_WORKER_STARTS = Counter(
    "essayflow_matcher_worker_starts_total",
    "Matcher worker processes started, including replacements of workers killed for an essay over budget.",
)

# Bounded growth and retention.
PROCESSED_EVENTS_PRUNED = Counter(
    "essayflow_processed_events_pruned_total",
    "processed_events rows deleted past the dedup horizon.",
    ["service"],
)
EXCESS_DROPPED = Counter(
    "essayflow_els_excess_uploads_dropped_total",
    "Excess uploads counted but not kept because a tracker's excess list was full.",
)
WATCH_STREAMS = Gauge("essayflow_watch_streams", "WatchBatch streams open in this process.")
WATCH_REFUSED = Counter(
    "essayflow_watch_streams_refused_total",
    "WatchBatch calls refused because a cap was reached.",
    ["cap"],
)
BATCHES_PURGED = Counter(
    "essayflow_batches_purged_total",
    "Batches whose texts and personal data were purged, by what asked.",
    ["cause"],
)


# What each service produces: every service serves RPCs, consumes events and reports the bus.
_COMMON: tuple[Collector, ...] = (
    BUILD_INFO,
    RPC_LATENCY,
    RPC_STREAMS_OPEN,
    RPC_STREAMS,
    DEPENDENCY_UP,
    CONSUMER_DELIVERIES,
    CONSUMER_REDELIVERIES,
    CONSUMER_DEAD_LETTERS,
    CONSUMER_TRANSIENT_FAILURES,
    CONSUMER_DUPLICATES,
    STREAM_MESSAGES,
    STREAM_BYTES,
    STREAM_FILL,
    DEAD_LETTERS,
    CONSUMER_PENDING,
    CONSUMER_ACK_PENDING,
    CONSUMER_REDELIVERED,
    CONSUMER_OLDEST_AGE,
)
_OUTBOX: tuple[Collector, ...] = (
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PUBLISHED,
    OUTBOX_PUBLISH_FAILURES,
    OUTBOX_PARKED,
    OUTBOX_PARKED_ROWS,
    PROCESSED_EVENTS_PRUNED,
)
FAMILIES: dict[str, tuple[Collector, ...]] = {
    "bos": (
        *_COMMON,
        *_OUTBOX,
        BATCH_TRANSITIONS,
        CAS_CONFLICTS,
        BATCHES_BY_STATUS,
        BATCH_OLDEST_WAIT,
        WATCH_STREAMS,
        WATCH_REFUSED,
        BATCHES_PURGED,
    ),
    "els": (*_COMMON, CAS_CONFLICTS, EXCESS_DROPPED),
    "cms": (*_COMMON, *_OUTBOX),
    "nlp": (*_COMMON, MATCHER_CONFIDENCE, MATCHER_ESSAYS_OVER_BUDGET, MATCHER_WORKER_STARTS),
}


def package_version() -> str:
    try:
        return metadata.version("essayflow")
    except metadata.PackageNotFoundError:
        return "unknown"


@functools.cache
def build_revision() -> str:
    """The git revision: ``ESSAYFLOW_BUILD_REVISION`` when the build recorded it (the
    supervisor passes its own to the services), else the checkout's, else ``unknown``."""
    recorded = os.environ.get("ESSAYFLOW_BUILD_REVISION", "").strip()
    if recorded:
        return recorded
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return found.stdout.strip() if found.returncode == 0 and found.stdout.strip() else "unknown"


def registry_for(service: str) -> CollectorRegistry:
    """The families ``service`` produces, its build info set, and the process collectors."""
    BUILD_INFO.labels(service, package_version(), build_revision()).set(1)
    registry = CollectorRegistry(auto_describe=True)
    for collector in (*FAMILIES[service], PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    return registry


def serve_metrics(port: int, host: str = "127.0.0.1", service: str | None = None) -> bool:
    """Serve /metrics in a background thread: ``service``'s own families (every family
    when None). A taken port (a second replica on the same host) costs the metrics, never
    the service: False and a warning."""
    registry = REGISTRY if service is None else registry_for(service)
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        logging.getLogger(__name__).warning("metrics not served on %s:%s: %s", host, port, exc)
        return False
    return True
