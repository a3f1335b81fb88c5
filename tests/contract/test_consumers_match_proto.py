"""Each service's handler map is what proto declares it consumes: ensure_streams creates
the durable consumers from the declarations (under interest retention they must exist
before the first publish), and each service's Consumer keeps its own up to date; the two
must agree, or events would be kept for a consumer that never takes them, or not kept
for one that would."""

from __future__ import annotations

from typing import Any

import pytest

from essayflow_runtime import bus, contracts
from essayflow_runtime.config import load_settings
from essayflow_runtime.consumer import Consumer
from essayflow_runtime.service import Connections, ServiceParts
from services.bos.main import make_build_parts as bos_parts
from services.cms.main import build_parts as cms_parts
from services.els.handlers import EventHandlers
from services.els.main import event_handlers as els_event_handlers
from services.els.purge import Purger
from services.nlp.main import make_build_parts as nlp_parts

NOT_USED: Any = object()  # collaborators the constructors only store
settings = load_settings({}, metrics_enabled=False)


def _consumer(parts: ServiceParts) -> Consumer:
    [consumer] = [w for w in parts.workers if isinstance(w, Consumer)]
    return consumer


async def _handled(service: str) -> list[str]:
    connections = Connections(settings=settings, nc=NOT_USED, js=NOT_USED, pool=NOT_USED)
    if service == "bos":
        return _consumer(await bos_parts(directory=NOT_USED)(connections)).event_types
    if service == "cms":
        return _consumer(await cms_parts(connections)).event_types
    if service == "nlp":
        return _consumer(await nlp_parts(roster_source=NOT_USED, text_source=NOT_USED)(connections)).event_types
    assert service == "els"  # its build opens buckets: its handler map as main.py wires it
    handlers = els_event_handlers(EventHandlers(NOT_USED, NOT_USED, NOT_USED), Purger(NOT_USED, NOT_USED))
    return Consumer(settings, NOT_USED, service="els", handlers=handlers).event_types


@pytest.mark.parametrize("service", ["bos", "cms", "els", "nlp"])
async def test_the_handlers_are_the_declared_consumption(service: str) -> None:
    declared = sorted(t.full_name for t in contracts.consumed_by(service))
    assert await _handled(service) == declared


def test_every_declared_consumer_is_a_service() -> None:
    assert contracts.consuming_services() == ["bos", "cms", "els", "nlp"]


def test_the_declared_consumer_listens_on_its_events_and_its_redrive_subject() -> None:
    config = bus.declared_consumer_config(settings, "bos")
    assert config.durable_name == "bos-events"
    assert config.filter_subjects == sorted(
        [*(t.subject for t in contracts.consumed_by("bos")), contracts.redrive_subject("bos-events")]
    )
