"""Prometheus metrics every service exposes on a port of its own.

They are defined once here so each service reports the same names; the README
lists them."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RPC_LATENCY = Histogram(
    "essayflow_rpc_duration_seconds",
    "gRPC handling time by method and status code.",
    ["service", "method", "code"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
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


def serve_metrics(port: int, host: str = "127.0.0.1") -> bool:
    """Serve /metrics in a background thread. A taken port (a second replica on the same
    host) costs the metrics, never the service: False and a warning."""
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        logging.getLogger(__name__).warning("metrics not served on %s:%s: %s", host, port, exc)
        return False
    return True
