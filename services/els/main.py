"""ELS process: wiring only. No database, no state in memory — KV and the object store."""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf.message import Message

from essayflow.els.v1 import els_pb2_grpc
from essayflow_runtime.consumer import Consumer, Handler
from essayflow_runtime.errors import StartupRefused
from essayflow_runtime.grpc_server import ServiceBinding
from essayflow_runtime.service import Connections, ServiceParts, run_service
from services.els import slots
from services.els.content_store import ContentStore
from services.els.faults import with_faults
from services.els.handlers import EventHandlers
from services.els.provisioning import SOURCE, Provisioner
from services.els.purge import Purger
from services.els.servicer import METHOD_ROLES, SERVICE_NAME, ElsServicer
from services.els.store import Limits, SlotStore, open_slot_bucket


def check_values_fit(limits: Limits, max_payload: int) -> None:
    """Refuse to start when a batch's tracker or pending list could outgrow one message.

    Each is one KV value, so one message on the bus: a value the server cannot take
    would fail every upload to that batch from then on and strand it. The largest value
    follows from the contract's bounds and the configured limits, so the check is made
    once, before the first batch, not discovered at the 500th upload."""
    largest = {
        "a slot tracker": slots.largest_tracker_bytes(max_excess=limits.max_excess),
        "a pending-upload list": slots.largest_pending_bytes(max_pending=limits.max_pending),
    }
    too_large = {what: size for what, size in largest.items() if size > max_payload}
    if too_large:
        needed = max(too_large.values())
        raise StartupRefused(
            f"nats-server's max_payload is {max_payload:,} bytes, but {' and '.join(too_large)} may grow to "
            f"{needed:,} bytes; set max_payload to at least {needed:,} in nats-server's configuration (the "
            "embedded server uses 4 MiB), or lower ESSAYFLOW_ELS_MAX_EXCESS / ESSAYFLOW_ELS_MAX_PENDING"
        )


async def build_parts(connections: Connections) -> ServiceParts:
    settings, js = connections.settings, connections.js
    limits = Limits.from_settings(settings)
    check_values_fit(limits, connections.nc.max_payload)
    replicas = settings.stream_replicas
    content = ContentStore(js, settings.content_bucket, replicas=replicas)
    await content.ensure()
    store = SlotStore(
        await open_slot_bucket(js, settings.slot_bucket, replicas=replicas),
        js=js,
        bucket=settings.slot_bucket,
        limits=limits,
    )
    provisioner = Provisioner(store, js)
    events = EventHandlers(provisioner, store, js)
    purger = Purger(store, content)
    consumer = Consumer(settings, js, service=SOURCE, handlers=event_handlers(events, purger))
    servicer = ElsServicer(provisioner, store, content, settings.registration_wait_s)
    binding = ServiceBinding(
        full_name=SERVICE_NAME,
        register=els_pb2_grpc.add_EssayLifecycleServiceServicer_to_server,
        servicer=servicer,
        method_roles=METHOD_ROLES,
    )
    return ServiceParts(bindings=[binding], workers=[consumer])


def event_handlers(events: EventHandlers, purger: Purger) -> Mapping[type[Message], Handler]:
    """Every event ELS consumes, and who handles it."""
    return with_faults({**events.handlers(), **purger.handlers()})


def main() -> None:
    run_service("els", build_parts, with_database=False)


if __name__ == "__main__":
    main()
