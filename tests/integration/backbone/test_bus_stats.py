"""The consumer gauges: a durable consumer's backlog, how much of it is delivered and not
acknowledged, and how much of that has been delivered more than once."""

from __future__ import annotations

import nats
from nats.aio.msg import Msg
from prometheus_client import REGISTRY

from essayflow.events.v1 import bos_events_pb2
from essayflow_runtime import bus, contracts
from essayflow_runtime.bus_stats import BusStats
from essayflow_runtime.config import load_settings
from essayflow_runtime.consumer import publish
from essayflow_runtime.embedded import EmbeddedNats
from tests.support import eventually


async def test_pending_ack_pending_and_redelivered_per_durable_consumer(private_nats: EmbeddedNats) -> None:
    settings = load_settings({}, nats_url=private_nats.url, bus_stats_interval_s=60)
    durable = contracts.durable_name("els")  # ELS consumes BatchEssaysRegistered
    client = await nats.connect(private_nats.url)
    try:
        js = client.jetstream()
        await bus.ensure_streams(settings, js)
        for n in range(3):
            await publish(
                js,
                bos_events_pb2.BatchEssaysRegistered(batch_id=f"b-{n}", expected_essay_count=1),
                source="bos",
                correlation_id=f"flow-{n}",
            )
        subscription = await js.pull_subscribe_bind(durable, stream=settings.stream_name)
        taken = await subscription.fetch(2, timeout=5)
        assert len(taken) == 2
        await taken[0].nak()  # handed back: a later fetch gets it again
        rest: list[Msg] = []
        while len(rest) < 2:
            rest += await subscription.fetch(2 - len(rest), timeout=5)
        assert sorted(m.metadata.num_delivered for m in rest) == [1, 2]
        redelivered = next(m for m in rest if m.metadata.num_delivered == 2)

        stats = BusStats(settings, js, [durable])
        await stats.refresh()
        labels = {"consumer": durable}
        assert REGISTRY.get_sample_value("essayflow_consumer_pending", labels) == 3
        assert REGISTRY.get_sample_value("essayflow_consumer_ack_pending", labels) == 3
        assert REGISTRY.get_sample_value("essayflow_consumer_redelivered", labels) == 1

        for message in (redelivered, taken[1]):
            await message.ack_sync()

        async def gauges() -> tuple[float | None, ...]:
            await stats.refresh()
            return tuple(
                REGISTRY.get_sample_value(f"essayflow_consumer_{name}", labels)
                for name in ("pending", "ack_pending", "redelivered")
            )

        async def acknowledged() -> bool:
            return await gauges() == (1, 1, 0)

        await eventually(acknowledged, timeout_s=10, message="the two acks counted")
    finally:
        await client.close()
