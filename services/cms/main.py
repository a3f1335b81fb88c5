"""The CMS process: gRPC API, the suggestions consumer, the outbox relay and the
deadline sweep, over one PostgreSQL pool and one NATS connection."""

from __future__ import annotations

from essayflow.cms.v1 import cms_pb2, cms_pb2_grpc
from essayflow_runtime.consumer import Consumer
from essayflow_runtime.grpc_server import ServiceBinding, roles_from_proto
from essayflow_runtime.outbox import OutboxRelay
from essayflow_runtime.service import Connections, ServiceParts, run_service
from services.cms.handlers import build_handlers
from services.cms.servicer import ClassManagementServicer
from services.cms.sweep import DeadlineSweep

SERVICE = "cms"

# Who may call what is declared in proto (allowed_roles); a teacher is further limited to their
# own classes in the servicer.
METHOD_ROLES = roles_from_proto(cms_pb2.DESCRIPTOR.services_by_name["ClassManagementService"])


async def build_parts(connections: Connections) -> ServiceParts:
    settings, js, pool = connections.settings, connections.js, connections.pool
    assert pool is not None, "CMS runs with a database"
    binding = ServiceBinding(
        full_name=cms_pb2.DESCRIPTOR.services_by_name["ClassManagementService"].full_name,
        register=cms_pb2_grpc.add_ClassManagementServiceServicer_to_server,
        servicer=ClassManagementServicer(pool),
        method_roles=METHOD_ROLES,
    )
    consumer = Consumer(settings, js, service=SERVICE, handlers=build_handlers(settings, pool))
    relay = OutboxRelay(settings, pool, js, SERVICE)
    sweep = DeadlineSweep(settings, pool)
    return ServiceParts(bindings=[binding], workers=[consumer, relay, sweep])


def main() -> None:
    run_service(SERVICE, build_parts, with_database=True)


if __name__ == "__main__":
    main()
