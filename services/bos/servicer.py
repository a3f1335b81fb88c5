"""The gRPC face of BOS: decode and check the request, call the command, encode the answer.

Authentication and per-method roles are enforced by the runtime's interceptor
(:data:`METHOD_ROLES`); which batches a teacher may see is decided in ``commands``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import grpc

from essayflow.bos.v1 import bos_pb2, bos_pb2_grpc
from essayflow_runtime.auth import current_principal
from essayflow_runtime.contracts import timestamp
from essayflow_runtime.grpc_server import ServiceBinding, roles_from_proto
from services.bos import commands, encoding, purge, reconcile, validation, watch
from services.bos.directory import ClassDirectory
from services.bos.state_machine import EDGES, INITIAL_STATUS, TERMINAL_STATUSES

# Who may call what is declared in proto (allowed_roles); which batches a teacher may see is
# decided in ``commands``.
METHOD_ROLES = roles_from_proto(bos_pb2.DESCRIPTOR.services_by_name["BatchOrchestratorService"])


def describe_state_machine() -> bos_pb2.DescribeStateMachineResponse:
    return bos_pb2.DescribeStateMachineResponse(
        edges=[
            bos_pb2.StateMachineEdge(
                from_status=e.from_status,
                to_status=e.to_status,
                trigger=e.trigger,
                guards=[g.value for g in e.guards],
            )
            for e in EDGES
        ],
        terminal_statuses=sorted(TERMINAL_STATUSES),
        initial_status=INITIAL_STATUS,
    )


class BatchOrchestratorServicer(bos_pb2_grpc.BatchOrchestratorServiceServicer):  # type: ignore[misc]
    def __init__(self, pool: asyncpg.Pool, directory: ClassDirectory, feed: watch.BatchChangeFeed) -> None:
        self._pool = pool
        self._directory = directory
        self._feed = feed

    async def RegisterBatch(
        self, request: bos_pb2.RegisterBatchRequest, context: grpc.aio.ServicerContext
    ) -> bos_pb2.RegisterBatchResponse:
        registration = validation.registration(request)
        batch = await commands.register(self._pool, self._directory, current_principal(), registration)
        return bos_pb2.RegisterBatchResponse(batch=encoding.batch(batch))

    async def GetBatch(
        self, request: bos_pb2.GetBatchRequest, context: grpc.aio.ServicerContext
    ) -> bos_pb2.GetBatchResponse:
        batch, essays = await commands.get(self._pool, current_principal(), validation.batch_id(request.batch_id))
        return bos_pb2.GetBatchResponse(batch=encoding.batch(batch, essays))

    async def ListBatches(
        self, request: bos_pb2.ListBatchesRequest, context: grpc.aio.ServicerContext
    ) -> bos_pb2.ListBatchesResponse:
        page = await commands.list_batches(self._pool, current_principal(), validation.page(request))
        return bos_pb2.ListBatchesResponse(
            batches=[encoding.batch(b) for b in page.batches], next_page_token=page.next_page_token
        )

    async def TransitionBatch(
        self, request: bos_pb2.TransitionBatchRequest, context: grpc.aio.ServicerContext
    ) -> bos_pb2.TransitionBatchResponse:
        return await commands.transition(self._pool, current_principal(), validation.transition(request))

    async def ListBatchTransitions(
        self, request: bos_pb2.ListBatchTransitionsRequest, context: grpc.aio.ServicerContext
    ) -> bos_pb2.ListBatchTransitionsResponse:
        rows = await commands.history(self._pool, current_principal(), validation.batch_id(request.batch_id))
        return bos_pb2.ListBatchTransitionsResponse(transitions=[encoding.transition(t) for t in rows])

    async def RequestPipeline(
        self, request: bos_pb2.RequestPipelineRequest, context: grpc.aio.ServicerContext
    ) -> bos_pb2.RequestPipelineResponse:
        return await commands.request_pipeline(self._pool, current_principal(), validation.pipeline(request))

    async def CancelBatch(
        self, request: bos_pb2.CancelBatchRequest, context: grpc.aio.ServicerContext
    ) -> bos_pb2.CancelBatchResponse:
        batch, essays = await commands.cancel(self._pool, current_principal(), validation.cancel(request))
        return bos_pb2.CancelBatchResponse(batch=encoding.batch(batch, essays))

    async def WatchBatch(
        self, request: bos_pb2.WatchBatchRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bos_pb2.WatchBatchResponse]:
        batch_id = validation.batch_id(request.batch_id)
        async for update in watch.watch(self._pool, self._feed, current_principal(), batch_id):
            yield update

    async def DescribeStateMachine(
        self, request: bos_pb2.DescribeStateMachineRequest, context: grpc.aio.ServicerContext
    ) -> bos_pb2.DescribeStateMachineResponse:
        return describe_state_machine()

    async def ReconcileBatch(
        self, request: bos_pb2.ReconcileBatchRequest, context: grpc.aio.ServicerContext
    ) -> bos_pb2.ReconcileBatchResponse:
        checked = validation.reconcile(request)
        done = await reconcile.reconcile(self._pool, current_principal(), checked.batch_id, checked.reason)
        return bos_pb2.ReconcileBatchResponse(
            batch=encoding.batch(done.batch),
            reconcile_id=done.reconcile_id,
            requested=done.requested,
            reissued=done.reissued,
        )

    async def PurgeBatch(
        self, request: bos_pb2.PurgeBatchRequest, context: grpc.aio.ServicerContext
    ) -> bos_pb2.PurgeBatchResponse:
        purge_request = validation.purge(request)
        done = await purge.purge(
            self._pool,
            purge_request.batch_id,
            actor=current_principal().actor,
            cause=purge.RPC_CAUSE,
            reason=purge_request.reason,
        )
        return bos_pb2.PurgeBatchResponse(
            batch=encoding.batch(done.batch),
            purged_at=timestamp(done.record.purged_at),
            already_purged=not done.record.first_time,
            event=done.event,
        )


def binding(servicer: BatchOrchestratorServicer) -> ServiceBinding:
    return ServiceBinding(
        full_name=bos_pb2.DESCRIPTOR.services_by_name["BatchOrchestratorService"].full_name,
        register=bos_pb2_grpc.add_BatchOrchestratorServiceServicer_to_server,
        servicer=servicer,
        method_roles=METHOD_ROLES,
    )
