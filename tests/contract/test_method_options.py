"""Every RPC says in proto who may call it (the servers read nothing else), and docs/api.md
lists each RPC and event the descriptors hold."""

from __future__ import annotations

import pytest
from google.protobuf.descriptor import MethodDescriptor

from essayflow.bos.v1 import bos_pb2
from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import options_pb2
from essayflow.els.v1 import els_pb2
from essayflow.nlp.v1 import nlp_pb2
from essayflow_cli import apidoc
from essayflow_runtime import contracts
from essayflow_runtime.auth import Role

METHODS = [
    method
    for module in (bos_pb2, cms_pb2, els_pb2, nlp_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
    for method in service.methods
]


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.full_name)
def test_every_rpc_declares_the_roles_that_may_call_it(method: MethodDescriptor) -> None:
    roles = list(method.GetOptions().Extensions[options_pb2.allowed_roles])
    assert roles, f"{method.full_name} declares no allowed_roles: nobody could call it"
    assert {Role(r) for r in roles}  # each is a role the tokens know


def test_the_api_reference_names_every_rpc_and_event() -> None:
    text = apidoc.api_reference()
    for method in METHODS:
        assert f"#### {method.name}\n" in text
    for event in contracts.event_types().values():
        assert f"`{event.subject}`" in text
