"""Waiting for the flow to get somewhere, from a client's side: used by the demo, the
benchmarks and the end-to-end tests. A service that is restarting (UNAVAILABLE) is
waited for too, until the deadline."""

from __future__ import annotations

import asyncio
import time

import grpc

from essayflow.bos.v1 import bos_pb2
from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2
from essayflow.els.v1 import els_pb2
from essayflow_cli.client import Clients


async def wait_status(c: Clients, batch_id: str, status: int, timeout_s: float = 60) -> bos_pb2.Batch:
    """The batch once it is in ``status``; TimeoutError naming the last status seen."""
    deadline = time.monotonic() + timeout_s
    last: bos_pb2.Batch | None = None
    while time.monotonic() < deadline:
        try:
            response = await c.bos.GetBatch(bos_pb2.GetBatchRequest(batch_id=batch_id), metadata=c.metadata)
            last = response.batch
            if last is not None and last.status == status:
                return last
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE:
                raise
        await asyncio.sleep(0.1)
    seen = common_pb2.BatchStatus.Name(last.status) if last is not None else "no answer"
    raise TimeoutError(f"batch {batch_id} never reached {common_pb2.BatchStatus.Name(status)} (last: {seen})")


async def wait_associations(c: Clients, batch_id: str, count: int, timeout_s: float = 60) -> list[cms_pb2.Association]:
    """The batch's associations once all ``count`` essays have one (the matcher answered)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            listed = await c.cms.ListBatchAssociations(
                cms_pb2.ListBatchAssociationsRequest(batch_id=batch_id), metadata=c.metadata
            )
            if len(listed.associations) == count:
                return list(listed.associations)
        except grpc.aio.AioRpcError as error:
            if error.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE):
                raise
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the associations of batch {batch_id} never appeared")


async def wait_slots(c: Clients, batch_id: str, timeout_s: float = 60) -> els_pb2.GetBatchSlotsResponse:
    """The batch's slots once ELS has them. ELS learns of a registration from BOS's event, a
    moment after RegisterBatch answered; until then GetBatchSlots says NOT_FOUND."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            slots: els_pb2.GetBatchSlotsResponse = await c.els.GetBatchSlots(
                els_pb2.GetBatchSlotsRequest(batch_id=batch_id), metadata=c.metadata
            )
            return slots
        except grpc.aio.AioRpcError as error:
            if error.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE):
                raise
        await asyncio.sleep(0.1)
    raise TimeoutError(f"ELS never had slots for batch {batch_id}")
