"""Every string, bytes and repeated field of every request and every event declares its
limits in proto, where the services' READMEs and clients read them."""

from __future__ import annotations

import pytest
from google.protobuf.descriptor import Descriptor

from essayflow.bos.v1 import bos_pb2
from essayflow.cms.v1 import cms_pb2
from essayflow.els.v1 import els_pb2
from essayflow.nlp.v1 import nlp_pb2
from essayflow_runtime import contracts, input_rules

REQUESTS = [
    method.input_type
    for module in (bos_pb2, cms_pb2, els_pb2, nlp_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
    for method in service.methods
]
EVENTS = [t.message_class.DESCRIPTOR for t in contracts.event_types().values()] + [contracts.EventEnvelope.DESCRIPTOR]


@pytest.mark.parametrize("descriptor", REQUESTS + EVENTS, ids=lambda d: d.name)
def test_every_field_declares_its_limits(descriptor: Descriptor) -> None:
    assert input_rules.undeclared_fields(descriptor) == []
