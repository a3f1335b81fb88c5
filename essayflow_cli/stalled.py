"""``essayflow batch list [--stalled 15m]``: batches with how long each has waited in its status
and what it waits for; ``essayflow batch reconcile``'s answer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import grpc
from rich.table import Table

from essayflow.bos.v1 import bos_pb2
from essayflow.common.v1 import common_pb2
from essayflow.els.v1 import els_pb2
from essayflow_cli.client import Clients
from essayflow_cli.durations import format_duration
from essayflow_runtime import enums

ACV = common_pb2.BATCH_STATUS_AWAITING_CONTENT_VALIDATION
PAGE_SIZE = 200


def status_of(text: str) -> common_pb2.BatchStatus:
    """``awaiting_content_validation`` (or the proto name, either case) → the enum value."""
    name = text.strip().lower().removeprefix("batch_status_")
    status: common_pb2.BatchStatus = enums.from_db(common_pb2.BatchStatus, name)  # type: ignore[assignment]
    return status


async def list_all(c: Clients, request: bos_pb2.ListBatchesRequest) -> list[bos_pb2.Batch]:
    """Every page of ListBatches."""
    batches: list[bos_pb2.Batch] = []
    request.page_size = PAGE_SIZE
    while True:
        page = await c.bos.ListBatches(request, metadata=c.metadata)
        batches += page.batches
        if not page.next_page_token:
            return batches
        request.page_token = page.next_page_token


async def upload_progress(c: Clients, batches: list[bos_pb2.Batch]) -> dict[str, str]:
    """For batches awaiting content, how many of their slots ELS has filled: 'uploads (n of m)'.
    Best effort: a batch ELS has no tracker for says so; other errors leave it out."""
    progress: dict[str, str] = {}
    for batch in batches:
        if batch.status != ACV:
            continue
        try:
            slots = await c.els.GetBatchSlots(
                els_pb2.GetBatchSlotsRequest(batch_id=batch.batch_id), metadata=c.metadata
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                progress[batch.batch_id] = "ELS has no slot tracker (registration not received)"
            continue
        filled = sum(1 for s in slots.slots if s.status != common_pb2.ESSAY_STATUS_AWAITING_CONTENT)
        done = "complete" if slots.completed else "not complete"
        progress[batch.batch_id] = f"uploads ({filled} of {slots.expected_essay_count}), ELS completion {done}"
    return progress


def rows(batches: list[bos_pb2.Batch], progress: dict[str, str]) -> list[dict[str, Any]]:
    """One JSON-ready row per batch (the ``--output json`` form)."""
    return [
        {
            "batch_id": b.batch_id,
            "batch_type": enums.to_db(common_pb2.BatchType, b.batch_type) if b.batch_type else "",
            "owner_id": b.owner_id,
            "status": enums.to_db(common_pb2.BatchStatus, b.status),
            "version": b.version,
            "status_since": b.status_since.ToJsonString(),
            "waited_s": round(b.waited.ToTimedelta().total_seconds(), 3),
            "waiting_for": {
                "code": b.waiting_for.code,
                "description": b.waiting_for.description,
                "expected_from": list(b.waiting_for.expected_from),
                **({"progress": progress[b.batch_id]} if b.batch_id in progress else {}),
            },
        }
        for b in batches
    ]


def table(listed: list[dict[str, Any]], title: str) -> Table:
    view = Table(title=title)
    for column in ("batch", "type", "status", "v", "waited", "waiting for"):
        view.add_column(column, no_wrap=column != "waiting for")
    for row in listed:
        wait = row["waiting_for"]
        what = wait["description"] + (f" — {wait['progress']}" if "progress" in wait else "")
        view.add_row(
            row["batch_id"],
            row["batch_type"],
            row["status"],
            str(row["version"]),
            format_duration(timedelta(seconds=row["waited_s"])),
            what or "-",
        )
    return view


def reconciled(response: bos_pb2.ReconcileBatchResponse) -> dict[str, Any]:
    batch = response.batch
    return {
        "batch_id": batch.batch_id,
        "status": enums.to_db(common_pb2.BatchStatus, batch.status),
        "version": batch.version,
        "reconcile_id": response.reconcile_id,
        "requested": response.requested,
        "reissued": list(response.reissued),
        "waiting_for": batch.waiting_for.description,
    }
